//! Pseudo-terminals for a container's console and exec'd processes.

use crate::error::{Error, Result};
use crate::spawn::sys::errno;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A pty pair made on the host: the master goes to the caller, the slave
/// becomes the process's controlling terminal (and /dev/console for init).
#[derive(Debug)]
pub(crate) struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub slave_path: CString,
}

impl Pty {
    /// Open a pty whose slave belongs to `uid`:`gid` on the host.
    pub fn open(uid: u32, gid: u32) -> Result<Pty> {
        let (mut m, mut s) = (-1, -1);
        // SAFETY: openpty fills two fds; the other arguments may be null.
        let r = unsafe {
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if r < 0 {
            return Err(Error::from_errno(errno(), "opening a pty for the console"));
        }
        // SAFETY: both fds are new and ours.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
        for fd in [&master, &slave] {
            // SAFETY: fcntl on our fds.
            unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        let mut buf = [0 as libc::c_char; 128];
        // SAFETY: buf has room; ttyname_r NUL-terminates.
        let r = unsafe { libc::ttyname_r(slave.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
        if r != 0 {
            return Err(Error::from_errno(r, "naming the console pty"));
        }
        // SAFETY: NUL-terminated by ttyname_r.
        let slave_path = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_owned();
        // SAFETY: fchown on our fd.
        if unsafe { libc::fchown(slave.as_raw_fd(), uid, gid) } < 0 {
            return Err(Error::from_errno(
                errno(),
                "handing the console pty to the container",
            ));
        }
        Ok(Pty {
            master,
            slave,
            slave_path,
        })
    }
}
