//! `vpsos_config`: a container's description, from and to its JSON form
//! (docs/config-json.md), the contract shared by every language.

use crate::error::{guard, quiet, vpsos_error};
use crate::util::{arg_str, c_string, handle, out};
use std::ffi::c_char;
use vpsos_core::Config;

/// A container description (validated when made). Immutable: may be
/// shared between threads; free with `vpsos_config_free`.
pub struct vpsos_config(pub(crate) Config);

/// Parse and validate a config from its JSON form. Unknown fields are
/// refused; the error's field names the first bad one
/// (`"process.args"`, `"mounts[1]"`).
///
/// ```c
/// vpsos_config *cfg;
/// vpsos_error *e = vpsos_config_from_json(
///     "{\"rootfs\": \"/srv/ct1\", \"process\": {\"args\": [\"/sbin/init\"]}}", &cfg);
/// if (e) { fprintf(stderr, "%s: %s\n", vpsos_error_field(e), vpsos_error_message(e)); vpsos_error_free(e); }
/// else vpsos_config_free(cfg);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_config_from_json(
    json: *const c_char,
    config: *mut *mut vpsos_config,
) -> *mut vpsos_error {
    guard(|| {
        let json = unsafe { arg_str(json, "json") }?;
        let slot = unsafe { out(config, "config") }?;
        let cfg = Config::from_json(json)?;
        cfg.validate()?;
        *slot = Box::into_raw(Box::new(vpsos_config(cfg)));
        Ok(())
    })
}

/// The config as JSON, every field written out (a string to free with
/// `vpsos_string_free`). `vpsos_config_from_json` reads it back to an
/// equal config.
///
/// ```c
/// char *json;
/// if (!vpsos_config_to_json(cfg, &json)) { puts(json); vpsos_string_free(json); }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_config_to_json(
    config: *const vpsos_config,
    json: *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let cfg = unsafe { handle(config, "config") }?;
        let slot = unsafe { out(json, "json") }?;
        *slot = c_string(cfg.0.to_json())?;
        Ok(())
    })
}

/// Free a config (NULL is fine). Containers made from it keep their own copy.
///
/// ```c
/// vpsos_config_free(cfg);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_config_free(config: *mut vpsos_config) {
    if !config.is_null() {
        quiet((), || drop(unsafe { Box::from_raw(config) }));
    }
}
