//! Idmapped root filesystems: the image is mounted with the container's id
//! mapping (`mount_setattr(MOUNT_ATTR_IDMAP)`), so files owned by 0 on disk
//! appear owned by the container's root and files it creates land on disk
//! as 0, without a chown. [`chown_shift`] is the explicit fallback for
//! filesystems that cannot be idmapped.

use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::idmap::IdMap;
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

fn c(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid("rootfs", "contains a NUL byte"))
}

fn last_errno() -> i32 {
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

/// The fallback for filesystems that cannot be idmapped: chown every entry
/// under `root` (not following symlinks, not crossing into other
/// filesystems) from container ids to host ids through the maps. Returns
/// how many entries changed. Ids outside the maps are an error.
///
/// ```no_run
/// use vpsos_core::IdMap;
/// let m = IdMap::single(0, 100000, 65536);
/// let n = vpsos_core::rootfs::chown_shift("/var/lib/vpsos/ct1/rootfs".as_ref(), &m, &m)?;
/// println!("{n} entries shifted");
/// # Ok::<(), vpsos_core::Error>(())
/// ```
pub fn chown_shift(root: &Path, uid_map: &IdMap, gid_map: &IdMap) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::symlink_metadata(root)
        .ctx(|| format!("reading {}", root.display()))?
        .dev();
    let mut changed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).ctx(|| format!("reading {}", p.display()))?;
        if md.dev() != dev {
            continue;
        }
        let map = |m: &IdMap, id: u32, what: &str| {
            m.to_host(id).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "{} has {what} {id}, which the map does not cover",
                        p.display()
                    ),
                )
            })
        };
        let (uid, gid) = (
            map(uid_map, md.uid(), "uid")?,
            map(gid_map, md.gid(), "gid")?,
        );
        if (uid, gid) != (md.uid(), md.gid()) {
            std::os::unix::fs::lchown(&p, Some(uid), Some(gid))
                .ctx(|| format!("chown {}", p.display()))?;
            // chown clears setuid/setgid bits: put them back
            if md.file_type().is_file() && md.mode() & 0o6000 != 0 {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(md.mode() & 0o7777))
                    .ctx(|| format!("chmod {}", p.display()))?;
            }
            changed += 1;
        }
        if md.is_dir() {
            for e in std::fs::read_dir(&p).ctx(|| format!("listing {}", p.display()))? {
                stack.push(e.ctx(|| format!("listing {}", p.display()))?.path());
            }
        }
    }
    Ok(changed)
}
