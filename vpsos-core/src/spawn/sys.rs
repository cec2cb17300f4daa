//! Allocation-free system-call helpers for the child between clone and exec.
//!
//! Everything here is async-signal-safe: raw syscalls over caller-owned
//! buffers, no allocation, no locks, no panics.

use libc::{c_char, c_int, c_long, c_uint, c_ulong};
use std::os::fd::AsRawFd;

/// `struct clone_args` of clone3(2).
#[repr(C)]
#[derive(Default)]
pub(crate) struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}

pub(crate) const CLONE_PIDFD: u64 = 0x1000;
/// Capability number of CAP_SYS_ADMIN (linux/capability.h).
pub(crate) const CAP_SYS_ADMIN: u32 = 21;
pub(crate) const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct open_how` of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

pub(crate) fn errno() -> c_int {
    // SAFETY: reads the thread's errno.
    unsafe { *libc::__errno_location() }
}

/// clone3 without CLONE_VM: fork semantics, the child returns 0 on a copy of
/// the caller's stack.
///
/// # Safety
/// The child may only run async-signal-safe code.
pub(crate) unsafe fn clone3(args: &mut CloneArgs) -> c_long {
    libc::syscall(
        libc::SYS_clone3,
        args as *mut CloneArgs,
        std::mem::size_of::<CloneArgs>(),
    )
}

/// fork(2) through the raw syscall (no atfork handlers), with extra flags
/// such as CLONE_PARENT.
///
/// # Safety
/// As for [`clone3`].
pub(crate) unsafe fn raw_fork(flags: c_ulong) -> c_long {
    libc::syscall(
        libc::SYS_clone,
        flags | libc::SIGCHLD as c_ulong,
        0usize,
        0usize,
        0usize,
        0usize,
    )
}

/// Open `path` (relative) under `root` as if `root` were `/`, never
/// following magic links: the safe way to resolve a mount destination in
/// a rootfs that may hold hostile symlinks.
pub(crate) fn open_in_root(root: c_int, path: *const c_char, flags: c_int) -> c_int {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: path is NUL-terminated, how is a valid open_how.
    unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root,
            path,
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        ) as c_int
    }
}

// The helpers below run in the child between clone and exec, where a
// panic would unwind into a copy of the host process: no indexing that
// can go out of bounds, no arithmetic that can overflow.

/// Write `n` in decimal at the start of `buf` (as much as fits); returns
/// the length written.
pub(crate) fn fmt_u64(mut n: u64, buf: &mut [u8]) -> usize {
    // u64::MAX has 20 digits
    let mut tmp = [0u8; 20];
    let mut len = 0;
    for slot in tmp.iter_mut() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    let mut written = 0;
    for (dst, src) in buf.iter_mut().zip(tmp.iter().take(len).rev()) {
        *dst = *src;
        written += 1;
    }
    written
}

/// Build the NUL-terminated `/proc/self/fd/<fd>` in `buf` (a negative fd
/// gives a path that names no fd).
pub(crate) fn fd_path(fd: c_int, buf: &mut [u8; 40]) -> *const c_char {
    const P: &[u8] = b"/proc/self/fd/";
    let mut sb = StackBuf::<40>::new();
    sb.push(P);
    if fd < 0 {
        sb.push(b"-");
    }
    sb.push_u64(fd.unsigned_abs() as u64);
    // room for the NUL: 14 + 1 + 10 digits of a c_int < 40
    let end = sb.len.min(39);
    for (dst, src) in buf.iter_mut().zip(sb.buf.iter().take(end)) {
        *dst = *src;
    }
    if let Some(nul) = buf.get_mut(end) {
        *nul = 0;
    }
    buf.as_ptr() as *const c_char
}

/// A small fixed buffer for composing text (e.g. timens offsets); what
/// does not fit is dropped.
pub(crate) struct StackBuf<const N: usize> {
    pub buf: [u8; N],
    pub len: usize,
}

impl<const N: usize> StackBuf<N> {
    pub fn new() -> Self {
        StackBuf {
            buf: [0; N],
            len: 0,
        }
    }

    pub fn push(&mut self, s: &[u8]) {
        for (dst, src) in self.buf.iter_mut().skip(self.len).zip(s) {
            *dst = *src;
            self.len += 1;
        }
    }

    pub fn push_u64(&mut self, v: u64) {
        let mut tmp = [0u8; 20];
        let n = fmt_u64(v, &mut tmp);
        self.push(tmp.get(..n).unwrap_or(&[]));
    }

    pub fn push_i64(&mut self, v: i64) {
        if v < 0 {
            self.push(b"-");
        }
        self.push_u64(v.unsigned_abs());
    }
}

/// Reset every signal disposition to the default and unblock all signals.
pub(crate) fn reset_signals() {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: sigaction with SIG_DFL; errors (glibc-reserved signals) are ignored.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &sa as *const libc::sigaction,
                std::ptr::null_mut::<libc::sigaction>(),
                8usize,
            );
        }
    }
    // SAFETY: an empty mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// setgroups(2) as a raw syscall: glibc's wrapper broadcasts to every
/// thread of the parent (nptl setxid), which do not exist in the child, and
/// would deadlock.
pub(crate) fn setgroups(groups: &[libc::gid_t]) -> c_long {
    // SAFETY: valid slice.
    unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) }
}

/// setresgid(2) as a raw syscall (see [`setgroups`]).
pub(crate) fn setresgid(gid: u32) -> c_long {
    // SAFETY: plain syscall.
    unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }
}

/// setresuid(2) as a raw syscall (see [`setgroups`]).
pub(crate) fn setresuid(uid: u32) -> c_long {
    // SAFETY: plain syscall.
    unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }
}

/// Close every fd from 3 up except those in `keep` (sorted ascending).
/// The errno of the first `close_range` that failed, if one did (the
/// caller fails closed: no host fd may reach the container).
pub(crate) fn close_all_but(keep: &[c_int]) -> Result<(), c_int> {
    let mut from: c_uint = 3;
    for &k in keep {
        if k < 3 || (k as c_uint) < from {
            continue;
        }
        if k as c_uint > from {
            // SAFETY: plain syscall.
            let r = unsafe { libc::syscall(libc::SYS_close_range, from, k as c_uint - 1, 0) };
            if r < 0 {
                return Err(errno());
            }
        }
        from = (k as c_uint).saturating_add(1);
    }
    // SAFETY: plain syscall.
    if unsafe { libc::syscall(libc::SYS_close_range, from, c_uint::MAX, 0) } < 0 {
        return Err(errno());
    }
    Ok(())
}

/// `capset(2)` with v3 structs.
pub(crate) fn capset(effective: u64, permitted: u64, inheritable: u64) -> c_int {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let hdr = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let data = [
        Data {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        Data {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: valid header and two data structs (v3).
    unsafe { libc::syscall(libc::SYS_capset, &hdr as *const Header, data.as_ptr()) as c_int }
}

/// The highest capability number the kernel knows, at most 63 (the
/// child shifts `1u64` by it). Read once (parent side only).
pub(crate) fn last_cap() -> c_uint {
    static LAST: std::sync::OnceLock<c_uint> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse::<c_uint>().ok())
            .unwrap_or(40)
            .min(63)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_and_fd_paths() {
        let mut b = [0u8; 40];
        let p = fd_path(123, &mut b);
        // SAFETY: fd_path wrote a NUL-terminated string.
        let s = unsafe { std::ffi::CStr::from_ptr(p) };
        assert_eq!(s.to_str().unwrap(), "/proc/self/fd/123");
        let mut sb = StackBuf::<64>::new();
        sb.push(b"monotonic ");
        sb.push_i64(-1234);
        sb.push(b" 0");
        assert_eq!(&sb.buf[..sb.len], b"monotonic -1234 0");
        let mut t = [0u8; 20];
        assert_eq!(fmt_u64(0, &mut t), 1);
        assert_eq!(fmt_u64(u64::MAX, &mut t), 20);
        assert_eq!(&t, b"18446744073709551615");
    }

    /// What the child runs must never panic: too small buffers truncate,
    /// negative fds and extreme numbers are fine.
    #[test]
    fn child_helpers_cannot_panic() {
        let mut tiny = [0u8; 3];
        assert_eq!(fmt_u64(123456, &mut tiny), 3);
        assert_eq!(&tiny, b"123");
        assert_eq!(fmt_u64(7, &mut []), 0);
        let mut b = [0u8; 40];
        for fd in [-1, c_int::MIN, c_int::MAX] {
            let p = fd_path(fd, &mut b);
            // SAFETY: NUL-terminated within b.
            let s = unsafe { std::ffi::CStr::from_ptr(p) };
            assert!(s.to_str().unwrap().starts_with("/proc/self/fd/"));
        }
        let mut sb = StackBuf::<4>::new();
        sb.push(b"abcdef");
        sb.push_i64(i64::MIN);
        assert_eq!((&sb.buf, sb.len), (b"abcd", 4));
    }
}

/// Reap a child that has no exit signal (or find it reaped already).
pub(crate) fn reap_quietly(pidfd: &std::os::fd::OwnedFd) {
    let _ = reap(pidfd);
}

/// Reap our ended (or ending) child behind `pidfd`, whatever its exit
/// signal: (si_code, si_status), or the errno (ECHILD: not our child).
pub(crate) fn reap(pidfd: &std::os::fd::OwnedFd) -> Result<(c_int, c_int), c_int> {
    loop {
        // SAFETY: waitid on a pidfd with a zeroed siginfo of ours.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::__WALL,
            )
        };
        match r {
            // SAFETY: filled in by waitid for an ended child.
            0 => return Ok((info.si_code, unsafe { info.si_status() })),
            _ if errno() == libc::EINTR => continue,
            _ => return Err(errno()),
        }
    }
}
