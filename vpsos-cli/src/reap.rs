//! A foreground `run`/`exec` waits for its process as runc does: it is
//! the process's subreaper (the container's process is re-parented to
//! it), reaps it for its exit status, reaps the helpers that exit on
//! the way, and passes on the signals it receives.

use std::os::fd::{AsRawFd, OwnedFd};

/// Make this process the subreaper of everything it starts.
pub fn become_subreaper() -> Result<(), String> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } < 0 {
        return Err(format!(
            "PR_SET_CHILD_SUBREAPER: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// A foreground `run`/`exec` after the start: relay the terminal (if
/// the process has one, with ours in raw mode and its size passed on),
/// wait for the process passing signals on, and return its exit code.
pub fn foreground(
    pid: i32,
    pidfd: &OwnedFd,
    console: Option<OwnedFd>,
    signals: &OwnedFd,
) -> Result<i32, String> {
    use crate::console;
    let _raw = console.as_ref().map(|_| console::RawMode::enter());
    let resize_fd = match &console {
        Some(m) => Some(m.try_clone().map_err(|e| format!("dup: {e}"))?),
        None => None,
    };
    let relay = match console {
        Some(m) => {
            console::copy_size(&m);
            Some(console::relay(m)?)
        }
        None => None,
    };
    let resize = || {
        if let Some(m) = &resize_fd {
            console::copy_size(m);
        }
    };
    let code = wait_forwarding(pid, pidfd, signals, &resize)?;
    if let Some(r) = relay {
        let _ = r.join();
    }
    Ok(code)
}

/// Wait for the process behind `pidfd` (our child by now or soon), pass
/// on signals from `signals` to it (`resize` on SIGWINCH), and return
/// its exit code in the shell's convention (128 + signal when killed).
pub fn wait_forwarding(
    pid: i32,
    pidfd: &OwnedFd,
    signals: &OwnedFd,
    resize: &dyn Fn(),
) -> Result<i32, String> {
    loop {
        reap_others(pid);
        let mut fds = [
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: signals.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll over our array; a timeout so helpers get reaped.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, 200) };
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(format!("poll: {}", std::io::Error::last_os_error()));
        }
        if fds[1].revents != 0 {
            while let Some(sig) = crate::signals::read_one(signals) {
                if sig == libc::SIGWINCH {
                    resize();
                } else {
                    // SAFETY: pidfd_send_signal on our pidfd.
                    unsafe {
                        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, 0, 0);
                    }
                }
            }
        }
        if fds[0].revents != 0 {
            if let Some(code) = try_reap(pidfd)? {
                reap_others(0);
                return Ok(code);
            }
        }
    }
}

/// The status of the ended process behind `pidfd`, once it is our child
/// (it may still be on its way to us: `None`).
fn try_reap(pidfd: &OwnedFd) -> Result<Option<i32>, String> {
    // SAFETY: waitid on a pidfd with a zeroed siginfo of ours.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::waitid(
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::__WALL,
        )
    };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ECHILD) {
            // not (yet) re-parented to us: its helper parent is exiting
            std::thread::sleep(std::time::Duration::from_millis(1));
            return Ok(None);
        }
        return Err(format!("waitid: {e}"));
    }
    // SAFETY: filled in by waitid.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some(if info.si_code == libc::CLD_EXITED {
        status
    } else {
        128 + status
    }))
}

/// Reap every other child that has ended (the launch helpers), never
/// `keep` (whose status is wanted through its pidfd).
pub fn reap_others(keep: i32) {
    loop {
        // SAFETY: waitid/waitpid with buffers of ours.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::__WALL;
        if unsafe { libc::waitid(libc::P_ALL, 0, &mut info, flags) } < 0 {
            return;
        }
        // SAFETY: filled in by waitid (0 when nothing has ended).
        let pid = unsafe { info.si_pid() };
        if pid == 0 || pid == keep {
            return;
        }
        let mut st = 0;
        unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG | libc::__WALL) };
    }
}
