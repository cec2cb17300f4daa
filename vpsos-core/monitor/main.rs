//! vpsos-monitor: the tiny per-container process that keeps a container's
//! console and the record of how its init ended, so that neither depends
//! on the process that created the container.
//!
//! It is built by vpsos-core's build.rs as a freestanding static binary
//! (no libc, no allocator: a few kilobytes of text and one page of stack),
//! embedded in the library and executed from a sealed memfd, so there is
//! no file on disk for anyone to overwrite. vpsos starts it between the
//! caller and the container's first process: it is that process's parent,
//! so the kernel hands it the exit status, and it holds the pty masters,
//! so the console never loses its reader. See `spawn::monitor` in
//! vpsos-core for how it is started and which fds it receives, and
//! DESIGN.md ("A container outlives its creator") for why.
//!
//! Modes (argv[1]):
//! - `init <id> <terminals> <log bytes> <first child>`: a container's
//!   monitor. fd 3: the state directory; 4: the first child's pidfd (kept
//!   for as long as it lives); 5: the attach socket (listening); 6: the
//!   `exit` file; 7, 8, ...: a master and slave per terminal (console
//!   first).
//! - `proc <id> <first child>`: the parent of one process exec'd into
//!   container `id`. fd 3: where its exit status goes; 4: the first
//!   child's pidfd.
#![no_std]
#![no_main]

mod init;
mod sys;
mod text;

use core::arch::global_asm;

#[cfg(target_arch = "x86_64")]
global_asm!(
    ".globl _start",
    "_start:",
    "xor rbp, rbp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {entry}",
    "ud2",
    entry = sym entry,
);

#[cfg(target_arch = "aarch64")]
global_asm!(
    ".globl _start",
    "_start:",
    "mov x29, xzr",
    "mov x0, sp",
    "and sp, x0, #-16",
    "bl {entry}",
    "brk #0",
    entry = sym entry,
);

/// The command line, as byte strings.
pub struct Args {
    argv: *const *const u8,
    argc: usize,
}

impl Args {
    /// Argument `i` without its NUL (empty when missing).
    pub fn get(&self, i: usize) -> &'static [u8] {
        if i >= self.argc {
            return b"";
        }
        // SAFETY: the kernel put argc valid NUL-terminated strings there.
        unsafe {
            let p = *self.argv.add(i);
            core::slice::from_raw_parts(p, strlen(p))
        }
    }

    /// Argument `i` as a decimal number (0 when missing or malformed).
    pub fn num(&self, i: usize) -> u64 {
        text::parse(self.get(i)).unwrap_or(0)
    }
}

unsafe extern "C" fn entry(sp: *const usize) -> ! {
    let argc = *sp;
    let args = Args {
        argc,
        argv: sp.add(1) as *const *const u8,
    };
    const PR_SET_NAME: usize = 15;
    const PR_SET_DUMPABLE: usize = 4;
    sys::prctl(PR_SET_NAME, b"vpsos-monitor\0".as_ptr() as usize);
    // not dumpable: no ptrace or /proc/<pid>/mem for anyone but host root
    sys::prctl(PR_SET_DUMPABLE, 0);
    match args.get(1) {
        b"init" => init::run(&args),
        b"proc" => run_proc(&args),
        _ => sys::exit(2),
    }
}

/// Parent of one exec'd process: reap every child and write the status of
/// the process itself (`exited N` / `signaled N`) to fd 3. The first
/// child is either the process or, with a PID namespace to enter, the
/// intermediate that forked it (whose own exit does not count then).
fn run_proc(args: &Args) -> ! {
    sys::close_from(5);
    let Ok(sigfd) = sys::sigchld_fd() else {
        sys::exit(3)
    };
    let first = args.num(3) as i32;
    let mut reaper = Reaper::new(first);
    let mut fds = [sys::PollFd { fd: sigfd as i32, events: sys::POLLIN, revents: 0 }];
    loop {
        if reaper.reap_all() {
            break;
        }
        let _ = sys::poll(&mut fds);
        let mut junk = [0u8; 128];
        while sys::read(sigfd as i32, &mut junk).is_ok() {}
    }
    let mut b = text::Buf::<64>::new();
    reaper.describe(&mut b);
    let _ = sys::write(3, b.bytes());
    sys::exit(0)
}

/// Reaps a monitor's children and keeps the status that counts: that of
/// any child but the first, or the first's if it was the only one.
pub struct Reaper {
    first: i32,
    /// (si_code, si_status) of the child that counts.
    status: Option<(i32, i32)>,
    other_seen: bool,
}

impl Reaper {
    pub fn new(first: i32) -> Reaper {
        Reaper { first, status: None, other_seen: false }
    }

    /// Reap what has exited; `true` once no child is left.
    pub fn reap_all(&mut self) -> bool {
        loop {
            match sys::reap() {
                Ok(Some(info)) => {
                    if info.pid != self.first {
                        self.other_seen = true;
                        self.status = Some((info.code, info.status));
                    } else if !self.other_seen {
                        self.status = Some((info.code, info.status));
                    }
                }
                Ok(None) => return false,
                Err(_) => return true,
            }
        }
    }

    /// `exited N\n` or `signaled N\n` (nothing if no child ever ended).
    pub fn describe<const N: usize>(&self, b: &mut text::Buf<N>) {
        if let Some((code, status)) = self.status {
            b.push(if code == sys::CLD_EXITED { b"exited " } else { b"signaled " });
            b.num(status as u64);
            b.push(b"\n");
        }
    }
}

#[no_mangle]
unsafe extern "C" fn memcpy(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
    let mut i = 0;
    while i < n {
        core::ptr::write_volatile(d.add(i), *s.add(i));
        i += 1;
    }
    d
}

#[no_mangle]
unsafe extern "C" fn memmove(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
    if (d as usize) < (s as usize) {
        return memcpy(d, s, n);
    }
    let mut i = n;
    while i > 0 {
        i -= 1;
        core::ptr::write_volatile(d.add(i), *s.add(i));
    }
    d
}

#[no_mangle]
unsafe extern "C" fn memset(d: *mut u8, c: i32, n: usize) -> *mut u8 {
    let mut i = 0;
    while i < n {
        core::ptr::write_volatile(d.add(i), c as u8);
        i += 1;
    }
    d
}

#[no_mangle]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        let (x, y) = (*a.add(i), *b.add(i));
        if x != y {
            return x as i32 - y as i32;
        }
        i += 1;
    }
    0
}

#[no_mangle]
unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    while core::ptr::read_volatile(s.add(n)) != 0 {
        n += 1;
    }
    n
}

#[no_mangle]
unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    memcmp(a, b, n)
}

/// core's precompiled code names the unwinding personality even though
/// this binary aborts on panic; it is never called.
#[no_mangle]
extern "C" fn rust_eh_personality() {}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    sys::exit(101)
}
