//! The only code that runs between clone and exec, and the parent's side of
//! the handshake.
//!
//! **Why clone3 from the caller and not a helper binary.** The parent builds
//! a complete [`ChildPlan`] (every path a C string, every fd open, the
//! mount list resolved to operations), then calls `clone3` directly; the
//! child runs a straight line of raw system calls over the plan and either
//! execs or reports `(stage, errno)` and `_exit`s. That meets the
//! multi-threaded-host rule (no allocation, locks, logging or unwinding
//! after clone) without an extra exec per start, gives us `CLONE_PIDFD`
//! (no PID-reuse races) and, on cgroup v2, `CLONE_INTO_CGROUP`, and there is
//! no runtime binary on disk for a container to overwrite
//! (CVE-2019-5736): until its exec the child is non-dumpable. A helper
//! binary would cost one more exec (~0.5–1 ms) on every start.
//!
//! Two paths:
//! - **fast**: nothing to join → clone3 creates every namespace at once;
//!   the child waits for the parent to write its id maps and place it in
//!   its cgroups, then sets up the rootfs and execs.
//! - **staged**: namespaces to join (or an exec into a running container)
//!   → plain clone3, setns into the joined ones, unshare the new ones, ask
//!   for maps, then fork (`CLONE_PARENT`, so the process stays our child)
//!   to enter the PID namespace.

mod child;
pub(crate) mod inject;
pub(crate) mod plan;
mod rootfs_child;
mod sync;
pub(crate) mod sys;
pub(crate) mod userns;

use crate::cgroup::Cgroup;
use crate::error::{Error, ErrorKind, Result, ResultExt, Stage};
use crate::features::{CgroupMode, HostFeatures};
use plan::{ptr_array, ChildPlan, Role};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use sync::{Msg, MSG_ERROR, MSG_GO, MSG_NEED_MAPS, MSG_PID, MSG_READY};

/// Waits for a cgroup another thread is making (with its limits and device
/// rules set) and returns it.
pub(crate) type LateCgroup<'a> = &'a (dyn Fn() -> Result<Cgroup> + Sync);

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
    /// (resource, soft, hard)
    pub rlimits: Vec<(i32, u64, u64)>,
    pub oom_score_adj: Option<i32>,
}

/// A child that reached READY (init) or exec'd (tenant).
#[derive(Debug)]
pub(crate) struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
    /// Our end of the sync socket (init: still open until exec).
    pub sync: OwnedFd,
    /// The cgroup made for `late_cgroup`.
    pub cgroup: Option<Cgroup>,
    /// The seccomp notification listener, when the filter notifies.
    pub listener: Option<OwnedFd>,
}

/// Clone a child that carries out `plan`, do the host side, and wait for
/// it to be ready (init) or to have exec'd (tenant).
pub(crate) fn spawn(plan: &ChildPlan, host: &HostSetup) -> Result<Spawned> {
    let (ours, theirs) = socketpair()?;
    let argv = ptr_array(&plan.process.argv);
    let keep_fds = plan.fds_in_use(theirs.as_raw_fd());
    let envp = ptr_array(&plan.process.envp);
    let cgroup_fd = match host.cgroup {
        Some(cg) => cg.v2_fd()?,
        None => None,
    };

    let mut pidfd: libc::c_int = -1;
    let mut args = sys::CloneArgs {
        flags: plan.clone_flags | sys::CLONE_PIDFD,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = &cgroup_fd {
        args.flags |= sys::CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    let old_mask = block_signals();
    // SAFETY: the child only runs child::run, which is async-signal-safe
    // and never returns.
    let ret = unsafe { sys::clone3(&mut args) };
    if ret == 0 {
        // SAFETY: we are the fresh child.
        unsafe {
            child::run(
                plan,
                theirs.as_raw_fd(),
                ours.as_raw_fd(),
                argv.as_ptr(),
                envp.as_ptr(),
                &keep_fds,
            )
        }
    }
    let clone_errno = sys::errno();
    restore_signals(&old_mask);
    drop(theirs);
    if ret < 0 {
        return Err(Error::from_errno(
            clone_errno,
            "clone3 of the container process",
        ));
    }
    let mut pid = ret as i32;
    // SAFETY: CLONE_PIDFD filled in a new fd.
    let mut pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };

    let mut intermediate: Option<(i32, OwnedFd)> = None;
    let mut late: Option<Cgroup> = None;
    let mut listener: Option<OwnedFd> = None;
    let res = (|| -> Result<()> {
        if plan.wait_maps {
            expect(&ours, MSG_NEED_MAPS, plan)?;
        }
        host_side(pid, host)?;
        send(&ours, MSG_GO, plan)?;
        if plan.fork_after {
            let m = expect(&ours, MSG_PID, plan)?;
            let child = m.value as i32;
            // the grandchild is our child (CLONE_PARENT): its pid cannot be reused
            let fd = pidfd_open(child)?;
            intermediate = Some((pid, std::mem::replace(&mut pidfd, fd)));
            pid = child;
            let (ipid, ifd) = intermediate.as_ref().expect("just set");
            let _ = wait_exit(*ipid, ifd);
        }
        if let Some(get) = host.late_cgroup {
            let cg = get()?;
            late = Some(cg.clone());
            cg.attach(pid)?;
            send(&ours, sync::MSG_CGROUP, plan)?;
        }
        if plan.process.seccomp.as_ref().is_some_and(|f| f.notify()) {
            listener = Some(expect_listener(&ours, plan)?);
        }
        match plan.role {
            Role::Init => {
                expect(&ours, MSG_READY, plan)?;
            }
            Role::Tenant => match sync::recv(ours.as_raw_fd()) {
                Ok(None) => {}
                Ok(Some(m)) => return Err(child_error(&m, plan)),
                Err(e) => return Err(Error::from_errno(e, "reading the sync socket")),
            },
        }
        Ok(())
    })();
    if let Err(e) = res {
        kill_and_reap(pid, &pidfd);
        if let Some((ipid, ifd)) = &intermediate {
            kill_and_reap(*ipid, ifd);
        }
        if let Some(cg) = &late {
            let _ = cg.remove();
        }
        return Err(e);
    }
    Ok(Spawned {
        pid,
        pidfd,
        sync: ours,
        cgroup: late,
        listener,
    })
}

/// After READY: tell an init without an exec fifo to exec, and wait for
/// the exec (end-of-file) or its failure.
pub(crate) fn start_and_confirm(sync_fd: &OwnedFd, send_start: bool, argv0: &str) -> Result<()> {
    if send_start {
        // a failed send means the child died: its report follows below
        let _ = sync::send(sync_fd.as_raw_fd(), &Msg::new(sync::MSG_START));
    }
    match sync::recv(sync_fd.as_raw_fd()) {
        Ok(None) => Ok(()),
        Ok(Some(m)) if m.kind == MSG_ERROR => {
            let stage = Stage::from_code(m.stage);
            let detail = if stage == Stage::Exec { argv0 } else { "" };
            Err(Error::child(stage, detail, m.errno))
        }
        Ok(Some(_)) => Err(Error::new(
            ErrorKind::Io,
            "sync protocol: unexpected message",
        )),
        Err(e) => Err(Error::from_errno(e, "reading the sync socket")),
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
            return Err(Error::from_errno(
                sys::errno(),
                format!("setting rlimit {res}"),
            ));
        }
    }
    if let Some(adj) = host.oom_score_adj {
        let p = format!("/proc/{pid}/oom_score_adj");
        std::fs::write(&p, adj.to_string()).ctx(|| format!("writing {p}"))?;
    }
    Ok(())
}

fn child_error(m: &Msg, plan: &ChildPlan) -> Error {
    if m.kind != MSG_ERROR {
        return Error::new(
            ErrorKind::Io,
            format!("sync protocol: unexpected message {}", m.kind),
        );
    }
    let stage = Stage::from_code(m.stage);
    let detail = match stage {
        Stage::Mount => plan
            .rootfs
            .as_ref()
            .map(|r| r.mount_label(m.detail as usize).to_string())
            .unwrap_or_default(),
        Stage::JoinNamespace => crate::config::NamespaceKind::ALL
            .iter()
            .find(|k| k.clone_flag() as u32 == m.detail)
            .map(|k| k.proc_name().to_string())
            .unwrap_or_default(),
        Stage::Exec => plan
            .process
            .argv
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default(),
        Stage::MaskPaths => {
            let r = plan.rootfs.as_ref();
            let d = m.detail as usize;
            r.and_then(|r| {
                if d >= 100 {
                    r.readonly.get(d - 100)
                } else {
                    r.masked.get(d)
                }
            })
            .map(|p| format!("/{}", p.to_string_lossy()))
            .unwrap_or_default()
        }
        _ => String::new(),
    };
    Error::child(stage, &detail, m.errno)
}

fn expect(fd: &OwnedFd, kind: u32, plan: &ChildPlan) -> Result<Msg> {
    match sync::recv(fd.as_raw_fd()) {
        Ok(Some(m)) if m.kind == kind => Ok(m),
        Ok(Some(m)) => Err(child_error(&m, plan)),
        Ok(None) => Err(Error::new(
            ErrorKind::Child,
            "the container process exited during setup without a report",
        )),
        Err(e) => Err(Error::from_errno(e, "reading the sync socket")),
    }
}

/// The child's seccomp listener fd (MSG_LISTENER with SCM_RIGHTS).
fn expect_listener(fd: &OwnedFd, plan: &ChildPlan) -> Result<OwnedFd> {
    match sync::recv_with_fd(fd.as_raw_fd()) {
        Ok(Some((m, Some(l)))) if m.kind == sync::MSG_LISTENER => Ok(l),
        Ok(Some((m, _))) if m.kind != sync::MSG_LISTENER => Err(child_error(&m, plan)),
        Ok(Some(_)) => Err(Error::new(
            ErrorKind::Io,
            "sync protocol: the seccomp listener came without its fd",
        )),
        Ok(None) => Err(Error::new(
            ErrorKind::Child,
            "the container process exited during setup without a report",
        )),
        Err(e) => Err(Error::from_errno(e, "reading the sync socket")),
    }
}

/// Send to the child; if it is gone, return the failure it reported.
fn send(fd: &OwnedFd, kind: u32, plan: &ChildPlan) -> Result<()> {
    match sync::send(fd.as_raw_fd(), &Msg::new(kind)) {
        Ok(()) => Ok(()),
        Err(e) => match sync::recv(fd.as_raw_fd()) {
            Ok(Some(m)) => Err(child_error(&m, plan)),
            _ => Err(Error::from_errno(e, "writing the sync socket")),
        },
    }
}

fn socketpair() -> Result<(OwnedFd, OwnedFd)> {
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
}

/// Wait for our child behind `pidfd` to exit and reap it.
pub(crate) fn wait_exit(pid: i32, pidfd: &OwnedFd) -> Result<ExitStatus> {
    loop {
        // SAFETY: waitid on our own child's pidfd with a zeroed siginfo.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED,
            )
        };
        if r < 0 {
            let e = sys::errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(Error::from_errno(e, format!("waiting for pid {pid}")));
        }
        // SAFETY: waitid filled a SIGCHLD siginfo.
        let (code, status) = unsafe { (info.si_code, info.si_status()) };
        return Ok(match code {
            libc::CLD_EXITED => ExitStatus::Exited(status),
            _ => ExitStatus::Signaled(status),
        });
    }
}

fn kill_and_reap(pid: i32, pidfd: &OwnedFd) {
    let _ = pidfd_signal(pidfd, libc::SIGKILL);
    let _ = wait_exit(pid, pidfd);
}
