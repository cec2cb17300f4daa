//! Changing a running container's mounts from the host: bind a host path
//! (a granted device's node, a directory) into it, mount a new filesystem
//! in it, or take one out.
//!
//! A short-lived child joins the container's mount namespace and does the
//! work with raw syscalls only (the caller may be multi-threaded). The
//! node is cloned with `open_tree(OPEN_TREE_CLONE)` before the child
//! switches namespaces and attached with `move_mount`, because a bind
//! mount cannot take its source from another mount namespace.

use super::rootfs_child::ensure;
use super::sys::{self, errno};
use super::{block_signals, restore_signals};
use crate::error::{Error, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const SYS_OPEN_TREE: libc::c_long = 428;
const SYS_MOVE_MOUNT: libc::c_long = 429;
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// What the child does once inside.
enum Job<'a> {
    /// Attach the detached mount `fd` at `target`, creating an empty file
    /// (and missing directories) as host `owner` (uid, gid).
    Attach {
        fd: libc::c_int,
        target: &'a CString,
        owner: (u32, u32),
    },
    /// The same with a directory as the mount point.
    AttachDir {
        fd: libc::c_int,
        target: &'a CString,
        owner: (u32, u32),
    },
    /// Detach whatever is mounted at `target` and unlink it.
    Remove { target: &'a CString },
    /// Detach whatever is mounted at `target` (the directory stays).
    Unmount { target: &'a CString },
    /// As the container's root (its user namespace joined too), mount a
    /// new filesystem at `target`, then set its propagation.
    Mount {
        source: &'a CString,
        fstype: &'a CString,
        flags: libc::c_ulong,
        data: Option<&'a CString>,
        target: &'a CString,
        propagation: libc::c_ulong,
    },
}

/// A path for mount(2): the NUL-terminated C string of `p`.
fn c(p: impl AsRef<[u8]>, what: &str) -> Result<CString> {
    CString::new(p.as_ref()).map_err(|_| Error::invalid(what, "contains a NUL byte"))
}

/// Mount `m` into the running container behind `pidfd`: a bind comes from
/// the host (`open_tree`, its flags and propagation set on the detached
/// copy with `mount_setattr`, then `move_mount` inside); any other kind is
/// mounted by the container's root inside its own namespaces, so the
/// container owns it. Missing mount points are made as `owner` (host ids
/// of the container's root).
pub(crate) fn mount_into(
    pidfd: &OwnedFd,
    m: &crate::config::Mount,
    owner: (u32, u32),
) -> Result<()> {
    use crate::config::MountKind;
    let target = rel(&m.destination)?;
    let ctx = |e: Error| {
        e.context(format!(
            "mounting {} into the container",
            m.destination.display()
        ))
    };
    let mut flags: libc::c_ulong = 0;
    for (on, f) in [
        (m.readonly, libc::MS_RDONLY),
        (m.nosuid, libc::MS_NOSUID),
        (m.nodev, libc::MS_NODEV),
        (m.noexec, libc::MS_NOEXEC),
    ] {
        if on {
            flags |= f;
        }
    }
    let rec = if m.recursive { libc::MS_REC } else { 0 };
    let propagation = m.propagation.map_or(0, |p| p.ms_flag() | rec);
    match &m.kind {
        MountKind::Bind { source } => {
            let src = c(source.as_os_str().as_bytes(), "source")?;
            let rec_flag = if m.recursive {
                libc::AT_RECURSIVE as libc::c_uint
            } else {
                0
            };
            // SAFETY: plain syscall with a valid path.
            let fd = unsafe {
                libc::syscall(
                    SYS_OPEN_TREE,
                    libc::AT_FDCWD,
                    src.as_ptr(),
                    OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | rec_flag,
                )
            };
            if fd < 0 {
                return Err(ctx(Error::from_errno(
                    errno(),
                    format!("open_tree {}", source.display()),
                )));
            }
            // SAFETY: open_tree returned a new fd.
            let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
            set_attrs(
                &tree,
                flags,
                m.propagation.map(|p| p.ms_flag()),
                m.recursive,
            )
            .map_err(ctx)?;
            let is_file = std::fs::metadata(source).is_ok_and(|md| !md.is_dir());
            let job = if is_file {
                Job::Attach {
                    fd: tree.as_raw_fd(),
                    target: &target,
                    owner,
                }
            } else {
                Job::AttachDir {
                    fd: tree.as_raw_fd(),
                    target: &target,
                    owner,
                }
            };
            run(pidfd, job).map_err(ctx)
        }
        MountKind::Tmpfs | MountKind::Fs { .. } => {
            let (source, fstype) = match &m.kind {
                MountKind::Fs { fstype, source } => (c(source, "source")?, c(fstype, "fstype")?),
                _ => (c("tmpfs", "source")?, c("tmpfs", "fstype")?),
            };
            let data = m.data.as_deref().map(|d| c(d, "data")).transpose()?;
            let job = Job::Mount {
                source: &source,
                fstype: &fstype,
                flags,
                data: data.as_ref(),
                target: &target,
                propagation,
            };
            run(pidfd, job).map_err(ctx)
        }
    }
}

/// Unmount whatever is at `target` in the container behind `pidfd` (the
/// mount point stays).
pub(crate) fn unmount_from(pidfd: &OwnedFd, target: &Path) -> Result<()> {
    let target_c = rel(target)?;
    run(pidfd, Job::Unmount { target: &target_c })
        .map_err(|e| e.context(format!("unmounting {} in the container", target.display())))
}

const SYS_MOUNT_SETATTR: libc::c_long = 442;

/// `mount_setattr(2)` on a detached tree: MS_* `flags` as MOUNT_ATTR_*,
/// and a propagation (MS_PRIVATE/SLAVE/SHARED).
fn set_attrs(
    tree: &OwnedFd,
    flags: libc::c_ulong,
    propagation: Option<libc::c_ulong>,
    recursive: bool,
) -> Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let mut set = 0u64;
    for (ms, attr) in [
        (libc::MS_RDONLY, 0x1u64),
        (libc::MS_NOSUID, 0x2),
        (libc::MS_NODEV, 0x4),
        (libc::MS_NOEXEC, 0x8),
    ] {
        if flags & ms != 0 {
            set |= attr;
        }
    }
    if set == 0 && propagation.is_none() {
        return Ok(());
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: propagation.unwrap_or(0),
        userns_fd: 0,
    };
    let at = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: a valid mount_attr for our detached tree.
    let r = unsafe {
        libc::syscall(
            SYS_MOUNT_SETATTR,
            tree.as_raw_fd(),
            c"".as_ptr(),
            at,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(Error::from_errno(errno(), "mount_setattr"));
    }
    Ok(())
}

/// The container path without its leading `/`, as a C string.
fn rel(target: &Path) -> Result<CString> {
    let b = target.as_os_str().as_bytes();
    CString::new(b.strip_prefix(b"/").unwrap_or(b))
        .map_err(|_| Error::invalid("path", "contains a NUL byte"))
}

/// Bind-mount host file `source` at `target` in the mount namespace of
/// the process behind `pidfd`. A missing mount point is created as host
/// `owner` (the container's root): under a user namespace the container's
/// /dev is a tmpfs of that namespace, which refuses inodes owned by an id
/// it does not map (EOVERFLOW), host root included.
pub(crate) fn bind_into(
    pidfd: &OwnedFd,
    source: &Path,
    target: &Path,
    owner: (u32, u32),
) -> Result<()> {
    let src = CString::new(source.as_os_str().as_bytes())
        .map_err(|_| Error::invalid("path", "contains a NUL byte"))?;
    // SAFETY: plain syscall with a valid path.
    let fd = unsafe {
        libc::syscall(
            SYS_OPEN_TREE,
            libc::AT_FDCWD,
            src.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(Error::from_errno(
            errno(),
            format!("open_tree {}", source.display()),
        ));
    }
    // SAFETY: open_tree returned a new fd.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let target_c = rel(target)?;
    run(
        pidfd,
        Job::Attach {
            fd: tree.as_raw_fd(),
            target: &target_c,
            owner,
        },
    )
    .map_err(|e| e.context(format!("mounting {} into the container", target.display())))
}

/// Unmount and remove `target` in the container behind `pidfd`; a missing
/// target is fine.
pub(crate) fn remove_from(pidfd: &OwnedFd, target: &Path) -> Result<()> {
    let target_c = rel(target)?;
    run(pidfd, Job::Remove { target: &target_c })
        .map_err(|e| e.context(format!("removing {} from the container", target.display())))
}

fn run(pidfd: &OwnedFd, job: Job) -> Result<()> {
    let ns = pidfd.as_raw_fd();
    let old = block_signals();
    // SAFETY: the child runs only async-signal-safe syscalls and _exits.
    let pid = unsafe { sys::raw_fork(0) };
    if pid == 0 {
        // SAFETY: we are the fresh child.
        unsafe { child(ns, &job) }
    }
    let fork_errno = errno();
    restore_signals(&old);
    if pid < 0 {
        return Err(Error::from_errno(fork_errno, "fork"));
    }
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid as i32, &mut status, libc::__WALL) };
        if r >= 0 {
            break;
        }
        if errno() != libc::EINTR {
            return Err(Error::from_errno(errno(), "waiting for the mount helper"));
        }
    }
    match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
        (true, 0) => Ok(()),
        (true, code) => Err(Error::from_errno(
            code,
            "in the container's mount namespace",
        )),
        _ => Err(Error::from_errno(libc::EINTR, "mount helper killed")),
    }
}

/// The helper: join the mount namespace (root and cwd become the
/// container's), then do the job. Exit code 0 or the errno.
unsafe fn child(pidfd: libc::c_int, job: &Job) -> ! {
    let out = |e: libc::c_int| -> ! { libc::_exit(e) };
    // a new filesystem belongs to the container: mount it as its root
    let as_root = matches!(job, Job::Mount { .. });
    let ns = libc::CLONE_NEWNS | if as_root { libc::CLONE_NEWUSER } else { 0 };
    if libc::setns(pidfd, ns) < 0 {
        out(errno());
    }
    if as_root && (sys::setgroups(&[]) < 0 || sys::setresgid(0) < 0 || sys::setresuid(0) < 0) {
        out(errno());
    }
    let root = libc::open(
        c"/".as_ptr(),
        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
    );
    if root < 0 {
        out(errno());
    }
    match job {
        Job::Attach { fd, target, owner } | Job::AttachDir { fd, target, owner } => {
            let is_file = matches!(job, Job::Attach { .. });
            // fs ids only: this process keeps CAP_SYS_ADMIN for move_mount
            libc::syscall(libc::SYS_setfsgid, owner.1);
            libc::syscall(libc::SYS_setfsuid, owner.0);
            let t = match ensure(root, target, is_file) {
                Ok(t) => t,
                Err(e) => out(e),
            };
            let r = libc::syscall(
                SYS_MOVE_MOUNT,
                *fd,
                c"".as_ptr(),
                t,
                c"".as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
            );
            if r < 0 {
                out(errno());
            }
        }
        Job::Mount {
            source,
            fstype,
            flags,
            data,
            target,
            propagation,
        } => {
            // on "." of the mount point: /proc here is the container's,
            // where this process has no /proc/self
            let t = match ensure(root, target, false) {
                Ok(t) => t,
                Err(e) => out(e),
            };
            if libc::fchdir(t) < 0 {
                out(errno());
            }
            let d = data.map_or(std::ptr::null(), |d| d.as_ptr() as *const libc::c_void);
            if libc::mount(source.as_ptr(), c".".as_ptr(), fstype.as_ptr(), *flags, d) < 0 {
                out(errno());
            }
            if *propagation != 0 {
                // "." is still the directory under the new mount: go onto it
                let t2 = match ensure(root, target, false) {
                    Ok(t) => t,
                    Err(e) => out(e),
                };
                if libc::fchdir(t2) < 0
                    || libc::mount(
                        std::ptr::null(),
                        c".".as_ptr(),
                        std::ptr::null(),
                        *propagation,
                        std::ptr::null(),
                    ) < 0
                {
                    out(errno());
                }
            }
        }
        Job::Unmount { target } => {
            let mut n = 0;
            while libc::umount2(target.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) == 0 {
                n += 1;
            }
            if n == 0 {
                out(errno());
            }
        }
        Job::Remove { target } => {
            // the path is resolved inside the container's root: it
            // cannot lead out of it
            // (several binds may be stacked there)
            while libc::umount2(target.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) == 0 {}
            let e = errno();
            if e != libc::EINVAL && e != libc::ENOENT {
                out(e);
            }
            if libc::unlinkat(root, target.as_ptr(), 0) < 0 && errno() != libc::ENOENT {
                out(errno());
            }
        }
    }
    out(0)
}
