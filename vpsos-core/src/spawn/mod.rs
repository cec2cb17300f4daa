//! The only code that runs between clone and exec, and the parent's side of
//! the handshake.
//!
//! **Why clone3 from the caller and not a helper binary.** The parent builds
//! a complete [`ChildPlan`] (every path a C string, every fd open, the
//! mount list resolved to operations), then clones the child from its own
//! memory; the child runs a straight line of raw system calls over the
//! plan and either execs or reports `(stage, step, errno)` and `_exit`s.
//! That meets the multi-threaded-host rule (no allocation, locks, logging
//! or unwinding after clone) without an extra exec per start, gives us
//! `CLONE_PIDFD` (no PID-reuse races) and, on cgroup v2,
//! `CLONE_INTO_CGROUP`, and there is no runtime binary on disk for a
//! container to overwrite (CVE-2019-5736): until its exec the child is
//! non-dumpable. The child's real parent is a tiny monitor started in the
//! same step (see [`monitor`]), so the container owes nothing to the
//! caller once it is made.
//!
//! Two paths:
//! - **fast**: nothing to join → clone3 creates every namespace at once;
//!   the child waits for the parent to write its id maps and place it in
//!   its cgroups, then sets up the rootfs and execs.
//! - **staged**: namespaces to join (or an exec into a running container)
//!   → plain clone3, setns into the joined ones, unshare the new ones, ask
//!   for maps, then fork (`CLONE_PARENT`, so the process stays the
//!   monitor's child) to enter the PID namespace.
//!
//! The phases of the handshake are listed in one place: [`sync`].

mod child;
mod child_process;
pub(crate) mod hook;
pub(crate) mod inject;
mod lock;
pub(crate) mod monitor;
mod report;
mod rootfs_child;
pub(crate) mod sync;
pub(crate) mod sys;
pub(crate) mod userns;

use crate::cgroup::Cgroup;
use crate::error::{Error, ErrorKind, Result, ResultExt, Stage};
use crate::features::{CgroupMode, HostFeatures};
use crate::plan::{ptr_array, ChildPlan, Role};
pub(crate) use report::report_error;
use report::{child_error, oom_during_setup, pending_report};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use sync::{Msg, Phase};

/// Waits for a cgroup another thread is making (with its limits and device
/// rules set) and returns it.
pub(crate) type LateCgroup<'a> = &'a (dyn Fn() -> Result<Cgroup> + Sync);
/// Runs the create hooks for the real process (pid, pidfd).
pub(crate) type CreateHooks<'a> = &'a dyn Fn(i32, &OwnedFd) -> Result<()>;

/// Host-side setup the parent does between clone and releasing the child.
#[derive(Default)]
pub(crate) struct HostSetup<'a> {
    /// `/proc/<pid>/uid_map` content.
    pub uid_map: Option<String>,
    /// `/proc/<pid>/gid_map` content.
    pub gid_map: Option<String>,
    /// The cgroup to put the child in before it goes on.
    pub cgroup: Option<&'a Cgroup>,
    /// A cgroup made on another thread while the start goes on (v1 hosts:
    /// nothing needs it before the child's rootfs is up); joined, then the
    /// child is moved in; plan.wait_cgroup.
    pub late_cgroup: Option<LateCgroup<'a>>,
    /// The create hooks, run with the real process's pid and pidfd when
    /// the child asks (`Phase::Hooks`, plan.create_hooks).
    pub create_hooks: Option<CreateHooks<'a>>,
    /// (resource, soft, hard)
    pub rlimits: Vec<(i32, u64, u64)>,
    pub oom_score_adj: Option<i32>,
}

/// A process (the monitor or the container's) named by pid and pidfd.
#[derive(Debug)]
pub(crate) struct Proc {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

/// A child that reached `Ready` (init) or exec'd (tenant).
#[derive(Debug)]
pub(crate) struct Spawned {
    /// The container process.
    pub process: Proc,
    /// Its monitor (its parent); `None` when detached (`monitor::Mode::Detached`).
    pub monitor: Option<Proc>,
    /// Our end of the sync socket (init: open until exec).
    pub sync: OwnedFd,
    /// The seccomp notification listener, when the filter notifies.
    pub listener: Option<OwnedFd>,
    /// The master of a pty the child made in the container (exec with a
    /// terminal).
    pub pty: Option<OwnedFd>,
}

/// Clone a child that carries out `plan` under a monitor in `mode`, do
/// the host side, and wait for it to be ready (init) or to have exec'd
/// (tenant; or only to have handed over its listener, when its seccomp
/// filter notifies: its exec may wait for whoever answers).
pub(crate) fn spawn(plan: &ChildPlan, host: &HostSetup, mode: &monitor::Mode) -> Result<Spawned> {
    let (ours, theirs) = socketpair()?;
    let argv = ptr_array(&plan.process.argv);
    let keep_fds = plan.fds_in_use(theirs.as_raw_fd());
    let envp = ptr_array(&plan.process.envp);
    let cgroup_fd = match host.cgroup {
        Some(cg) => cg.v2_fd()?,
        None => None,
    };
    let launch = monitor::Launch::new(mode)?;
    let mut args = sys::CloneArgs {
        flags: plan.clone_flags,
        ..Default::default()
    };
    if let Some(fd) = &cgroup_fd {
        args.flags |= sys::CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    let entry = monitor::ChildEntry {
        plan,
        sync: theirs.as_raw_fd(),
        parent_end: ours.as_raw_fd(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        keep_fds: &keep_fds,
    };
    let old_mask = block_signals();
    let launched = monitor::launch(&entry, &launch, args);
    restore_signals(&old_mask);
    drop(theirs);
    let (
        monitor::Launched {
            child_pid,
            child_pidfd,
            monitor,
        },
        inflight,
    ) = launched?;
    let monitor = monitor.map(|(pid, pidfd)| Proc { pid, pidfd });
    let mut process = Proc {
        pid: child_pid,
        pidfd: child_pidfd,
    };

    let mut intermediate: Option<Proc> = None;
    let mut late: Option<Cgroup> = None;
    let mut listener: Option<OwnedFd> = None;
    let mut pty: Option<OwnedFd> = None;
    let notify = plan.process.seccomp.as_ref().is_some_and(|f| f.notify());
    let res = (|| -> Result<()> {
        if plan.wait_maps {
            expect(&ours, Phase::NeedMaps, plan)?;
        }
        host_side(process.pid, host)?;
        send(&ours, Phase::Go, plan)?;
        if plan.fork_after {
            let (m, fd) = expect_fd(&ours, Phase::Pid, plan)?;
            let real = Proc {
                pid: m.value as i32,
                pidfd: fd,
            };
            intermediate = Some(std::mem::replace(&mut process, real));
        }
        // the late cgroup (v1), joined before the hooks: they see the
        // process in its cgroup
        let attach_late = |late: &mut Option<Cgroup>| -> Result<()> {
            if let (Some(get), None) = (host.late_cgroup, late.as_ref()) {
                let cg = get()?;
                // kept first: a failed attach still removes it
                *late = Some(cg.clone());
                cg.attach(process.pid)?;
            }
            Ok(())
        };
        if plan.create_hooks {
            expect(&ours, Phase::Hooks, plan)?;
            attach_late(&mut late)?;
            if let Some(run) = host.create_hooks {
                run(process.pid, &process.pidfd)?;
            }
            send(&ours, Phase::HooksDone, plan)?;
        }
        if host.late_cgroup.is_some() {
            attach_late(&mut late)?;
            send(&ours, Phase::CgroupReady, plan)?;
        }
        if plan.lock_mounts {
            expect(&ours, Phase::LockMounts, plan)?;
            let ns = lock::locked_mount_ns(process.pid)?;
            if let Err(e) =
                sync::send_with_fd(ours.as_raw_fd(), &Msg::new(Phase::Locked), ns.as_raw_fd())
            {
                return Err(pending_report(&ours, plan)
                    .unwrap_or_else(|| Error::from_errno(e, "writing the sync socket")));
            }
        }
        if plan.process.pty_inside {
            pty = Some(expect_fd(&ours, Phase::Pty, plan)?.1);
        }
        if notify {
            listener = Some(expect_fd(&ours, Phase::Listener, plan)?.1);
        }
        match plan.role {
            Role::Init => {
                expect(&ours, Phase::Ready, plan)?;
            }
            Role::Tenant if notify => {}
            Role::Tenant => confirm_exec(&ours, |m| child_error(m, plan))?,
        }
        Ok(())
    })();
    // a host step that failed because the child died (ESRCH moving it into
    // its cgroup, EPIPE): the child's own report says why it died; if the
    // monitor could not exec, the child died with it
    let res = res.map_err(|e| pending_report(&ours, plan).unwrap_or(e));
    let finished = inflight.finish();
    let res = match (res, finished) {
        (Ok(()), Err(e)) => Err(e),
        (Err(_), Err(e)) => Err(e),
        (res, Ok(())) => res,
    };
    if let Err(e) = res {
        // a process that vanished without a report: the OOM killer's doing?
        let e = match late.as_ref().or(host.cgroup) {
            Some(cg) => oom_during_setup(cg, e),
            None => e,
        };
        // the monitor reaps them (and then ends by itself); a failed start
        // returns once they are gone
        let bound = crate::until::Until::forever().within(std::time::Duration::from_secs(10));
        for p in std::iter::once(&process).chain(intermediate.as_ref()) {
            let _ = pidfd_signal(&p.pidfd, libc::SIGKILL);
            let _ = bound.wait_readable(p.pidfd.as_raw_fd());
        }
        // and so is the monitor, done writing into the state directory
        if let Some(m) = &monitor {
            if !bound.wait_readable(m.pidfd.as_raw_fd()).unwrap_or(false) {
                let _ = pidfd_signal(&m.pidfd, libc::SIGKILL);
            }
        }
        if let Some(cg) = &late {
            let _ = cg.kill_all(std::time::Duration::from_secs(10));
            let _ = cg.remove();
        }
        return Err(e);
    }
    Ok(Spawned {
        process,
        monitor,
        sync: ours,
        listener,
        pty,
    })
}

/// After `Ready`: tell an init without an exec fifo to exec, and (unless
/// `confirm` is false) wait for the exec (end-of-file) or its failure.
pub(crate) fn start_and_confirm(
    sync_fd: &OwnedFd,
    send_start: bool,
    confirm: bool,
    argv0: &str,
) -> Result<()> {
    if send_start {
        // a failed send means the child died: its report follows below
        let _ = sync::send(sync_fd.as_raw_fd(), &Msg::new(Phase::Start));
    }
    if !confirm {
        return Ok(());
    }
    confirm_exec(sync_fd, |m| report_error(m, argv0))
}

/// Wait for the child's `Exec` and the end-of-file of its exec; its
/// failure report (`error` turns it into the error) or, with no `Exec`
/// before the end, the news that it died before it could exec.
fn confirm_exec(sync_fd: &OwnedFd, error: impl Fn(&Msg) -> Error) -> Result<()> {
    let mut execing = false;
    loop {
        crate::until::Until::forever().wait_readable(sync_fd.as_raw_fd())?;
        match sync::recv(sync_fd.as_raw_fd()) {
            Ok(Some(m)) if m.is(Phase::Exec) => execing = true,
            Ok(Some(m)) if m.is(Phase::Error) => return Err(error(&m)),
            Ok(Some(_)) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    "sync protocol: unexpected message",
                ))
            }
            Ok(None) if execing => return Ok(()),
            Ok(None) => {
                return Err(Error::child(
                    Stage::Exec,
                    "(the process was killed before it could exec)",
                    libc::ESRCH,
                ))
            }
            Err(e) => return Err(Error::from_errno(e, "reading the sync socket")),
        }
    }
}

fn host_side(pid: i32, host: &HostSetup) -> Result<()> {
    // gid first is customary; either order works for a privileged writer
    if let Some(m) = &host.gid_map {
        let p = format!("/proc/{pid}/gid_map");
        std::fs::write(&p, m).ctx(|| format!("writing gid map {:?} to {p}", m.trim()))?;
    }
    if let Some(m) = &host.uid_map {
        let p = format!("/proc/{pid}/uid_map");
        std::fs::write(&p, m).ctx(|| format!("writing uid map {:?} to {p}", m.trim()))?;
    }
    // on v2 clone3 already put the child there (CLONE_INTO_CGROUP)
    if let Some(cg) = host.cgroup {
        if HostFeatures::get().cgroup_mode != CgroupMode::Unified {
            cg.attach(pid)?;
        }
    }
    for &(res, soft, hard) in &host.rlimits {
        let lim = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: prlimit on our child with a valid struct.
        let r = unsafe { libc::prlimit(pid, res as _, &lim, std::ptr::null_mut()) };
        if r < 0 {
            let name = crate::config::rlimit_name(res).unwrap_or("?");
            return Err(Error::from_errno(
                sys::errno(),
                format!(
                    "setting RLIMIT_{} to {soft}:{hard}",
                    name.to_ascii_uppercase()
                ),
            ));
        }
    }
    if let Some(adj) = host.oom_score_adj {
        let p = format!("/proc/{pid}/oom_score_adj");
        std::fs::write(&p, adj.to_string()).ctx(|| format!("writing {p}"))?;
    }
    Ok(())
}

fn expect(fd: &OwnedFd, phase: Phase, plan: &ChildPlan) -> Result<Msg> {
    expect_fd_opt(fd, phase, plan).map(|(m, _)| m)
}

/// A message of `phase` that must carry an fd.
fn expect_fd(fd: &OwnedFd, phase: Phase, plan: &ChildPlan) -> Result<(Msg, OwnedFd)> {
    match expect_fd_opt(fd, phase, plan)? {
        (m, Some(f)) => Ok((m, f)),
        (_, None) => Err(Error::new(
            ErrorKind::Io,
            format!("sync protocol: {phase:?} came without its fd"),
        )),
    }
}

fn expect_fd_opt(fd: &OwnedFd, phase: Phase, plan: &ChildPlan) -> Result<(Msg, Option<OwnedFd>)> {
    // as long as the child takes, unless the caller's bound says less
    crate::until::Until::forever().wait_readable(fd.as_raw_fd())?;
    match sync::recv_with_fd(fd.as_raw_fd()) {
        Ok(Some((m, f))) if m.is(phase) => Ok((m, f)),
        Ok(Some((m, _))) => Err(child_error(&m, plan)),
        Ok(None) => Err(Error::new(
            ErrorKind::Child,
            "the container process exited during setup without a report",
        )),
        Err(e) => Err(Error::from_errno(e, "reading the sync socket")),
    }
}

/// Send to the child; if it is gone, return the failure it reported.
fn send(fd: &OwnedFd, phase: Phase, plan: &ChildPlan) -> Result<()> {
    match sync::send(fd.as_raw_fd(), &Msg::new(phase)) {
        Ok(()) => Ok(()),
        Err(e) => match sync::recv(fd.as_raw_fd()) {
            Ok(Some(m)) => Err(child_error(&m, plan)),
            _ => Err(Error::from_errno(e, "writing the sync socket")),
        },
    }
}

pub(crate) fn socketpair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(Error::from_errno(
            sys::errno(),
            "creating the sync socketpair",
        ));
    }
    // SAFETY: both fds are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub(super) fn block_signals() -> libc::sigset_t {
    // SAFETY: plain sigset manipulation on this thread.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    }
}

pub(super) fn restore_signals(old: &libc::sigset_t) {
    // SAFETY: restores the mask saved by block_signals.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
}

/// The pid behind a pidfd (the `Pid:` line of its fdinfo).
pub(crate) fn pid_of(pidfd: &std::os::fd::OwnedFd) -> crate::Result<i32> {
    let p = format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd());
    let s = std::fs::read_to_string(&p).map_err(|e| {
        crate::Error::from_errno(
            e.raw_os_error().unwrap_or(libc::EIO),
            format!("reading {p}"),
        )
    })?;
    s.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
        .filter(|&pid: &i32| pid > 0)
        .ok_or_else(|| crate::Error::from_errno(libc::ESRCH, "the monitor ended at once"))
}

/// `pidfd_open(2)`.
pub(crate) fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Error::from_errno(
            sys::errno(),
            format!("pidfd_open({pid})"),
        ));
    }
    // SAFETY: a new fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(2)`.
pub(crate) fn pidfd_signal(pidfd: &OwnedFd, sig: i32) -> Result<()> {
    // SAFETY: plain syscall.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(Error::from_errno(
            sys::errno(),
            format!("sending signal {sig}"),
        ));
    }
    Ok(())
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// exit(code).
    Exited(i32),
    /// Killed by a signal.
    Signaled(i32),
}

impl ExitStatus {
    /// The shell's convention: the code, or 128 + signal.
    ///
    /// ```
    /// use vpsos_core::ExitStatus;
    /// assert_eq!(ExitStatus::Exited(3).code(), 3);
    /// assert_eq!(ExitStatus::Signaled(9).code(), 137);
    /// ```
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }

    /// Whether it exited with 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }

    /// Parse a monitor's record line: `exited N` or `signaled N`.
    ///
    /// ```
    /// use vpsos_core::ExitStatus;
    /// assert_eq!(ExitStatus::parse("signaled 1"), Some(ExitStatus::Signaled(1)));
    /// assert_eq!(ExitStatus::parse("exited 0"), Some(ExitStatus::Exited(0)));
    /// assert_eq!(ExitStatus::parse("at 17"), None);
    /// ```
    pub fn parse(line: &str) -> Option<ExitStatus> {
        let (kind, n) = line.trim().split_once(' ')?;
        let n = n.parse().ok()?;
        match kind {
            "exited" => Some(ExitStatus::Exited(n)),
            "signaled" => Some(ExitStatus::Signaled(n)),
            _ => None,
        }
    }
}
