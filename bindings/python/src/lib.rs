//! The native part of `import vpsos` (`vpsos._native`): pyo3 classes over
//! vpsos-core. The Python package (python/vpsos/) gives them their idiom
//! (keyword arguments, dataclasses, file objects, waits that Ctrl-C
//! interrupts, an async wait); what is here converts, releases the GIL
//! around every call that can block, and raises `vpsos.VpsosError`
//! subclasses.

mod container;
mod runtime;
mod subsystems;
mod zfs_net;

use pyo3::prelude::*;

/// A vpsos error as the matching `vpsos.errors` class, with `kind`,
/// `errno`, `stage` and `field`.
pub(crate) fn py_err(e: vpsos_core::Error) -> PyErr {
    use vpsos_core::ErrorKind::*;
    let (class, kind) = match e.kind() {
        InvalidConfig => ("InvalidConfigError", "invalid_config"),
        NotFound => ("NotFoundError", "not_found"),
        AlreadyExists => ("AlreadyExistsError", "already_exists"),
        PermissionDenied => ("PermissionDeniedError", "permission_denied"),
        Unsupported => ("UnsupportedError", "unsupported"),
        Busy => ("BusyError", "busy"),
        Child => ("ChildError", "child"),
        Io => ("VpsosIOError", "io"),
        Command => ("CommandError", "command"),
        Cancelled => ("CancelledError", "cancelled"),
        _ => ("VpsosError", "unknown"),
    };
    Python::with_gil(|py| {
        let build = || -> PyResult<PyErr> {
            let cls = py.import("vpsos.errors")?.getattr(class)?;
            let stage = e.stage().map(stage_name);
            let inst = cls.call1((e.to_string(), kind, e.errno(), stage, e.field()))?;
            Ok(PyErr::from_value(inst))
        };
        build().unwrap_or_else(|err| err)
    })
}

fn stage_name(s: vpsos_core::Stage) -> String {
    let n: String = s
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    n.replace("__", "_")
}

/// `Result` of vpsos into one of Python.
pub(crate) trait PyResultExt<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> PyResultExt<T> for vpsos_core::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(py_err)
    }
}

/// Parse JSON into one of the config's types; a bad one is
/// `InvalidConfigError` naming `what`.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> PyResult<T> {
    serde_json::from_str(json).map_err(|e| py_err(vpsos_core::Error::invalid(what, e)))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    runtime::register(m)?;
    container::register(m)?;
    subsystems::register(m)?;
    zfs_net::register(m)?;
    Ok(())
}
