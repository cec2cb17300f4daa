//! The child's straight line between clone and exec.
//!
//! Only raw system calls over the precomputed [`ChildPlan`]: no allocation,
//! no locks, no logging, no unwinding. A failure is reported as
//! `(stage, step, errno, index)` on the sync socket (and in the start
//! report file, when the plan has one) and ends in `_exit`. The phases it
//! passes are listed in `spawn::sync`.

use super::child_process::{
    arrange_fds, check_executable, exec, final_capabilities, join_keyring, load_seccomp,
    send_listener, set_apparmor_exec, setup_process,
};
use super::rootfs_child;
use super::sync::{self, Msg, Phase, Step};
use super::sys::{self, errno, StackBuf};
use crate::error::Stage;
use crate::plan::{ChildPlan, Role, TimePlan};
use libc::{c_char, c_int};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

/// The start report file of this child (its own copy of the static).
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);

/// Report a failure and exit.
pub(crate) fn fail(sync: c_int, stage: Stage, step: Step, index: u32, err: c_int) -> ! {
    let m = Msg::error(stage, step, err, index);
    let report = REPORT_FD.load(Ordering::Relaxed);
    if report >= 0 {
        let b = m.as_bytes();
        // SAFETY: pwrite of our stack message to our own fd.
        unsafe { libc::pwrite(report, b.as_ptr() as *const libc::c_void, b.len(), 0) };
    }
    let _ = sync::send(sync, &m);
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(1) }
}

/// `r < 0` → fail with errno.
pub(crate) fn check(sync: c_int, r: libc::c_long, stage: Stage, step: Step, index: u32) {
    if r < 0 {
        fail(sync, stage, step, index, errno());
    }
}

pub(super) fn wait_for(sync: c_int, phase: Phase) {
    match sync::recv(sync) {
        Ok(Some(m)) if m.is(phase) => {}
        // parent gone or protocol broken: nothing sensible to report to
        // SAFETY: _exit never returns.
        _ => unsafe { libc::_exit(1) },
    }
}

pub(super) fn check_send(sync_fd: c_int, m: Msg) {
    if sync::send(sync_fd, &m).is_err() {
        // SAFETY: _exit never returns.
        unsafe { libc::_exit(1) }
    }
}

/// The child's entry point. Never returns.
///
/// # Safety
/// Must only be called in a freshly cloned child; `argv`/`envp` are
/// NULL-terminated arrays over the plan's strings.
pub(crate) unsafe fn run(
    p: &ChildPlan,
    sync_fd: c_int,
    parent_end: c_int,
    argv: *const *const c_char,
    envp: *const *const c_char,
    keep_fds: &[c_int],
) -> ! {
    libc::close(parent_end);
    // drop every fd of the host process the plan does not use, at once:
    // a created container must not pin other threads' files or locks
    if let Err(e) = sys::close_all_but(keep_fds) {
        fail(sync_fd, Stage::ProcessAttrs, Step::CloseFds, 0, e);
    }
    // the fds used after stdio and the extra fds are put in place must
    // not be among their targets (0 .. 3+n): move them above
    let high = 3 + p.process.extra_fds.len().min(64) as c_int;
    let sync_fd = above(sync_fd, high);
    let fifo_fd = above(p.fifo_fd, high);
    REPORT_FD.store(above(p.report_fd, high), Ordering::Relaxed);
    sys::reset_signals();
    // until the init is ready, it dies with its monitor
    if p.die_with_parent {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    }
    // not dumpable: container processes cannot open /proc/<pid>/exe of a
    // process that is still the runtime's binary (CVE-2019-5736)
    libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);

    for &(fd, nstype) in &p.joins {
        let r = libc::setns(fd, nstype) as _;
        check(sync_fd, r, Stage::JoinNamespace, Step::Setns, nstype as u32);
    }
    if p.unshare_flags != 0 {
        let r = libc::unshare(p.unshare_flags) as _;
        check(sync_fd, r, Stage::Unshare, Step::Unshare, 0);
    }
    if p.wait_maps {
        check_send(sync_fd, Msg::new(Phase::NeedMaps));
    }
    wait_for(sync_fd, Phase::Go);

    if p.fork_after {
        enter_pid_namespace(sync_fd, p.die_with_parent);
    }

    // before become_root: while non-dumpable, /proc/self files belong to
    // host root, which we still are until setresuid
    if let TimePlan::New(offsets) = p.time {
        enter_time_namespace(sync_fd, offsets);
    }
    if p.become_root {
        let ok = sys::setgroups(&[]) >= 0 && sys::setresgid(0) >= 0 && sys::setresuid(0) >= 0;
        if !ok {
            fail(sync_fd, Stage::SetUser, Step::BecomeRoot, 0, errno());
        }
    }
    if let Some(name) = &p.keyring {
        join_keyring(sync_fd, name);
    }
    if let Some(h) = &p.hostname {
        let r = libc::sethostname(h.as_ptr(), h.as_bytes().len()) as _;
        check(sync_fd, r, Stage::Hostname, Step::Sethostname, 0);
    }
    if let Some(d) = &p.domainname {
        let r = libc::setdomainname(d.as_ptr(), d.as_bytes().len()) as _;
        check(sync_fd, r, Stage::Hostname, Step::Setdomainname, 0);
    }
    if p.lo_up {
        loopback_up(sync_fd);
    }
    let mut console = (-1, -1);
    if let Some(r) = &p.rootfs {
        let owner = p.process.pty_inside.then_some(p.process.uid);
        console = rootfs_child::setup(sync_fd, r, &p.sysctl, p.create_hooks, owner);
    }

    if p.wait_cgroup {
        wait_for(sync_fd, Phase::CgroupReady);
    }
    if p.cgroupns {
        let r = libc::unshare(libc::CLONE_NEWCGROUP) as _;
        check(sync_fd, r, Stage::CgroupNamespace, Step::CgroupUnshare, 0);
        if let Some(r) = &p.rootfs {
            rootfs_child::cgroup_mounts(sync_fd, r);
        }
    }
    if p.lock_mounts {
        enter_locked_mounts(sync_fd);
    }
    if let Some(domain) = p.personality {
        let r = libc::personality(domain) as _;
        check(sync_fd, r, Stage::Sysctl, Step::Personality, 0);
    }
    let tty = setup_process(sync_fd, &p.process, console);
    if let Some(label) = &p.process.apparmor_exec {
        set_apparmor_exec(sync_fd, label);
    }
    arrange_fds(sync_fd, &p.process, tty);
    let mut start_fd = -1;
    if p.role == Role::Init {
        // a missing init fails `create`, not the later `start`
        check_executable(sync_fd, &p.process);
        start_fd = open_fifo(sync_fd, fifo_fd);
    }
    // the last step before the handshake: no setup syscall can be held
    // by a notify rule whose listener nobody has yet
    if !p.process.seccomp_early {
        load_seccomp(sync_fd, &p.process);
    }
    if p.process.admin_until_seccomp {
        final_capabilities(sync_fd, &p.process);
    }
    if p.process.seccomp.as_ref().is_some_and(|f| f.notify()) {
        send_listener(sync_fd);
    }
    libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0);
    if p.role == Role::Init {
        check_send(sync_fd, Msg::new(Phase::Ready));
        wait_start(sync_fd, start_fd);
    }
    exec(sync_fd, &p.process, argv, envp)
}

/// Move into the copy of our mount namespace the parent made, in which
/// the container cannot undo any mount made so far (`spawn::lock`). Our
/// root and working directory become its root: the new root.
unsafe fn enter_locked_mounts(sync_fd: c_int) {
    check_send(sync_fd, Msg::new(Phase::LockMounts));
    let fd = match sync::recv_with_fd(sync_fd) {
        Ok(Some((m, Some(fd)))) if m.is(Phase::Locked) => fd,
        Ok(_) => fail(
            sync_fd,
            Stage::LockMounts,
            Step::LockMounts,
            0,
            libc::EPROTO,
        ),
        Err(e) => fail(sync_fd, Stage::LockMounts, Step::LockMounts, 1, e),
    };
    let r = libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNS) as _;
    check(sync_fd, r, Stage::LockMounts, Step::EnterLocked, 0);
}

/// `fd` moved to a number at or above `high` (close-on-exec); -1 stays.
unsafe fn above(fd: c_int, high: c_int) -> c_int {
    if fd < 0 || fd >= high {
        return fd;
    }
    let moved = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, high);
    if moved < 0 {
        // SAFETY: _exit never returns.
        libc::_exit(1);
    }
    libc::close(fd);
    moved
}

/// Fork the process that lives in the (new or joined) PID namespace; it
/// stays the monitor's child (CLONE_PARENT) and the parent gets its
/// pidfd. The intermediate exits here. The new process goes on only once
/// `Pid` is sent, so the parent sees the phases in their order.
unsafe fn enter_pid_namespace(sync_fd: c_int, die_with_parent: bool) {
    let mut gate = [-1 as c_int; 2];
    let r = libc::pipe2(gate.as_mut_ptr(), libc::O_CLOEXEC) as _;
    check(sync_fd, r, Stage::Fork, Step::Fork, 0);
    let mut pidfd: c_int = -1;
    let mut args = sys::CloneArgs {
        flags: libc::CLONE_PARENT as u64 | sys::CLONE_PIDFD,
        pidfd: &mut pidfd as *mut c_int as u64,
        ..Default::default()
    };
    let pid = sys::clone3(&mut args);
    check(sync_fd, pid, Stage::Fork, Step::Fork, 1);
    if pid > 0 {
        let mut m = Msg::new(Phase::Pid);
        m.value = pid;
        let _ = sync::send_with_fd(sync_fd, &m, pidfd);
        libc::write(gate[1], b"1".as_ptr() as *const libc::c_void, 1);
        libc::_exit(0);
    }
    // (not when the parent is a launch helper about to exit: detached)
    if die_with_parent {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    }
    libc::close(gate[1]);
    let mut b = [0u8; 1];
    while libc::read(gate[0], b.as_mut_ptr() as *mut libc::c_void, 1) < 0 && errno() == libc::EINTR
    {
    }
    libc::close(gate[0]);
}

/// `ip link set lo up` with two ioctls.
unsafe fn loopback_up(sync_fd: c_int) {
    let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
    check(sync_fd, s as _, Stage::Loopback, Step::Loopback, 0);
    let mut ifr: libc::ifreq = std::mem::zeroed();
    ifr.ifr_name[0] = b'l' as libc::c_char;
    ifr.ifr_name[1] = b'o' as libc::c_char;
    let r = libc::ioctl(s, libc::SIOCGIFFLAGS, &mut ifr) as _;
    check(sync_fd, r, Stage::Loopback, Step::Loopback, 1);
    ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
    let r = libc::ioctl(s, libc::SIOCSIFFLAGS, &ifr) as _;
    check(sync_fd, r, Stage::Loopback, Step::Loopback, 2);
    libc::close(s);
}

/// Unshare a time namespace, set its offsets, and move into it.
unsafe fn enter_time_namespace(sync_fd: c_int, offsets: Option<(i64, i64)>) {
    let r = libc::unshare(libc::CLONE_NEWTIME) as _;
    check(sync_fd, r, Stage::TimeNamespace, Step::TimeUnshare, 0);
    let (mono, boot) = match offsets {
        Some(o) => o,
        None => {
            // uptime near zero: shift both clocks back by their current value
            let mut m: libc::timespec = std::mem::zeroed();
            let mut b: libc::timespec = std::mem::zeroed();
            libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut m);
            libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut b);
            (-m.tv_sec, -b.tv_sec)
        }
    };
    let mut text = StackBuf::<128>::new();
    text.push(b"1 ");
    text.push_i64(mono);
    text.push(b" 0\n7 ");
    text.push_i64(boot);
    text.push(b" 0\n");
    let fd = libc::open(
        c"/proc/self/timens_offsets".as_ptr(),
        libc::O_WRONLY | libc::O_CLOEXEC,
    );
    check(sync_fd, fd as _, Stage::TimeNamespace, Step::TimeOffsets, 0);
    let r = libc::write(fd, text.buf.as_ptr() as *const libc::c_void, text.len);
    check(sync_fd, r as _, Stage::TimeNamespace, Step::TimeOffsets, 1);
    libc::close(fd);
    let ns = libc::open(
        c"/proc/self/ns/time_for_children".as_ptr(),
        libc::O_RDONLY | libc::O_CLOEXEC,
    );
    check(sync_fd, ns as _, Stage::TimeNamespace, Step::TimeEnter, 0);
    let r = libc::setns(ns, libc::CLONE_NEWTIME) as _;
    check(sync_fd, r, Stage::TimeNamespace, Step::TimeEnter, 1);
    libc::close(ns);
}

/// Open the exec fifo read-write (so reading it blocks until `start`
/// writes, whoever holds it open), or -1 without a fifo.
unsafe fn open_fifo(sync_fd: c_int, fifo_fd: c_int) -> c_int {
    if fifo_fd < 0 {
        return -1;
    }
    let mut path = [0u8; 40];
    let p = sys::fd_path(fifo_fd, &mut path);
    let fd = libc::open(p, libc::O_RDWR | libc::O_CLOEXEC);
    check(sync_fd, fd as _, Stage::ExecFifo, Step::OpenFifo, 0);
    libc::close(fifo_fd);
    fd
}

/// Block until `start`: a byte in the exec fifo, or `Phase::Start` on the
/// socket.
unsafe fn wait_start(sync_fd: c_int, fifo: c_int) {
    if fifo < 0 {
        wait_for(sync_fd, Phase::Start);
        return;
    }
    let mut b = [0u8; 1];
    loop {
        let r = libc::read(fifo, b.as_mut_ptr() as *mut libc::c_void, 1);
        if r == 1 {
            return;
        }
        if r < 0 && errno() == libc::EINTR {
            continue;
        }
        fail(sync_fd, Stage::ExecFifo, Step::WaitStart, 0, errno());
    }
}
