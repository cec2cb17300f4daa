//! `Runtime`: create, run, load, list and recover containers.

use crate::container::PyContainer;
use crate::{to_json, PyResultExt};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::os::fd::BorrowedFd;
use vpsos_core::{Config, CreateOptions, Runtime, Stdio};

#[pyclass(module = "vpsos._native", name = "Runtime", frozen)]
pub(crate) struct PyRuntime(Runtime);

/// -1: /dev/null, -2: the caller's own, else an fd to duplicate.
pub(crate) fn stdio(fd: i32) -> PyResult<Stdio> {
    match fd {
        -1 => Ok(Stdio::Null),
        -2 => Ok(Stdio::Inherit),
        fd if fd >= 0 => {
            // SAFETY: the caller keeps fd open for the call
            let b = unsafe { BorrowedFd::borrow_raw(fd) };
            b.try_clone_to_owned().map(Stdio::Fd).map_err(|e| {
                crate::py_err(vpsos_core::Error::from_errno(
                    e.raw_os_error().unwrap_or(libc::EBADF),
                    format!("duplicating fd {fd}"),
                ))
            })
        }
        _ => Err(PyValueError::new_err(format!("not an fd: {fd}"))),
    }
}

pub(crate) fn options(i: i32, o: i32, e: i32) -> PyResult<CreateOptions> {
    Ok(CreateOptions {
        stdin: stdio(i)?,
        stdout: stdio(o)?,
        stderr: stdio(e)?,
        ..Default::default()
    })
}

/// The config from JSON, validated; its canonical JSON.
#[pyfunction]
fn config_normalize(json: &str) -> PyResult<String> {
    let c = Config::from_json(json).py()?;
    c.validate().py()?;
    Ok(c.to_json())
}

#[pymethods]
impl PyRuntime {
    #[new]
    #[pyo3(signature = (root=None))]
    fn new(root: Option<String>) -> PyResult<PyRuntime> {
        match root {
            Some(r) if !r.starts_with('/') => Err(crate::py_err(vpsos_core::Error::invalid(
                "root",
                "is not an absolute path",
            ))),
            Some(r) => Ok(PyRuntime(Runtime::with_root(r))),
            None => Ok(PyRuntime(Runtime::new())),
        }
    }

    #[getter]
    fn root(&self) -> String {
        self.0.root().to_string_lossy().into_owned()
    }

    #[allow(clippy::too_many_arguments)]
    fn _create(
        &self,
        py: Python<'_>,
        id: String,
        json: &str,
        i: i32,
        o: i32,
        e: i32,
        run: bool,
    ) -> PyResult<PyContainer> {
        let cfg = Config::from_json(json).py()?;
        let opts = options(i, o, e)?;
        let ct = py
            .allow_threads(|| {
                if run {
                    self.0.run(&id, &cfg, opts)
                } else {
                    self.0.create(&id, &cfg, opts)
                }
            })
            .py()?;
        Ok(PyContainer(ct))
    }

    fn load(&self, id: &str) -> PyResult<PyContainer> {
        Ok(PyContainer(self.0.load(id).py()?))
    }

    fn ids(&self) -> PyResult<Vec<String>> {
        self.0.ids().py()
    }

    fn _list(&self) -> PyResult<String> {
        Ok(to_json(&self.0.list().py()?))
    }

    fn _recover(&self, py: Python<'_>, id: String) -> PyResult<String> {
        Ok(to_json(&py.allow_threads(|| self.0.recover(&id)).py()?))
    }

    fn _recover_all(&self, py: Python<'_>) -> PyResult<String> {
        Ok(to_json(&py.allow_threads(|| self.0.recover_all()).py()?))
    }

    fn _orphaned_interfaces(&self, py: Python<'_>, remove: bool) -> PyResult<Vec<String>> {
        if remove {
            py.allow_threads(|| self.0.remove_orphaned_interfaces())
                .py()
        } else {
            Ok(self
                .0
                .orphaned_interfaces()
                .py()?
                .into_iter()
                .map(|l| l.name)
                .collect())
        }
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRuntime>()?;
    m.add_function(wrap_pyfunction!(config_normalize, m)?)?;
    Ok(())
}
