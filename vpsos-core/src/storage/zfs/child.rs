//! A streaming `zfs` child (`send`, `receive`): its stderr collected while
//! it runs, its end awaited in `poll` (so the [`Until`] in force can cancel
//! it), and always reaped: on every way out, an error or a panic in the
//! caller's reader or writer included, a child still running is asked to
//! end (SIGTERM), then killed (SIGKILL) after a bound.

use crate::error::{Error, Result, ResultExt};
use crate::until::Until;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// What of a child's stderr is kept for the error message.
const STDERR_KEEP: usize = 16 << 10;

/// A running child; dropping it ends and reaps it.
pub(super) struct Running {
    child: Option<Child>,
    pidfd: Option<OwnedFd>,
    stderr: Option<File>,
    errors: Vec<u8>,
    /// How long it gets between SIGTERM and SIGKILL.
    grace: Duration,
}

/// `fd` in non-blocking mode (our end of a pipe only: the child's end is
/// another open file description).
fn nonblocking(fd: OwnedFd) -> Result<File> {
    let flags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL)
        .map_err(|e| Error::from_errno(e as i32, "fcntl(F_GETFL) on a zfs pipe"))?;
    let flags = nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(flags))
        .map_err(|e| Error::from_errno(e as i32, "fcntl(F_SETFL) on a zfs pipe"))?;
    Ok(File::from(fd))
}

impl Running {
    /// Start `cmd` with its stderr piped to us.
    pub(super) fn spawn(mut cmd: Command, what: &str, grace: Duration) -> Result<Running> {
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .ctx(|| format!("running {what}"))?;
        // Without a pidfd (Linux < 5.3) the bounded waits become no waits.
        let pidfd = crate::spawn::pidfd_open(child.id() as i32).ok();
        let stderr = child.stderr.take().map(OwnedFd::from);
        let mut r = Running {
            child: Some(child),
            pidfd,
            stderr: None,
            errors: Vec::new(),
            grace,
        };
        r.stderr = stderr.map(nonblocking).transpose()?;
        Ok(r)
    }

    /// Our end of its stdout, non-blocking.
    pub(super) fn stdout(&mut self) -> Result<File> {
        let out = self.child.as_mut().and_then(|c| c.stdout.take());
        nonblocking(OwnedFd::from(out.expect("stdout piped")))
    }

    /// Our end of its stdin, non-blocking.
    pub(super) fn stdin(&mut self) -> Result<File> {
        let inp = self.child.as_mut().and_then(|c| c.stdin.take());
        nonblocking(OwnedFd::from(inp.expect("stdin piped")))
    }

    /// Its stderr while still open, to poll with what else we wait for.
    pub(super) fn stderr_fd(&self) -> Option<RawFd> {
        self.stderr.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Read what its stderr has (keeping the first [`STDERR_KEEP`] bytes);
    /// closed at end of file.
    pub(super) fn read_stderr(&mut self) {
        let Some(f) = self.stderr.as_mut() else {
            return;
        };
        let mut buf = [0u8; 4096];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let room = STDERR_KEEP.saturating_sub(self.errors.len());
                    self.errors.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        self.stderr = None;
    }

    /// What it wrote to stderr, trimmed.
    pub(super) fn errors(&self) -> String {
        String::from_utf8_lossy(&self.errors).trim().to_string()
    }

    /// Wait until it ends (collecting its stderr meanwhile) and reap it;
    /// `Ok(None)` at the deadline of `until`, `Cancelled` when cancelled
    /// (it runs on in both cases, until dropped).
    pub(super) fn wait(&mut self, until: &Until) -> Result<Option<ExitStatus>> {
        while let Some(efd) = self.stderr_fd() {
            let mut fds = vec![(efd, libc::POLLIN)];
            fds.extend(self.pidfd.as_ref().map(|p| (p.as_raw_fd(), libc::POLLIN)));
            match until.wait_any(&fds)? {
                None => return Ok(None),
                Some(0) => self.read_stderr(),
                Some(_) => {
                    // it ended: what it wrote is there to read now; others
                    // that may hold the pipe are not waited for
                    self.read_stderr();
                    self.stderr = None;
                }
            }
        }
        if let Some(pidfd) = &self.pidfd {
            if !until.wait_readable(pidfd.as_raw_fd())? {
                return Ok(None);
            }
        }
        let mut child = self.child.take().expect("waited for once");
        match child.wait() {
            Ok(st) => Ok(Some(st)),
            // its status was taken: the program ignores SIGCHLD or reaps
            // children it did not make (waitpid(-1))
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Err(Error::unsupported(
                "ZFS streams in a program that ignores SIGCHLD or reaps with waitpid(-1) \
                 (the exit status of zfs was taken): leave SIGCHLD at its default and \
                 reap only your own children while sending or receiving",
            )),
            Err(e) => Err(e).ctx(|| "waiting for zfs".to_string()),
        }
    }

    /// Whether it ended within `d` (reaped then).
    fn ended_within(&mut self, d: Duration) -> bool {
        let Some(child) = self.child.as_mut() else {
            return true;
        };
        if let Some(pidfd) = &self.pidfd {
            // a cancelled or expired scope only hurries the kill along
            let _ = Until::after(d).wait_readable(pidfd.as_raw_fd());
        }
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => {
                self.child = None;
                true
            }
            Ok(None) => false,
        }
    }

    fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: our unreaped child: its pid cannot have been reused.
            unsafe { libc::kill(c.id() as i32, sig) };
        }
    }

    /// End it for good: give it `first` to end by itself (if any), then
    /// SIGTERM and the grace, then SIGKILL; reap it. Its stderr is closed.
    pub(super) fn end(&mut self, first: Option<Duration>) {
        self.read_stderr();
        self.stderr = None;
        if self.child.is_none() || first.is_some_and(|d| self.ended_within(d)) {
            return;
        }
        self.signal(libc::SIGTERM);
        if self.ended_within(self.grace) {
            return;
        }
        self.signal(libc::SIGKILL);
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.end(None);
    }
}

/// `write(2)` that gives EPIPE but never raises SIGPIPE, whatever the host
/// process does with that signal (a C or Ruby host may leave it fatal):
/// SIGPIPE is blocked in this thread for the write, and one it raised is
/// taken off before the mask is restored. Allocation-free.
pub(super) fn write_nosigpipe(fd: RawFd, buf: &[u8]) -> std::io::Result<usize> {
    // SAFETY: signal-set calls on local sets; a write from a valid buffer.
    unsafe {
        let mut pipe: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe);
        libc::sigaddset(&mut pipe, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old);
        libc::sigemptyset(&mut pending);
        libc::sigpending(&mut pending);
        let was_pending = libc::sigismember(&pending, libc::SIGPIPE) == 1;
        let r = libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len());
        let err = std::io::Error::last_os_error();
        if r < 0 && err.raw_os_error() == Some(libc::EPIPE) && !was_pending {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            while libc::sigtimedwait(&pipe, std::ptr::null_mut(), &zero) < 0
                && *libc::__errno_location() == libc::EINTR
            {}
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if r < 0 {
            Err(err)
        } else {
            Ok(r as usize)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a forked child with SIGPIPE fatal again, a write to a pipe
    /// without reader gives EPIPE and the child lives on.
    #[test]
    fn a_closed_pipe_gives_epipe_not_sigpipe() {
        let mut fds = [0; 2];
        // SAFETY: plain syscalls; the forked child makes only
        // async-signal-safe calls and leaves by _exit.
        unsafe {
            assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
            libc::close(fds[0]);
            let pid = libc::fork();
            assert!(pid >= 0);
            if pid == 0 {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                let r = write_nosigpipe(fds[1], b"x");
                let epipe = matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EPIPE));
                let mut pending: libc::sigset_t = std::mem::zeroed();
                libc::sigpending(&mut pending);
                let clear = libc::sigismember(&pending, libc::SIGPIPE) == 0;
                libc::_exit(if epipe && clear { 0 } else { 1 });
            }
            libc::close(fds[1]);
            let mut status = 0;
            assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "status {status:#x}"
            );
        }
    }
}
