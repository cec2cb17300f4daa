//! A running container's network interfaces: add, remove, shape.

use crate::container::vpsos_container;
use crate::error::{guard, vpsos_error};
use crate::resources::json_arg;
use crate::util::{arg_str, c_strv, handle, out};
use std::ffi::c_char;
use vpsos_core::config::Interface;

/// Add an interface to the running container (and record it), as a config
/// `interfaces` entry: `{"type": "bridged", "name": "eth1", "bridge":
/// "br0", "addresses": ["10.0.0.5/24"]}`, `{"type": "routed", …}` or
/// `{"type": "tap", …}`.
///
/// ```c
/// vpsos_error *e = vpsos_container_add_interface(ct,
///     "{\"type\": \"routed\", \"name\": \"eth1\", \"addresses\": [\"10.9.0.2/32\"]}");
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_add_interface(
    container: *const vpsos_container,
    interface_json: *const c_char,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let i: Interface = unsafe { json_arg(interface_json, "interface_json") }?;
        ct.ct.add_interface(i)
    })
}

/// Remove interface `name` (its name inside) and its host side.
///
/// ```c
/// vpsos_error *e = vpsos_container_remove_interface(ct, "eth1");
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_remove_interface(
    container: *const vpsos_container,
    name: *const c_char,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        ct.ct.remove_interface(unsafe { arg_str(name, "name") }?)
    })
}

/// Limit interface `name`'s rates in bits per second: `max_rx` what the
/// container receives, `max_tx` what it sends; a negative rate lifts that
/// limit.
///
/// ```c
/// vpsos_error *e = vpsos_container_set_interface_rates(ct, "eth0", 100000000, -1);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_set_interface_rates(
    container: *const vpsos_container,
    name: *const c_char,
    max_rx: i64,
    max_tx: i64,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let name = unsafe { arg_str(name, "name") }?;
        let rate = |r: i64| u64::try_from(r).ok();
        ct.ct.set_interface_rates(name, rate(max_rx), rate(max_tx))
    })
}

/// The host-side names of the container's interfaces (veths, taps, their
/// shaping devices), a NULL-terminated array to free with `vpsos_strv_free`.
///
/// ```c
/// char **names; if (!vpsos_container_host_interfaces(ct, &names)) { ...; vpsos_strv_free(names); }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_host_interfaces(
    container: *const vpsos_container,
    names: *mut *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let slot = unsafe { out(names, "names") }?;
        *slot = c_strv(ct.ct.host_interfaces()?)?;
        Ok(())
    })
}
