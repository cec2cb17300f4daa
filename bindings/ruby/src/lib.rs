//! The native part of `require "vpsos"`: magnus classes over vpsos-core.
//! Ruby code in lib/vpsos.rb gives them their idiom (keyword arguments,
//! Structs, IO objects, interruptible waits); what is here converts,
//! releases the GVL around every call that can block, and raises
//! `Vpsos::Error` subclasses. No Ruby code ever runs in a forked child:
//! vpsos clones natively and the child never returns into Ruby.

mod container;
mod gvl;
mod runtime;
mod subsystems;
mod zfs_net;

use magnus::{prelude::*, Error, ExceptionClass, RModule, Ruby, Symbol};

/// A vpsos error as the matching `Vpsos::Error` subclass, with `@kind`,
/// `errno`, `stage` and `field` (lib/vpsos/errors.rb defines the classes).
pub(crate) fn rb_err(e: vpsos_core::Error) -> Error {
    let Ok(ruby) = Ruby::get() else {
        return Error::new(magnus::exception::runtime_error(), e.to_string());
    };
    use vpsos_core::ErrorKind::*;
    let (class, kind) = match e.kind() {
        InvalidConfig => ("InvalidConfig", "invalid_config"),
        NotFound => ("NotFound", "not_found"),
        AlreadyExists => ("AlreadyExists", "already_exists"),
        PermissionDenied => ("PermissionDenied", "permission_denied"),
        Unsupported => ("Unsupported", "unsupported"),
        Busy => ("Busy", "busy"),
        Child => ("ChildError", "child"),
        Io => ("IOError", "io"),
        Command => ("CommandError", "command"),
        Cancelled => ("Cancelled", "cancelled"),
        _ => ("Error", "unknown"),
    };
    let build = || -> Result<magnus::Exception, Error> {
        let vpsos: RModule = ruby.class_object().const_get("Vpsos")?;
        let cls: ExceptionClass = vpsos.const_get(class)?;
        cls.new_instance((
            e.to_string(),
            Symbol::new(kind),
            e.errno(),
            e.stage().map(|s| Symbol::new(stage_name(s))),
            e.field().map(str::to_string),
        ))
    };
    match build() {
        Ok(ex) => Error::from(ex),
        Err(err) => err,
    }
}

fn stage_name(s: vpsos_core::Stage) -> String {
    s.to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .replace("__", "_")
}

/// `Result` of vpsos into one of Ruby.
pub(crate) trait RbResult<T> {
    fn rb(self) -> Result<T, Error>;
}

impl<T> RbResult<T> for vpsos_core::Result<T> {
    fn rb(self) -> Result<T, Error> {
        self.map_err(rb_err)
    }
}

/// An `ArgumentError`.
pub(crate) fn arg_err(msg: impl Into<String>) -> Error {
    Error::new(magnus::exception::arg_error(), msg.into())
}

/// Parse JSON from Ruby into one of the config's types; a bad one is
/// `Vpsos::InvalidConfig` naming `what`.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    json: &str,
    what: &str,
) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|e| rb_err(vpsos_core::Error::invalid(what, e)))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[magnus::init(name = "vpsos_native")]
fn init(ruby: &Ruby) -> Result<(), Error> {
    let vpsos = ruby.define_module("Vpsos")?;
    runtime::define(ruby, vpsos)?;
    container::define(ruby, vpsos)?;
    subsystems::define(ruby, vpsos)?;
    Ok(())
}
