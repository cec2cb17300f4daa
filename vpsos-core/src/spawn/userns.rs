//! A user namespace with given id maps, for idmapped mounts: a child born
//! in a new user namespace (`clone3(CLONE_NEWUSER)`) that only pauses; the
//! parent writes its maps, keeps an fd of the namespace and ends it.

use super::sys::{self, errno};
use super::{block_signals, restore_signals};
use crate::error::{Error, Result, ResultExt};
use crate::idmap::IdMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// An fd of a new user namespace mapped by `uid_map` and `gid_map`.
pub(crate) fn with_maps(uid_map: &IdMap, gid_map: &IdMap) -> Result<OwnedFd> {
    let mut pidfd: libc::c_int = -1;
    let mut args = sys::CloneArgs {
        flags: libc::CLONE_NEWUSER as u64 | sys::CLONE_PIDFD,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    let old = block_signals();
    // SAFETY: the child only calls pause(2) until it is killed.
    let pid = unsafe { sys::clone3(&mut args) };
    if pid == 0 {
        loop {
            // SAFETY: async-signal-safe; SIGKILL ends it.
            unsafe { libc::pause() };
        }
    }
    let clone_errno = errno();
    restore_signals(&old);
    if pid < 0 {
        return Err(Error::from_errno(
            clone_errno,
            "clone3 of the id-map namespace holder",
        ));
    }
    // SAFETY: CLONE_PIDFD filled in a new fd.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let res = (|| -> Result<OwnedFd> {
        for (file, map) in [("uid_map", uid_map), ("gid_map", gid_map)] {
            let p = format!("/proc/{pid}/{file}");
            std::fs::write(&p, map.proc_format()).ctx(|| format!("writing {p}"))?;
        }
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/user"))
            .ctx(|| "opening the id-map user namespace".into())?;
        Ok(ns.into())
    })();
    // SAFETY: signal and reap our own child through its pidfd.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            0,
            0,
        );
        let mut status = 0;
        while libc::waitpid(pid as i32, &mut status, 0) < 0 && errno() == libc::EINTR {}
    }
    res
}
