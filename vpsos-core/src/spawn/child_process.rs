//! The process part of the child's setup, the same for an init and an
//! exec'd process: session and terminal, keyring, user, capabilities,
//! seccomp, AppArmor label, fds, exec. Raw system calls over the plan
//! only (see `spawn`'s rule for code between clone and exec).

use super::child::{check, fail};
use super::sync::{self, Msg, Phase, Step};
use super::sys::{self, errno};
use crate::error::Stage;
use crate::plan::ProcessPlan;
use libc::{c_char, c_int};
use std::sync::atomic::{AtomicI32, Ordering};

/// A session keyring of the container's own, named `name` (shared by the
/// container's processes, so one per container counts against the key
/// quota): the caller's session keyring, and the keys in it, stay out of
/// reach even where seccomp allows keyctl. A kernel without keys is fine.
pub(super) unsafe fn join_keyring(sync_fd: c_int, name: &std::ffi::CStr) {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let r = libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr());
    if r < 0 && errno() != libc::ENOSYS {
        fail(sync_fd, Stage::Keyring, Step::JoinKeyring, 0, errno());
    }
}

/// Session and terminal, working directory, user, capabilities,
/// no_new_privs, umask. With `admin_until_seccomp` the capabilities stay
/// those of the namespace's root (plus CAP_SYS_ADMIN) until the filter is
/// loaded; [`final_capabilities`] then sets them. Returns the terminal
/// (slave) to put on 0, 1, 2, or -1.
pub(super) unsafe fn setup_process(
    sync_fd: c_int,
    p: &ProcessPlan,
    console: (c_int, c_int),
) -> c_int {
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
            if bounding & 1u64.checked_shl(cap).unwrap_or(0) == 0 {
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
        // the init's was made with its /dev/console; an exec'd process's
        // is made now, as its own user: the slave is its own
        let (m, s) = if console.0 >= 0 {
            console
        } else {
            open_pty(sync_fd)
        };
        return hand_pty(sync_fd, m, s);
    }
    p.tty
}

/// A pty of the container's devpts (we are in its mount namespace, after
/// its pivot_root): (master, slave).
pub(super) unsafe fn open_pty(sync_fd: c_int) -> (c_int, c_int) {
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
    (m, s)
}

/// The slave of [`open_pty`] becomes the controlling terminal (returned,
/// for 0, 1, 2), the master goes to the parent.
unsafe fn hand_pty(sync_fd: c_int, m: c_int, s: c_int) -> c_int {
    let r = libc::ioctl(s, libc::TIOCSCTTY, 0) as _;
    check(sync_fd, r, Stage::Console, Step::ControllingTty, 0);
    if let Err(e) = sync::send_with_fd(sync_fd, &Msg::new(Phase::Pty), m) {
        fail(sync_fd, Stage::Console, Step::PtyInside, 3, e);
    }
    libc::close(m);
    s
}

/// The capability sets the process runs with, and its ambient set.
pub(super) unsafe fn final_capabilities(sync_fd: c_int, p: &ProcessPlan) {
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
        if ambient & 1u64.checked_shl(cap).unwrap_or(0) != 0 {
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
pub(super) unsafe fn load_seccomp(sync_fd: c_int, p: &ProcessPlan) {
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
pub(super) unsafe fn send_listener(sync_fd: c_int) {
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
pub(super) unsafe fn set_apparmor_exec(sync_fd: c_int, cmd: &std::ffi::CStr) {
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

/// Put stdio (or terminal `tty`) and the extra fds in place; everything
/// else close-on-exec.
pub(super) unsafe fn arrange_fds(sync_fd: c_int, p: &ProcessPlan, tty: c_int) {
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
    // nothing else reaches the container (CVE-2024-21626); fail closed
    let r = libc::syscall(
        libc::SYS_close_range,
        3 + n as libc::c_uint,
        libc::c_uint::MAX,
        libc::CLOSE_RANGE_CLOEXEC,
    );
    check(sync_fd, r, Stage::ProcessAttrs, Step::CloseFds, 1);
}

/// Fail with stage exec unless some candidate path is executable.
pub(super) unsafe fn check_executable(sync_fd: c_int, p: &ProcessPlan) {
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

pub(super) unsafe fn exec(
    sync_fd: c_int,
    p: &ProcessPlan,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> ! {
    // the parent tells "exec'd" from "killed before exec" by this; a
    // parent gone (EPIPE) changes nothing here
    let _ = sync::send(sync_fd, &Msg::new(Phase::Exec));
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
