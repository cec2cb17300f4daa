//! Directory storage (the embedded default: one directory per rootfs)
//! and moving a container between nodes as one stream.

use crate::config::vpsos_config;
use crate::error::{guard, quiet, vpsos_error};
use crate::util::{arg_str, c_string, c_strv, fd_file, handle, out};
use std::ffi::{c_char, c_int};
use vpsos_core::storage::{export, DirStorage};

/// Root filesystems as directories under one root directory. Free with
/// `vpsos_dir_storage_free`; may be shared between threads.
pub struct vpsos_dir_storage(DirStorage);

/// Directory storage rooted at `root` (made when first used).
///
/// ```c
/// vpsos_dir_storage *st; vpsos_error *e = vpsos_dir_storage_new("/var/lib/vpsos/rootfs", &st);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_dir_storage_new(
    root: *const c_char,
    storage: *mut *mut vpsos_dir_storage,
) -> *mut vpsos_error {
    guard(|| {
        let root = unsafe { arg_str(root, "root") }?;
        let slot = unsafe { out(storage, "storage") }?;
        *slot = Box::into_raw(Box::new(vpsos_dir_storage(DirStorage::new(root))));
        Ok(())
    })
}

/// Free the handle (NULL is fine); the directories stay.
///
/// ```c
/// vpsos_dir_storage_free(st);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_dir_storage_free(storage: *mut vpsos_dir_storage) {
    if !storage.is_null() {
        quiet((), || drop(unsafe { Box::from_raw(storage) }));
    }
}

/// The names of the root filesystems (a NULL-terminated array to free
/// with `vpsos_strv_free`).
///
/// ```c
/// char **names; if (!vpsos_dir_storage_list(st, &names)) { ...; vpsos_strv_free(names); }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_dir_storage_list(
    storage: *const vpsos_dir_storage,
    names: *mut *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let st = unsafe { handle(storage, "storage") }?;
        let slot = unsafe { out(names, "names") }?;
        *slot = c_strv(st.0.list()?)?;
        Ok(())
    })
}

fn path_out(p: std::path::PathBuf, slot: *mut *mut c_char) -> vpsos_core::Result<()> {
    if let Some(s) = unsafe { slot.as_mut() } {
        *s = c_string(p.into_os_string().into_encoded_bytes())?;
    }
    Ok(())
}

/// Make rootfs `name` from a tar stream read from `fd` (plain; the caller
/// keeps the fd). `rootfs` (may be NULL) receives its path, to free with
/// `vpsos_string_free`. A failed unpack leaves nothing.
///
/// ```c
/// int fd = open("debian.tar", O_RDONLY); char *path;
/// vpsos_error *e = vpsos_dir_storage_create_from_tar(st, "ct1", fd, &path);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_dir_storage_create_from_tar(
    storage: *const vpsos_dir_storage,
    name: *const c_char,
    fd: c_int,
    rootfs: *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let st = unsafe { handle(storage, "storage") }?;
        let name = unsafe { arg_str(name, "name") }?;
        let mut f = fd_file(fd, "fd")?;
        path_out(st.0.create_from_tar(name, &mut *f)?, rootfs)
    })
}

/// Make rootfs `name` from a tarball file (`.tar`, `.tar.gz`).
///
/// ```c
/// vpsos_error *e = vpsos_dir_storage_create_from_tarball(st, "ct1", "/srv/img/debian.tar.gz", NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_dir_storage_create_from_tarball(
    storage: *const vpsos_dir_storage,
    name: *const c_char,
    tarball: *const c_char,
    rootfs: *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let st = unsafe { handle(storage, "storage") }?;
        let name = unsafe { arg_str(name, "name") }?;
        let tarball = unsafe { arg_str(tarball, "tarball") }?;
        path_out(st.0.create_from_tarball(name, tarball)?, rootfs)
    })
}

/// Make rootfs `name` as a copy of directory `source`.
///
/// ```c
/// vpsos_error *e = vpsos_dir_storage_create_from_dir(st, "ct2", "/srv/tpl/debian", NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_dir_storage_create_from_dir(
    storage: *const vpsos_dir_storage,
    name: *const c_char,
    source: *const c_char,
    rootfs: *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let st = unsafe { handle(storage, "storage") }?;
        let name = unsafe { arg_str(name, "name") }?;
        let source = unsafe { arg_str(source, "source") }?;
        path_out(st.0.create_from_dir(name, source)?, rootfs)
    })
}

/// Bytes rootfs `name` takes on disk.
///
/// ```c
/// uint64_t bytes; vpsos_error *e = vpsos_dir_storage_size(st, "ct1", &bytes);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_dir_storage_size(
    storage: *const vpsos_dir_storage,
    name: *const c_char,
    bytes: *mut u64,
) -> *mut vpsos_error {
    guard(|| {
        let st = unsafe { handle(storage, "storage") }?;
        let name = unsafe { arg_str(name, "name") }?;
        let slot = unsafe { out(bytes, "bytes") }?;
        *slot = st.0.size(name)?;
        Ok(())
    })
}

/// Delete rootfs `name`.
///
/// ```c
/// vpsos_error *e = vpsos_dir_storage_delete(st, "ct1");
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_dir_storage_delete(
    storage: *const vpsos_dir_storage,
    name: *const c_char,
) -> *mut vpsos_error {
    guard(|| {
        let st = unsafe { handle(storage, "storage") }?;
        st.0.delete(unsafe { arg_str(name, "name") }?)
    })
}

/// Write a container (its config and directory rootfs) to `fd` as one
/// stream, for `vpsos_dir_storage_import` on another node.
///
/// ```c
/// vpsos_error *e = vpsos_export_dir(cfg, "/var/lib/vpsos/rootfs/ct1", sock);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_export_dir(
    config: *const vpsos_config,
    rootfs: *const c_char,
    fd: c_int,
) -> *mut vpsos_error {
    guard(|| {
        let cfg = unsafe { handle(config, "config") }?;
        let rootfs = unsafe { arg_str(rootfs, "rootfs") }?;
        let mut f = fd_file(fd, "fd")?;
        export::export_dir(&cfg.0, rootfs.as_ref(), &mut *f)
    })
}

/// Read a stream `vpsos_export_dir` wrote from `fd` into rootfs `name`;
/// `*config` receives its config with `rootfs` pointing there.
///
/// ```c
/// vpsos_config *cfg; vpsos_error *e = vpsos_dir_storage_import(st, "ct1", sock, &cfg);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_dir_storage_import(
    storage: *const vpsos_dir_storage,
    name: *const c_char,
    fd: c_int,
    config: *mut *mut vpsos_config,
) -> *mut vpsos_error {
    guard(|| {
        let st = unsafe { handle(storage, "storage") }?;
        let name = unsafe { arg_str(name, "name") }?;
        let slot = unsafe { out(config, "config") }?;
        let mut f = fd_file(fd, "fd")?;
        let cfg = export::import_dir(&st.0, name, &mut *f)?;
        *slot = Box::into_raw(Box::new(vpsos_config(cfg)));
        Ok(())
    })
}
