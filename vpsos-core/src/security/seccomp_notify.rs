//! Answering seccomp user notifications on a listener fd handed out by
//! [`Container::take_seccomp_listener`](crate::Container::take_seccomp_listener):
//! receive a notified syscall, look at it, and answer with a return value
//! or an errno (or let it run).

use crate::error::{Error, Result};
use std::os::fd::{AsFd, AsRawFd};

/// `struct seccomp_data`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct SeccompData {
    nr: i32,
    arch: u32,
    instruction_pointer: u64,
    args: [u64; 6],
}

/// `struct seccomp_notif`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct SeccompNotif {
    id: u64,
    pid: u32,
    flags: u32,
    data: SeccompData,
}

/// `struct seccomp_notif_resp`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct SeccompNotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

// _IOWR('!', 0, struct seccomp_notif) and _IOWR('!', 1, struct seccomp_notif_resp)
const NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const NOTIF_SEND: libc::c_ulong = 0xc018_2101;
const FLAG_CONTINUE: u32 = 1;

/// One notified syscall, waiting for an answer.
///
/// ```no_run
/// use vpsos_core::security::seccomp::Notification;
/// # let listener: std::os::fd::OwnedFd = unimplemented!();
/// loop {
///     let n = Notification::receive(&listener)?;
///     println!("pid {} called syscall {} with {:?}", n.pid, n.syscall, n.args);
///     n.fail(&listener, libc::EPERM)?;
/// }
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    /// The kernel's id for this notification.
    pub id: u64,
    /// Host pid of the calling thread.
    pub pid: u32,
    /// Syscall number (of `arch`).
    pub syscall: i32,
    /// AUDIT_ARCH_* of the call.
    pub arch: u32,
    /// The six arguments.
    pub args: [u64; 6],
}

impl Notification {
    /// Block until the next notification arrives.
    pub fn receive(listener: impl AsFd) -> Result<Notification> {
        let mut n = SeccompNotif::default();
        loop {
            // SAFETY: the kernel fills a struct seccomp_notif (zeroed first).
            let r = unsafe {
                libc::ioctl(
                    listener.as_fd().as_raw_fd(),
                    NOTIF_RECV as _,
                    &mut n as *mut SeccompNotif,
                )
            };
            if r == 0 {
                break;
            }
            let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            if e != libc::EINTR {
                return Err(Error::from_errno(e, "receiving a seccomp notification"));
            }
        }
        Ok(Notification {
            id: n.id,
            pid: n.pid,
            syscall: n.data.nr,
            arch: n.data.arch,
            args: n.data.args,
        })
    }

    fn send(&self, listener: impl AsFd, val: i64, error: i32, flags: u32) -> Result<()> {
        let mut resp = SeccompNotifResp {
            id: self.id,
            val,
            error,
            flags,
        };
        // SAFETY: a valid struct seccomp_notif_resp.
        let r = unsafe {
            libc::ioctl(
                listener.as_fd().as_raw_fd(),
                NOTIF_SEND as _,
                &mut resp as *mut SeccompNotifResp,
            )
        };
        if r < 0 {
            let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            // ENOENT: the caller died or was interrupted meanwhile
            return Err(Error::from_errno(e, "answering a seccomp notification"));
        }
        Ok(())
    }

    /// The syscall returns `val` without running.
    pub fn succeed(&self, listener: impl AsFd, val: i64) -> Result<()> {
        self.send(listener, val, 0, 0)
    }

    /// The syscall fails with `errno` without running.
    pub fn fail(&self, listener: impl AsFd, errno: i32) -> Result<()> {
        self.send(listener, 0, -errno.abs(), 0)
    }

    /// Let the syscall run as if it had not been notified
    /// (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
    pub fn allow(&self, listener: impl AsFd) -> Result<()> {
        self.send(listener, 0, 0, FLAG_CONTINUE)
    }
}
