//! The child's rootfs setup: mounts resolved safely inside the rootfs,
//! device nodes, console, pivot_root, masked and read-only paths.
//!
//! Every destination is resolved with openat2(RESOLVE_IN_ROOT) from an fd of
//! the rootfs and mounted through `/proc/self/fd/N`, so a symlink planted in
//! the rootfs cannot redirect a mount to the host (CVE-2021-30465).

use super::child::{check, fail};
use super::sync::Step;
use super::sys::{errno, fd_path, open_in_root};
use crate::error::Stage;
use crate::plan::{MountOp, RootfsPlan};
use libc::{c_char, c_int, c_ulong};
use std::ffi::{CStr, CString};
use std::ptr::null;

fn opt(s: &Option<std::ffi::CString>) -> *const c_char {
    s.as_ref().map_or(null(), |s| s.as_ptr())
}

/// Open `rel` under `root`, creating missing directories (and, for
/// `is_file`, an empty final file) on the way. Returns an O_PATH fd.
pub(crate) unsafe fn ensure(root: c_int, rel: &CStr, is_file: bool) -> Result<c_int, c_int> {
    let bytes = rel.to_bytes();
    let mut buf = [0u8; 4096];
    if bytes.len() >= buf.len() {
        return Err(libc::ENAMETOOLONG);
    }
    if bytes.is_empty() {
        let fd = libc::fcntl(root, libc::F_DUPFD_CLOEXEC, 0);
        return if fd < 0 { Err(errno()) } else { Ok(fd) };
    }
    // the common case: everything exists; one resolution, no walk
    let whole = libc::O_PATH | if is_file { 0 } else { libc::O_DIRECTORY };
    let fd = open_in_root(root, rel.as_ptr(), whole);
    if fd >= 0 {
        return Ok(fd);
    }
    if errno() != libc::ENOENT {
        return Err(errno());
    }
    buf[..bytes.len()].copy_from_slice(bytes);
    let n = bytes.len();
    let mut parent: c_int = -1;
    let mut start = 0;
    let mut i = 0;
    while i <= n {
        if i < n && buf[i] != b'/' {
            i += 1;
            continue;
        }
        let last = i == n;
        if i == start {
            // empty component ("a//b")
            start = i + 1;
            i += 1;
            continue;
        }
        buf[i] = 0;
        let want_dir = !last || !is_file;
        let oflags = libc::O_PATH | if want_dir { libc::O_DIRECTORY } else { 0 };
        let mut fd = open_in_root(root, buf.as_ptr() as *const c_char, oflags);
        if fd < 0 && errno() == libc::ENOENT {
            let pfd = if parent >= 0 { parent } else { root };
            let comp = buf[start..].as_ptr() as *const c_char;
            if want_dir {
                if libc::mkdirat(pfd, comp, 0o755) < 0 && errno() != libc::EEXIST {
                    let e = errno();
                    close_if(parent);
                    return Err(e);
                }
            } else {
                let f = libc::openat(
                    pfd,
                    comp,
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                    0o644,
                );
                if f < 0 && errno() != libc::EEXIST {
                    let e = errno();
                    close_if(parent);
                    return Err(e);
                }
                close_if(f);
            }
            fd = open_in_root(root, buf.as_ptr() as *const c_char, oflags);
        }
        if fd < 0 {
            let e = errno();
            close_if(parent);
            return Err(e);
        }
        close_if(parent);
        parent = fd;
        if last {
            break;
        }
        buf[i] = b'/';
        start = i + 1;
        i += 1;
    }
    Ok(parent)
}

unsafe fn close_if(fd: c_int) {
    if fd >= 0 {
        libc::close(fd);
    }
}

/// The flags a read-only remount must keep (locked in a user namespace).
unsafe fn locked_flags(fd: c_int) -> c_ulong {
    // libc's struct statfs hides f_flags; the kernel's 64-bit layout has it
    #[repr(C)]
    struct KStatfs {
        words: [libc::c_long; 7],
        fsid: [libc::c_int; 2],
        namelen: libc::c_long,
        frsize: libc::c_long,
        flags: libc::c_long,
        spare: [libc::c_long; 4],
    }
    let mut st: KStatfs = std::mem::zeroed();
    if libc::syscall(libc::SYS_fstatfs, fd, &mut st as *mut KStatfs) < 0 {
        return 0;
    }
    let f = st.flags as c_ulong;
    let keep = libc::MS_NOSUID
        | libc::MS_NODEV
        | libc::MS_NOEXEC
        | libc::MS_NOATIME
        | libc::MS_NODIRATIME
        | libc::MS_RELATIME
        | libc::MS_RDONLY;
    f & keep
}

unsafe fn do_mount(sync: c_int, root: c_int, m: &MountOp, index: u32) {
    let fd = match ensure(root, &m.target, m.target_is_file) {
        Ok(fd) => fd,
        Err(e) => fail(sync, Stage::Mount, Step::Mount, index, e),
    };
    let mut path = [0u8; 40];
    let target = fd_path(fd, &mut path);
    let r = libc::mount(
        opt(&m.source),
        target,
        opt(&m.fstype),
        m.flags,
        opt(&m.data) as *const libc::c_void,
    );
    check(sync, r as _, Stage::Mount, Step::Mount, index);
    libc::close(fd);
    if m.remount_flags != 0 {
        // the fd above names the mount point below the new mount: reopen
        let fd = match ensure(root, &m.target, m.target_is_file) {
            Ok(fd) => fd,
            Err(e) => fail(sync, Stage::Mount, Step::Mount, index, e),
        };
        let target = fd_path(fd, &mut path);
        let flags = libc::MS_BIND | libc::MS_REMOUNT | m.remount_flags | locked_flags(fd);
        let r = libc::mount(null(), target, null(), flags, null());
        check(sync, r as _, Stage::Mount, Step::Mount, index);
        libc::close(fd);
    }
    if m.propagation != 0 {
        let fd = match ensure(root, &m.target, m.target_is_file) {
            Ok(fd) => fd,
            Err(e) => fail(sync, Stage::Mount, Step::Mount, index, e),
        };
        let target = fd_path(fd, &mut path);
        let r = libc::mount(null(), target, null(), m.propagation, null());
        check(sync, r as _, Stage::Mount, Step::Mount, index);
        libc::close(fd);
    }
}

/// Everything from propagation to the read-only root.
///
/// `console_owner`: the init's terminal is a pty of the container's
/// devpts (made here, after the pivot_root, as root), owned by this user
/// and bound at /dev/console as the runtime spec asks; returned as
/// (master, slave), else (-1, -1).
pub(crate) unsafe fn setup(
    sync: c_int,
    p: &RootfsPlan,
    sysctl: &[(CString, CString)],
    create_hooks: bool,
    console_owner: Option<u32>,
) -> (c_int, c_int) {
    let r = libc::mount(
        null(),
        c"/".as_ptr(),
        null(),
        libc::MS_REC | p.propagation,
        null(),
    );
    check(sync, r as _, Stage::RootfsPrepare, Step::RootPropagation, 0);
    let r = libc::mount(
        p.rootfs.as_ptr(),
        p.rootfs.as_ptr(),
        null(),
        libc::MS_BIND | libc::MS_REC,
        null(),
    );
    check(sync, r as _, Stage::RootfsPrepare, Step::BindRootfs, 0);
    let root = libc::open(
        p.rootfs.as_ptr(),
        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
    );
    check(sync, root as _, Stage::RootfsPrepare, Step::OpenRootfs, 0);

    let mut index = 0u32;
    for m in &p.base_mounts {
        do_mount(sync, root, m, index);
        index += 1;
    }
    if let Some(src) = &p.boot_id {
        let t = open_in_root(
            root,
            c"proc/sys/kernel/random/boot_id".as_ptr(),
            libc::O_PATH,
        );
        check(sync, t as _, Stage::Mount, Step::BootId, 0);
        let mut dst = [0u8; 40];
        let r = libc::mount(
            src.as_ptr(),
            fd_path(t, &mut dst),
            null(),
            libc::MS_BIND,
            null(),
        );
        check(sync, r as _, Stage::Mount, Step::BootId, 1);
        libc::close(t);
    }
    if !p.devices.is_empty() || !p.dev_symlinks.is_empty() || !p.terminals.is_empty() {
        devices(sync, root, p);
    }
    for m in &p.mounts {
        do_mount(sync, root, m, index);
        index += 1;
    }

    if create_hooks {
        // the parent runs them in our namespaces, with the host's root
        super::child::check_send(sync, super::sync::Msg::new(super::sync::Phase::Hooks));
        super::child::wait_for(sync, super::sync::Phase::HooksDone);
    }
    check(
        sync,
        libc::fchdir(root) as _,
        Stage::PivotRoot,
        Step::PivotRoot,
        0,
    );
    let r = libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr());
    check(sync, r, Stage::PivotRoot, Step::PivotRoot, 1);
    // the old root is stacked under the new one; make sure unmounting it
    // does not propagate to the host, then detach it
    let r = libc::mount(
        null(),
        c".".as_ptr(),
        null(),
        libc::MS_SLAVE | libc::MS_REC,
        null(),
    );
    check(sync, r as _, Stage::PivotRoot, Step::PivotRoot, 2);
    let r = libc::umount2(c".".as_ptr(), libc::MNT_DETACH) as _;
    check(sync, r, Stage::PivotRoot, Step::PivotRoot, 3);
    check(
        sync,
        libc::chdir(c"/".as_ptr()) as _,
        Stage::PivotRoot,
        Step::PivotRoot,
        4,
    );
    libc::close(root);

    let console = match console_owner {
        Some(uid) => console_pty(sync, uid),
        None => (-1, -1),
    };
    // in the container's namespaces, before /proc/sys turns read-only
    for (i, (file, value)) in sysctl.iter().enumerate() {
        write_sysctl(sync, i as u32, file, value);
    }
    mask_and_protect(sync, p);
    console
}

/// A pty of the container's devpts, its slave owned by `uid` (its group
/// stays devpts's) and bound at /dev/console: (master, slave).
unsafe fn console_pty(sync: c_int, uid: u32) -> (c_int, c_int) {
    let (m, s) = super::child_process::open_pty(sync);
    let r = libc::fchown(s, uid, libc::gid_t::MAX) as _;
    check(sync, r, Stage::Console, Step::PtyInside, 4);
    let dev = libc::open(
        c"/dev".as_ptr(),
        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
    );
    check(sync, dev as _, Stage::Console, Step::BindTerminal, 0);
    // a file to bind over (never opening what is there: a device node)
    let f = libc::openat(
        dev,
        c"console".as_ptr(),
        libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        0o600,
    );
    if f < 0 && errno() != libc::EEXIST {
        fail(sync, Stage::Console, Step::BindTerminal, 0, errno());
    }
    if f >= 0 {
        libc::close(f);
    }
    let t = libc::openat(
        dev,
        c"console".as_ptr(),
        libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW,
    );
    check(sync, t as _, Stage::Console, Step::BindTerminal, 0);
    let (mut src, mut dst) = ([0u8; 40], [0u8; 40]);
    let r = libc::mount(
        fd_path(s, &mut src),
        fd_path(t, &mut dst),
        null(),
        libc::MS_BIND,
        null(),
    );
    check(sync, r as _, Stage::Console, Step::BindTerminal, 0);
    libc::close(t);
    libc::close(dev);
    (m, s)
}

/// Write `value` into /proc/sys file `file` (the new root's /proc).
unsafe fn write_sysctl(sync: c_int, index: u32, file: &CStr, value: &CStr) {
    let fd = libc::open(
        file.as_ptr(),
        libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
    );
    check(sync, fd as _, Stage::Sysctl, Step::Sysctl, index);
    let v = value.to_bytes();
    let r = libc::write(fd, v.as_ptr() as *const libc::c_void, v.len());
    let e = errno();
    libc::close(fd);
    if r < 0 {
        fail(sync, Stage::Sysctl, Step::Sysctl, index, e);
    }
}

/// Mount the cgroup filesystem(s) at /sys/fs/cgroup, after pivot_root and
/// inside the new cgroup namespace (so the container's cgroup is their root).
pub(crate) unsafe fn cgroup_mounts(sync: c_int, p: &RootfsPlan) {
    if p.cgroup_mounts.is_empty() {
        return;
    }
    let root = libc::open(
        c"/".as_ptr(),
        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
    );
    check(sync, root as _, Stage::Mount, Step::OpenRoot, 0);
    let first = (p.base_mounts.len() + p.mounts.len()) as u32;
    for (index, m) in (first..).zip(&p.cgroup_mounts) {
        do_mount(sync, root, m, index);
    }
    libc::close(root);
}

/// Device nodes (mknod, or binds of the host's nodes under a user
/// namespace), /dev symlinks, and the console.
unsafe fn devices(sync: c_int, root: c_int, p: &RootfsPlan) {
    let dev = open_in_root(root, c"dev".as_ptr(), libc::O_PATH | libc::O_DIRECTORY);
    check(sync, dev as _, Stage::Devices, Step::OpenDev, 0);
    let mut path = [0u8; 40];
    for (i, d) in p.devices.iter().enumerate() {
        if p.bind_devices {
            let f = libc::openat(
                dev,
                d.name.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                0o600,
            );
            check(sync, f as _, Stage::Devices, Step::DeviceNode, i as u32);
            libc::close(f);
            let t = libc::openat(
                dev,
                d.name.as_ptr(),
                libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            );
            check(sync, t as _, Stage::Devices, Step::DeviceNode, i as u32);
            let r = libc::mount(
                d.host.as_ptr(),
                fd_path(t, &mut path),
                null(),
                libc::MS_BIND,
                null(),
            );
            check(sync, r as _, Stage::Devices, Step::DeviceNode, i as u32);
            libc::close(t);
        } else {
            let r = libc::mknodat(dev, d.name.as_ptr(), d.mode, d.dev);
            if r < 0 && errno() != libc::EEXIST {
                fail(sync, Stage::Devices, Step::DeviceNode, i as u32, errno());
            }
            // mknod honours the umask; set the mode we asked for
            let r = libc::fchmodat(dev, d.name.as_ptr(), d.mode & 0o7777, 0);
            check(sync, r as _, Stage::Devices, Step::DeviceNode, i as u32);
        }
    }
    for (target, name) in &p.dev_symlinks {
        let r = libc::symlinkat(target.as_ptr(), dev, name.as_ptr());
        if r < 0 && errno() != libc::EEXIST {
            fail(sync, Stage::Devices, Step::DevSymlink, 0, errno());
        }
    }
    // the console, then tty1..N: host pty slaves the monitor holds
    let mut name = [0u8; 16];
    for (i, pty) in p.terminals.iter().enumerate() {
        let n = terminal_name(i, &mut name);
        let f = libc::openat(
            dev,
            n,
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            0o600,
        );
        check(sync, f as _, Stage::Console, Step::BindTerminal, i as u32);
        libc::close(f);
        let t = libc::openat(dev, n, libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW);
        check(sync, t as _, Stage::Console, Step::BindTerminal, i as u32);
        let r = libc::mount(
            pty.as_ptr(),
            fd_path(t, &mut path),
            null(),
            libc::MS_BIND,
            null(),
        );
        check(sync, r as _, Stage::Console, Step::BindTerminal, i as u32);
        libc::close(t);
    }
    libc::close(dev);
}

/// `console` for terminal 0, `tty<i>` for the others, NUL-terminated in `buf`.
fn terminal_name(i: usize, buf: &mut [u8; 16]) -> *const c_char {
    let mut sb = super::sys::StackBuf::<15>::new();
    if i == 0 {
        sb.push(b"console");
    } else {
        sb.push(b"tty");
        sb.push_u64(i as u64);
    }
    // at most 15 bytes, so the NUL fits
    for (dst, src) in buf.iter_mut().zip(sb.buf.iter().take(sb.len)) {
        *dst = *src;
    }
    if let Some(nul) = buf.get_mut(sb.len) {
        *nul = 0;
    }
    buf.as_ptr() as *const c_char
}

/// Masked paths, read-only paths, and the read-only root (after pivot_root).
unsafe fn mask_and_protect(sync: c_int, p: &RootfsPlan) {
    let root = libc::open(
        c"/".as_ptr(),
        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
    );
    check(sync, root as _, Stage::MaskPaths, Step::OpenRoot, 0);
    let mut path = [0u8; 40];
    for (i, rel) in p.masked.iter().enumerate() {
        let fd = open_in_root(root, rel.as_ptr(), libc::O_PATH);
        if fd < 0 {
            if errno() == libc::ENOENT {
                continue;
            }
            fail(sync, Stage::MaskPaths, Step::Mask, i as u32, errno());
        }
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st);
        let target = fd_path(fd, &mut path);
        let r = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            libc::mount(
                c"tmpfs".as_ptr(),
                target,
                c"tmpfs".as_ptr(),
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                c"size=0,mode=555".as_ptr() as *const libc::c_void,
            )
        } else {
            libc::mount(c"/dev/null".as_ptr(), target, null(), libc::MS_BIND, null())
        };
        check(sync, r as _, Stage::MaskPaths, Step::Mask, i as u32);
        libc::close(fd);
    }
    for (i, rel) in p.writable.iter().enumerate() {
        let fd = open_in_root(root, rel.as_ptr(), libc::O_PATH);
        if fd < 0 {
            if errno() == libc::ENOENT {
                continue;
            }
            fail(
                sync,
                Stage::MaskPaths,
                Step::WritablePath,
                i as u32,
                errno(),
            );
        }
        let target = fd_path(fd, &mut path);
        let r = libc::mount(target, target, null(), libc::MS_BIND | libc::MS_REC, null());
        check(sync, r as _, Stage::MaskPaths, Step::WritablePath, i as u32);
        libc::close(fd);
    }
    for (i, rel) in p.readonly.iter().enumerate() {
        let fd = open_in_root(root, rel.as_ptr(), libc::O_PATH);
        if fd < 0 {
            if errno() == libc::ENOENT {
                continue;
            }
            fail(
                sync,
                Stage::MaskPaths,
                Step::ReadonlyPath,
                i as u32,
                errno(),
            );
        }
        let target = fd_path(fd, &mut path);
        let r = libc::mount(target, target, null(), libc::MS_BIND | libc::MS_REC, null());
        check(sync, r as _, Stage::MaskPaths, Step::ReadonlyPath, i as u32);
        libc::close(fd);
        let fd = open_in_root(root, rel.as_ptr(), libc::O_PATH);
        check(
            sync,
            fd as _,
            Stage::MaskPaths,
            Step::ReadonlyPath,
            i as u32,
        );
        let target = fd_path(fd, &mut path);
        let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | locked_flags(fd);
        let r = libc::mount(null(), target, null(), flags, null());
        check(sync, r as _, Stage::MaskPaths, Step::ReadonlyPath, i as u32);
        libc::close(fd);
    }
    if p.readonly_rootfs {
        let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | locked_flags(root);
        let r = libc::mount(null(), c"/".as_ptr(), null(), flags, null());
        check(sync, r as _, Stage::MaskPaths, Step::ReadonlyRoot, 0);
    }
    libc::close(root);
}
