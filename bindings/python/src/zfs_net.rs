//! ZFS (datasets, properties in one call, snapshots, clones, streams to
//! and from fds) and netlink (links, bridges, veths, addresses, routes,
//! rates) on their own.

use crate::subsystems::fd_file;
use crate::PyResultExt;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::collections::HashMap;
use std::net::IpAddr;
use vpsos_core::net::{IpCidr, Netlink};
use vpsos_core::storage::export;
use vpsos_core::storage::zfs::{RecvOptions, SendOptions, Zfs};

#[pyclass(module = "vpsos._native", name = "ZFS", frozen)]
struct PyZfs(Zfs);

fn refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

#[pymethods]
impl PyZfs {
    #[new]
    fn new() -> PyResult<PyZfs> {
        Ok(PyZfs(Zfs::new().py()?))
    }
    fn _create(&self, py: Python<'_>, name: String, props: Vec<(String, String)>) -> PyResult<()> {
        py.allow_threads(|| self.0.create(&name, &refs(&props)))
            .py()
    }
    fn _destroy(&self, py: Python<'_>, name: String, recursive: bool) -> PyResult<()> {
        py.allow_threads(|| self.0.destroy(&name, recursive)).py()
    }
    fn rename(&self, py: Python<'_>, old: String, new: String) -> PyResult<()> {
        py.allow_threads(|| self.0.rename(&old, &new)).py()
    }
    fn mount(&self, py: Python<'_>, name: String) -> PyResult<()> {
        py.allow_threads(|| self.0.mount(&name)).py()
    }
    fn unmount(&self, py: Python<'_>, name: String) -> PyResult<()> {
        py.allow_threads(|| self.0.unmount(&name)).py()
    }
    fn _set(&self, py: Python<'_>, name: String, props: Vec<(String, String)>) -> PyResult<()> {
        py.allow_threads(|| self.0.set(&name, &refs(&props))).py()
    }
    fn inherit(&self, py: Python<'_>, name: String, prop: String) -> PyResult<()> {
        py.allow_threads(|| self.0.inherit(&name, &prop)).py()
    }
    fn _get(
        &self,
        py: Python<'_>,
        names: Vec<String>,
        props: Vec<String>,
    ) -> PyResult<HashMap<String, HashMap<String, String>>> {
        let n: Vec<&str> = names.iter().map(String::as_str).collect();
        let p: Vec<&str> = props.iter().map(String::as_str).collect();
        let got = py.allow_threads(|| self.0.get(&n, &p)).py()?;
        Ok(got
            .0
            .into_iter()
            .map(|(ds, m)| (ds, m.into_iter().map(|(k, v)| (k, v.value)).collect()))
            .collect())
    }
    fn _list(
        &self,
        py: Python<'_>,
        root: String,
        kind: String,
        depth: Option<u32>,
    ) -> PyResult<Vec<String>> {
        py.allow_threads(|| self.0.list(&root, &kind, depth)).py()
    }
    fn _snapshot(&self, py: Python<'_>, name: String, recursive: bool) -> PyResult<()> {
        py.allow_threads(|| self.0.snapshot(&name, recursive)).py()
    }
    fn rollback(&self, py: Python<'_>, name: String) -> PyResult<()> {
        py.allow_threads(|| self.0.rollback(&name)).py()
    }
    fn _clone(
        &self,
        py: Python<'_>,
        snap: String,
        target: String,
        props: Vec<(String, String)>,
    ) -> PyResult<()> {
        py.allow_threads(|| self.0.clone_snapshot(&snap, &target, &refs(&props)))
            .py()
    }
    fn _send(
        &self,
        py: Python<'_>,
        snap: String,
        fd: i32,
        from: Option<String>,
        flags: Vec<String>,
    ) -> PyResult<u64> {
        let has = |f: &str| flags.iter().any(|x| x == f);
        let opts = SendOptions {
            from,
            intermediates: has("intermediates"),
            compressed: has("compressed"),
            raw: has("raw"),
            large_blocks: has("large_blocks"),
            properties: has("properties"),
        };
        let mut f = fd_file(fd)?;
        py.allow_threads(|| self.0.send(&snap, &opts, &mut *f, &mut |_| {}))
            .py()
    }
    fn _receive(
        &self,
        py: Python<'_>,
        target: String,
        fd: i32,
        flags: Vec<String>,
    ) -> PyResult<u64> {
        let has = |f: &str| flags.iter().any(|x| x == f);
        let opts = RecvOptions {
            force: has("force"),
            no_mount: has("no_mount"),
            resumable: has("resumable"),
        };
        let mut f = fd_file(fd)?;
        py.allow_threads(|| self.0.receive_with(&target, &opts, &mut *f, &mut |_| {}))
            .py()
    }
    fn abort_receive(&self, py: Python<'_>, target: String) -> PyResult<()> {
        py.allow_threads(|| self.0.abort_receive(&target)).py()
    }
    fn _export(
        &self,
        py: Python<'_>,
        config_json: &str,
        snapshot: String,
        fd: i32,
    ) -> PyResult<u64> {
        let cfg = vpsos_core::Config::from_json(config_json).py()?;
        let mut f = fd_file(fd)?;
        py.allow_threads(|| export::export_zfs(&cfg, &self.0, &snapshot, &mut *f))
            .py()
    }
    fn _import(&self, py: Python<'_>, target: String, fd: i32) -> PyResult<String> {
        let mut f = fd_file(fd)?;
        Ok(py
            .allow_threads(|| export::import_zfs(&self.0, &target, &mut *f))
            .py()?
            .to_json())
    }
}

fn nl() -> PyResult<Netlink> {
    Netlink::open().py()
}

fn cidr(s: &str) -> PyResult<IpCidr> {
    s.parse()
        .map_err(|e| crate::py_err(vpsos_core::Error::invalid("address", e)))
}

fn index(n: &Netlink, name: &str) -> PyResult<u32> {
    n.index(name).py()
}

#[pyfunction]
fn net_links() -> PyResult<Vec<(u32, String, Option<String>)>> {
    Ok(nl()?
        .links()
        .py()?
        .into_iter()
        .map(|l| (l.index, l.name, l.kind))
        .collect())
}

#[pyfunction]
fn net_link_exists(name: &str) -> PyResult<bool> {
    match nl()?.index(name) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == vpsos_core::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(crate::py_err(e)),
    }
}

#[pyfunction]
fn net_add_bridge(name: &str) -> PyResult<()> {
    nl()?.add_bridge(name).py()
}

#[pyfunction]
fn net_add_veth(name: &str, peer: &str) -> PyResult<()> {
    nl()?.add_veth(name, peer, None).py()
}

#[pyfunction]
fn net_delete_link(name: &str) -> PyResult<()> {
    nl()?.delete_named(name).py()
}

#[pyfunction]
fn net_set_up(name: &str, up: bool) -> PyResult<()> {
    let n = nl()?;
    n.set_up(index(&n, name)?, up).py()
}

#[pyfunction]
fn net_set_master(name: &str, bridge: &str) -> PyResult<()> {
    let n = nl()?;
    n.set_master(index(&n, name)?, index(&n, bridge)?).py()
}

#[pyfunction]
fn net_set_mtu(name: &str, mtu: u32) -> PyResult<()> {
    let n = nl()?;
    n.set_mtu(index(&n, name)?, mtu).py()
}

#[pyfunction]
fn net_add_address(name: &str, address: &str) -> PyResult<()> {
    let n = nl()?;
    n.add_address(index(&n, name)?, cidr(address)?, name).py()
}

#[pyfunction]
#[pyo3(signature = (dest, via=None, dev=None))]
fn net_add_route(dest: Option<&str>, via: Option<&str>, dev: Option<&str>) -> PyResult<()> {
    let n = nl()?;
    let dest = dest.map(cidr).transpose()?;
    let via: Option<IpAddr> = via
        .map(|v| {
            v.parse()
                .map_err(|_| PyValueError::new_err(format!("not an address: {v}")))
        })
        .transpose()?;
    let oif = dev.map(|d| index(&n, d)).transpose()?;
    n.add_route(dest, via, oif, "adding a route").py()
}

#[pyfunction]
#[pyo3(signature = (name, bps=None))]
fn net_set_rate(name: &str, bps: Option<u64>) -> PyResult<()> {
    let n = nl()?;
    let i = index(&n, name)?;
    match bps {
        Some(b) => n.set_rate(i, b).py(),
        None => n.clear_rate(i).py(),
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyZfs>()?;
    for f in [
        wrap_pyfunction!(net_links, m)?,
        wrap_pyfunction!(net_link_exists, m)?,
        wrap_pyfunction!(net_add_bridge, m)?,
        wrap_pyfunction!(net_add_veth, m)?,
        wrap_pyfunction!(net_delete_link, m)?,
        wrap_pyfunction!(net_set_up, m)?,
        wrap_pyfunction!(net_set_master, m)?,
        wrap_pyfunction!(net_set_mtu, m)?,
        wrap_pyfunction!(net_add_address, m)?,
        wrap_pyfunction!(net_add_route, m)?,
        wrap_pyfunction!(net_set_rate, m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(())
}
