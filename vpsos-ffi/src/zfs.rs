//! `vpsos_zfs`: the ZFS calls a node manager makes — datasets,
//! properties in one call, snapshots, clones — and send/receive to and
//! from file descriptors.

use crate::config::vpsos_config;
use crate::error::{guard, quiet, vpsos_error};
use crate::util::{arg_str, arg_strv, c_string, c_strv, fd_file, handle, opt_str, out, pairs};
use std::ffi::{c_char, c_int};
use vpsos_core::storage::export;
use vpsos_core::storage::zfs::{RecvOptions, SendOptions, Zfs};

/// The `zfs` command, found and checked once. May be shared between
/// threads; free with `vpsos_zfs_free`.
pub struct vpsos_zfs(Zfs);

/// `vpsos_zfs_send` flag: every snapshot between `from` and the snapshot (`-I`).
pub const VPSOS_SEND_INTERMEDIATES: u32 = 1;
/// `vpsos_zfs_send` flag: blocks compressed as on disk (`-c`).
pub const VPSOS_SEND_COMPRESSED: u32 = 2;
/// `vpsos_zfs_send` flag: raw, for encrypted datasets (`-w`).
pub const VPSOS_SEND_RAW: u32 = 4;
/// `vpsos_zfs_send` flag: large blocks as they are (`-L`).
pub const VPSOS_SEND_LARGE_BLOCKS: u32 = 8;
/// `vpsos_zfs_send` flag: with the dataset's properties (`-p`).
pub const VPSOS_SEND_PROPERTIES: u32 = 16;
/// `vpsos_zfs_receive` flag: roll the target back to its latest snapshot first (`-F`).
pub const VPSOS_RECV_FORCE: u32 = 1;
/// `vpsos_zfs_receive` flag: do not mount the result (`-u`).
pub const VPSOS_RECV_NO_MOUNT: u32 = 2;
/// `vpsos_zfs_receive` flag: keep a cut-off receive to resume (`-s`).
pub const VPSOS_RECV_RESUMABLE: u32 = 4;

/// Find `zfs`; `VPSOS_ERROR_UNSUPPORTED` without the command or the module.
///
/// ```c
/// vpsos_zfs *zfs; vpsos_error *e = vpsos_zfs_new(&zfs);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_new(zfs: *mut *mut vpsos_zfs) -> *mut vpsos_error {
    guard(|| {
        let slot = unsafe { out(zfs, "zfs") }?;
        *slot = Box::into_raw(Box::new(vpsos_zfs(Zfs::new()?)));
        Ok(())
    })
}

/// Free the handle (NULL is fine).
///
/// ```c
/// vpsos_zfs_free(zfs);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_free(zfs: *mut vpsos_zfs) {
    if !zfs.is_null() {
        quiet((), || drop(unsafe { Box::from_raw(zfs) }));
    }
}

/// Create filesystem `name` (parents as needed) with properties given as
/// a NULL-terminated array of `"name=value"` (NULL: none).
///
/// ```c
/// const char *props[] = { "canmount=noauto", "org.vpsadminos.osctl:id=101", NULL };
/// vpsos_error *e = vpsos_zfs_create(zfs, "tank/ct/101", props);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_create(
    zfs: *const vpsos_zfs,
    name: *const c_char,
    props: *const *const c_char,
) -> *mut vpsos_error {
    guard(|| {
        let z = unsafe { handle(zfs, "zfs") }?;
        let name = unsafe { arg_str(name, "name") }?;
        let props = unsafe { arg_strv(props, "props") }?;
        z.0.create(name, &pairs(&props, "props")?)
    })
}

/// Destroy a dataset or snapshot (with `recursive`, its descendants too).
///
/// ```c
/// vpsos_error *e = vpsos_zfs_destroy(zfs, "tank/ct/101", true);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_destroy(
    zfs: *const vpsos_zfs,
    name: *const c_char,
    recursive: bool,
) -> *mut vpsos_error {
    guard(|| {
        let z = unsafe { handle(zfs, "zfs") }?;
        z.0.destroy(unsafe { arg_str(name, "name") }?, recursive)
    })
}

/// Rename a dataset or snapshot.
///
/// ```c
/// vpsos_error *e = vpsos_zfs_rename(zfs, "tank/ct/101", "tank/ct/201");
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_rename(
    zfs: *const vpsos_zfs,
    from: *const c_char,
    to: *const c_char,
) -> *mut vpsos_error {
    guard(|| {
        let z = unsafe { handle(zfs, "zfs") }?;
        z.0.rename(unsafe { arg_str(from, "from") }?, unsafe {
            arg_str(to, "to")
        }?)
    })
}

/// Mount (`mount` true) or unmount a filesystem.
///
/// ```c
/// vpsos_error *e = vpsos_zfs_mount(zfs, "tank/ct/101", true);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_mount(
    zfs: *const vpsos_zfs,
    name: *const c_char,
    mount: bool,
) -> *mut vpsos_error {
    guard(|| {
        let z = unsafe { handle(zfs, "zfs") }?;
        let name = unsafe { arg_str(name, "name") }?;
        if mount {
            z.0.mount(name)
        } else {
            z.0.unmount(name)
        }
    })
}

/// Set properties (`"name=value"`, NULL-terminated) in one call.
///
/// ```c
/// const char *p[] = { "quota=10G", "refquota=8G", NULL };
/// vpsos_error *e = vpsos_zfs_set(zfs, "tank/ct/101", p);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_set(
    zfs: *const vpsos_zfs,
    name: *const c_char,
    props: *const *const c_char,
) -> *mut vpsos_error {
    guard(|| {
        let z = unsafe { handle(zfs, "zfs") }?;
        let name = unsafe { arg_str(name, "name") }?;
        let props = unsafe { arg_strv(props, "props") }?;
        z.0.set(name, &pairs(&props, "props")?)
    })
}

/// Let a property inherit again (`zfs inherit`).
///
/// ```c
/// vpsos_error *e = vpsos_zfs_inherit(zfs, "tank/ct/101", "quota");
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_inherit(
    zfs: *const vpsos_zfs,
    name: *const c_char,
    prop: *const c_char,
) -> *mut vpsos_error {
    guard(|| {
        let z = unsafe { handle(zfs, "zfs") }?;
        z.0.inherit(unsafe { arg_str(name, "name") }?, unsafe {
            arg_str(prop, "prop")
        }?)
    })
}

/// Properties of several datasets in one `zfs get`: `names` and `props`
/// NULL-terminated; `*json` receives `{"dataset": {"prop": {"value":
/// "…", "source": "local"}}}` (exact numbers), a string to free with
/// `vpsos_string_free`.
///
/// ```c
/// const char *ds[] = { "tank/ct/101", "tank/ct/102", NULL }, *p[] = { "used", "quota", NULL };
/// char *json; vpsos_error *e = vpsos_zfs_get(zfs, ds, p, &json);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_get(
    zfs: *const vpsos_zfs,
    names: *const *const c_char,
    props: *const *const c_char,
    json: *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let z = unsafe { handle(zfs, "zfs") }?;
        let names = unsafe { arg_strv(names, "names") }?;
        let props = unsafe { arg_strv(props, "props") }?;
        let slot = unsafe { out(json, "json") }?;
        let n: Vec<&str> = names.iter().map(String::as_str).collect();
        let p: Vec<&str> = props.iter().map(String::as_str).collect();
        let got = z.0.get(&n, &p)?;
        let v: serde_json::Map<String, serde_json::Value> = got
            .0
            .iter()
            .map(|(ds, m)| {
                let props = m
                    .iter()
                    .map(|(k, p)| {
                        (
                            k.clone(),
                            serde_json::json!({"value": p.value, "source": p.source}),
                        )
                    })
                    .collect::<serde_json::Map<_, _>>();
                (ds.clone(), props.into())
            })
            .collect();
        *slot = c_string(serde_json::Value::from(v).to_string())?;
        Ok(())
    })
}

/// Names of `kind` (`"filesystem"`, `"snapshot"`, `"volume"`, `"all"`,
/// or several joined by `,`) at and below `root`, `depth` levels deep
/// (negative: all); a NULL-terminated array to free with `vpsos_strv_free`.
///
/// ```c
/// char **cts; vpsos_error *e = vpsos_zfs_list(zfs, "tank/ct", "filesystem", 1, &cts);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_list(
    zfs: *const vpsos_zfs,
    root: *const c_char,
    kind: *const c_char,
    depth: i32,
    names: *mut *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let z = unsafe { handle(zfs, "zfs") }?;
        let root = unsafe { arg_str(root, "root") }?;
        let kind = unsafe { arg_str(kind, "kind") }?;
        let slot = unsafe { out(names, "names") }?;
        *slot = c_strv(z.0.list(root, kind, u32::try_from(depth).ok())?)?;
        Ok(())
    })
}

/// Take snapshot `dataset@name` (with `recursive`, of descendants too).
///
/// ```c
/// vpsos_error *e = vpsos_zfs_snapshot(zfs, "tank/ct/101@backup-1", false);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_snapshot(
    zfs: *const vpsos_zfs,
    snapshot: *const c_char,
    recursive: bool,
) -> *mut vpsos_error {
    guard(|| {
        let z = unsafe { handle(zfs, "zfs") }?;
        z.0.snapshot(unsafe { arg_str(snapshot, "snapshot") }?, recursive)
    })
}

/// Roll a dataset back to its latest snapshot `snapshot`.
///
/// ```c
/// vpsos_error *e = vpsos_zfs_rollback(zfs, "tank/ct/101@backup-1");
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_rollback(
    zfs: *const vpsos_zfs,
    snapshot: *const c_char,
) -> *mut vpsos_error {
    guard(|| {
        let z = unsafe { handle(zfs, "zfs") }?;
        z.0.rollback(unsafe { arg_str(snapshot, "snapshot") }?)
    })
}

/// Clone `snapshot` as `target` with properties (`"name=value"`,
/// NULL-terminated, or NULL).
///
/// ```c
/// vpsos_error *e = vpsos_zfs_clone(zfs, "tank/tpl/debian@base", "tank/ct/103", NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_clone(
    zfs: *const vpsos_zfs,
    snapshot: *const c_char,
    target: *const c_char,
    props: *const *const c_char,
) -> *mut vpsos_error {
    guard(|| {
        let z = unsafe { handle(zfs, "zfs") }?;
        let snap = unsafe { arg_str(snapshot, "snapshot") }?;
        let target = unsafe { arg_str(target, "target") }?;
        let props = unsafe { arg_strv(props, "props") }?;
        z.0.clone_snapshot(snap, target, &pairs(&props, "props")?)
    })
}

/// Send `snapshot` as a stream to `fd` (a pipe, socket or file the caller
/// keeps), incremental from `from` (NULL: a full stream) with
/// `VPSOS_SEND_*` flags; `*bytes` (may be NULL) receives the stream's size.
/// A `zfs` that fails is `VPSOS_ERROR_COMMAND` with its stderr.
///
/// ```c
/// uint64_t n; vpsos_error *e = vpsos_zfs_send(zfs, "tank/ct/101@s2", "@s1", VPSOS_SEND_PROPERTIES, sock, &n);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_send(
    zfs: *const vpsos_zfs,
    snapshot: *const c_char,
    from: *const c_char,
    flags: u32,
    fd: c_int,
    bytes: *mut u64,
) -> *mut vpsos_error {
    guard(|| {
        let z = unsafe { handle(zfs, "zfs") }?;
        let snap = unsafe { arg_str(snapshot, "snapshot") }?;
        let opts = SendOptions {
            from: unsafe { opt_str(from, "from") }?.map(String::from),
            intermediates: flags & VPSOS_SEND_INTERMEDIATES != 0,
            compressed: flags & VPSOS_SEND_COMPRESSED != 0,
            raw: flags & VPSOS_SEND_RAW != 0,
            large_blocks: flags & VPSOS_SEND_LARGE_BLOCKS != 0,
            properties: flags & VPSOS_SEND_PROPERTIES != 0,
        };
        let mut f = fd_file(fd, "fd")?;
        let n = z.0.send(snap, &opts, &mut *f, &mut |_| {})?;
        if let Some(slot) = unsafe { bytes.as_mut() } {
            *slot = n;
        }
        Ok(())
    })
}

/// Receive a stream from `fd` into `target` with `VPSOS_RECV_*` flags;
/// `*bytes` (may be NULL) receives how much was read.
///
/// ```c
/// vpsos_error *e = vpsos_zfs_receive(zfs, "tank/ct/101", VPSOS_RECV_FORCE | VPSOS_RECV_NO_MOUNT, sock, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_receive(
    zfs: *const vpsos_zfs,
    target: *const c_char,
    flags: u32,
    fd: c_int,
    bytes: *mut u64,
) -> *mut vpsos_error {
    guard(|| {
        let z = unsafe { handle(zfs, "zfs") }?;
        let target = unsafe { arg_str(target, "target") }?;
        let opts = RecvOptions {
            force: flags & VPSOS_RECV_FORCE != 0,
            no_mount: flags & VPSOS_RECV_NO_MOUNT != 0,
            resumable: flags & VPSOS_RECV_RESUMABLE != 0,
        };
        let mut f = fd_file(fd, "fd")?;
        let n = z.0.receive_with(target, &opts, &mut *f, &mut |_| {})?;
        if let Some(slot) = unsafe { bytes.as_mut() } {
            *slot = n;
        }
        Ok(())
    })
}

/// Discard the saved state of a resumable receive into `target`.
///
/// ```c
/// vpsos_error *e = vpsos_zfs_abort_receive(zfs, "tank/ct/101");
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_abort_receive(
    zfs: *const vpsos_zfs,
    target: *const c_char,
) -> *mut vpsos_error {
    guard(|| {
        let z = unsafe { handle(zfs, "zfs") }?;
        z.0.abort_receive(unsafe { arg_str(target, "target") }?)
    })
}

/// Write a container (its config and `snapshot` of its dataset) to `fd`
/// as one stream for `vpsos_zfs_import`; `*bytes` (may be NULL) its size.
///
/// ```c
/// vpsos_error *e = vpsos_export_zfs(cfg, zfs, "tank/ct/101@move", sock, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_export_zfs(
    config: *const vpsos_config,
    zfs: *const vpsos_zfs,
    snapshot: *const c_char,
    fd: c_int,
    bytes: *mut u64,
) -> *mut vpsos_error {
    guard(|| {
        let cfg = unsafe { handle(config, "config") }?;
        let z = unsafe { handle(zfs, "zfs") }?;
        let snap = unsafe { arg_str(snapshot, "snapshot") }?;
        let mut f = fd_file(fd, "fd")?;
        let n = export::export_zfs(&cfg.0, &z.0, snap, &mut *f)?;
        if let Some(slot) = unsafe { bytes.as_mut() } {
            *slot = n;
        }
        Ok(())
    })
}

/// Read a stream `vpsos_export_zfs` wrote from `fd` into dataset
/// `target`; `*config` receives its config with `rootfs` at the
/// dataset's mountpoint.
///
/// ```c
/// vpsos_config *cfg; vpsos_error *e = vpsos_zfs_import(zfs, "tank/ct/101", sock, &cfg);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_zfs_import(
    zfs: *const vpsos_zfs,
    target: *const c_char,
    fd: c_int,
    config: *mut *mut vpsos_config,
) -> *mut vpsos_error {
    guard(|| {
        let z = unsafe { handle(zfs, "zfs") }?;
        let target = unsafe { arg_str(target, "target") }?;
        let slot = unsafe { out(config, "config") }?;
        let mut f = fd_file(fd, "fd")?;
        let cfg = export::import_zfs(&z.0, target, &mut *f)?;
        *slot = Box::into_raw(Box::new(vpsos_config(cfg)));
        Ok(())
    })
}
