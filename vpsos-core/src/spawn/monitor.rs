//! Starting a container process under its monitor.
//!
//! Every container process has a vpsos monitor as its parent: the init has
//! its container's monitor (it holds the terminals and records how the
//! init ended), and each exec'd process a small one of its own (it reaps
//! the process at once and hands its status to the `ExecProcess`). The
//! monitor is `monitor/main.rs`, a freestanding static binary of a few
//! kilobytes that build.rs compiles and this module embeds; it is run from
//! a sealed memfd, so there is no file for anyone to replace
//! (CVE-2019-5736), and nothing of it is visible from inside a container.
//!
//! The container process must be the monitor's child, yet it is cloned
//! from the caller's memory (where its plan is). So the caller's thread
//! starts two helpers that share its memory (`CLONE_VM | CLONE_VFORK`, on
//! stacks of their own):
//!
//! ```text
//! caller thread ──B──▶ M (new session)
//!                      ├─ clone3 ─▶ container process (child::run over the plan)
//!                      ├─ its pid and pidfd to the caller (report socket)
//!                      └─ fds in place, execveat(monitor memfd) → M is now the monitor
//!               B exits at once; the caller resumes and talks to the
//!               child while M execs.
//! ```
//!
//! B exists only so that M is not the caller's child: once B exits, M is
//! re-parented to the nearest subreaper (or PID 1), so the caller's own
//! `waitpid(-1)` can never reap a monitor, and B itself has no exit
//! signal, so it is invisible to `waitpid(-1)` too. M's exec runs
//! alongside the child's setup, off the start's critical path; the kernel
//! zeroes M's tid word when M has exec'd (`CLONE_CHILD_CLEARTID`), and
//! only then are its stack and the shared data freed. Neither B nor M
//! allocates, locks or unwinds: they run between clone and exec like the
//! child does.

use super::child;
use super::sys::{self, errno};
use crate::error::{Error, Result};
use crate::plan::ChildPlan;
use libc::{c_char, c_int, c_void};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

/// The monitor binary, built by build.rs from `monitor/`.
static MONITOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vpsos-monitor"));

/// What the monitor does, and the fds it gets for it.
pub(crate) enum Mode<'a> {
    /// A container's monitor.
    Init {
        id: &'a str,
        /// The state directory (O_PATH).
        dir: RawFd,
        /// The attach socket, listening.
        listener: RawFd,
        /// The (empty) `exit` file, for the record of the init's end.
        exit: RawFd,
        /// (master, slave) per terminal, the console first.
        terminals: &'a [(RawFd, RawFd)],
        /// Size of the kept console log (0: none).
        log_bytes: u64,
    },
    /// The parent of one process exec'd into container `id`; its status
    /// goes to `status`.
    Proc { id: &'a str, status: RawFd },
    /// No monitor: M exits once it has reported the container process,
    /// which is then re-parented to the caller's nearest child subreaper
    /// (or PID 1) and reaped by it, as runc's processes are (conmon and
    /// containerd's shim wait for the process themselves).
    Detached,
}

/// The monitor's command line and fds, built before any clone (the
/// helpers only copy and exec).
pub(crate) struct Launch {
    /// Owns the strings `ptrs` points to.
    _argv: Vec<CString>,
    /// argv pointers; the first child's pid is written into `pid_arg`.
    ptrs: Vec<*const c_char>,
    pid_arg: Box<[u8; 24]>,
    /// fds for 0, 1, 2, 3, ... (slot 4 is the first child's pidfd, filled in by M).
    fds: Vec<RawFd>,
    /// Owns the /dev/null fd in `fds[0..3]`.
    _null: OwnedFd,
    exe: RawFd,
    /// `Mode::Detached`: M exits after its report instead of exec'ing.
    detached: bool,
}

const PIDFD_SLOT: usize = 4;

impl Launch {
    pub fn new(mode: &Mode) -> Result<Launch> {
        let null: OwnedFd = std::fs::File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| {
                Error::from_errno(e.raw_os_error().unwrap_or(libc::EIO), "opening /dev/null")
            })?
            .into();
        let n = null.as_raw_fd();
        let mut fds = vec![n, n, n];
        let mut argv: Vec<String> = vec!["vpsos-monitor".into()];
        match mode {
            Mode::Init {
                id,
                dir,
                listener,
                exit,
                terminals,
                log_bytes,
            } => {
                argv.extend([
                    "init".into(),
                    id.to_string(),
                    terminals.len().to_string(),
                    log_bytes.to_string(),
                ]);
                fds.extend([*dir, -1, *listener, *exit]);
                for (m, s) in terminals.iter() {
                    fds.extend([*m, *s]);
                }
            }
            Mode::Proc { id, status } => {
                argv.extend(["proc".into(), id.to_string()]);
                fds.extend([*status, -1]);
            }
            Mode::Detached => {}
        }
        let argv: Vec<CString> = argv
            .into_iter()
            .map(|a| CString::new(a).map_err(|_| Error::invalid("id", "contains a NUL byte")))
            .collect::<Result<_>>()?;
        let pid_arg = Box::new([0u8; 24]);
        let mut ptrs: Vec<*const c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(pid_arg.as_ptr() as *const c_char);
        ptrs.push(std::ptr::null());
        Ok(Launch {
            _argv: argv,
            ptrs,
            pid_arg,
            fds,
            _null: null,
            exe: if matches!(mode, Mode::Detached) {
                -1
            } else {
                exe()?
            },
            detached: matches!(mode, Mode::Detached),
        })
    }
}

/// The sealed memfd with the monitor binary, made once per process.
fn exe() -> Result<RawFd> {
    static EXE: OnceLock<std::result::Result<OwnedFd, (i32, &'static str)>> = OnceLock::new();
    match EXE.get_or_init(make_exe) {
        Ok(fd) => Ok(fd.as_raw_fd()),
        Err((e, what)) => Err(Error::from_errno(*e, format!("{what} for vpsos-monitor"))),
    }
}

fn make_exe() -> std::result::Result<OwnedFd, (i32, &'static str)> {
    const MFD_EXEC: libc::c_uint = 0x10;
    let name = c"vpsos-monitor";
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: plain syscalls on our own buffers.
    unsafe {
        // MFD_EXEC: say so where the kernel asks (6.3+); older ones refuse it
        let mut fd = libc::memfd_create(name.as_ptr(), flags | MFD_EXEC);
        if fd < 0 && errno() == libc::EINVAL {
            fd = libc::memfd_create(name.as_ptr(), flags);
        }
        if fd < 0 {
            return Err((errno(), "memfd_create"));
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let mut rest = MONITOR;
        while !rest.is_empty() {
            let r = libc::write(fd.as_raw_fd(), rest.as_ptr() as *const c_void, rest.len());
            if r < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return Err((errno(), "writing the memfd"));
            }
            rest = &rest[r as usize..];
        }
        libc::fchmod(fd.as_raw_fd(), 0o500);
        let seals =
            libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
        if libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) < 0 {
            return Err((errno(), "sealing the memfd"));
        }
        Ok(fd)
    }
}

/// What [`launch`] needs to clone the container process.
pub(crate) struct ChildEntry<'a> {
    pub plan: &'a ChildPlan,
    pub sync: c_int,
    pub parent_end: c_int,
    pub argv: *const *const c_char,
    pub envp: *const *const c_char,
    pub keep_fds: &'a [c_int],
}

/// The container process and its monitor, just started.
pub(crate) struct Launched {
    /// Host pid of the monitor's first child.
    pub child_pid: i32,
    pub child_pidfd: OwnedFd,
    /// The monitor (`None` for `Mode::Detached`: M is exiting).
    pub monitor: Option<(i32, OwnedFd)>,
}

/// What M still uses after the caller's thread resumes: its stack and
/// the shared data; freed only once the kernel says M has left them
/// (CLONE_CHILD_CLEARTID: the word is zeroed at M's exec or exit). Hold
/// it (and what the launch borrowed) until the setup is done, then
/// [`finish`](Inflight::finish) it.
pub(crate) struct Inflight {
    stack: *mut c_void,
    dance: Box<Dance>,
}

// SAFETY: the raw stack pointer is owned by this value alone.
unsafe impl Send for Inflight {}

impl Inflight {
    /// Wait until the monitor has exec'd (it runs alongside the child's
    /// setup, so by now it normally has): `Err` if its exec failed.
    pub fn finish(mut self) -> Result<()> {
        self.settle();
        match self.dance.exec_errno {
            0 => Ok(()),
            e => Err(Error::from_errno(e, "executing vpsos-monitor")),
        }
    }

    /// Wait (up to 10 s) for M to leave the stack; free it then.
    fn settle(&mut self) {
        if self.stack.is_null() {
            return;
        }
        let word = &self.dance.m_tid as *const AtomicI32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            // SAFETY: the word lives in our Box.
            let v = unsafe { (*word).load(Ordering::Acquire) };
            if v == 0 {
                break;
            }
            if std::time::Instant::now() > deadline {
                // M is stuck before its exec: leak its stack rather than
                // pull it away from under it
                self.stack = std::ptr::null_mut();
                return;
            }
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 10_000_000,
            };
            // SAFETY: FUTEX_WAIT on our word while it holds `v`.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    word,
                    libc::FUTEX_WAIT,
                    v,
                    &ts as *const libc::timespec,
                );
            }
        }
        // SAFETY: the mapping made in launch; M is done with it.
        unsafe { libc::munmap(self.stack, STACK * 2) };
        self.stack = std::ptr::null_mut();
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        self.settle();
        if self.stack.is_null() && self.dance.m_tid.load(Ordering::Acquire) != 0 {
            // leaked with the stack: M may still read it
            std::mem::forget(std::mem::replace(&mut self.dance, Box::new(Dance::empty())));
        }
    }
}

/// Shared by the caller's thread, B and M (all in one address space).
#[repr(C)]
struct Dance {
    child_args: sys::CloneArgs,
    /// The `ChildEntry` (its lifetime erased: the caller keeps it alive).
    entry: *const c_void,
    launch: *const Launch,
    m_stack_top: *mut c_void,
    /// M's tid; zeroed (and futex-woken) by the kernel when M execs or exits.
    m_tid: AtomicI32,
    /// M's end of the report socket (the caller holds the other).
    report: c_int,
    child_pidfd: c_int,
    m_pidfd: c_int,
    m_errno: c_int,
    exec_errno: c_int,
}

impl Dance {
    fn empty() -> Dance {
        Dance {
            child_args: sys::CloneArgs::default(),
            entry: std::ptr::null(),
            launch: std::ptr::null(),
            m_stack_top: std::ptr::null_mut(),
            m_tid: AtomicI32::new(0),
            report: -1,
            child_pidfd: -1,
            m_pidfd: -1,
            m_errno: 0,
            exec_errno: 0,
        }
    }
}

const STACK: usize = 256 * 1024;

/// Clone the container process (clone3 flags and cgroup in `args`) under a
/// new monitor started in `launch`'s mode. Signals must be blocked.
/// `entry` and `launch` must stay alive until the result is finished.
pub(crate) fn launch(
    entry: &ChildEntry,
    launch: &Launch,
    args: sys::CloneArgs,
) -> Result<(Launched, Inflight)> {
    // SAFETY: an anonymous mapping of our own, unmapped by Inflight.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            2 * STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(Error::from_errno(errno(), "mapping the monitor's stacks"));
    }
    let (report, m_report) = match super::socketpair() {
        Ok(p) => p,
        Err(e) => {
            // SAFETY: the mapping just made.
            unsafe { libc::munmap(stack, 2 * STACK) };
            return Err(e);
        }
    };
    let mut dance = Box::new(Dance {
        child_args: args,
        // the caller keeps both alive until `finish`
        entry: entry as *const ChildEntry as *const c_void,
        launch,
        // SAFETY: the top of the mapping's second half.
        m_stack_top: unsafe { (stack as *mut u8).add(2 * STACK) } as *mut c_void,
        m_tid: AtomicI32::new(-1),
        report: m_report.as_raw_fd(),
        child_pidfd: -1,
        m_pidfd: -1,
        m_errno: 0,
        exec_errno: 0,
    });
    dance.child_args.flags |= sys::CLONE_PIDFD;
    dance.child_args.pidfd = &mut dance.child_pidfd as *mut c_int as u64;
    dance.child_args.exit_signal = libc::SIGCHLD as u64;
    let d: *mut Dance = &mut *dance;
    let inflight = Inflight { stack, dance };
    let mut b_pidfd: c_int = -1;
    // SAFETY: B runs b_main on the first half of the mapping, in our
    // memory, with async-signal-safe code only; CLONE_VFORK suspends this
    // thread until B is gone (it only clones M).
    let r = unsafe {
        libc::clone(
            b_main,
            (stack as *mut u8).add(STACK) as *mut c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES | libc::CLONE_PIDFD,
            d as *mut c_void,
            &mut b_pidfd as *mut c_int,
        )
    };
    let clone_errno = errno();
    drop(m_report);
    if r < 0 {
        inflight.dance.m_tid.store(0, Ordering::Release);
        return Err(Error::from_errno(
            clone_errno,
            "starting the monitor (clone)",
        ));
    }
    // SAFETY: CLONE_PIDFD stored a new fd; B has no exit signal, so only
    // __WALL reaps it (and nobody's waitpid(-1) can).
    let b = unsafe { OwnedFd::from_raw_fd(b_pidfd) };
    sys::reap_quietly(&b);
    // SAFETY: B is gone; only M may still write `d`, and not these fields.
    let (m_pidfd, m_errno) = unsafe { ((*d).m_pidfd, (*d).m_errno) };
    if m_errno != 0 {
        inflight.dance.m_tid.store(0, Ordering::Release);
        return Err(Error::from_errno(m_errno, "starting the monitor (clone)"));
    }
    // SAFETY: CLONE_PIDFD (by B, into our shared table) made it.
    let monitor_pidfd = unsafe { OwnedFd::from_raw_fd(m_pidfd) };
    // M reports the container process (or why there is none) as soon as
    // it has cloned it, and goes on to exec meanwhile
    let (child_pid, child_pidfd) = match super::sync::recv_with_fd(report.as_raw_fd()) {
        Ok(Some((m, Some(fd)))) if m.value > 0 => (m.value as i32, fd),
        Ok(Some((m, _))) => {
            drop(inflight);
            return Err(Error::from_errno(
                m.errno,
                "clone3 of the container process",
            ));
        }
        Ok(None) | Err(_) => {
            let e = inflight.dance.exec_errno;
            drop(inflight);
            return Err(Error::from_errno(
                if e != 0 { e } else { libc::ECHILD },
                "starting the monitor",
            ));
        }
    };
    let monitor = if launch.detached {
        None
    } else {
        Some((super::pid_of(&monitor_pidfd)?, monitor_pidfd))
    };
    Ok((
        Launched {
            child_pid,
            child_pidfd,
            monitor,
        },
        inflight,
    ))
}

/// B: clone M and leave (M is then re-parented away from the caller).
extern "C" fn b_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the caller's Dance, alive while the caller is suspended.
    let d = unsafe { &mut *(arg as *mut Dance) };
    // SAFETY: M runs m_main on its own stack. Not CLONE_VFORK: the caller
    // goes on while M execs; CLONE_CHILD_CLEARTID tells it when M is done
    // with the stack and the shared data.
    let r = unsafe {
        libc::clone(
            m_main,
            d.m_stack_top,
            libc::CLONE_VM
                | libc::CLONE_PIDFD
                | libc::CLONE_CHILD_SETTID
                | libc::CLONE_CHILD_CLEARTID
                | libc::SIGCHLD,
            arg,
            &mut d.m_pidfd as *mut c_int,
            std::ptr::null_mut::<c_void>(),
            d.m_tid.as_ptr(),
        )
    };
    if r < 0 {
        d.m_errno = errno();
    }
    0
}

/// M: a session of its own, the container process as its child (reported
/// to the caller at once), the fds in place, then the monitor binary.
extern "C" fn m_main(arg: *mut c_void) -> c_int {
    // SAFETY: as in b_main; the caller keeps the Dance until M is gone.
    let d = unsafe { &mut *(arg as *mut Dance) };
    // SAFETY: async-signal-safe syscalls over the shared, prepared data.
    unsafe {
        libc::setsid();
        // SIGCHLD to SIG_DFL: a caller's SIG_IGN survives exec and the
        // kernel would reap M's child itself (no status, M waits for
        // ever). The kernel's sigaction, all zero: SIG_DFL, no flags.
        let dfl = [0u64; 4];
        libc::syscall(
            libc::SYS_rt_sigaction,
            libc::SIGCHLD,
            dfl.as_ptr(),
            std::ptr::null_mut::<u64>(),
            8usize,
        );
        let pid = sys::clone3(&mut d.child_args);
        if pid == 0 {
            let e = &*(d.entry as *const ChildEntry);
            child::run(e.plan, e.sync, e.parent_end, e.argv, e.envp, e.keep_fds);
        }
        let mut m = super::sync::Msg::default();
        if pid < 0 {
            m.errno = errno();
            let _ = super::sync::send(d.report, &m);
            return 1;
        }
        m.value = pid;
        if super::sync::send_with_fd(d.report, &m, d.child_pidfd).is_err() {
            return 1;
        }
        let launch = &*d.launch;
        if launch.detached {
            // the container process goes to our (re-)parent's reaper
            return 0;
        }
        let pid_arg = launch.pid_arg.as_ptr() as *mut u8;
        let n = sys::fmt_u64(pid as u64, std::slice::from_raw_parts_mut(pid_arg, 23));
        *pid_arg.add(n) = 0;
        let exe = match place_fds(&launch.fds, d.child_pidfd, launch.exe) {
            Ok(exe) => exe,
            Err(e) => {
                d.exec_errno = e;
                return 126;
            }
        };
        libc::syscall(
            libc::SYS_execveat,
            exe,
            c"".as_ptr(),
            launch.ptrs.as_ptr(),
            [std::ptr::null::<c_char>()].as_ptr(),
            libc::AT_EMPTY_PATH,
        );
        d.exec_errno = errno();
        127
    }
}

/// Make `fds[i]` fd i (the pidfd slot gets `pidfd`), everything else
/// close-on-exec; returns where `exe` is now (moved above the targets,
/// which may have covered its number). Runs in M, whose fd table is its own.
unsafe fn place_fds(fds: &[RawFd], pidfd: c_int, exe: c_int) -> std::result::Result<c_int, c_int> {
    let top = fds.len() as c_int;
    let exe = libc::fcntl(exe, libc::F_DUPFD_CLOEXEC, top);
    if exe < 0 {
        return Err(errno());
    }
    let mut high = [-1 as c_int; 64];
    if fds.len() > high.len() {
        return Err(libc::EMFILE);
    }
    for (i, &fd) in fds.iter().enumerate() {
        let src = if i == PIDFD_SLOT { pidfd } else { fd };
        high[i] = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, top);
        if high[i] < 0 {
            return Err(errno());
        }
    }
    for (i, &h) in high.iter().enumerate().take(fds.len()) {
        if libc::dup2(h, i as c_int) < 0 {
            return Err(errno());
        }
    }
    if libc::syscall(
        libc::SYS_close_range,
        top as libc::c_uint,
        libc::c_uint::MAX,
        libc::CLOSE_RANGE_CLOEXEC,
    ) < 0
    {
        return Err(errno());
    }
    Ok(exe)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_monitor_is_a_small_elf() {
        let m = super::MONITOR;
        assert_eq!(&m[..4], b"\x7fELF");
        assert!(m.len() < 64 * 1024, "{} bytes", m.len());
    }
}
