//! The child's straight line between clone and exec.
//!
//! Only raw system calls over the precomputed [`ChildPlan`]: no allocation,
//! no locks, no logging, no unwinding. A failure is reported as
//! `(stage, step, errno, index)` on the sync socket (and in the start
//! report file, when the plan has one) and ends in `_exit`. The phases it
//! passes are listed in `spawn::sync`.

use super::rootfs_child;
use super::sync::{self, Msg, Phase, Step};
use super::sys::{self, errno, StackBuf};
use crate::error::Stage;
use crate::plan::{ChildPlan, ProcessPlan, Role, TimePlan};
use libc::{c_char, c_int};
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

fn wait_for(sync: c_int, phase: Phase) {
    match sync::recv(sync) {
        Ok(Some(m)) if m.is(phase) => {}
        // parent gone or protocol broken: nothing sensible to report to
        // SAFETY: _exit never returns.
        _ => unsafe { libc::_exit(1) },
    }
}

fn check_send(sync_fd: c_int, m: Msg) {
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
    sys::close_all_but(keep_fds);
    // the fds used after stdio and the extra fds are put in place must
    // not be among their targets (0 .. 3+n): move them above
    let high = 3 + p.process.extra_fds.len().min(64) as c_int;
    let sync_fd = above(sync_fd, high);
    let fifo_fd = above(p.fifo_fd, high);
    REPORT_FD.store(above(p.report_fd, high), Ordering::Relaxed);
    sys::reset_signals();
    // until the init is ready, it dies with its monitor
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
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
        enter_pid_namespace(sync_fd);
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
    if let Some(r) = &p.rootfs {
        rootfs_child::setup(sync_fd, r);
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
    let tty = setup_process(sync_fd, &p.process);
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
unsafe fn enter_pid_namespace(sync_fd: c_int) {
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
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
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

/// Session and terminal, working directory, user, capabilities,
/// no_new_privs, umask. With `admin_until_seccomp` the capabilities stay
/// those of the namespace's root (plus CAP_SYS_ADMIN) until the filter is
/// loaded; [`final_capabilities`] then sets them. Returns the terminal
/// (slave) to put on 0, 1, 2, or -1.
unsafe fn setup_process(sync_fd: c_int, p: &ProcessPlan) -> c_int {
    // a session of its own, always: no terminal of the caller's can be
    // reached through /dev/tty or TIOCSTI
    if libc::setsid() < 0 && errno() != libc::EPERM {
        fail(sync_fd, Stage::Console, Step::Setsid, 0, errno());
    }
    if p.tty >= 0 {
        let r = libc::ioctl(p.tty, libc::TIOCSCTTY, 0) as _;
        check(sync_fd, r, Stage::Console, Step::ControllingTty, 0);
    }
    let r = libc::chdir(p.cwd.as_ptr()) as _;
    check(sync_fd, r, Stage::ProcessAttrs, Step::Chdir, 0);

    if let Some([bounding, ..]) = p.caps {
        for cap in 0..=p.last_cap {
            if bounding & (1u64 << cap) == 0 {
                let r = libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0);
                if r < 0 && errno() != libc::EINVAL {
                    fail(
                        sync_fd,
                        Stage::Capabilities,
                        Step::DropBounding,
                        cap,
                        errno(),
                    );
                }
            }
        }
        libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0);
    }
    if p.seccomp_early {
        load_seccomp(sync_fd, p);
    }
    check(
        sync_fd,
        sys::setgroups(&p.groups),
        Stage::SetUser,
        Step::Setgroups,
        0,
    );
    check(
        sync_fd,
        sys::setresgid(p.gid),
        Stage::SetUser,
        Step::Setresgid,
        0,
    );
    check(
        sync_fd,
        sys::setresuid(p.uid),
        Stage::SetUser,
        Step::Setresuid,
        0,
    );
    if p.uid != 0 {
        // a non-root user may not be able to reach cwd until now; try again as it
        let _ = libc::chdir(p.cwd.as_ptr());
    }
    if let Some([_, effective, permitted, inheritable, _]) = p.caps {
        libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0);
        if p.admin_until_seccomp {
            let admin = 1u64 << sys::CAP_SYS_ADMIN;
            let r = sys::capset(effective | admin, permitted | admin, inheritable) as _;
            check(sync_fd, r, Stage::Capabilities, Step::Capset, 0);
        } else {
            final_capabilities(sync_fd, p);
        }
    }
    if p.no_new_privs {
        let r = libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) as _;
        check(sync_fd, r, Stage::ProcessAttrs, Step::NoNewPrivs, 0);
    }
    if let Some(m) = p.umask {
        libc::umask(m as libc::mode_t);
    }
    if p.pty_inside {
        // made as the process's own user: the slave is its own
        return pty_inside(sync_fd);
    }
    p.tty
}

/// A pty of the container's devpts (we are in its mount namespace): the
/// slave becomes the controlling terminal, the master goes to the parent.
unsafe fn pty_inside(sync_fd: c_int) -> c_int {
    let m = libc::open(
        c"/dev/ptmx".as_ptr(),
        libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
    );
    check(sync_fd, m as _, Stage::Console, Step::PtyInside, 0);
    let unlock: c_int = 0;
    let r = libc::ioctl(m, libc::TIOCSPTLCK, &unlock) as _;
    check(sync_fd, r, Stage::Console, Step::PtyInside, 1);
    let s = libc::ioctl(
        m,
        libc::TIOCGPTPEER,
        libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
    );
    check(sync_fd, s as _, Stage::Console, Step::PtyInside, 2);
    let r = libc::ioctl(s, libc::TIOCSCTTY, 0) as _;
    check(sync_fd, r, Stage::Console, Step::ControllingTty, 0);
    if let Err(e) = sync::send_with_fd(sync_fd, &Msg::new(Phase::Pty), m) {
        fail(sync_fd, Stage::Console, Step::PtyInside, 3, e);
    }
    libc::close(m);
    s
}

/// The capability sets the process runs with, and its ambient set.
unsafe fn final_capabilities(sync_fd: c_int, p: &ProcessPlan) {
    let Some([_, effective, permitted, inheritable, ambient]) = p.caps else {
        return;
    };
    let r = sys::capset(effective, permitted, inheritable) as _;
    check(sync_fd, r, Stage::Capabilities, Step::Capset, 1);
    libc::prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL,
        0,
        0,
        0,
    );
    for cap in 0..=p.last_cap {
        if ambient & (1u64 << cap) != 0 {
            let r = libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE,
                cap as libc::c_ulong,
                0,
                0,
            );
            check(
                sync_fd,
                r as _,
                Stage::Capabilities,
                Step::RaiseAmbient,
                cap,
            );
        }
    }
}

/// The listener fd of the filter just loaded (kept in a static: this
/// child's own copy).
static LISTENER: AtomicI32 = AtomicI32::new(-1);

/// Load the plan's seccomp filter.
unsafe fn load_seccomp(sync_fd: c_int, p: &ProcessPlan) {
    const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
    let Some(f) = &p.seccomp else {
        return;
    };
    let prog = f.program();
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    let r = libc::syscall(
        libc::SYS_seccomp,
        SECCOMP_SET_MODE_FILTER,
        f.flags(),
        &fprog as *const libc::sock_fprog,
    );
    check(sync_fd, r, Stage::Seccomp, Step::LoadSeccomp, 0);
    if f.notify() {
        LISTENER.store(r as c_int, Ordering::Relaxed);
        if p.seccomp_early {
            send_listener(sync_fd);
        }
    }
}

/// Hand the notification listener to the parent, then close our copy:
/// the container must not answer itself.
unsafe fn send_listener(sync_fd: c_int) {
    let fd = LISTENER.swap(-1, Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    if let Err(e) = sync::send_with_fd(sync_fd, &Msg::new(Phase::Listener), fd) {
        fail(sync_fd, Stage::Seccomp, Step::SendListener, 0, e);
    }
    libc::close(fd);
}

/// Ask AppArmor to switch to `exec <label>` at our next execve (the
/// per-LSM file of Linux 5.8+, else the shared one).
unsafe fn set_apparmor_exec(sync_fd: c_int, cmd: &std::ffi::CStr) {
    let mut fd = libc::open(
        c"/proc/thread-self/attr/apparmor/exec".as_ptr(),
        libc::O_WRONLY | libc::O_CLOEXEC,
    );
    if fd < 0 && errno() == libc::ENOENT {
        fd = libc::open(
            c"/proc/thread-self/attr/exec".as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        );
    }
    check(sync_fd, fd as _, Stage::AppArmor, Step::AppArmorExec, 0);
    let b = cmd.to_bytes();
    let r = libc::write(fd, b.as_ptr() as *const libc::c_void, b.len());
    check(sync_fd, r as _, Stage::AppArmor, Step::AppArmorExec, 1);
    libc::close(fd);
}

/// Open the exec fifo read-write (so reading it blocks until `start`
/// writes, whoever holds it open), or -1 without a fifo.
unsafe fn open_fifo(sync_fd: c_int, fifo_fd: c_int) -> c_int {
    if fifo_fd < 0 {
        return -1;
    }
    let mut path = [0u8; 32];
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

/// Put stdio (or terminal `tty`) and the extra fds in place; everything
/// else close-on-exec.
unsafe fn arrange_fds(sync_fd: c_int, p: &ProcessPlan, tty: c_int) {
    // first move every source above the targets (0 .. 3+n), so no dup2
    // clobbers one; the lowest such fd keeps within a small RLIMIT_NOFILE
    let high: c_int = 3 + p.extra_fds.len().min(64) as c_int;
    let mut moved = [-1 as c_int; 3];
    for (i, &fd) in p.stdio.iter().enumerate() {
        let src = if tty >= 0 { tty } else { fd };
        if src >= 0 {
            moved[i] = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, high);
            check(
                sync_fd,
                moved[i] as _,
                Stage::ProcessAttrs,
                Step::ArrangeFds,
                0,
            );
        }
    }
    let mut extra = [-1 as c_int; 64];
    for (i, &fd) in p.extra_fds.iter().enumerate().take(64) {
        extra[i] = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, high);
        check(
            sync_fd,
            extra[i] as _,
            Stage::ProcessAttrs,
            Step::ArrangeFds,
            1,
        );
    }
    for (i, &fd) in moved.iter().enumerate() {
        if fd >= 0 {
            let r = libc::dup2(fd, i as c_int) as _;
            check(sync_fd, r, Stage::ProcessAttrs, Step::ArrangeFds, 2);
        }
    }
    let n = p.extra_fds.len().min(64);
    for (i, &fd) in extra.iter().enumerate().take(n) {
        let r = libc::dup2(fd, 3 + i as c_int) as _;
        check(sync_fd, r, Stage::ProcessAttrs, Step::ArrangeFds, 3);
    }
    // nothing else reaches the container (CVE-2024-21626)
    libc::syscall(
        libc::SYS_close_range,
        3 + n as libc::c_uint,
        libc::c_uint::MAX,
        libc::CLOSE_RANGE_CLOEXEC,
    );
}

/// Fail with stage exec unless some candidate path is executable.
unsafe fn check_executable(sync_fd: c_int, p: &ProcessPlan) {
    let mut err = libc::ENOENT;
    for path in &p.exec_paths {
        if libc::access(path.as_ptr(), libc::X_OK) == 0 {
            return;
        }
        if errno() != libc::ENOENT && errno() != libc::ENOTDIR {
            err = errno();
        }
    }
    fail(sync_fd, Stage::Exec, Step::Exec, 0, err)
}

unsafe fn exec(
    sync_fd: c_int,
    p: &ProcessPlan,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> ! {
    let mut err = libc::ENOENT;
    for path in &p.exec_paths {
        libc::execve(path.as_ptr(), argv, envp);
        let e = errno();
        match e {
            libc::ENOENT | libc::ENOTDIR => {}
            libc::EACCES => err = e,
            _ => {
                err = e;
                break;
            }
        }
    }
    fail(sync_fd, Stage::Exec, Step::Exec, 0, err)
}
