//! `vpsos_runtime`: where containers' state lives; create, run, load,
//! list and recover them.

use crate::config::vpsos_config;
use crate::container::vpsos_container;
use crate::error::{guard, quiet, vpsos_error};
use crate::exec::{stdio_options, vpsos_stdio};
use crate::util::{arg_str, c_string, c_strv, handle, opt_str, out};
use std::ffi::{c_char, CString};
use std::ptr;
use vpsos_core::{Runtime, Status};

/// A runtime: a state directory (default `/run/vpsos`). Any number of
/// handles, threads and processes may use one directory at once. Free with
/// `vpsos_runtime_free`; containers loaded through it stay valid.
pub struct vpsos_runtime {
    rt: Runtime,
    root: CString,
}

/// A container's status.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum vpsos_status {
    /// Being created.
    VPSOS_STATUS_CREATING = 0,
    /// Created, the init waiting to be started.
    VPSOS_STATUS_CREATED = 1,
    /// Running.
    VPSOS_STATUS_RUNNING = 2,
    /// Frozen.
    VPSOS_STATUS_FROZEN = 3,
    /// The init has ended.
    VPSOS_STATUS_STOPPED = 4,
    /// Being deleted.
    VPSOS_STATUS_DELETING = 5,
}

impl From<Status> for vpsos_status {
    fn from(s: Status) -> vpsos_status {
        match s {
            Status::Creating => vpsos_status::VPSOS_STATUS_CREATING,
            Status::Created => vpsos_status::VPSOS_STATUS_CREATED,
            Status::Running => vpsos_status::VPSOS_STATUS_RUNNING,
            Status::Frozen => vpsos_status::VPSOS_STATUS_FROZEN,
            Status::Stopped => vpsos_status::VPSOS_STATUS_STOPPED,
            Status::Deleting => vpsos_status::VPSOS_STATUS_DELETING,
        }
    }
}

/// One container of `vpsos_runtime_list`.
#[repr(C)]
#[derive(Debug)]
pub struct vpsos_container_info {
    /// Its id (owned by the list).
    pub id: *mut c_char,
    /// Its status.
    pub status: vpsos_status,
    /// The init's host pid, or 0 when it has none.
    pub pid: i32,
    /// When it was created (seconds since the epoch).
    pub created: u64,
    /// When it was started (seconds since the epoch), or 0.
    pub started: u64,
}

/// Open a runtime whose state lives in `root` (NULL: `/run/vpsos`).
///
/// ```c
/// vpsos_runtime *rt;
/// vpsos_error *e = vpsos_runtime_new("/run/vpsos", &rt);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_runtime_new(
    root: *const c_char,
    runtime: *mut *mut vpsos_runtime,
) -> *mut vpsos_error {
    guard(|| {
        let root = unsafe { opt_str(root, "root") }?;
        let slot = unsafe { out(runtime, "runtime") }?;
        let rt = match root {
            Some(r) if !r.starts_with('/') => {
                return Err(vpsos_core::Error::invalid(
                    "root",
                    "is not an absolute path",
                ))
            }
            Some(r) => Runtime::with_root(r),
            None => Runtime::new(),
        };
        let root = c_string(rt.root().to_string_lossy().into_owned())?;
        let root = unsafe { CString::from_raw(root) };
        *slot = Box::into_raw(Box::new(vpsos_runtime { rt, root }));
        Ok(())
    })
}

/// The runtime's state directory (owned by the runtime).
///
/// ```c
/// puts(vpsos_runtime_root(rt));
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_runtime_root(runtime: *const vpsos_runtime) -> *const c_char {
    quiet(ptr::null(), || {
        unsafe { runtime.as_ref() }.map_or(ptr::null(), |r| r.root.as_ptr())
    })
}

/// Free a runtime (NULL is fine).
///
/// ```c
/// vpsos_runtime_free(rt);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_runtime_free(runtime: *mut vpsos_runtime) {
    if !runtime.is_null() {
        quiet((), || drop(unsafe { Box::from_raw(runtime) }));
    }
}

unsafe fn made(
    runtime: *const vpsos_runtime,
    id: *const c_char,
    config: *const vpsos_config,
    stdio: *const vpsos_stdio,
    container: *mut *mut vpsos_container,
    run: bool,
) -> *mut vpsos_error {
    guard(|| {
        let rt = unsafe { handle(runtime, "runtime") }?;
        let id = unsafe { arg_str(id, "id") }?;
        let cfg = unsafe { handle(config, "config") }?;
        let slot = unsafe { out(container, "container") }?;
        let opts = unsafe { stdio_options(stdio) }?;
        let ct = if run {
            rt.rt.run(id, &cfg.0, opts)?
        } else {
            rt.rt.create(id, &cfg.0, opts)?
        };
        *slot = vpsos_container::boxed(ct)?;
        Ok(())
    })
}

/// Create container `id` from `config`: its init waits, set up, for
/// `vpsos_container_start`. `stdio` gives the init's stdin, stdout and
/// stderr (NULL: all /dev/null). A failed create leaves nothing behind.
///
/// ```c
/// vpsos_container *ct;
/// vpsos_error *e = vpsos_runtime_create(rt, "ct1", cfg, NULL, &ct);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_runtime_create(
    runtime: *const vpsos_runtime,
    id: *const c_char,
    config: *const vpsos_config,
    stdio: *const vpsos_stdio,
    container: *mut *mut vpsos_container,
) -> *mut vpsos_error {
    unsafe { made(runtime, id, config, stdio, container, false) }
}

/// Create and start container `id` (as `vpsos_runtime_create`, then
/// `vpsos_container_start`; a failed start deletes it again).
///
/// ```c
/// vpsos_stdio io = { VPSOS_STDIO_NULL, 1, 2 };
/// vpsos_error *e = vpsos_runtime_run(rt, "ct1", cfg, &io, &ct);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_runtime_run(
    runtime: *const vpsos_runtime,
    id: *const c_char,
    config: *const vpsos_config,
    stdio: *const vpsos_stdio,
    container: *mut *mut vpsos_container,
) -> *mut vpsos_error {
    unsafe { made(runtime, id, config, stdio, container, true) }
}

/// A handle to existing container `id` (made by any process): everything
/// but the creating handle's seccomp listener works through it.
///
/// ```c
/// vpsos_error *e = vpsos_runtime_load(rt, "ct1", &ct);
/// if (e && vpsos_error_kind(e) == VPSOS_ERROR_NOT_FOUND) { ... }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_runtime_load(
    runtime: *const vpsos_runtime,
    id: *const c_char,
    container: *mut *mut vpsos_container,
) -> *mut vpsos_error {
    guard(|| {
        let rt = unsafe { handle(runtime, "runtime") }?;
        let id = unsafe { arg_str(id, "id") }?;
        let slot = unsafe { out(container, "container") }?;
        *slot = vpsos_container::boxed(rt.rt.load(id)?)?;
        Ok(())
    })
}

/// The ids of every container in the runtime (a NULL-terminated array to
/// free with `vpsos_strv_free`).
///
/// ```c
/// char **ids;
/// if (!vpsos_runtime_ids(rt, &ids)) { for (char **p = ids; *p; p++) puts(*p); vpsos_strv_free(ids); }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_runtime_ids(
    runtime: *const vpsos_runtime,
    ids: *mut *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let rt = unsafe { handle(runtime, "runtime") }?;
        let slot = unsafe { out(ids, "ids") }?;
        *slot = c_strv(rt.rt.ids()?)?;
        Ok(())
    })
}

/// Every container with its status (an array of `count` entries to free
/// with `vpsos_container_info_free`).
///
/// ```c
/// vpsos_container_info *list; size_t n;
/// if (!vpsos_runtime_list(rt, &list, &n)) {
///     for (size_t i = 0; i < n; i++) printf("%s %d\n", list[i].id, list[i].status);
///     vpsos_container_info_free(list, n);
/// }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_runtime_list(
    runtime: *const vpsos_runtime,
    list: *mut *mut vpsos_container_info,
    count: *mut usize,
) -> *mut vpsos_error {
    guard(|| {
        let rt = unsafe { handle(runtime, "runtime") }?;
        let slot = unsafe { out(list, "list") }?;
        let n = unsafe { out(count, "count") }?;
        let mut v = Vec::new();
        for i in rt.rt.list()? {
            let id = match c_string(i.id) {
                Ok(p) => p,
                Err(e) => {
                    unsafe { free_infos(v) };
                    return Err(e);
                }
            };
            v.push(vpsos_container_info {
                id,
                status: i.status.into(),
                pid: i.pid.unwrap_or(0),
                created: i.created,
                started: i.started.unwrap_or(0),
            });
        }
        let b = v.into_boxed_slice();
        *n = b.len();
        *slot = Box::into_raw(b) as *mut vpsos_container_info;
        Ok(())
    })
}

unsafe fn free_infos(v: Vec<vpsos_container_info>) {
    for i in v {
        drop(unsafe { CString::from_raw(i.id) });
    }
}

/// Free what `vpsos_runtime_list` returned (NULL is fine).
///
/// ```c
/// vpsos_container_info_free(list, n);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_info_free(list: *mut vpsos_container_info, count: usize) {
    if list.is_null() {
        return;
    }
    quiet((), || {
        let b = unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(list, count)) };
        unsafe { free_infos(b.into_vec()) };
    })
}

/// Recover container `id` after its creator died half-way, or remove
/// what a stopped container left: kills what is left of it, removes its
/// cgroup, interfaces, mounts and state. `report` (may be NULL) receives
/// what was removed as JSON (`{"id":…,"processes":[…],"cgroup":…,
/// "interfaces":[…],"mounts":[…],"device_nodes":…,"apparmor":…,
/// "state_removed":…}`), to free with `vpsos_string_free`. A running,
/// healthy container is `VPSOS_ERROR_BUSY`.
///
/// ```c
/// char *report;
/// vpsos_error *e = vpsos_runtime_recover(rt, "ct1", &report);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_runtime_recover(
    runtime: *const vpsos_runtime,
    id: *const c_char,
    report: *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let rt = unsafe { handle(runtime, "runtime") }?;
        let id = unsafe { arg_str(id, "id") }?;
        let r = rt.rt.recover(id)?;
        if let Some(slot) = unsafe { report.as_mut() } {
            *slot = c_string(serde_json::to_string(&r).unwrap_or_default())?;
        }
        Ok(())
    })
}

/// Recover every container that needs it (see `vpsos_runtime_recover`);
/// `report` (may be NULL) receives a JSON array of what was removed.
///
/// ```c
/// vpsos_error *e = vpsos_runtime_recover_all(rt, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_runtime_recover_all(
    runtime: *const vpsos_runtime,
    report: *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let rt = unsafe { handle(runtime, "runtime") }?;
        let r = rt.rt.recover_all()?;
        if let Some(slot) = unsafe { report.as_mut() } {
            *slot = c_string(serde_json::to_string(&r).unwrap_or_default())?;
        }
        Ok(())
    })
}

/// Host interfaces vpsos made for containers that no longer exist
/// (names, a NULL-terminated array to free with `vpsos_strv_free`); with
/// `remove`, they are deleted and the array names those deleted.
///
/// ```c
/// char **gone;
/// vpsos_error *e = vpsos_runtime_orphaned_interfaces(rt, true, &gone);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_runtime_orphaned_interfaces(
    runtime: *const vpsos_runtime,
    remove: bool,
    names: *mut *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let rt = unsafe { handle(runtime, "runtime") }?;
        let slot = unsafe { out(names, "names") }?;
        let v = if remove {
            rt.rt.remove_orphaned_interfaces()?
        } else {
            rt.rt
                .orphaned_interfaces()?
                .into_iter()
                .map(|l| l.name)
                .collect()
        };
        *slot = c_strv(v)?;
        Ok(())
    })
}
