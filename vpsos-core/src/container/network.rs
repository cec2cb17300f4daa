//! A container's interfaces: made from the host over netlink after the
//! init is cloned (it waits before exec), removed on delete, and added or
//! removed live.

use super::devnodes::fnv;
use super::state::StateFile;
use super::Container;
use crate::config::{Config, Interface, InterfaceKind};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::net::{create_tap, parse_mac, run_in_netns, IpCidr, Link, Netlink};
use crate::plan::build::host_id;
use std::fs::File;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::path::Path;

/// The host end's name: given, or `vps` + 8 hex digits of the container id
/// + the interface's name hash (at most 15 characters).
pub(crate) fn host_name(id: &str, iface: &Interface) -> String {
    iface.host_name.clone().unwrap_or_else(|| {
        let h = fnv(format!("{id}\0{}", iface.name).as_bytes());
        format!("vps{:08x}{:x}", h as u32, (h >> 32) as u8 & 0xf)
    })
}

/// Who a container is, for making its interfaces.
pub(crate) struct Owner<'a> {
    pub id: &'a str,
    pub pid: i32,
    /// Its state dir (the host ends' alias).
    pub state_dir: &'a Path,
    /// Host uid and gid of its root (a tap's owner).
    pub root: (u32, u32),
}

fn netns_of(o: &Owner<'_>) -> Result<File> {
    File::open(format!("/proc/{}/ns/net", o.pid))
        .ctx(|| format!("opening the network namespace of container {}", o.id))
}

/// Create `iface` for the container; returns the host end's name (a tap
/// has none: it lives in the container's namespace only). On failure
/// nothing of it is left.
pub(crate) fn add(o: &Owner<'_>, iface: &Interface) -> Result<Option<String>> {
    let ctx = |e: Error| {
        e.context(format!(
            "setting up interface {} of container {}",
            iface.name, o.id
        ))
    };
    let ns = netns_of(o)?;
    let place = format!("in container {}", o.id);
    if iface.kind == InterfaceKind::Tap {
        let (uid, gid) = o.root;
        run_in_netns(ns.as_fd(), || create_tap(&iface.name, uid, gid)).map_err(ctx)?;
        let res = Netlink::in_netns(ns.as_fd(), &place).and_then(|inside| {
            let ci = inside.index(&iface.name)?;
            configure_inside(&inside, ci, iface).inspect_err(|_| {
                let _ = inside.delete(ci);
            })
        });
        return res.map(|_| None).map_err(ctx);
    }
    let host = host_name(o.id, iface);
    let nl = Netlink::open()?;
    let bridge_index = match &iface.kind {
        InterfaceKind::Bridged { bridge } => Some(nl.index(bridge).map_err(ctx)?),
        _ => None,
    };
    nl.add_veth(&host, &iface.name, Some(ns.as_fd()))
        .map_err(ctx)?;
    let res = (|| -> Result<()> {
        let hi = nl.index(&host)?;
        nl.set_alias(hi, &owner_alias(o.state_dir))?;
        if let Some(m) = iface.mtu {
            nl.set_mtu(hi, m)?;
        }
        if let Some(b) = bridge_index {
            nl.set_master(hi, b)?;
        }
        nl.set_up(hi, true)?;
        if let InterfaceKind::Routed { routes } = &iface.kind {
            routed_host_side(&nl, hi, &host, iface, routes)?;
        }
        shape(&nl, hi, &host, o.state_dir, iface.max_rx, iface.max_tx)?;
        let inside = Netlink::in_netns(ns.as_fd(), &place)?;
        let ci = inside.index(&iface.name)?;
        configure_inside(&inside, ci, iface)
    })();
    if let Err(e) = res {
        let _ = nl.delete_named(&host);
        let _ = nl.delete_named(&ifb_name(&host));
        return Err(ctx(e));
    }
    Ok(Some(host))
}

/// The ifb that carries host end `host`'s ingress (the container's
/// transmit side) when it is shaped.
fn ifb_name(host: &str) -> String {
    format!(
        "vpi{:08x}{:x}",
        fnv(host.as_bytes()) as u32,
        fnv(host.as_bytes()) >> 60
    )
}

/// Apply (or lift) the receive and transmit limits of host end `hi`.
fn shape(
    nl: &Netlink,
    hi: u32,
    host: &str,
    state_dir: &Path,
    max_rx: Option<u64>,
    max_tx: Option<u64>,
) -> Result<()> {
    match max_rx {
        Some(r) => nl.set_rate(hi, r)?,
        None => nl.clear_rate(hi)?,
    }
    let ifb = ifb_name(host);
    match max_tx {
        Some(r) => {
            let fi = match nl.index(&ifb) {
                Ok(i) => i,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    nl.add_ifb(&ifb)?;
                    let fi = nl.index(&ifb)?;
                    nl.set_alias(fi, &owner_alias(state_dir))?;
                    nl.set_up(fi, true)?;
                    nl.redirect_ingress(hi, fi)?;
                    fi
                }
                Err(e) => return Err(e),
            };
            nl.set_rate(fi, r)
        }
        None => {
            nl.clear_ingress(hi)?;
            nl.delete_named(&ifb)
        }
    }
}

/// MAC, MTU, addresses, up, and the default routes of link `ci` inside.
fn configure_inside(inside: &Netlink, ci: u32, iface: &Interface) -> Result<()> {
    if let Some(m) = &iface.mac {
        inside.set_mac(ci, parse_mac(m)?)?;
    }
    if let Some(m) = iface.mtu {
        inside.set_mtu(ci, m)?;
    }
    for a in &iface.addresses {
        inside.add_address(ci, *a, &iface.name)?;
    }
    inside.set_up(ci, true)?;
    if matches!(iface.kind, InterfaceKind::Routed { .. }) {
        routed_inside(inside, ci, iface)?;
    }
    for (gw, v) in [(iface.gateway, "IPv4"), (iface.gateway6, "IPv6")] {
        if let Some(g) = gw {
            inside.add_route(
                None,
                Some(g),
                Some(ci),
                &format!("adding the {v} default route via {g} on {}", iface.name),
            )?;
        }
    }
    Ok(())
}

/// The gateway address containers of the routed model reach: on every
/// host end, so the host answers ARP for it on that link.
pub(crate) const ROUTED_GATEWAY: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 254);
/// The host end's IPv6 link-local address in the routed model.
pub(crate) const ROUTED_GATEWAY6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// Host side of a routed interface: the gateway addresses, rp_filter, and
/// routes to the container's addresses and networks via the host end.
fn routed_host_side(
    nl: &Netlink,
    hi: u32,
    host: &str,
    iface: &Interface,
    routes: &[IpCidr],
) -> Result<()> {
    nl.add_address(
        hi,
        IpCidr {
            addr: ROUTED_GATEWAY.into(),
            prefix: 32,
        },
        host,
    )?;
    nl.add_address(
        hi,
        IpCidr {
            addr: ROUTED_GATEWAY6.into(),
            prefix: 64,
        },
        host,
    )?;
    let rp = format!("/proc/sys/net/ipv4/conf/{host}/rp_filter");
    std::fs::write(&rp, "1").ctx(|| format!("writing {rp}"))?;
    for a in &iface.addresses {
        let host_route = IpCidr {
            addr: a.addr,
            prefix: if a.addr.is_ipv4() { 32 } else { 128 },
        };
        nl.add_route(
            Some(host_route),
            None,
            Some(hi),
            &format!("adding the route to {host_route} via {host}"),
        )?;
    }
    for r in routes {
        nl.add_route(
            Some(*r),
            None,
            Some(hi),
            &format!("adding the route to {r} via {host}"),
        )?;
    }
    Ok(())
}

/// Inside a routed interface: default routes via the host end.
fn routed_inside(inside: &Netlink, ci: u32, iface: &Interface) -> Result<()> {
    let gw = IpCidr {
        addr: ROUTED_GATEWAY.into(),
        prefix: 32,
    };
    if iface.addresses.iter().any(|a| a.addr.is_ipv4()) {
        inside.add_route(
            Some(gw),
            None,
            Some(ci),
            &format!("adding the route to {gw} on {}", iface.name),
        )?;
        inside.add_route(
            None,
            Some(ROUTED_GATEWAY.into()),
            Some(ci),
            &format!(
                "adding the default route via {} on {}",
                ROUTED_GATEWAY, iface.name
            ),
        )?;
    }
    if iface.addresses.iter().any(|a| a.addr.is_ipv6()) {
        inside.add_route(
            None,
            Some(ROUTED_GATEWAY6.into()),
            Some(ci),
            &format!(
                "adding the IPv6 default route via {} on {}",
                ROUTED_GATEWAY6, iface.name
            ),
        )?;
    }
    Ok(())
}

/// The alias vpsos gives the host ends of container `state_dir`'s links.
fn owner_alias(state_dir: &Path) -> String {
    format!("vpsos:{}", state_dir.display())
}

/// Host links made for containers under state root `root` whose container
/// no longer runs (its state is gone, or its init has died): left by a
/// crash. `alive(id)` says whether container `id` runs.
pub(crate) fn orphans(root: &Path, alive: impl Fn(&str) -> bool) -> Result<Vec<Link>> {
    let prefix = owner_alias(root) + "/";
    Ok(Netlink::open()?
        .links()?
        .into_iter()
        .filter(|l| {
            l.alias
                .as_deref()
                .and_then(|a| a.strip_prefix(&prefix))
                .is_some_and(|id| !alive(id))
        })
        .collect())
}

/// Delete host links (each takes its container end along); missing ones
/// (gone with the namespace) are fine.
pub(crate) fn remove_host_links(names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let nl = Netlink::open()?;
    for n in names {
        nl.delete_named(n)?;
    }
    Ok(())
}

/// The host ends `interfaces` will have (taps have none): named before
/// they exist, for the write-ahead state.
pub(crate) fn planned_host_links(id: &str, interfaces: &[Interface]) -> Vec<String> {
    let mut v = Vec::new();
    for i in interfaces.iter().filter(|i| i.kind != InterfaceKind::Tap) {
        let h = host_name(id, i);
        let ifb = i.max_tx.is_some().then(|| ifb_name(&h));
        v.push(h);
        v.extend(ifb);
    }
    v
}

/// Delete those of `names` that are the container's in state dir `dir`:
/// marked with its alias, or with no alias at all (made by a creator that
/// died before it could mark them). Links another owner marked stay.
/// Returns the names deleted.
pub(crate) fn remove_owned_links(dir: &Path, names: &[String]) -> Result<Vec<String>> {
    if names.is_empty() {
        return Ok(vec![]);
    }
    let nl = Netlink::open()?;
    let mine = owner_alias(dir);
    let mut gone = Vec::new();
    for l in nl.links()? {
        if !names.contains(&l.name) {
            continue;
        }
        if l.alias.as_deref().is_none_or(|a| a == mine) {
            nl.delete_named(&l.name)?;
            gone.push(l.name);
        }
    }
    Ok(gone)
}

impl Container {
    fn owner<'a>(&'a self, st: &StateFile, cfg: &Config) -> Result<Owner<'a>> {
        let init = self.running_init(st, "changing interfaces")?;
        Ok(Owner {
            id: &self.id,
            pid: init.r.pid,
            state_dir: &self.dir,
            root: (
                host_id(cfg.uid_map.as_ref(), 0),
                host_id(cfg.gid_map.as_ref(), 0),
            ),
        })
    }

    /// Add a network interface to the running container; it works at once.
    ///
    /// ```no_run
    /// use vpsos_core::config::Interface;
    /// # let ct = vpsos_core::Runtime::new().load("ct1")?;
    /// ct.add_interface(Interface::bridged("eth1", "br0").address("10.0.1.2/24".parse()?))?;
    /// ct.remove_interface("eth1")?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn add_interface(&self, iface: Interface) -> Result<()> {
        let id = self.id.clone();
        self.update(|st, cfg| {
            let n = cfg.interfaces.len();
            iface.validate(&format!("interfaces[{n}]"))?;
            if cfg.interfaces.iter().any(|i| i.name == iface.name) {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("container {id} has an interface {} already", iface.name),
                ));
            }
            let tun = |r: &crate::config::DeviceRule| r.major == Some(10) && r.minor == Some(200);
            if iface.kind == InterfaceKind::Tap && !cfg.devices.iter().any(tun) {
                return Err(Error::invalid(
                    format!("interfaces[{n}]"),
                    "a tap needs /dev/net/tun granted (grant_device(DeviceRule::tun()))",
                ));
            }
            let owner = self
                .owner(st, cfg)
                .map_err(|e| e.context(format!("adding interface {}", iface.name)))?;
            // write-ahead: the names go into the state before the links exist
            let planned = planned_host_links(&id, std::slice::from_ref(&iface));
            st.host_links.extend(planned.iter().cloned());
            st.write(&self.dir)?;
            if let Err(e) = add(&owner, &iface) {
                st.host_links.retain(|h| !planned.contains(h));
                st.write(&self.dir)?;
                return Err(e);
            }
            cfg.interfaces.push(iface);
            Ok(())
        })
    }

    /// Remove interface `name` (inside) from the running container; both
    /// ends go.
    pub fn remove_interface(&self, name: &str) -> Result<()> {
        let id = self.id.clone();
        self.update(|st, cfg| {
            let pos = interface_pos(&id, cfg, name)?;
            let ctx = |e: Error| e.context(format!("removing interface {name} of container {id}"));
            if cfg.interfaces[pos].kind == InterfaceKind::Tap {
                let ns = netns_of(&self.owner(st, cfg)?)?;
                let inside = Netlink::in_netns(ns.as_fd(), &format!("in container {id}"))?;
                inside.delete_named(name).map_err(ctx)?;
            } else {
                let host = host_name(&id, &cfg.interfaces[pos]);
                let both = [host.clone(), ifb_name(&host)];
                remove_host_links(&both).map_err(ctx)?;
                st.host_links.retain(|h| !both.contains(h));
            }
            cfg.interfaces.remove(pos);
            Ok(())
        })
    }

    /// Change the receive and transmit limits (bits/s; `None` lifts one)
    /// of interface `name` on the running container.
    ///
    /// ```no_run
    /// # let ct = vpsos_core::Runtime::new().load("ct1")?;
    /// ct.set_interface_rates("eth0", Some(100_000_000), None)?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn set_interface_rates(
        &self,
        name: &str,
        max_rx: Option<u64>,
        max_tx: Option<u64>,
    ) -> Result<()> {
        let id = self.id.clone();
        self.update(|st, cfg| {
            let pos = interface_pos(&id, cfg, name)?;
            let mut iface = cfg.interfaces[pos].clone();
            iface.max_rx = max_rx;
            iface.max_tx = max_tx;
            iface.validate(&format!("interfaces[{pos}]"))?;
            let host = host_name(&id, &iface);
            let ifb = ifb_name(&host);
            if max_tx.is_some() && !st.host_links.contains(&ifb) {
                st.host_links.push(ifb.clone());
                st.write(&self.dir)?;
            }
            let nl = Netlink::open()?;
            let hi = nl.index(&host)?;
            shape(&nl, hi, &host, &self.dir, max_rx, max_tx)
                .map_err(|e| e.context(format!("shaping interface {name} of container {id}")))?;
            if max_tx.is_none() {
                st.host_links.retain(|h| *h != ifb);
            }
            cfg.interfaces[pos] = iface;
            Ok(())
        })
    }
}

/// Where interface `name` is in the description, or `NotFound`.
fn interface_pos(id: &str, cfg: &Config, name: &str) -> Result<usize> {
    cfg.interfaces
        .iter()
        .position(|i| i.name == name)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("container {id} has no interface {name}"),
            )
        })
}
