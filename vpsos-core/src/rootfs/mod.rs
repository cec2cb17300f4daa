//! The container's root filesystem on the host side: idmapped mounts of
//! it and the `chown_shift` fallback. How it is set up inside (mounts,
//! devices, masks) is planned in `plan::rootfs` and carried out by the
//! child in `spawn`.

pub(crate) mod idmapped;
pub(crate) use crate::plan::rootfs::cstr;
pub use crate::plan::rootfs::STANDARD_DEVICES;
pub use idmapped::chown_shift;
