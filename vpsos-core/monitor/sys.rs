//! Raw system calls for the monitor (no libc): x86_64 and aarch64.

use core::arch::asm;

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const CLOSE: usize = 3;
    pub const LSEEK: usize = 8;
    pub const PWRITE64: usize = 18;
    pub const RT_SIGPROCMASK: usize = 14;
    pub const IOCTL: usize = 16;
    pub const SENDTO: usize = 44;
    pub const FCNTL: usize = 72;
    pub const PRCTL: usize = 157;
    pub const CLOCK_GETTIME: usize = 228;
    pub const EXIT_GROUP: usize = 231;
    pub const WAITID: usize = 247;
    pub const OPENAT: usize = 257;
    pub const PPOLL: usize = 271;
    pub const ACCEPT4: usize = 288;
    pub const SIGNALFD4: usize = 289;
    pub const RENAMEAT2: usize = 316;
    pub const CLOSE_RANGE: usize = 436;
}

#[cfg(target_arch = "aarch64")]
mod nr {
    pub const READ: usize = 63;
    pub const WRITE: usize = 64;
    pub const CLOSE: usize = 57;
    pub const LSEEK: usize = 62;
    pub const PWRITE64: usize = 68;
    pub const RT_SIGPROCMASK: usize = 135;
    pub const IOCTL: usize = 29;
    pub const SENDTO: usize = 206;
    pub const FCNTL: usize = 25;
    pub const PRCTL: usize = 167;
    pub const CLOCK_GETTIME: usize = 113;
    pub const EXIT_GROUP: usize = 94;
    pub const WAITID: usize = 95;
    pub const OPENAT: usize = 56;
    pub const PPOLL: usize = 73;
    pub const ACCEPT4: usize = 242;
    pub const SIGNALFD4: usize = 74;
    pub const RENAMEAT2: usize = 276;
    pub const CLOSE_RANGE: usize = 436;
}

#[cfg(target_arch = "x86_64")]
unsafe fn raw(n: usize, a: [usize; 6]) -> isize {
    let r: isize;
    asm!(
        "syscall",
        inlateout("rax") n as isize => r,
        in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
        in("r10") a[3], in("r8") a[4], in("r9") a[5],
        lateout("rcx") _, lateout("r11") _,
        options(nostack)
    );
    r
}

#[cfg(target_arch = "aarch64")]
unsafe fn raw(n: usize, a: [usize; 6]) -> isize {
    let r: isize;
    asm!(
        "svc 0",
        in("x8") n,
        inlateout("x0") a[0] as isize => r,
        in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
        options(nostack)
    );
    r
}

/// A system call's result: the value, or the errno.
pub type R = Result<usize, i32>;

fn res(r: isize) -> R {
    if (-4095..0).contains(&r) {
        Err(-r as i32)
    } else {
        Ok(r as usize)
    }
}

fn call(n: usize, a: [usize; 6]) -> R {
    // SAFETY: every wrapper below passes valid pointers for its call.
    res(unsafe { raw(n, a) })
}

pub const EINTR: i32 = 4;
pub const EAGAIN: i32 = 11;

pub const O_WRONLY: usize = 0o1;
pub const O_CREAT: usize = 0o100;
pub const O_TRUNC: usize = 0o1000;
pub const O_APPEND: usize = 0o2000;
pub const O_NONBLOCK: usize = 0o4000;
pub const O_CLOEXEC: usize = 0o2000000;

pub const POLLIN: i16 = 0x1;
pub const POLLERR: i16 = 0x8;
pub const POLLHUP: i16 = 0x10;
pub const POLLNVAL: i16 = 0x20;

pub const MSG_DONTWAIT: usize = 0x40;
pub const MSG_NOSIGNAL: usize = 0x4000;

pub const P_ALL: usize = 0;
pub const WEXITED: usize = 4;
pub const WNOHANG: usize = 1;
pub const CLD_EXITED: i32 = 1;

pub const SIGCHLD: usize = 17;

#[repr(C)]
pub struct PollFd {
    pub fd: i32,
    pub events: i16,
    pub revents: i16,
}

/// The parts of `siginfo_t` a SIGCHLD fills (64-bit layout).
#[repr(C)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    _pad: i32,
    pub pid: i32,
    pub uid: u32,
    pub status: i32,
    _rest: [u8; 100],
}

impl SigInfo {
    pub const fn zero() -> SigInfo {
        SigInfo { signo: 0, errno: 0, code: 0, _pad: 0, pid: 0, uid: 0, status: 0, _rest: [0; 100] }
    }
}

pub fn read(fd: i32, buf: &mut [u8]) -> R {
    call(nr::READ, [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0])
}

pub fn write(fd: i32, buf: &[u8]) -> R {
    call(nr::WRITE, [fd as usize, buf.as_ptr() as usize, buf.len(), 0, 0, 0])
}

/// Write all of `buf` (a regular file: no short writes but on error).
pub fn write_all(fd: i32, mut buf: &[u8]) -> R {
    while !buf.is_empty() {
        match write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(0)
}

/// `pwrite(fd, buf, 0)`.
pub fn pwrite_start(fd: i32, buf: &[u8]) -> R {
    call(nr::PWRITE64, [fd as usize, buf.as_ptr() as usize, buf.len(), 0, 0, 0])
}

pub fn close(fd: i32) {
    let _ = call(nr::CLOSE, [fd as usize, 0, 0, 0, 0, 0]);
}

pub fn close_from(first: u32) {
    let _ = call(nr::CLOSE_RANGE, [first as usize, u32::MAX as usize, 0, 0, 0, 0]);
}

pub fn lseek_end(fd: i32) -> R {
    call(nr::LSEEK, [fd as usize, 0, 2, 0, 0, 0])
}

/// `openat(dir, path, flags, mode)`; `path` is NUL-terminated.
pub fn openat(dir: i32, path: &[u8], flags: usize, mode: usize) -> R {
    call(nr::OPENAT, [dir as usize, path.as_ptr() as usize, flags | O_CLOEXEC, mode, 0, 0])
}

/// `renameat2(dir, from, dir, to, 0)`; both NUL-terminated.
pub fn rename_in(dir: i32, from: &[u8], to: &[u8]) -> R {
    call(nr::RENAMEAT2, [dir as usize, from.as_ptr() as usize, dir as usize, to.as_ptr() as usize, 0, 0])
}

pub fn set_nonblock(fd: i32) {
    const F_GETFL: usize = 3;
    const F_SETFL: usize = 4;
    if let Ok(fl) = call(nr::FCNTL, [fd as usize, F_GETFL, 0, 0, 0, 0]) {
        let _ = call(nr::FCNTL, [fd as usize, F_SETFL, fl | O_NONBLOCK, 0, 0, 0]);
    }
}

pub fn ioctl(fd: i32, req: usize, arg: usize) -> R {
    call(nr::IOCTL, [fd as usize, req, arg, 0, 0, 0])
}

pub fn send(fd: i32, buf: &[u8], flags: usize) -> R {
    call(nr::SENDTO, [fd as usize, buf.as_ptr() as usize, buf.len(), flags, 0, 0])
}

pub fn accept(fd: i32) -> R {
    const SOCK_NONBLOCK: usize = 0o4000;
    const SOCK_CLOEXEC: usize = 0o2000000;
    call(nr::ACCEPT4, [fd as usize, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC, 0, 0])
}

/// Block every signal, and return a signalfd for SIGCHLD.
pub fn sigchld_fd() -> R {
    let all: u64 = !0;
    call(nr::RT_SIGPROCMASK, [0 /* SIG_BLOCK */, &all as *const u64 as usize, 0, 8, 0, 0])?;
    let mask: u64 = 1 << (SIGCHLD - 1);
    const SFD_NONBLOCK: usize = 0o4000;
    const SFD_CLOEXEC: usize = 0o2000000;
    call(nr::SIGNALFD4, [usize::MAX /* -1 */, &mask as *const u64 as usize, 8, SFD_NONBLOCK | SFD_CLOEXEC, 0, 0])
}

pub fn poll(fds: &mut [PollFd]) -> R {
    call(nr::PPOLL, [fds.as_mut_ptr() as usize, fds.len(), 0, 0, 8, 0])
}

/// Reap one exited child without blocking: `Ok(None)` while children run,
/// `Err(ECHILD)` when none is left.
pub fn reap() -> Result<Option<SigInfo>, i32> {
    let mut info = SigInfo::zero();
    loop {
        match call(nr::WAITID, [P_ALL, 0, &mut info as *mut SigInfo as usize, WEXITED | WNOHANG, 0, 0]) {
            Ok(_) if info.pid == 0 => return Ok(None),
            Ok(_) => return Ok(Some(info)),
            Err(EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

pub fn prctl(op: usize, arg: usize) {
    let _ = call(nr::PRCTL, [op, arg, 0, 0, 0, 0]);
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    let mut ts = [0i64; 2];
    let _ = call(nr::CLOCK_GETTIME, [0 /* REALTIME */, ts.as_mut_ptr() as usize, 0, 0, 0, 0]);
    ts[0] as u64
}

pub fn exit(code: i32) -> ! {
    loop {
        let _ = call(nr::EXIT_GROUP, [code as usize, 0, 0, 0, 0, 0]);
    }
}
