//! The container's root filesystem on the host side: idmapped mounts of
//! it and the `chown_shift` fallback. How it is set up inside (mounts,
//! devices, masks) is planned in `plan::rootfs` and carried out by the
//! child in `spawn`.

pub(crate) mod idmapped;
mod shift;
pub(crate) use crate::plan::rootfs::cstr;
pub use crate::plan::rootfs::STANDARD_DEVICES;
pub use shift::chown_shift;

use crate::error::Result;
use crate::idmap::IdMap;
use std::path::Path;

/// Mount directory `source` at `target` (created if missing) idmapped
/// through `uid_map`/`gid_map`: files owned by 0 in `source` appear owned
/// by the maps' host ids for the container's root. The building block of
/// `Config::idmapped_rootfs`, on its own for layered roots (e.g. the
/// idmapped lower layer of an overlay whose upper the container writes).
///
/// ```no_run
/// use vpsos_core::{rootfs, IdMap};
/// let m = IdMap::single(0, 1_000_000, 65536);
/// rootfs::mount_idmapped("/srv/images/debian".as_ref(), "/srv/ct1/lower".as_ref(), &m, &m)?;
/// rootfs::unmount_idmapped("/srv/ct1/lower".as_ref())?;
/// # Ok::<(), vpsos_core::Error>(())
/// ```
pub fn mount_idmapped(
    source: &Path,
    target: &Path,
    uid_map: &IdMap,
    gid_map: &IdMap,
) -> Result<()> {
    std::fs::create_dir_all(target).map_err(|e| {
        crate::Error::from_errno(
            e.raw_os_error().unwrap_or(libc::EIO),
            format!("creating {}", target.display()),
        )
    })?;
    let ns = crate::spawn::userns::with_maps(uid_map, gid_map)?;
    idmapped::mount(source, target, std::os::fd::AsFd::as_fd(&ns))
}

/// Undo [`mount_idmapped`]: detach the mount and remove the directory
/// (never recursively: an image is never deleted through its mount).
pub fn unmount_idmapped(target: &Path) -> Result<()> {
    idmapped::unmount(target)
}
