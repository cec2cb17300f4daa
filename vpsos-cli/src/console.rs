//! Terminals: handing a pty master to a `--console-socket` (SCM_RIGHTS,
//! as runc does, with the name `/dev/ptmx` as the payload), or, for a
//! foreground `run -t`/`exec -t` without one, relaying it to our own
//! stdin/stdout with the local terminal in raw mode.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Send `master` over the unix socket at `path`.
pub fn send_to_socket(path: &Path, master: &OwnedFd) -> Result<(), String> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let sock = UnixStream::connect(path)
        .map_err(|e| format!("connecting to console socket {}: {e}", path.display()))?;
    let name = b"/dev/ptmx";
    let iov = [std::io::IoSlice::new(name)];
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(|e| format!("sending the console to {}: {e}", path.display()))?;
    Ok(())
}

/// Our terminal's size onto `master` (if stdin is a terminal).
pub fn copy_size(master: &OwnedFd) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: ioctls with a winsize of ours.
    unsafe {
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Restores the local terminal's mode when dropped.
pub struct RawMode(Option<nix::sys::termios::Termios>);

impl RawMode {
    /// Put stdin (if a terminal) in raw mode.
    pub fn enter() -> RawMode {
        use nix::sys::termios;
        // SAFETY: fd 0 lives as long as the process.
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
        let Ok(old) = termios::tcgetattr(stdin) else {
            return RawMode(None);
        };
        let mut raw = old.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin, termios::SetArg::TCSANOW, &raw);
        RawMode(Some(old))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            // SAFETY: fd 0 lives as long as the process.
            let stdin = unsafe { BorrowedFd::borrow_raw(0) };
            let _ = nix::sys::termios::tcsetattr(stdin, nix::sys::termios::SetArg::TCSANOW, old);
        }
    }
}

/// Relay stdin → master (on a thread; it ends with the process) and
/// master → stdout (on another, joined by the returned handle: it ends
/// when the pty's last slave closes).
pub fn relay(master: OwnedFd) -> Result<std::thread::JoinHandle<()>, String> {
    let input = master.try_clone().map_err(|e| format!("dup: {e}"))?;
    std::thread::spawn(move || {
        let mut to = std::fs::File::from(input);
        let mut buf = [0u8; 4096];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    Ok(std::thread::spawn(move || {
        let mut from = std::fs::File::from(master);
        let mut buf = [0u8; 4096];
        let mut out = std::io::stdout();
        // EIO once no slave is open: the process has ended
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || out.write_all(&buf[..n]).is_err() {
                break;
            }
            let _ = out.flush();
        }
    }))
}
