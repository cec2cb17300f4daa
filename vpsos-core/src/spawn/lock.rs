//! Locking a container's mounts: the masks over /proc and /sys, the
//! read-only remounts and every other mount the child made become mounts
//! the container's user namespace does not own, so its root can neither
//! unmount them (the kernel's `MNT_LOCKED`: EINVAL), nor change their
//! read-only, nosuid, nodev, noexec or atime flags (`MNT_LOCK_*`), nor
//! mount a fresh proc or sysfs beside them (`mount_too_revealing`: the
//! existing ones are not fully visible).
//!
//! The kernel locks the mounts of a mount namespace when it copies it for
//! a less privileged user namespace. The child makes its mounts in a mount
//! namespace its own user namespace owns (it must: /proc belongs to its
//! PID namespace, /sys to its network namespace), so a helper copies that
//! namespace twice: once as host root (a copy the host's user namespace
//! owns, every mount locked), then, having joined the container's user
//! namespace, once more (a copy the container's user namespace owns,
//! still locked). The child moves into the last copy before it drops
//! privileges; the first two are gone once nothing holds them.
//!
//! The helper shares the caller's memory and fd table (`CLONE_VM |
//! CLONE_VFORK | CLONE_FILES`) but not its filesystem context, which
//! `setns` demands, and runs async-signal-safe system calls only, as the
//! rest of `spawn` does between clone and exec.

use super::sys::errno;
use crate::error::{Error, Result, ResultExt};
use libc::{c_int, c_void};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The helper's stack: it only makes a handful of system calls.
const STACK: usize = 64 * 1024;

/// What the helper works on and reports back, in the caller's memory.
struct Job {
    /// The child's mount namespace.
    mnt: c_int,
    /// The child's user namespace.
    user: c_int,
    /// The host's /proc (O_PATH): the copy is named through it, as the
    /// helper's own /proc after the first setns is the container's.
    proc: c_int,
    path: CString,
    /// The last copy, or -1.
    out: c_int,
    errno: c_int,
    /// Which call failed (1-based, see `STEPS`).
    step: usize,
}

const STEPS: [&str; 5] = [
    "joining its mount namespace",
    "copying it as host root",
    "joining its user namespace",
    "copying it for the container",
    "opening the copy",
];

/// A mount namespace for the process `pid` (whose mounts are made) in
/// which none of them can be undone from inside; an fd of it to `setns`.
pub(crate) fn locked_mount_ns(pid: i32) -> Result<OwnedFd> {
    let open = |what: &str| -> Result<OwnedFd> {
        let p = format!("/proc/{pid}/ns/{what}");
        std::fs::File::open(&p)
            .map(OwnedFd::from)
            .ctx(|| format!("opening {p}"))
    };
    let (mnt, user) = (open("mnt")?, open("user")?);
    let proc: OwnedFd = std::fs::File::open("/proc")
        .map(OwnedFd::from)
        .ctx(|| "opening /proc".to_string())?;
    let mut job = Job {
        mnt: mnt.as_raw_fd(),
        user: user.as_raw_fd(),
        proc: proc.as_raw_fd(),
        path: CString::new("thread-self/ns/mnt").expect("no NUL"),
        out: -1,
        errno: 0,
        step: 0,
    };
    // SAFETY: an anonymous mapping of our own, unmapped below.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(Error::from_errno(
            errno(),
            "mapping the mount locker's stack",
        ));
    }
    let mut pidfd: c_int = -1;
    let old_mask = super::block_signals();
    // SAFETY: the helper runs `lock_main` on our mapping with `job`, which
    // outlive it: CLONE_VFORK suspends this thread until it has exited.
    let r = unsafe {
        libc::clone(
            lock_main,
            (stack as *mut u8).add(STACK) as *mut c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES | libc::CLONE_PIDFD,
            &mut job as *mut Job as *mut c_void,
            &mut pidfd as *mut c_int,
        )
    };
    let clone_errno = errno();
    super::restore_signals(&old_mask);
    if r >= 0 {
        // SAFETY: CLONE_PIDFD made it; no exit signal, so only we reap.
        super::sys::reap_quietly(&unsafe { OwnedFd::from_raw_fd(pidfd) });
    }
    // SAFETY: the mapping made above; the helper is gone.
    unsafe { libc::munmap(stack, STACK) };
    if r < 0 {
        return Err(Error::from_errno(
            clone_errno,
            "starting the mount locker (clone)",
        ));
    }
    if job.out < 0 {
        let step = STEPS.get(job.step.wrapping_sub(1)).unwrap_or(&"?");
        return Err(Error::from_errno(
            job.errno,
            format!("locking the container's mounts: {step}"),
        ));
    }
    // SAFETY: the helper opened it into our shared fd table.
    Ok(unsafe { OwnedFd::from_raw_fd(job.out) })
}

/// The helper: two copies of the child's mount namespace, the second one
/// from inside the container's user namespace.
extern "C" fn lock_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the caller's Job, alive until we exit (vfork).
    let j = unsafe { &mut *(arg as *mut Job) };
    let fail = |j: &mut Job, step: usize| {
        j.errno = errno();
        j.step = step;
        1
    };
    // SAFETY: plain system calls on fds and strings the caller prepared.
    unsafe {
        if libc::setns(j.mnt, libc::CLONE_NEWNS) < 0 {
            return fail(j, 1);
        }
        if libc::unshare(libc::CLONE_NEWNS) < 0 {
            return fail(j, 2);
        }
        if libc::setns(j.user, libc::CLONE_NEWUSER) < 0 {
            return fail(j, 3);
        }
        if libc::unshare(libc::CLONE_NEWNS) < 0 {
            return fail(j, 4);
        }
        let fd = libc::openat(j.proc, j.path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return fail(j, 5);
        }
        j.out = fd;
    }
    0
}
