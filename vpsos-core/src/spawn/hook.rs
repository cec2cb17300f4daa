//! One OCI hook process, from fork to status.
//!
//! An intermediate is forked with `clone3` and **no exit signal**, and
//! reaped through its pidfd; it forks the hook, waits for it and ends
//! the same way. A host program that ignores SIGCHLD (the kernel would
//! reap the hook itself) or reaps with `waitpid(-1)` (Ruby's
//! `Process.waitall`, Python's `os.waitpid(-1, …)`) cannot take the
//! status, as it could from a `std::process::Command` child; the hook
//! itself cannot be that child, as exec gives a process the SIGCHLD
//! exit signal back.
//!
//! A hook of the container's namespaces joins them through the init's
//! pidfd and becomes the container's root (uid and gid 0 of its user
//! namespace) in the intermediate, so the hook, forked after, is inside
//! the PID namespace too (`setns` of one only places the caller's
//! children there). The intermediate and the hook, and whatever the
//! hook forks, are in one new process group, which a timeout kills
//! whole.
//!
//! Between the fork and the exec only raw system calls run, over data
//! built before the fork (the rule of [`super`]).

use super::sys::{self, errno};
use super::{block_signals, restore_signals};
use crate::error::{Error, Result};
use crate::until::Until;
use libc::{c_char, c_int};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What to exec, prepared before the fork.
pub(crate) struct HookExec {
    /// The program opened on the host (`O_PATH`), run with `execveat`;
    /// `None`: `path` is resolved where the hook runs.
    pub exe: Option<OwnedFd>,
    pub path: *const c_char,
    /// NULL-terminated argv and envp.
    pub argv: *const *const c_char,
    pub envp: *const *const c_char,
    /// Its stdin (the OCI state) and its stdout and stderr (one file).
    pub stdin: RawFd,
    pub output: RawFd,
    /// Namespaces to join: the init's pidfd and the CLONE_NEW* flags.
    pub join: Option<(RawFd, c_int)>,
}

/// How a hook ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HookEnd {
    Exited(i32),
    Signaled(i32),
    /// Killed at its deadline.
    TimedOut,
}

/// Why a hook's child could not exec, by the step it failed at.
const STEPS: [&str; 6] = [
    "redirecting its stdio",
    "joining the container's namespaces",
    "becoming the container's root",
    "forking the hook",
    "executing it",
    "closing the runtime's fds",
];

/// Run the hook `x` until it ends or `until` passes.
pub(crate) fn run(x: &HookExec, until: &Until) -> Result<HookEnd> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Error::from_errno(errno(), "pipe2"));
    }
    // SAFETY: fresh fds, owned here.
    let (err_r, err_w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut pidfd: c_int = -1;
    let mut args = sys::CloneArgs {
        flags: sys::CLONE_PIDFD,
        pidfd: &mut pidfd as *mut c_int as u64,
        exit_signal: 0,
        ..Default::default()
    };
    let old = block_signals();
    // SAFETY: the child runs `child` only: raw syscalls, then exec or _exit.
    let pid = unsafe { sys::clone3(&mut args) };
    if pid == 0 {
        // SAFETY: in the forked child, over memory copied from the parent.
        unsafe { child(x, err_w.as_raw_fd()) }
    }
    let clone_errno = errno();
    restore_signals(&old);
    drop(err_w);
    if pid < 0 {
        return Err(Error::from_errno(clone_errno, "clone3 of the hook"));
    }
    // SAFETY: CLONE_PIDFD filled in a new fd.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    // the child's report: (step, errno), or nothing once it has exec'd
    let mut report = [0u8; 8];
    let n = loop {
        // SAFETY: reads into our buffer.
        let n = unsafe { libc::read(err_r.as_raw_fd(), report.as_mut_ptr().cast(), 8) };
        if n >= 0 || errno() != libc::EINTR {
            break n;
        }
    };
    if n == 8 {
        sys::reap_quietly(&pidfd);
        let step = u32::from_ne_bytes(report[..4].try_into().expect("4 bytes")) as usize;
        let e = i32::from_ne_bytes(report[4..].try_into().expect("4 bytes"));
        return Err(Error::from_errno(
            e,
            STEPS.get(step).copied().unwrap_or("?"),
        ));
    }
    let ended = match until.wait_readable(pidfd.as_raw_fd()) {
        Ok(ended) => ended,
        Err(e) => {
            kill_group(pid as i32, &pidfd);
            sys::reap_quietly(&pidfd);
            return Err(e);
        }
    };
    if !ended {
        kill_group(pid as i32, &pidfd);
    }
    let status = sys::reap(&pidfd).map_err(|e| Error::from_errno(e, "waiting for the hook"))?;
    Ok(match (ended, status) {
        (false, _) => HookEnd::TimedOut,
        (true, (libc::CLD_EXITED, code)) => HookEnd::Exited(code),
        (true, (_, signal)) => HookEnd::Signaled(signal),
    })
}

/// SIGKILL the hook's process group (its pid: it made the group, and as
/// it is not reaped yet the number is still its), and the hook itself
/// should it have left the group.
fn kill_group(pgid: i32, pidfd: &OwnedFd) {
    // SAFETY: plain syscalls on our child's group and pidfd.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = super::pidfd_signal(pidfd, libc::SIGKILL);
}

/// The forked hook: stdio, a process group of its own, the container's
/// namespaces and root, then exec; on failure (step, errno) to `err`.
///
/// # Safety
/// Only in the child of [`run`]'s clone3.
unsafe fn child(x: &HookExec, err: c_int) -> ! {
    let fail = |step: u32| -> ! {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&step.to_ne_bytes());
        b[4..].copy_from_slice(&errno().to_ne_bytes());
        libc::write(err, b.as_ptr().cast(), 8);
        libc::_exit(127)
    };
    sys::reset_signals();
    if libc::dup2(x.stdin, 0) < 0 || libc::dup2(x.output, 1) < 0 || libc::dup2(x.output, 2) < 0 {
        fail(0);
    }
    // nothing of the runtime's but the report pipe, the program and the
    // init's pidfd (-1s sort first and are skipped)
    let exe = x.exe.as_ref().map_or(-1, |f| f.as_raw_fd());
    let mut keep = [err, exe, x.join.map_or(-1, |(fd, _)| fd)];
    keep.sort_unstable();
    let skip = keep.iter().take_while(|fd| **fd < 0).count();
    if sys::close_all_but(&keep[skip..]).is_err() {
        fail(5);
    }
    libc::setpgid(0, 0);
    if let Some((pidfd, flags)) = x.join {
        if libc::setns(pidfd, flags) < 0 || libc::chdir(c"/".as_ptr()) < 0 {
            fail(1);
        }
        if flags & libc::CLONE_NEWUSER != 0 {
            // the container's root, not the unmapped host root
            let _ = sys::setgroups(&[]);
            if sys::setresgid(0) < 0 || sys::setresuid(0) < 0 {
                fail(2);
            }
        }
    }
    // the hook is the intermediate's child: an exec'd process's exit
    // signal is SIGCHLD again, which the caller may ignore (the kernel
    // would reap it) or take with `waitpid(-1)`; the intermediate does
    // not exec, so its status stays ours. (Also how the hook gets into a
    // PID namespace joined above: only children enter it.)
    let pid = sys::raw_fork(0);
    if pid < 0 {
        fail(3);
    }
    if pid > 0 {
        libc::close(err);
        pass_on_status(pid as i32);
    }
    // should the intermediate be killed, so is the hook
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    if exe >= 0 {
        // a script's interpreter opens /dev/fd/<exe>: keep it across exec
        libc::fcntl(exe, libc::F_SETFD, 0);
        libc::syscall(
            libc::SYS_execveat,
            exe,
            c"".as_ptr(),
            x.argv,
            x.envp,
            libc::AT_EMPTY_PATH,
        );
    } else {
        libc::execve(x.path, x.argv, x.envp);
    }
    fail(4)
}

/// In the intermediate: wait for the hook and end the same way.
///
/// # Safety
/// Only in [`child`].
unsafe fn pass_on_status(pid: i32) -> ! {
    let mut status = 0;
    while libc::waitpid(pid, &mut status, libc::__WALL) < 0 && errno() == libc::EINTR {}
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        libc::kill(libc::getpid(), sig);
        libc::_exit(128 + sig);
    }
    libc::_exit(libc::WEXITSTATUS(status))
}
