//! Links: veth pairs, bridges, dummies; up/down, MTU, MAC, name, bridge
//! port; moving into a namespace; listing with counters.

use super::Netlink;
use crate::error::{Error, ErrorKind, Result};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;
use std::os::fd::{AsRawFd, BorrowedFd};

/// One network interface as the kernel reports it.
///
/// ```no_run
/// let nl = vpsos_core::net::Netlink::open()?;
/// let lo = nl.link("lo")?;
/// assert!(lo.up && lo.kind.is_none());
/// println!("lo: {} bytes in", lo.rx_bytes);
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// `veth`, `bridge`, `dummy`, ... (`None` for physical and loopback).
    pub kind: Option<String>,
    /// Administratively up.
    pub up: bool,
    /// MTU.
    pub mtu: u32,
    /// MAC address.
    pub mac: Option<[u8; 6]>,
    /// Index of the bridge it is a port of.
    pub master: Option<u32>,
    /// The interface alias (`ip link set … alias`); vpsos marks the host
    /// ends it makes with `vpsos:<container state dir>`.
    pub alias: Option<String>,
    /// Bytes and packets received and sent.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
}

fn kind_name(k: &InfoKind) -> String {
    match k {
        InfoKind::Veth => "veth".into(),
        InfoKind::Bridge => "bridge".into(),
        InfoKind::Dummy => "dummy".into(),
        InfoKind::Ifb => "ifb".into(),
        InfoKind::Tun => "tun".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

pub(crate) fn to_link(m: &LinkMessage) -> Link {
    let mut l = Link {
        index: m.header.index,
        name: String::new(),
        kind: None,
        up: m.header.flags.contains(LinkFlags::Up),
        mtu: 0,
        mac: None,
        master: None,
        alias: None,
        rx_bytes: 0,
        rx_packets: 0,
        tx_bytes: 0,
        tx_packets: 0,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::Mtu(v) => l.mtu = *v,
            LinkAttribute::Controller(v) => l.master = Some(*v),
            LinkAttribute::IfAlias(a) => l.alias = Some(a.clone()),
            LinkAttribute::Address(a) if a.len() == 6 => {
                l.mac = Some([a[0], a[1], a[2], a[3], a[4], a[5]])
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        l.kind = Some(kind_name(k));
                    }
                }
            }
            LinkAttribute::Stats64(s) => {
                l.rx_bytes = s.rx_bytes;
                l.rx_packets = s.rx_packets;
                l.tx_bytes = s.tx_bytes;
                l.tx_packets = s.tx_packets;
            }
            _ => {}
        }
    }
    l
}

/// Parse `aa:bb:cc:dd:ee:ff`.
///
/// ```
/// assert_eq!(vpsos_core::net::parse_mac("02:00:00:00:00:01").unwrap()[5], 1);
/// assert!(vpsos_core::net::parse_mac("02:00").is_err());
/// ```
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bytes: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::invalid("mac", format!("{s:?} is not aa:bb:cc:dd:ee:ff")))?;
    <[u8; 6]>::try_from(bytes)
        .map_err(|_| Error::invalid("mac", format!("{s:?} is not aa:bb:cc:dd:ee:ff")))
}

impl Netlink {
    /// Every link of the namespace.
    pub fn links(&self) -> Result<Vec<Link>> {
        let msgs = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
            "listing links",
        )?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(to_link(l)),
                _ => None,
            })
            .collect())
    }

    /// The link called `name`; `NotFound` if there is none.
    pub fn link(&self, name: &str) -> Result<Link> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        let what = format!("looking up link {name}");
        let msgs = match self.request(RouteNetlinkMessage::GetLink(m), 0, &what) {
            Err(e) if e.errno() == Some(libc::ENODEV) => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("{what} {}: no such link", self.place),
                ))
            }
            r => r?,
        };
        msgs.iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(to_link(l)),
                _ => None,
            })
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("no link {name} {}", self.place),
                )
            })
    }

    /// The index of link `name`.
    pub fn index(&self, name: &str) -> Result<u32> {
        Ok(self.link(name)?.index)
    }

    fn new_link(&self, m: LinkMessage, what: &str) -> Result<()> {
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
            what,
        )
        .map(|_| ())
    }

    fn set_link(&self, m: LinkMessage, what: &str) -> Result<()> {
        self.request(RouteNetlinkMessage::SetLink(m), 0, what)
            .map(|_| ())
    }

    /// Create a veth pair `name` ⇄ `peer`; with `peer_netns` the peer is
    /// born in that namespace (an fd of `/proc/<pid>/ns/net`).
    pub fn add_veth(
        &self,
        name: &str,
        peer: &str,
        peer_netns: Option<BorrowedFd<'_>>,
    ) -> Result<()> {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.into()));
        if let Some(fd) = peer_netns {
            p.attributes.push(LinkAttribute::NetNsFd(fd.as_raw_fd()));
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.new_link(m, &format!("creating veth pair {name}/{peer}"))
    }

    /// Create a link of a kind that needs no options (bridge, dummy, ifb).
    fn add_simple(&self, name: &str, kind: InfoKind) -> Result<()> {
        let what = format!("creating {} {name}", kind_name(&kind));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(kind)]));
        self.new_link(m, &what)
    }

    /// Create a bridge.
    pub fn add_bridge(&self, name: &str) -> Result<()> {
        self.add_simple(name, InfoKind::Bridge)
    }

    /// Create a dummy link.
    pub fn add_dummy(&self, name: &str) -> Result<()> {
        self.add_simple(name, InfoKind::Dummy)
    }

    /// Create an ifb (intermediate functional block) link.
    pub fn add_ifb(&self, name: &str) -> Result<()> {
        self.add_simple(name, InfoKind::Ifb)
    }

    /// Delete link `index` (a veth takes its peer along).
    pub fn delete(&self, index: u32) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        self.request(
            RouteNetlinkMessage::DelLink(m),
            0,
            &format!("deleting link {index}"),
        )
        .map(|_| ())
    }

    /// Delete link `name`; a missing one is fine, also one that vanishes
    /// meanwhile (a veth goes when its peer's namespace dies).
    pub fn delete_named(&self, name: &str) -> Result<()> {
        match self.index(name) {
            Ok(i) => match self.delete(i) {
                Err(e) if e.errno() == Some(libc::ENODEV) => Ok(()),
                r => r.map_err(|e| e.context(format!("deleting {name}"))),
            },
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn with(index: u32, attr: Option<LinkAttribute>) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.extend(attr);
        m
    }

    /// Bring link `index` up or down.
    pub fn set_up(&self, index: u32, up: bool) -> Result<()> {
        let mut m = Self::with(index, None);
        m.header.change_mask = LinkFlags::Up;
        if up {
            m.header.flags = LinkFlags::Up;
        }
        let what = if up { "setting up" } else { "setting down" };
        self.set_link(m, &format!("{what} link {index}"))
    }

    /// Set the MTU.
    pub fn set_mtu(&self, index: u32, mtu: u32) -> Result<()> {
        self.set_link(
            Self::with(index, Some(LinkAttribute::Mtu(mtu))),
            &format!("setting MTU {mtu} on link {index}"),
        )
    }

    /// Set the MAC address.
    pub fn set_mac(&self, index: u32, mac: [u8; 6]) -> Result<()> {
        self.set_link(
            Self::with(index, Some(LinkAttribute::Address(mac.to_vec()))),
            &format!("setting MAC on link {index}"),
        )
    }

    /// Rename (the link must be down).
    pub fn set_name(&self, index: u32, name: &str) -> Result<()> {
        self.set_link(
            Self::with(index, Some(LinkAttribute::IfName(name.into()))),
            &format!("renaming link {index} to {name}"),
        )
    }

    /// Set the interface alias.
    pub fn set_alias(&self, index: u32, alias: &str) -> Result<()> {
        self.set_link(
            Self::with(index, Some(LinkAttribute::IfAlias(alias.into()))),
            &format!("setting the alias of link {index}"),
        )
    }

    /// Make link `index` a port of bridge `bridge` (0: no bridge).
    pub fn set_master(&self, index: u32, bridge: u32) -> Result<()> {
        self.set_link(
            Self::with(index, Some(LinkAttribute::Controller(bridge))),
            &format!("adding link {index} to bridge {bridge}"),
        )
    }

    /// Move link `index` into the namespace of `netns` (an fd).
    pub fn move_to_netns(&self, index: u32, netns: BorrowedFd<'_>) -> Result<()> {
        self.set_link(
            Self::with(index, Some(LinkAttribute::NetNsFd(netns.as_raw_fd()))),
            &format!("moving link {index} to another namespace"),
        )
    }

    /// Move link `index` into the network namespace of process `pid`.
    pub fn move_to_pid(&self, index: u32, pid: u32) -> Result<()> {
        self.set_link(
            Self::with(index, Some(LinkAttribute::NetNsPid(pid))),
            &format!("moving link {index} to pid {pid}'s namespace"),
        )
    }
}
