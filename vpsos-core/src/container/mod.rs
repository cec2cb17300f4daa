//! The [`Container`] handle and the [`Runtime`] that makes and finds them.
//!
//! A container's state lives under the runtime root (default `/run/vpsos`)
//! in `<root>/<id>/` (see `state` for its files), so any thread of any
//! process can [`Runtime::load`] it by id and drive it. Every operation
//! takes `&self`; those that change the container take its lock, read the
//! state from disk, change it and write it back, so handles in different
//! threads and processes never lose each other's updates.
//!
//! Each container has a monitor: a process of a few kilobytes that is its
//! init's parent, holds its console and ttys, keeps a console log and
//! records how the init ended (`spawn::monitor`). So nothing the
//! container needs lives in the process that created it: the creator may
//! exit or crash and any other process sees the same container, console
//! and exit status. Processes are named by pid *and* start time and
//! signalled through pidfds, so PID reuse cannot redirect a signal.
//!
//! One operation per file: [`create`](Runtime::create) / `run` in
//! `create.rs`, `start.rs`, `wait.rs`, `stop.rs` (kill, stop),
//! `delete.rs` (delete and the one teardown path a failed start, a delete
//! and a recovery share), `recover.rs`, `exec.rs`, `console.rs` (attach,
//! log), `mounts.rs` (live mounts), `control.rs` (limits, devices),
//! `network.rs` (interfaces).

mod console;
mod control;
mod create;
mod delete;
mod devnodes;
mod exec;
mod hooks;
mod lock;
mod mounts;
mod network;
mod prepare;
mod recover;
mod runtime;
mod start;
mod state;
mod stop;
mod wait;

pub(crate) use console::Pty;
pub use create::{CreateOptions, Reaper, Stdio};
pub use exec::ExecProcess;
pub use recover::Recovered;
pub use runtime::{ContainerInfo, Runtime};
pub use state::{valid_id, State, Status};
pub use stop::StopOutcome;
pub use wait::{EndReason, InitExit};

use crate::cgroup::Cgroup;
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::until::Until;
use lock::Lock;
use state::{ProcRef, StateFile};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A process of the container (its init or its monitor) with a pidfd.
#[derive(Debug)]
pub(crate) struct Live {
    pub r: ProcRef,
    pub pidfd: OwnedFd,
}

/// A container: its init, monitor, cgroup and state directory.
///
/// Cheap to share: every method takes `&self` (wrap it in an `Arc` for
/// several threads). Dropping it leaves the container as it is;
/// [`delete`](Container::delete) removes it, after which every call on
/// any handle of it returns `NotFound`.
///
/// ```no_run
/// use std::time::Duration;
/// let ct = std::sync::Arc::new(vpsos_core::Runtime::new().load("ct1")?);
/// let waiter = { let ct = ct.clone(); std::thread::spawn(move || ct.wait()) };
/// let how = ct.stop(Duration::from_secs(30))?;      // halt signal, SIGKILL after 30 s
/// println!("{:?}, killed: {}", how.exit.reason(), how.killed);
/// waiter.join().unwrap()?;
/// ct.delete()?;
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Container {
    id: String,
    dir: PathBuf,
    rt: Runtime,
    instance: u64,
    init: Mutex<Option<Arc<Live>>>,
    monitor: Mutex<Option<Arc<Live>>>,
    /// The init's seccomp listener (creating handle only, taken once).
    listener: Mutex<Option<OwnedFd>>,
    /// The init's pty master, detached creates only (creating handle, once).
    console: Mutex<Option<OwnedFd>>,
    gone: AtomicBool,
}

impl Container {
    pub(crate) fn new(rt: &Runtime, id: &str, st: &StateFile) -> Container {
        Container {
            id: id.to_string(),
            dir: rt.root().join(id),
            rt: rt.clone(),
            instance: st.instance,
            init: Mutex::new(None),
            monitor: Mutex::new(None),
            listener: Mutex::new(None),
            console: Mutex::new(None),
            gone: AtomicBool::new(false),
        }
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.dir
    }

    /// The init's host pid while it lives.
    pub fn pid(&self) -> Option<i32> {
        let st = self.current().ok()?;
        st.init.filter(ProcRef::alive).map(|r| r.pid)
    }

    /// The monitor's host pid while it lives.
    pub fn monitor_pid(&self) -> Option<i32> {
        let st = self.current().ok()?;
        st.monitor.filter(ProcRef::alive).map(|r| r.pid)
    }

    /// The init as the handle that created it holds it: its host pid and
    /// a new pidfd, without reading the state and also once the init has
    /// ended (a caller that is its subreaper, see
    /// [`Reaper::Subreaper`](crate::Reaper), reaps it through the pidfd).
    /// `None` on a handle from [`Runtime::load`](crate::Runtime::load)
    /// that has not looked at the init yet.
    ///
    /// ```no_run
    /// # let (rt, config) = (vpsos_core::Runtime::new(), vpsos_core::Config::builder("/srv/ct1").build()?);
    /// let ct = rt.run("ct1", &config, Default::default())?;
    /// let (pid, pidfd) = ct.created_init().expect("the creating handle");
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn created_init(&self) -> Option<(i32, OwnedFd)> {
        let init = self.init.lock().expect("live").clone()?;
        Some((init.r.pid, init.pidfd.try_clone().ok()?))
    }

    /// A pidfd of the init (a new fd, yours to keep): readable once the
    /// init has ended, for the caller's event loop (`poll`, epoll,
    /// asyncio's `add_reader`). Then [`try_wait`](Container::try_wait)
    /// says how it ended (the monitor records it a moment later).
    ///
    /// ```no_run
    /// # let ct = vpsos_core::Runtime::new().load("ct1")?;
    /// let fd = ct.pidfd()?;
    /// let mut p = libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&fd), events: libc::POLLIN, revents: 0 };
    /// unsafe { libc::poll(&mut p, 1, -1) };
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn pidfd(&self) -> Result<OwnedFd> {
        let st = self.current()?;
        let live = self
            .init_live(&st)
            .ok_or_else(|| self.not_running("pidfd"))?;
        live.pidfd.try_clone().map_err(|e| {
            Error::from_errno(
                e.raw_os_error().unwrap_or(libc::EIO),
                "duplicating the pidfd",
            )
        })
    }

    /// Its status now (from its state and its processes).
    pub fn state(&self) -> Result<State> {
        let st = self.current()?;
        let (status, pid) = runtime::status_of(&self.dir, &st);
        Ok(State {
            id: self.id.clone(),
            status,
            pid,
            monitor_pid: st.monitor.filter(ProcRef::alive).map(|r| r.pid),
            created: st.created,
            started: st.started,
            cgroup: st.cgroup,
            seccomp_skipped: st.seccomp_skipped,
        })
    }

    /// The description it runs with (updates included).
    pub fn config(&self) -> Result<Config> {
        self.current()?;
        state::read_config(&self.dir)
    }

    /// Its cgroup, if it has one.
    pub fn cgroup(&self) -> Option<Cgroup> {
        self.current().ok()?.cgroup.as_deref().map(Cgroup::open)
    }

    /// The AppArmor profile and namespace loaded for the container, or
    /// why it runs without (`None`: AppArmor off).
    pub fn apparmor(&self) -> Result<Option<crate::security::apparmor::Applied>> {
        Ok(self.current()?.apparmor)
    }

    /// The host ends of its interfaces.
    pub fn host_interfaces(&self) -> Result<Vec<String>> {
        Ok(self.current()?.host_links)
    }

    /// Take the init's seccomp notification listener: present when the
    /// profile has a [`Notify`](crate::security::seccomp::Action::Notify)
    /// rule, on the creating handle, once. Whoever holds it answers the
    /// notified syscalls of the init and its children (`SECCOMP_IOCTL_NOTIF_RECV`
    /// and `_SEND`; see `examples/seccomp_notify.rs`). The init loads its
    /// filter as the last step before it waits for `start`, so nothing of
    /// the setup waits for an answer.
    ///
    /// ```no_run
    /// # let (rt, cfg) = (vpsos_core::Runtime::new(), vpsos_core::Config::builder("/srv/ct").build()?);
    /// let ct = rt.create("ct1", &cfg, Default::default())?;
    /// if let Some(listener) = ct.take_seccomp_listener() {
    ///     std::thread::spawn(move || { /* answer notifications on `listener` */ drop(listener) });
    /// }
    /// ct.start()?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn take_seccomp_listener(&self) -> Option<OwnedFd> {
        self.listener.lock().expect("listener").take()
    }

    /// The state on disk, or `NotFound` once it is deleted (or another
    /// container took its id since this handle was made).
    pub(crate) fn current(&self) -> Result<StateFile> {
        if self.gone.load(Ordering::Relaxed) {
            return Err(self.gone_error());
        }
        match StateFile::read(&self.dir, &self.id) {
            Ok((st, _)) if st.instance == self.instance => Ok(st),
            Ok(_) => {
                self.gone.store(true, Ordering::Relaxed);
                Err(self.gone_error())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.gone.store(true, Ordering::Relaxed);
                Err(self.gone_error())
            }
            Err(e) => Err(e),
        }
    }

    fn gone_error(&self) -> Error {
        Error::new(
            ErrorKind::NotFound,
            format!("container {} does not exist (deleted)", self.id),
        )
    }

    fn not_running(&self, doing: &str) -> Error {
        Error::new(
            ErrorKind::NotFound,
            format!("{doing} of container {}: it is not running", self.id),
        )
    }

    /// Take the container's lock (waiting as the `Until` in force allows).
    pub(crate) fn lock(&self) -> Result<Lock> {
        if self.gone.load(Ordering::Relaxed) {
            return Err(self.gone_error());
        }
        let l = Lock::acquire(&self.dir, &self.id, &Until::forever())?;
        self.current()?;
        Ok(l)
    }

    /// A pidfd of `r` (cached per handle), if it is alive or was opened
    /// while it was.
    fn live(slot: &Mutex<Option<Arc<Live>>>, r: Option<ProcRef>) -> Option<Arc<Live>> {
        let r = r?;
        let mut s = slot.lock().expect("live");
        if let Some(l) = s.as_ref().filter(|l| l.r == r) {
            return Some(l.clone());
        }
        let l = Arc::new(Live {
            r,
            pidfd: r.open()?,
        });
        *s = Some(l.clone());
        Some(l)
    }

    pub(crate) fn init_live(&self, st: &StateFile) -> Option<Arc<Live>> {
        Self::live(&self.init, st.init)
    }

    pub(crate) fn monitor_live(&self, st: &StateFile) -> Option<Arc<Live>> {
        Self::live(&self.monitor, st.monitor)
    }

    /// Remember pidfds the creator holds already (no /proc lookup).
    pub(crate) fn adopt(
        &self,
        init: Live,
        monitor: Option<Live>,
        listener: Option<OwnedFd>,
        console: Option<OwnedFd>,
    ) {
        *self.init.lock().expect("live") = Some(Arc::new(init));
        *self.monitor.lock().expect("live") = monitor.map(Arc::new);
        *self.listener.lock().expect("listener") = listener;
        *self.console.lock().expect("console") = console;
    }

    /// Take the master of the init's terminal: created with
    /// [`Reaper::Subreaper`](crate::Reaper) and `process.terminal`, on
    /// the creating handle only, once. (With a monitor, attach to the
    /// console instead: [`attach_console`](Container::attach_console).)
    pub fn take_console(&self) -> Option<OwnedFd> {
        self.console.lock().expect("console").take()
    }

    /// The init while it runs (for operations that need it), else `NotFound`.
    pub(crate) fn running_init(&self, st: &StateFile, doing: &str) -> Result<Arc<Live>> {
        match self.init_live(st) {
            Some(l) if l.r.alive() => Ok(l),
            _ => Err(self.not_running(doing)),
        }
    }

    /// Change the container under its lock: `f` gets its state and
    /// description as they are on disk, does the host-side work and
    /// changes them; both are written back if it succeeds. So handles in
    /// any thread or process never lose each other's updates.
    pub(crate) fn update<T>(
        &self,
        f: impl FnOnce(&mut StateFile, &mut Config) -> Result<T>,
    ) -> Result<T> {
        let _lock = self.lock()?;
        let mut st = self.current()?;
        let mut cfg = state::read_config(&self.dir)?;
        let (st0, cfg0) = (serde_json::to_value(&st).ok(), cfg.clone());
        let out = f(&mut st, &mut cfg)?;
        if cfg != cfg0 {
            state::write_config(&self.dir, &cfg)?;
        }
        if serde_json::to_value(&st).ok() != st0 {
            st.write(&self.dir)?;
        }
        Ok(out)
    }

    /// How long a kill waits for the container's processes to go.
    pub(crate) fn kill_bound(&self) -> Duration {
        self.rt.kill_timeout()
    }
}
