//! Id ranges, cgroups, AppArmor and directory storage on their own.

use crate::{from_json, to_json, PyResultExt};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vpsos_core::cgroup::Cgroup;
use vpsos_core::config::Resources;
use vpsos_core::security::apparmor;
use vpsos_core::storage::{export, DirStorage};
use vpsos_core::{CgroupMode, HostFeatures, IdRange, IdRangeAllocation};

#[pyclass(module = "vpsos._native", name = "IdRange", frozen)]
struct PyIdRange(IdRange);

#[pyclass(module = "vpsos._native", name = "Cgroup", frozen)]
struct PyCgroup(Cgroup);

#[pyclass(module = "vpsos._native", name = "DirStorage", frozen)]
struct PyDirStorage(DirStorage);

type Alloc = (u64, u64, String, u32, u32);

fn alloc(a: IdRangeAllocation) -> Alloc {
    (
        a.index,
        a.count,
        a.owner.clone(),
        a.first_id(),
        a.id_count(),
    )
}

#[pymethods]
impl PyIdRange {
    #[new]
    fn new(path: String, start: u64, block_size: u64, block_count: u64) -> PyResult<PyIdRange> {
        Ok(PyIdRange(
            IdRange::open_or_create(path, start, block_size, block_count).py()?,
        ))
    }
    #[getter]
    fn path(&self) -> String {
        self.0.path().to_string_lossy().into_owned()
    }
    fn _allocate(&self, count: u64, owner: &str) -> PyResult<Alloc> {
        Ok(alloc(self.0.allocate(count, owner).py()?))
    }
    fn _allocate_at(&self, index: u64, count: u64, owner: &str) -> PyResult<Alloc> {
        Ok(alloc(self.0.allocate_at(index, count, owner).py()?))
    }
    fn _free(&self, index: u64) -> PyResult<Alloc> {
        Ok(alloc(self.0.free(index).py()?))
    }
    fn free_owner(&self, owner: &str) -> PyResult<usize> {
        self.0.free_owner(owner).py()
    }
    fn _list(&self) -> PyResult<Vec<Alloc>> {
        Ok(self.0.list().py()?.into_iter().map(alloc).collect())
    }
}

#[pymethods]
impl PyCgroup {
    #[new]
    #[pyo3(signature = (path, create=false))]
    fn new(path: &str, create: bool) -> PyResult<PyCgroup> {
        Ok(PyCgroup(if create {
            Cgroup::create(path).py()?
        } else {
            Cgroup::open(path)
        }))
    }
    #[getter]
    fn path(&self) -> String {
        self.0.path().to_string()
    }
    fn exists(&self) -> bool {
        self.0.exists()
    }
    fn procs(&self) -> PyResult<Vec<i32>> {
        self.0.procs().py()
    }
    fn attach(&self, pid: i32) -> PyResult<()> {
        self.0.attach(pid).py()
    }
    fn _stats_json(&self) -> PyResult<String> {
        Ok(to_json(&self.0.stats().py()?))
    }
    fn _set_resources(&self, json: &str) -> PyResult<()> {
        let r: Resources = from_json(json, "resources")?;
        self.0.set_resources(&r).py()
    }
    fn _resources_json(&self) -> PyResult<String> {
        Ok(to_json(&self.0.resources().py()?))
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
    fn kill_all(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        py.allow_threads(|| self.0.kill_all(Duration::from_secs_f64(timeout.max(0.0))))
            .py()
    }
    fn remove(&self, py: Python<'_>) -> PyResult<()> {
        py.allow_threads(|| self.0.remove()).py()
    }
}

#[pyfunction]
fn cgroup_mode() -> &'static str {
    match HostFeatures::get().cgroup_mode {
        CgroupMode::Unified => "unified",
        CgroupMode::Hybrid => "hybrid",
        CgroupMode::Legacy => "legacy",
        _ => "none",
    }
}

#[pyfunction]
fn has_feature(name: &str) -> bool {
    HostFeatures::get().has(name)
}

fn aa_dir(dir: Option<String>) -> PathBuf {
    dir.map(Into::into).unwrap_or_else(apparmor::policy_dir)
}

#[pyfunction]
#[pyo3(signature = (name, text, dir=None))]
fn apparmor_load(
    py: Python<'_>,
    name: String,
    text: String,
    dir: Option<String>,
) -> PyResult<&'static str> {
    let dir = aa_dir(dir);
    let r = py
        .allow_threads(|| apparmor::load(&dir, &name, &text))
        .py()?;
    Ok(match r {
        apparmor::Load::Parsed => "parsed",
        apparmor::Load::Unchanged => "unchanged",
    })
}

#[pyfunction]
#[pyo3(signature = (name, dir=None))]
fn apparmor_unload(name: &str, dir: Option<String>) -> PyResult<()> {
    apparmor::unload_profile(&aa_dir(dir), name).py()
}

#[pyfunction]
fn apparmor_loaded(name: &str) -> bool {
    apparmor::is_loaded(name)
}

#[pyfunction]
fn apparmor_enabled() -> bool {
    HostFeatures::get().apparmor
}

/// The caller's fd as a File for one call, never closed here.
pub(crate) fn fd_file(fd: i32) -> PyResult<std::mem::ManuallyDrop<std::fs::File>> {
    if fd < 0 {
        return Err(PyValueError::new_err(format!("not an fd: {fd}")));
    }
    // SAFETY: the caller keeps fd open for the call; never closed here
    Ok(std::mem::ManuallyDrop::new(unsafe {
        std::fs::File::from_raw_fd(fd)
    }))
}

#[pymethods]
impl PyDirStorage {
    #[new]
    fn new(root: String) -> PyDirStorage {
        PyDirStorage(DirStorage::new(root))
    }
    fn path(&self, name: &str) -> String {
        self.0.path(name).to_string_lossy().into_owned()
    }
    fn list(&self) -> PyResult<Vec<String>> {
        self.0.list().py()
    }
    fn create_from_tarball(
        &self,
        py: Python<'_>,
        name: String,
        tarball: String,
    ) -> PyResult<String> {
        let p = py
            .allow_threads(|| self.0.create_from_tarball(&name, &tarball))
            .py()?;
        Ok(p.to_string_lossy().into_owned())
    }
    fn create_from_dir(&self, py: Python<'_>, name: String, source: String) -> PyResult<String> {
        let p = py
            .allow_threads(|| self.0.create_from_dir(&name, &source))
            .py()?;
        Ok(p.to_string_lossy().into_owned())
    }
    fn _create_from_tar(&self, py: Python<'_>, name: String, fd: i32) -> PyResult<String> {
        let mut f = fd_file(fd)?;
        let p = py
            .allow_threads(|| self.0.create_from_tar(&name, &mut *f))
            .py()?;
        Ok(p.to_string_lossy().into_owned())
    }
    fn size(&self, py: Python<'_>, name: String) -> PyResult<u64> {
        py.allow_threads(|| self.0.size(&name)).py()
    }
    fn delete(&self, py: Python<'_>, name: String) -> PyResult<()> {
        py.allow_threads(|| self.0.delete(&name)).py()
    }
    fn _import(&self, py: Python<'_>, name: String, fd: i32) -> PyResult<String> {
        let mut f = fd_file(fd)?;
        Ok(py
            .allow_threads(|| export::import_dir(&self.0, &name, &mut *f))
            .py()?
            .to_json())
    }
}

#[pyfunction]
fn export_dir(py: Python<'_>, config_json: &str, rootfs: String, fd: i32) -> PyResult<()> {
    let cfg = vpsos_core::Config::from_json(config_json).py()?;
    let mut f = fd_file(fd)?;
    py.allow_threads(|| export::export_dir(&cfg, Path::new(&rootfs), &mut *f))
        .py()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyIdRange>()?;
    m.add_class::<PyCgroup>()?;
    m.add_class::<PyDirStorage>()?;
    m.add_function(wrap_pyfunction!(cgroup_mode, m)?)?;
    m.add_function(wrap_pyfunction!(has_feature, m)?)?;
    m.add_function(wrap_pyfunction!(apparmor_load, m)?)?;
    m.add_function(wrap_pyfunction!(apparmor_unload, m)?)?;
    m.add_function(wrap_pyfunction!(apparmor_loaded, m)?)?;
    m.add_function(wrap_pyfunction!(apparmor_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(export_dir, m)?)?;
    Ok(())
}
