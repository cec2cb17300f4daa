//! `Container` and `Process`: the native methods python/vpsos/ wraps.

use crate::runtime::options;
use crate::{from_json, to_json, PyResultExt};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::os::fd::IntoRawFd;
use std::time::Duration;
use vpsos_core::config::{DeviceRule, Interface, Resources};
use vpsos_core::{Container, EndReason, ExecProcess, ExitStatus, InitExit, Mount, Process};

#[pyclass(module = "vpsos._native", name = "Container", frozen)]
pub(crate) struct PyContainer(pub(crate) Container);

#[pyclass(module = "vpsos._native", name = "Process", frozen)]
pub(crate) struct PyProcess(ExecProcess);

/// How a process ended: (kind, value, reason) — "exited"/"signaled"/
/// "unknown", the code or signal, "reboot"/"halt"/"exit"/"killed"/"unknown".
type Exit = (&'static str, Option<i32>, &'static str);

fn status(s: Option<ExitStatus>) -> (&'static str, Option<i32>) {
    match s {
        Some(ExitStatus::Exited(c)) => ("exited", Some(c)),
        Some(ExitStatus::Signaled(n)) => ("signaled", Some(n)),
        None => ("unknown", None),
    }
}

fn init_exit(x: InitExit) -> Exit {
    let (k, v) = status(x.status());
    let r = match x.reason() {
        EndReason::Reboot => "reboot",
        EndReason::Halt => "halt",
        EndReason::Exit(_) => "exit",
        EndReason::Killed(_) => "killed",
        _ => "unknown",
    };
    (k, v, r)
}

fn proc_exit(s: ExitStatus) -> Exit {
    let (k, v) = status(Some(s));
    (
        k,
        v,
        if matches!(s, ExitStatus::Exited(_)) {
            "exit"
        } else {
            "killed"
        },
    )
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

#[pymethods]
impl PyContainer {
    #[getter]
    fn id(&self) -> String {
        self.0.id().to_string()
    }

    #[getter]
    fn pid(&self) -> Option<i32> {
        self.0.state().ok().and_then(|s| s.pid)
    }

    fn _state_json(&self) -> PyResult<String> {
        Ok(to_json(&self.0.state().py()?))
    }

    fn _config_json(&self) -> PyResult<String> {
        Ok(self.0.config().py()?.to_json())
    }

    fn start(&self, py: Python<'_>) -> PyResult<()> {
        py.allow_threads(|| self.0.start()).py()
    }

    fn _pidfd(&self) -> PyResult<i32> {
        Ok(self.0.pidfd().py()?.into_raw_fd())
    }

    fn _try_wait(&self) -> PyResult<Option<Exit>> {
        Ok(self.0.try_wait().py()?.map(init_exit))
    }

    fn _wait_timeout(&self, py: Python<'_>, s: f64) -> PyResult<Option<Exit>> {
        Ok(py
            .allow_threads(|| self.0.wait_timeout(secs(s)))
            .py()?
            .map(init_exit))
    }

    fn _kill(&self, sig: i32) -> PyResult<()> {
        self.0.kill(sig).py()
    }

    fn _stop(
        &self,
        py: Python<'_>,
        timeout: f64,
    ) -> PyResult<(&'static str, Option<i32>, &'static str, bool)> {
        let o = py.allow_threads(|| self.0.stop(secs(timeout))).py()?;
        let (k, v, r) = init_exit(o.exit);
        Ok((k, v, r, o.killed))
    }

    fn _delete(&self, py: Python<'_>, force: bool) -> PyResult<()> {
        py.allow_threads(|| {
            if force {
                self.0.delete_force()
            } else {
                self.0.delete()
            }
        })
        .py()
    }

    fn _exec(&self, py: Python<'_>, json: &str, i: i32, o: i32, e: i32) -> PyResult<PyProcess> {
        let p: Process = from_json(json, "process")?;
        let opts = options(i, o, e)?;
        Ok(PyProcess(py.allow_threads(|| self.0.exec(&p, opts)).py()?))
    }

    fn _attach_console(&self, py: Python<'_>) -> PyResult<i32> {
        Ok(py
            .allow_threads(|| self.0.attach_console())
            .py()?
            .into_raw_fd())
    }

    fn _attach_tty(&self, py: Python<'_>, n: u32) -> PyResult<i32> {
        Ok(py
            .allow_threads(|| self.0.attach_tty(n))
            .py()?
            .into_raw_fd())
    }

    fn resize_terminal(&self, n: u32, rows: u16, cols: u16) -> PyResult<()> {
        self.0.resize_terminal(n, rows, cols).py()
    }

    fn console_log<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let log = self.0.console_log().py()?;
        Ok(PyBytes::new(py, &log))
    }

    fn freeze(&self, py: Python<'_>) -> PyResult<()> {
        py.allow_threads(|| self.0.freeze()).py()
    }

    fn thaw(&self, py: Python<'_>) -> PyResult<()> {
        py.allow_threads(|| self.0.thaw()).py()
    }

    fn is_frozen(&self) -> PyResult<bool> {
        self.0.is_frozen().py()
    }

    fn _stats_json(&self) -> PyResult<String> {
        Ok(to_json(&self.0.stats().py()?))
    }

    fn _update_resources(&self, py: Python<'_>, json: &str) -> PyResult<()> {
        let r: Resources = from_json(json, "resources")?;
        py.allow_threads(|| self.0.update_resources(&r)).py()
    }

    fn _resources_json(&self) -> PyResult<String> {
        Ok(to_json(&self.0.resources().py()?))
    }

    fn _grant_device(&self, py: Python<'_>, json: &str) -> PyResult<()> {
        let r: DeviceRule = from_json(json, "device")?;
        py.allow_threads(|| self.0.grant_device(r)).py()
    }

    fn _revoke_device(&self, py: Python<'_>, json: &str) -> PyResult<()> {
        let r: DeviceRule = from_json(json, "device")?;
        py.allow_threads(|| self.0.revoke_device(&r)).py()
    }

    fn _devices_json(&self) -> PyResult<String> {
        Ok(to_json(&self.0.devices().py()?))
    }

    fn _add_interface(&self, py: Python<'_>, json: &str) -> PyResult<()> {
        let i: Interface = from_json(json, "interface")?;
        py.allow_threads(|| self.0.add_interface(i)).py()
    }

    fn remove_interface(&self, py: Python<'_>, name: String) -> PyResult<()> {
        py.allow_threads(|| self.0.remove_interface(&name)).py()
    }

    #[pyo3(signature = (name, rx=None, tx=None))]
    fn set_interface_rates(
        &self,
        py: Python<'_>,
        name: String,
        rx: Option<u64>,
        tx: Option<u64>,
    ) -> PyResult<()> {
        py.allow_threads(|| self.0.set_interface_rates(&name, rx, tx))
            .py()
    }

    fn host_interfaces(&self) -> PyResult<Vec<String>> {
        self.0.host_interfaces().py()
    }

    fn _mount(&self, py: Python<'_>, json: &str) -> PyResult<()> {
        let m: Mount = from_json(json, "mount")?;
        py.allow_threads(|| self.0.mount(&m)).py()
    }

    fn unmount(&self, py: Python<'_>, destination: String) -> PyResult<()> {
        py.allow_threads(|| self.0.unmount(&destination)).py()
    }
}

#[pymethods]
impl PyProcess {
    #[getter]
    fn pid(&self) -> i32 {
        self.0.pid()
    }

    fn _pidfd(&self) -> PyResult<i32> {
        Ok(self.0.pidfd().py()?.into_raw_fd())
    }

    fn _try_wait(&self) -> PyResult<Option<Exit>> {
        Ok(self.0.try_wait().py()?.map(proc_exit))
    }

    fn _wait_timeout(&self, py: Python<'_>, s: f64) -> PyResult<Option<Exit>> {
        Ok(py
            .allow_threads(|| self.0.wait_timeout(secs(s)))
            .py()?
            .map(proc_exit))
    }

    fn _kill(&self, sig: i32) -> PyResult<()> {
        self.0.kill(sig).py()
    }

    fn _console(&self) -> Option<i32> {
        self.0.take_console().map(IntoRawFd::into_raw_fd)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyContainer>()?;
    m.add_class::<PyProcess>()?;
    Ok(())
}
