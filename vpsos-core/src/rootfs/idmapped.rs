//! Idmapped root filesystems: the image is mounted with the container's id
//! mapping (`mount_setattr(MOUNT_ATTR_IDMAP)`), so files owned by 0 on disk
//! appear owned by the container's root and files it creates land on disk
//! as 0, without a chown. [`chown_shift`](super::chown_shift) is the explicit fallback for
//! filesystems that cannot be idmapped.

use crate::error::{Error, Result, ResultExt};
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub(super) fn c(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid("rootfs", "contains a NUL byte"))
}

pub(super) fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Mount `source` at `target` (an empty directory) mapped through user
/// namespace `userns`.
pub(crate) fn mount(source: &Path, target: &Path, userns: BorrowedFd<'_>) -> Result<()> {
    let src = c(source)?;
    // SAFETY: plain syscall with a valid path.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            src.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(Error::from_errno(
            last_errno(),
            format!("open_tree {}", source.display()),
        ));
    }
    // SAFETY: a new fd from open_tree.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: a valid mount_attr of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        let e = last_errno();
        return Err(
            if matches!(e, libc::EINVAL | libc::EOPNOTSUPP | libc::ENOSYS) {
                Error::unsupported(format!(
                "an idmapped mount of {}: its filesystem cannot be idmapped ({}); shift the ids \
                 with rootfs::chown_shift instead",
                source.display(),
                std::io::Error::from_raw_os_error(e)
            ))
            } else {
                Error::from_errno(e, format!("idmapping {}", source.display()))
            },
        );
    }
    let dst = c(target)?;
    // SAFETY: attach our detached tree at a path.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            dst.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(Error::from_errno(
            last_errno(),
            format!("mounting at {}", target.display()),
        ));
    }
    Ok(())
}

/// Detach the mount at `target` and remove the (then empty) directory;
/// missing is fine. Never recursive: an image must not be deleted through
/// its mount.
pub(crate) fn unmount(target: &Path) -> Result<()> {
    let t = c(target)?;
    // SAFETY: plain syscall with a valid path.
    if unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) } < 0 {
        let e = last_errno();
        if e != libc::EINVAL && e != libc::ENOENT {
            return Err(Error::from_errno(
                e,
                format!("unmounting {}", target.display()),
            ));
        }
    }
    match std::fs::remove_dir(target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).ctx(|| format!("removing {}", target.display())),
    }
}
