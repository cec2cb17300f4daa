//! `Vpsos::ZFS` (datasets, properties in one call, snapshots, clones,
//! streams to and from fds) and `Vpsos::Net` (links, bridges, veths,
//! addresses, routes, rates) for osctld's own calls.

use crate::gvl::nogvl;
use crate::subsystems::fd_file;
use crate::{arg_err, RbResult};
use magnus::{function, method, prelude::*, Error, RHash, RModule, Ruby};
use std::net::IpAddr;
use vpsos_core::net::{IpCidr, Netlink};
use vpsos_core::storage::export;
use vpsos_core::storage::zfs::{RecvOptions, SendOptions, Zfs};

#[magnus::wrap(class = "Vpsos::ZFS", free_immediately, size)]
struct RZfs(Zfs);

fn pairs(h: RHash) -> Result<Vec<(String, String)>, Error> {
    let mut v = Vec::new();
    h.foreach(|k: magnus::Value, val: magnus::Value| {
        v.push((
            k.to_r_string()?.to_string()?,
            val.to_r_string()?.to_string()?,
        ));
        Ok(magnus::r_hash::ForEach::Continue)
    })?;
    Ok(v)
}

fn refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

impl RZfs {
    fn new() -> Result<RZfs, Error> {
        Ok(RZfs(Zfs::new().rb()?))
    }
    fn create(&self, name: String, props: RHash) -> Result<(), Error> {
        let p = pairs(props)?;
        nogvl(|| self.0.create(&name, &refs(&p))).rb()
    }
    fn destroy(&self, name: String, recursive: bool) -> Result<(), Error> {
        nogvl(|| self.0.destroy(&name, recursive)).rb()
    }
    fn rename(&self, from: String, to: String) -> Result<(), Error> {
        nogvl(|| self.0.rename(&from, &to)).rb()
    }
    fn mount(&self, name: String) -> Result<(), Error> {
        nogvl(|| self.0.mount(&name)).rb()
    }
    fn unmount(&self, name: String) -> Result<(), Error> {
        nogvl(|| self.0.unmount(&name)).rb()
    }
    fn set(&self, name: String, props: RHash) -> Result<(), Error> {
        let p = pairs(props)?;
        nogvl(|| self.0.set(&name, &refs(&p))).rb()
    }
    fn inherit(&self, name: String, prop: String) -> Result<(), Error> {
        nogvl(|| self.0.inherit(&name, &prop)).rb()
    }
    fn get(&self, names: Vec<String>, props: Vec<String>) -> Result<RHash, Error> {
        let n: Vec<&str> = names.iter().map(String::as_str).collect();
        let p: Vec<&str> = props.iter().map(String::as_str).collect();
        let got = nogvl(|| self.0.get(&n, &p)).rb()?;
        let out = RHash::new();
        for (ds, m) in got.0 {
            let h = RHash::new();
            for (k, v) in m {
                h.aset(k, v.value)?;
            }
            out.aset(ds, h)?;
        }
        Ok(out)
    }
    fn list(&self, root: String, kind: String, depth: Option<u32>) -> Result<Vec<String>, Error> {
        nogvl(|| self.0.list(&root, &kind, depth)).rb()
    }
    fn snapshot(&self, name: String, recursive: bool) -> Result<(), Error> {
        nogvl(|| self.0.snapshot(&name, recursive)).rb()
    }
    fn rollback(&self, name: String) -> Result<(), Error> {
        nogvl(|| self.0.rollback(&name)).rb()
    }
    fn clone_snapshot(&self, snap: String, target: String, props: RHash) -> Result<(), Error> {
        let p = pairs(props)?;
        nogvl(|| self.0.clone_snapshot(&snap, &target, &refs(&p))).rb()
    }
    fn send(
        &self,
        snap: String,
        fd: i32,
        from: Option<String>,
        flags: Vec<String>,
    ) -> Result<u64, Error> {
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
        nogvl(|| self.0.send(&snap, &opts, &mut *f, &mut |_| {})).rb()
    }
    fn receive(&self, target: String, fd: i32, flags: Vec<String>) -> Result<u64, Error> {
        let has = |f: &str| flags.iter().any(|x| x == f);
        let opts = RecvOptions {
            force: has("force"),
            no_mount: has("no_mount"),
            resumable: has("resumable"),
        };
        let mut f = fd_file(fd)?;
        nogvl(|| self.0.receive_with(&target, &opts, &mut *f, &mut |_| {})).rb()
    }
    fn abort_receive(&self, target: String) -> Result<(), Error> {
        nogvl(|| self.0.abort_receive(&target)).rb()
    }
    fn export(&self, config_json: String, snapshot: String, fd: i32) -> Result<u64, Error> {
        let cfg = vpsos_core::Config::from_json(&config_json).rb()?;
        let mut f = fd_file(fd)?;
        nogvl(|| export::export_zfs(&cfg, &self.0, &snapshot, &mut *f)).rb()
    }
    fn import(&self, target: String, fd: i32) -> Result<String, Error> {
        let mut f = fd_file(fd)?;
        Ok(nogvl(|| export::import_zfs(&self.0, &target, &mut *f))
            .rb()?
            .to_json())
    }
}

fn nl() -> Result<Netlink, Error> {
    Netlink::open().rb()
}

fn cidr(s: &str) -> Result<IpCidr, Error> {
    s.parse()
        .map_err(|e| crate::rb_err(vpsos_core::Error::invalid("address", e)))
}

fn net_links() -> Result<Vec<(u32, String, Option<String>)>, Error> {
    Ok(nl()?
        .links()
        .rb()?
        .into_iter()
        .map(|l| (l.index, l.name, l.kind))
        .collect())
}
fn net_link_exists(name: String) -> Result<bool, Error> {
    match nl()?.index(&name) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == vpsos_core::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(crate::rb_err(e)),
    }
}
fn net_add_bridge(name: String) -> Result<(), Error> {
    nl()?.add_bridge(&name).rb()
}
fn net_add_veth(name: String, peer: String) -> Result<(), Error> {
    nl()?.add_veth(&name, &peer, None).rb()
}
fn net_delete(name: String) -> Result<(), Error> {
    nl()?.delete_named(&name).rb()
}
fn net_set_up(name: String, up: bool) -> Result<(), Error> {
    let n = nl()?;
    let i = n.index(&name).rb()?;
    n.set_up(i, up).rb()
}
fn net_set_master(name: String, bridge: String) -> Result<(), Error> {
    let n = nl()?;
    let (i, b) = (n.index(&name).rb()?, n.index(&bridge).rb()?);
    n.set_master(i, b).rb()
}
fn net_set_mtu(name: String, mtu: u32) -> Result<(), Error> {
    let n = nl()?;
    let i = n.index(&name).rb()?;
    n.set_mtu(i, mtu).rb()
}
fn net_add_address(name: String, address: String) -> Result<(), Error> {
    let n = nl()?;
    let i = n.index(&name).rb()?;
    n.add_address(i, cidr(&address)?, &name).rb()
}
fn net_add_route(
    dest: Option<String>,
    via: Option<String>,
    dev: Option<String>,
) -> Result<(), Error> {
    let n = nl()?;
    let dest = dest.map(|d| cidr(&d)).transpose()?;
    let via: Option<IpAddr> = via
        .map(|v| {
            v.parse()
                .map_err(|_| arg_err(format!("not an address: {v}")))
        })
        .transpose()?;
    let oif = dev.map(|d| n.index(&d)).transpose().rb()?;
    n.add_route(dest, via, oif, "adding a route").rb()
}
fn net_set_rate(name: String, bps: Option<u64>) -> Result<(), Error> {
    let n = nl()?;
    let i = n.index(&name).rb()?;
    match bps {
        Some(b) => n.set_rate(i, b).rb(),
        None => n.clear_rate(i).rb(),
    }
}

pub(crate) fn define(ruby: &Ruby, vpsos: RModule) -> Result<(), Error> {
    let z = vpsos.define_class("ZFS", ruby.class_object())?;
    z.define_singleton_method("new", function!(RZfs::new, 0))?;
    z.define_method("_create", method!(RZfs::create, 2))?;
    z.define_method("_destroy", method!(RZfs::destroy, 2))?;
    z.define_method("rename", method!(RZfs::rename, 2))?;
    z.define_method("mount", method!(RZfs::mount, 1))?;
    z.define_method("unmount", method!(RZfs::unmount, 1))?;
    z.define_method("set", method!(RZfs::set, 2))?;
    z.define_method("inherit", method!(RZfs::inherit, 2))?;
    z.define_method("_get", method!(RZfs::get, 2))?;
    z.define_method("_list", method!(RZfs::list, 3))?;
    z.define_method("_snapshot", method!(RZfs::snapshot, 2))?;
    z.define_method("rollback", method!(RZfs::rollback, 1))?;
    z.define_method("_clone", method!(RZfs::clone_snapshot, 3))?;
    z.define_method("_send", method!(RZfs::send, 4))?;
    z.define_method("_receive", method!(RZfs::receive, 3))?;
    z.define_method("abort_receive", method!(RZfs::abort_receive, 1))?;
    z.define_method("_export", method!(RZfs::export, 3))?;
    z.define_method("_import", method!(RZfs::import, 2))?;
    let n = vpsos.define_module("Net")?;
    n.define_singleton_method("_links", function!(net_links, 0))?;
    n.define_singleton_method("link_exists?", function!(net_link_exists, 1))?;
    n.define_singleton_method("add_bridge", function!(net_add_bridge, 1))?;
    n.define_singleton_method("add_veth", function!(net_add_veth, 2))?;
    n.define_singleton_method("delete_link", function!(net_delete, 1))?;
    n.define_singleton_method("_set_up", function!(net_set_up, 2))?;
    n.define_singleton_method("set_master", function!(net_set_master, 2))?;
    n.define_singleton_method("set_mtu", function!(net_set_mtu, 2))?;
    n.define_singleton_method("add_address", function!(net_add_address, 2))?;
    n.define_singleton_method("_add_route", function!(net_add_route, 3))?;
    n.define_singleton_method("_set_rate", function!(net_set_rate, 2))?;
    Ok(())
}
