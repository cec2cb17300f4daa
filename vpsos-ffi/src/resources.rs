//! Changes to a running container: resources and their use, freezing,
//! devices and mounts.

use crate::container::vpsos_container;
use crate::error::{guard, vpsos_error};
use crate::util::{arg_str, c_string, handle, out};
use serde::de::DeserializeOwned;
use std::ffi::c_char;
use vpsos_core::cgroup::Stats;
use vpsos_core::config::{DeviceRule, Resources};
use vpsos_core::Mount;

/// In `vpsos_stats`: this host's cgroups do not report the figure.
pub const VPSOS_UNKNOWN: u64 = u64::MAX;

/// What a container uses, from its cgroup.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct vpsos_stats {
    /// Memory in use (bytes).
    pub memory_current: u64,
    /// Peak memory (bytes), or `VPSOS_UNKNOWN`.
    pub memory_peak: u64,
    /// Swap in use (bytes), or `VPSOS_UNKNOWN`.
    pub swap_current: u64,
    /// CPU time (µs).
    pub cpu_usage_usec: u64,
    /// … of it in user mode.
    pub cpu_user_usec: u64,
    /// … of it in the kernel.
    pub cpu_system_usec: u64,
    /// Tasks.
    pub pids_current: u64,
    /// Bytes read from block devices.
    pub io_read_bytes: u64,
    /// Bytes written to block devices.
    pub io_write_bytes: u64,
    /// Read operations.
    pub io_read_ops: u64,
    /// Write operations.
    pub io_write_ops: u64,
    /// Processes the OOM killer killed.
    pub oom_kills: u64,
}

impl From<Stats> for vpsos_stats {
    fn from(s: Stats) -> vpsos_stats {
        vpsos_stats {
            memory_current: s.memory_current,
            memory_peak: s.memory_peak.unwrap_or(VPSOS_UNKNOWN),
            swap_current: s.swap_current.unwrap_or(VPSOS_UNKNOWN),
            cpu_usage_usec: s.cpu_usage_usec,
            cpu_user_usec: s.cpu_user_usec,
            cpu_system_usec: s.cpu_system_usec,
            pids_current: s.pids_current,
            io_read_bytes: s.io_read_bytes,
            io_write_bytes: s.io_write_bytes,
            io_read_ops: s.io_read_ops,
            io_write_ops: s.io_write_ops,
            oom_kills: s.oom_kills,
        }
    }
}

/// Parse a JSON argument into one of the config's types.
pub(crate) unsafe fn json_arg<T: DeserializeOwned>(
    p: *const c_char,
    name: &str,
) -> vpsos_core::Result<T> {
    let s = unsafe { arg_str(p, name) }?;
    serde_json::from_str(s).map_err(|e| vpsos_core::Error::invalid(name, e))
}

/// What the container uses now.
///
/// ```c
/// vpsos_stats s;
/// if (!vpsos_container_stats(ct, &s)) printf("%llu bytes\n", (unsigned long long)s.memory_current);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_stats(
    container: *const vpsos_container,
    stats: *mut vpsos_stats,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let slot = unsafe { out(stats, "stats") }?;
        *slot = ct.ct.stats()?.into();
        Ok(())
    })
}

/// Change the container's limits while it runs, and record them. The
/// JSON is the config's `resources` form, e.g. `{"memory": {"max":
/// 536870912}, "cpu": {"quota_percent": 150}, "pids": {"max": 512}}`.
///
/// ```c
/// vpsos_error *e = vpsos_container_update_resources(ct, "{\"memory\": {\"max\": 268435456}}");
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_update_resources(
    container: *const vpsos_container,
    resources_json: *const c_char,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let r: Resources = unsafe { json_arg(resources_json, "resources_json") }?;
        ct.ct.update_resources(&r)
    })
}

/// The container's limits now, as the config's `resources` JSON (a string
/// to free with `vpsos_string_free`).
///
/// ```c
/// char *json; if (!vpsos_container_resources(ct, &json)) { puts(json); vpsos_string_free(json); }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_resources(
    container: *const vpsos_container,
    resources_json: *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let slot = unsafe { out(resources_json, "resources_json") }?;
        *slot = c_string(serde_json::to_string(&ct.ct.resources()?).unwrap_or_default())?;
        Ok(())
    })
}

/// Freeze every process of the container.
///
/// ```c
/// vpsos_error *e = vpsos_container_freeze(ct);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_freeze(
    container: *const vpsos_container,
) -> *mut vpsos_error {
    guard(|| unsafe { handle(container, "container") }?.ct.freeze())
}

/// Thaw a frozen container.
///
/// ```c
/// vpsos_error *e = vpsos_container_thaw(ct);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_thaw(
    container: *const vpsos_container,
) -> *mut vpsos_error {
    guard(|| unsafe { handle(container, "container") }?.ct.thaw())
}

/// Whether the container is frozen.
///
/// ```c
/// bool frozen; vpsos_error *e = vpsos_container_is_frozen(ct, &frozen);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_is_frozen(
    container: *const vpsos_container,
    frozen: *mut bool,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let slot = unsafe { out(frozen, "frozen") }?;
        *slot = ct.ct.is_frozen()?;
        Ok(())
    })
}

/// Allow a device to the running container (and make its node when the
/// rule has a path). The JSON is a config `devices` entry: `{"kind": "char",
/// "major": 10, "minor": 200, "access": "rwm", "path": "/dev/net/tun"}`.
///
/// ```c
/// vpsos_error *e = vpsos_container_grant_device(ct,
///     "{\"kind\": \"char\", \"major\": 10, \"minor\": 232, \"access\": \"rwm\", \"path\": \"/dev/kvm\"}");
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_grant_device(
    container: *const vpsos_container,
    rule_json: *const c_char,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let r: DeviceRule = unsafe { json_arg(rule_json, "rule_json") }?;
        ct.ct.grant_device(r)
    })
}

/// Take back a device granted before (the same JSON form); its node goes too.
///
/// ```c
/// vpsos_error *e = vpsos_container_revoke_device(ct, "{\"kind\": \"char\", \"major\": 10, \"minor\": 232, \"access\": \"rwm\"}");
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_revoke_device(
    container: *const vpsos_container,
    rule_json: *const c_char,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let r: DeviceRule = unsafe { json_arg(rule_json, "rule_json") }?;
        ct.ct.revoke_device(&r)
    })
}

/// The devices the container may use now, as a JSON array of rules (a
/// string to free with `vpsos_string_free`).
///
/// ```c
/// char *json; if (!vpsos_container_devices(ct, &json)) { puts(json); vpsos_string_free(json); }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_devices(
    container: *const vpsos_container,
    rules_json: *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let slot = unsafe { out(rules_json, "rules_json") }?;
        *slot = c_string(serde_json::to_string(&ct.ct.devices()?).unwrap_or_default())?;
        Ok(())
    })
}

/// Mount into the running container, as a config `mounts` entry:
/// `{"type": "bind", "source": "/srv/data", "destination": "/data",
/// "readonly": true}` or `{"type": "tmpfs", "destination": "/run/x",
/// "data": "size=16m"}`.
///
/// ```c
/// vpsos_error *e = vpsos_container_mount(ct, "{\"type\": \"tmpfs\", \"destination\": \"/mnt/scratch\"}");
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_mount(
    container: *const vpsos_container,
    mount_json: *const c_char,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let m: Mount = unsafe { json_arg(mount_json, "mount_json") }?;
        ct.ct.mount(&m)
    })
}

/// Unmount `destination` (a path inside) from the running container.
///
/// ```c
/// vpsos_error *e = vpsos_container_unmount(ct, "/mnt/scratch");
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_unmount(
    container: *const vpsos_container,
    destination: *const c_char,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        ct.ct
            .unmount(unsafe { arg_str(destination, "destination") }?)
    })
}
