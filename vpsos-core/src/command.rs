//! Running the external commands vpsos needs (`apparmor_parser`, `zfs`)
//! so that the program's own child handling cannot take their status.
//!
//! A program that ignores SIGCHLD (Python's `signal.signal(SIGCHLD,
//! SIG_IGN)`, a daemon's habit) has the kernel reap its children itself;
//! one that reaps with `waitpid(-1)` in a loop (Python's `os.waitpid(-1,
//! WNOHANG)`, Ruby's `Process.waitall`) takes any child's status. Either
//! way a command that vpsos runs as the program's direct child ran, but
//! its status is gone (ECHILD). So every command runs under `/bin/sh`
//! with SIGCHLD at its default: the shell is the command's parent, waits
//! for it and writes its status to a pipe; the shell's own status, which
//! the program may take, is not needed.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Output, Stdio};

/// Whether this process ignores SIGCHLD.
#[cfg(test)]
fn sigchld_ignored() -> bool {
    // SAFETY: reads the disposition only (a NULL new action)
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// `cmd.output()`, whatever the program does with its children. The command
/// gets no stdin (as with `output`); the program and arguments are taken
/// from `cmd`, and so are its environment changes.
///
/// ```ignore
/// let out = crate::command::output(Command::new("zfs").arg("list"))?;
/// ```
pub(crate) fn output(cmd: &mut Command) -> std::io::Result<Output> {
    via_shell(cmd)
}

/// `cmd` under `/bin/sh` with SIGCHLD at its default; its status comes
/// back through fd 3, not from waiting for the shell.
fn via_shell(cmd: &mut Command) -> std::io::Result<Output> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both fds
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh fds from pipe2, owned here
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut sh = Command::new("/bin/sh");
    sh.arg("-c")
        .arg("\"$@\"; echo $? >&3")
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        sh.current_dir(d);
    }
    let wfd = w.as_raw_fd();
    // SAFETY: between fork and exec: signal, dup2 and fcntl only
    unsafe {
        sh.pre_exec(move || {
            libc::signal(libc::SIGCHLD, libc::SIG_DFL);
            if wfd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0);
            } else if libc::dup2(wfd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = sh
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    drop(w);
    let (mut so, mut se) = (child.stdout.take(), child.stderr.take());
    let (stdout, stderr) = std::thread::scope(|s| {
        let e = s.spawn(move || {
            let mut b = Vec::new();
            if let Some(x) = se.as_mut() {
                let _ = x.read_to_end(&mut b);
            }
            b
        });
        let mut b = Vec::new();
        if let Some(x) = so.as_mut() {
            let _ = x.read_to_end(&mut b);
        }
        (b, e.join().unwrap_or_default())
    });
    let mut text = String::new();
    std::fs::File::from(r).read_to_string(&mut text)?;
    let _ = child.wait(); // ECHILD: the kernel reaped the shell
    let code: i32 = text.trim().parse().map_err(|_| {
        std::io::Error::other(format!(
            "{:?} ended without reporting its status",
            cmd.get_program()
        ))
    })?;
    Ok(Output {
        status: ExitStatus::from_raw(code << 8),
        stdout,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shell path gives what `output` gives (this test binary does
    /// not ignore SIGCHLD; tests/outlive.rs runs a process that does).
    #[test]
    fn the_shell_path_reports_status_and_output() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo out; echo \"$X\" >&2; exit 3"])
            .env("X", "err");
        let out = via_shell(&mut c).unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert!(!sigchld_ignored());
    }
}
