//! Processes exec'd into a running container.
//!
//! Each one runs under a small monitor of its own (`spawn::monitor`, mode
//! `proc`): the monitor is its parent, reaps it the moment it ends (so no
//! zombie of it can hold the container's PID namespace, and `stop` never
//! waits for the caller to reap anything) and writes its status to a pipe
//! the [`ExecProcess`] reads. Drop the handle without waiting and nothing
//! is left behind: the monitor reaps, finds no reader, and exits.

use super::state::{read_config, Phase};
use super::{Container, CreateOptions};
use crate::cgroup::Cgroup;
use crate::config::Process;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::build::{apparmor_exec, exec_plan, PlanFds};
use crate::spawn::{self, monitor, pidfd_signal, ExitStatus, HostSetup};
use crate::until::Until;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::Duration;

/// A process running inside a container, started by [`Container::exec`].
/// Every method takes `&self`.
///
/// ```no_run
/// # let rt = vpsos_core::Runtime::new();
/// let ct = rt.load("ct1")?;
/// let p = ct.exec(&vpsos_core::Process::new(["hostname"]), Default::default())?;
/// assert!(p.wait()?.success());
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug)]
pub struct ExecProcess {
    pid: i32,
    pidfd: OwnedFd,
    /// The monitor's status pipe (read end) until the status is read.
    status: Mutex<(Option<OwnedFd>, Option<ExitStatus>)>,
    console: Mutex<Option<OwnedFd>>,
    seccomp_listener: Mutex<Option<OwnedFd>>,
}

impl ExecProcess {
    /// Its host pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// A pidfd of it (a new fd, yours): readable once it has ended.
    pub fn pidfd(&self) -> Result<OwnedFd> {
        self.pidfd.try_clone().map_err(|e| {
            Error::from_errno(
                e.raw_os_error().unwrap_or(libc::EIO),
                "duplicating the pidfd",
            )
        })
    }

    /// Take the pty master, if it was started with a terminal.
    pub fn take_console(&self) -> Option<OwnedFd> {
        self.console.lock().expect("console").take()
    }

    /// Take this process's seccomp notification listener (when the
    /// container's profile notifies): each exec'd process loads the filter
    /// anew, so it has a listener of its own.
    pub fn take_seccomp_listener(&self) -> Option<OwnedFd> {
        self.seccomp_listener.lock().expect("listener").take()
    }

    /// Send it a signal.
    pub fn kill(&self, signal: i32) -> Result<()> {
        pidfd_signal(&self.pidfd, signal)
    }

    /// Wait for it to exit.
    pub fn wait(&self) -> Result<ExitStatus> {
        loop {
            if let Some(s) = self.wait_until(&Until::forever())? {
                return Ok(s);
            }
        }
    }

    /// Its status if it has ended, without waiting.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        self.wait_until(&Until::after(Duration::ZERO))
    }

    /// Wait at most `d`.
    pub fn wait_timeout(&self, d: Duration) -> Result<Option<ExitStatus>> {
        self.wait_until(&Until::after(d))
    }

    /// Wait as `until` allows (`None` at its deadline, `Cancelled` when cancelled).
    pub fn wait_until(&self, until: &Until) -> Result<Option<ExitStatus>> {
        let mut s = self.status.lock().expect("status");
        if let Some(x) = s.1 {
            return Ok(Some(x));
        }
        let Some(pipe) = s.0.as_ref() else {
            // detached: whoever reaps it has the status; that may be us
            if !until.wait_readable(self.pidfd.as_raw_fd())? {
                return Ok(None);
            }
            let status = reap_child(&self.pidfd, self.pid)?;
            s.1 = Some(status);
            return Ok(Some(status));
        };
        if !until.wait_readable(pipe.as_raw_fd())? {
            return Ok(None);
        }
        let mut buf = [0u8; 64];
        // SAFETY: read into our buffer from our pipe.
        let n = unsafe {
            libc::read(
                pipe.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
            )
        };
        let text = String::from_utf8_lossy(&buf[..n.max(0) as usize]).into_owned();
        let status = text.lines().find_map(ExitStatus::parse).ok_or_else(|| {
            Error::new(
                ErrorKind::Io,
                format!("process {}: its monitor ended without a status", self.pid),
            )
        })?;
        *s = (None, Some(status));
        Ok(Some(status))
    }
}

impl Container {
    /// Run a process in the running container: same namespaces, cgroup
    /// and confinement; its own exit status. With `process.terminal` it
    /// gets a pty of the container's own devpts (so `tty` inside names it,
    /// as with `lxc-attach`) whose master [`ExecProcess::take_console`]
    /// returns. A frozen container is `Busy` at once.
    pub fn exec(&self, process: &Process, opts: CreateOptions) -> Result<ExecProcess> {
        let id = self.id.clone();
        self.exec_inner(process, opts)
            .map_err(|e| e.context(format!("exec in container {id}")))
    }

    fn exec_inner(&self, process: &Process, opts: CreateOptions) -> Result<ExecProcess> {
        crate::features::HostFeatures::get().require_spawn()?;
        let st = self.current()?;
        let init = self.running_init(&st, "exec")?;
        if st.phase != Phase::Running && st.phase != Phase::Created {
            return Err(Error::new(
                ErrorKind::Busy,
                format!("it is {:?}", st.phase).to_lowercase(),
            ));
        }
        let top = st.cgroup.as_deref().map(Cgroup::open);
        if let Some(cg) = &top {
            if cg.is_frozen().unwrap_or(false) {
                return Err(Error::new(ErrorKind::Busy, "it is frozen (thaw it first)"));
            }
        }
        // v2: a cgroup that has enabled controllers for its children takes
        // no processes (EBUSY); a delegated systemd does that to the top
        let cgroup = top.map(|cg| exec_cgroup(cg, init.r.pid));
        let config = read_config(&self.dir)?;
        crate::plan::build::check_process_notify(&config, process)?;
        let mut fds = PlanFds::default();
        let opts_reaper = opts.reaper;
        let mut plan = exec_plan(
            &self.id,
            &config,
            process,
            &init.pidfd,
            [opts.stdin, opts.stdout, opts.stderr],
            opts.extra_fds,
            &mut fds,
        )?;
        plan.process.apparmor_exec = apparmor_exec(st.apparmor.as_ref())?;
        let mut rlimits = Vec::new();
        for r in &process.rlimits {
            rlimits.push((r.resource_id()?, r.soft, r.hard));
        }
        let detached = opts_reaper == crate::Reaper::Subreaper;
        if detached {
            plan.die_with_parent = false;
        }
        let (read, write) = status_pipe()?;
        let mode = if detached {
            monitor::Mode::Detached
        } else {
            monitor::Mode::Proc {
                id: &self.id,
                status: write.as_raw_fd(),
            }
        };
        let mut host = HostSetup {
            cgroup: cgroup.as_ref(),
            rlimits,
            oom_score_adj: process.oom_score_adj,
            ..HostSetup::default()
        };
        let spawned = match spawn::spawn(&plan, &host, &mode) {
            // the init enabled controllers in the top cgroup between the
            // look above and the clone: once more, into its own cgroup
            Err(e)
                if e.errno() == Some(libc::EBUSY) && cgroup.as_ref().is_some_and(|c| c.is_v2()) =>
            {
                let again = st
                    .cgroup
                    .as_deref()
                    .map(|p| exec_cgroup(Cgroup::open(p), init.r.pid));
                host.cgroup = again.as_ref();
                spawn::spawn(&plan, &host, &mode)?
            }
            r => r?,
        };
        drop(write);
        let listener = super::hooks::route_listener(
            &self.id,
            &config,
            spawned.process.pid,
            "running",
            spawned.listener,
        )?;
        Ok(ExecProcess {
            pid: spawned.process.pid,
            pidfd: spawned.process.pidfd,
            status: Mutex::new(((!detached).then_some(read), None)),
            console: Mutex::new(spawned.pty),
            seccomp_listener: Mutex::new(listener),
        })
    }
}

/// Where an exec'd process goes: the container's cgroup, or on v2, once
/// the container has enabled controllers in it (no internal processes),
/// the init's own cgroup below it (runc and crun do the same).
fn exec_cgroup(top: Cgroup, init_pid: i32) -> Cgroup {
    if !top.is_v2() {
        return top;
    }
    let busy = top
        .dirs()
        .next()
        .and_then(|d| std::fs::read_to_string(d.join("cgroup.subtree_control")).ok())
        .is_some_and(|s| !s.trim().is_empty());
    if !busy {
        return top;
    }
    let own = std::fs::read_to_string(format!("/proc/{init_pid}/cgroup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        });
    match own {
        Some(p) if p.trim_start_matches('/').starts_with(top.path()) => Cgroup::open(&p),
        _ => top,
    }
}

/// The status of our child behind `pidfd` (it has ended): a process
/// exec'd with [`Reaper::Subreaper`](crate::Reaper) is ours to reap only
/// when we are the subreaper it went to.
fn reap_child(pidfd: &OwnedFd, pid: i32) -> Result<ExitStatus> {
    match crate::spawn::sys::reap(pidfd) {
        Ok((libc::CLD_EXITED, code)) => Ok(ExitStatus::Exited(code)),
        Ok((_, signal)) => Ok(ExitStatus::Signaled(signal)),
        Err(libc::ECHILD) => Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "process {pid} is not this process's child: the subreaper it went to has its status"
            ),
        )),
        Err(e) => Err(Error::from_errno(e, format!("waiting for process {pid}"))),
    }
}

fn status_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: room for two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Error::from_errno(crate::spawn::sys::errno(), "pipe2"));
    }
    // SAFETY: two new fds.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
