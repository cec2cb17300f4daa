//! The child's straight line between clone and exec.
//!
//! Only raw system calls over the precomputed [`ChildPlan`]: no allocation,
//! no locks, no logging, no unwinding. A failure is reported as
//! `(stage, errno, detail)` on the sync socket and ends in `_exit`.

use super::plan::{ChildPlan, ProcessPlan, Role, TimePlan};
use super::rootfs_child;
use super::sync::{
    self, Msg, MSG_CGROUP, MSG_ERROR, MSG_GO, MSG_LISTENER, MSG_NEED_MAPS, MSG_PID, MSG_READY,
    MSG_START,
};
use super::sys::{self, errno, StackBuf};
use crate::error::Stage;
use libc::{c_char, c_int};

/// Report a failure and exit.
pub(crate) fn fail(sync: c_int, stage: Stage, detail: u32, err: c_int) -> ! {
    let m = Msg {
        kind: MSG_ERROR,
        stage: stage.code(),
        errno: err,
        detail,
        value: 0,
    };
    let _ = sync::send(sync, &m);
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(1) }
}

/// `r < 0` → fail with errno.
pub(crate) fn check(sync: c_int, r: libc::c_long, stage: Stage, detail: u32) {
    if r < 0 {
        fail(sync, stage, detail, errno());
    }
}

fn wait_for(sync: c_int, kind: u32) {
    match sync::recv(sync) {
        Ok(Some(m)) if m.kind == kind => {}
        // parent gone or protocol broken: nothing sensible to report to
        // SAFETY: _exit never returns.
        _ => unsafe { libc::_exit(1) },
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
    sys::reset_signals();
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    // not dumpable: container processes cannot open /proc/<pid>/exe of a
    // process that is still the runtime's binary (CVE-2019-5736)
    libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);

    for &(fd, nstype) in &p.joins {
        check(
            sync_fd,
            libc::setns(fd, nstype) as _,
            Stage::JoinNamespace,
            nstype as u32,
        );
    }
    if p.unshare_flags != 0 {
        check(
            sync_fd,
            libc::unshare(p.unshare_flags) as _,
            Stage::Unshare,
            0,
        );
    }
    if p.wait_maps {
        check_send(sync_fd, Msg::new(MSG_NEED_MAPS));
    }
    wait_for(sync_fd, MSG_GO);

    if p.fork_after {
        let pid = sys::raw_fork(libc::CLONE_PARENT as libc::c_ulong);
        check(sync_fd, pid, Stage::Fork, 0);
        if pid > 0 {
            let mut m = Msg::new(MSG_PID);
            m.value = pid;
            let _ = sync::send(sync_fd, &m);
            libc::_exit(0);
        }
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    }

    // before become_root: while non-dumpable, /proc/self files belong to
    // host root, which we still are until setresuid
    if let TimePlan::New(offsets) = p.time {
        enter_time_namespace(sync_fd, offsets);
    }
    if p.become_root {
        check(sync_fd, sys::setgroups(&[]), Stage::SetUser, 0);
        check(sync_fd, sys::setresgid(0), Stage::SetUser, 0);
        check(sync_fd, sys::setresuid(0), Stage::SetUser, 0);
    }
    if let Some(h) = &p.hostname {
        check(
            sync_fd,
            libc::sethostname(h.as_ptr(), h.as_bytes().len()) as _,
            Stage::Hostname,
            0,
        );
    }
    if let Some(d) = &p.domainname {
        check(
            sync_fd,
            libc::setdomainname(d.as_ptr(), d.as_bytes().len()) as _,
            Stage::Hostname,
            1,
        );
    }
    if p.lo_up {
        loopback_up(sync_fd);
    }
    if let Some(r) = &p.rootfs {
        rootfs_child::setup(sync_fd, r);
    }

    if p.wait_cgroup {
        wait_for(sync_fd, MSG_CGROUP);
    }
    if p.cgroupns {
        check(
            sync_fd,
            libc::unshare(libc::CLONE_NEWCGROUP) as _,
            Stage::CgroupNamespace,
            0,
        );
        if let Some(r) = &p.rootfs {
            rootfs_child::cgroup_mounts(sync_fd, r);
        }
    }
    setup_process(sync_fd, &p.process);

    if p.role == Role::Init {
        // a missing init fails `create`, not the later `start`
        check_executable(sync_fd, &p.process);
        libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0);
        check_send(sync_fd, Msg::new(MSG_READY));
        wait_start(sync_fd, p.fifo_fd);
    } else {
        libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0);
    }
    if let Some(label) = &p.process.apparmor_exec {
        set_apparmor_exec(sync_fd, label);
    }
    arrange_fds(sync_fd, &p.process);
    exec(sync_fd, &p.process, argv, envp)
}

fn check_send(sync_fd: c_int, m: Msg) {
    if sync::send(sync_fd, &m).is_err() {
        // SAFETY: _exit never returns.
        unsafe { libc::_exit(1) }
    }
}

/// `ip link set lo up` with two ioctls.
unsafe fn loopback_up(sync_fd: c_int) {
    let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
    check(sync_fd, s as _, Stage::Loopback, 0);
    let mut ifr: libc::ifreq = std::mem::zeroed();
    ifr.ifr_name[0] = b'l' as libc::c_char;
    ifr.ifr_name[1] = b'o' as libc::c_char;
    check(
        sync_fd,
        libc::ioctl(s, libc::SIOCGIFFLAGS, &mut ifr) as _,
        Stage::Loopback,
        1,
    );
    ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
    check(
        sync_fd,
        libc::ioctl(s, libc::SIOCSIFFLAGS, &ifr) as _,
        Stage::Loopback,
        2,
    );
    libc::close(s);
}

/// Unshare a time namespace, set its offsets, and move into it.
unsafe fn enter_time_namespace(sync_fd: c_int, offsets: Option<(i64, i64)>) {
    check(
        sync_fd,
        libc::unshare(libc::CLONE_NEWTIME) as _,
        Stage::TimeNamespace,
        0,
    );
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
    check(sync_fd, fd as _, Stage::TimeNamespace, 1);
    let r = libc::write(fd, text.buf.as_ptr() as *const libc::c_void, text.len);
    check(sync_fd, r as _, Stage::TimeNamespace, 2);
    libc::close(fd);
    let ns = libc::open(
        c"/proc/self/ns/time_for_children".as_ptr(),
        libc::O_RDONLY | libc::O_CLOEXEC,
    );
    check(sync_fd, ns as _, Stage::TimeNamespace, 3);
    check(
        sync_fd,
        libc::setns(ns, libc::CLONE_NEWTIME) as _,
        Stage::TimeNamespace,
        4,
    );
    libc::close(ns);
}

/// Console, working directory, user, capabilities, no_new_privs, umask.
unsafe fn setup_process(sync_fd: c_int, p: &ProcessPlan) {
    if p.tty >= 0 {
        libc::setsid();
        check(
            sync_fd,
            libc::ioctl(p.tty, libc::TIOCSCTTY, 0) as _,
            Stage::Console,
            0,
        );
    }
    check(
        sync_fd,
        libc::chdir(p.cwd.as_ptr()) as _,
        Stage::ProcessAttrs,
        0,
    );

    if let Some([bounding, ..]) = p.caps {
        for cap in 0..=p.last_cap {
            if bounding & (1u64 << cap) == 0 {
                let r = libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0);
                if r < 0 && errno() != libc::EINVAL {
                    fail(sync_fd, Stage::Capabilities, cap, errno());
                }
            }
        }
        libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0);
    }
    // without no_new_privs loading a filter needs CAP_SYS_ADMIN, which the
    // process still has now and may not after the switch below
    if !p.no_new_privs {
        load_seccomp(sync_fd, p);
    }
    check(sync_fd, sys::setgroups(&p.groups), Stage::SetUser, 0);
    check(sync_fd, sys::setresgid(p.gid), Stage::SetUser, 1);
    check(sync_fd, sys::setresuid(p.uid), Stage::SetUser, 2);
    if p.uid != 0 {
        // a non-root user may not be able to reach cwd until now; try again as it
        let _ = libc::chdir(p.cwd.as_ptr());
    }
    if let Some([_, effective, permitted, inheritable, ambient]) = p.caps {
        libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0);
        check(
            sync_fd,
            sys::capset(effective, permitted, inheritable) as _,
            Stage::Capabilities,
            100,
        );
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
                check(sync_fd, r as _, Stage::Capabilities, 200 + cap);
            }
        }
    }
    if p.no_new_privs {
        check(
            sync_fd,
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) as _,
            Stage::ProcessAttrs,
            1,
        );
        load_seccomp(sync_fd, p);
    }
    if let Some(m) = p.umask {
        libc::umask(m as libc::mode_t);
    }
}

/// Load the plan's seccomp filter; hand a notification listener to the
/// parent (then close our copy: the container must not answer itself).
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
    check(sync_fd, r, Stage::Seccomp, 0);
    if f.notify() {
        let mut m = Msg::new(MSG_LISTENER);
        m.value = r;
        if let Err(e) = sync::send_with_fd(sync_fd, &m, r as c_int) {
            fail(sync_fd, Stage::Seccomp, 1, e);
        }
        libc::close(r as c_int);
    }
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
    check(sync_fd, fd as _, Stage::AppArmor, 0);
    let b = cmd.to_bytes();
    let r = libc::write(fd, b.as_ptr() as *const libc::c_void, b.len());
    check(sync_fd, r as _, Stage::AppArmor, 1);
    libc::close(fd);
}

/// Block until `start`: on the exec fifo, or a MSG_START on the socket.
unsafe fn wait_start(sync_fd: c_int, fifo_fd: c_int) {
    if fifo_fd < 0 {
        wait_for(sync_fd, MSG_START);
        return;
    }
    let mut path = [0u8; 32];
    let p = sys::fd_path(fifo_fd, &mut path);
    let fd = libc::open(p, libc::O_WRONLY | libc::O_CLOEXEC);
    check(sync_fd, fd as _, Stage::ExecFifo, 0);
    let r = libc::write(fd, b"0".as_ptr() as *const libc::c_void, 1);
    check(sync_fd, r as _, Stage::ExecFifo, 1);
    libc::close(fd);
    libc::close(fifo_fd);
}

/// Put stdio and the extra fds in place; everything else close-on-exec.
unsafe fn arrange_fds(sync_fd: c_int, p: &ProcessPlan) {
    // first move every source above the targets (0 .. 3+n), so no dup2
    // clobbers one; the lowest such fd keeps within a small RLIMIT_NOFILE
    let high: c_int = 3 + p.extra_fds.len().min(64) as c_int;
    let mut moved = [-1 as c_int; 3];
    for (i, &fd) in p.stdio.iter().enumerate() {
        let src = if p.tty >= 0 { p.tty } else { fd };
        if src >= 0 {
            moved[i] = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, high);
            check(sync_fd, moved[i] as _, Stage::ProcessAttrs, 10);
        }
    }
    let mut extra = [-1 as c_int; 64];
    for (i, &fd) in p.extra_fds.iter().enumerate().take(64) {
        extra[i] = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, high);
        check(sync_fd, extra[i] as _, Stage::ProcessAttrs, 11);
    }
    for (i, &fd) in moved.iter().enumerate() {
        if fd >= 0 {
            check(
                sync_fd,
                libc::dup2(fd, i as c_int) as _,
                Stage::ProcessAttrs,
                12,
            );
        }
    }
    let n = p.extra_fds.len().min(64);
    for (i, &fd) in extra.iter().enumerate().take(n) {
        check(
            sync_fd,
            libc::dup2(fd, 3 + i as c_int) as _,
            Stage::ProcessAttrs,
            13,
        );
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
    fail(sync_fd, Stage::Exec, 0, err)
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
    fail(sync_fd, Stage::Exec, 0, err)
}
