//! IPv4 and IPv6 addresses and routes.

use super::Netlink;
use crate::error::{Error, Result};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address with its prefix length: `10.0.0.2/24`, `fd00::2/64`.
///
/// ```
/// use vpsos_core::net::IpCidr;
/// let c: IpCidr = "10.0.0.2/24".parse()?;
/// assert_eq!(c.prefix, 24);
/// assert_eq!(c.to_string(), "10.0.0.2/24");
/// assert!("10.0.0.2/33".parse::<IpCidr>().is_err());
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpCidr {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl FromStr for IpCidr {
    type Err = Error;
    fn from_str(s: &str) -> Result<IpCidr> {
        let bad = || Error::invalid("address", format!("{s:?} is not ADDRESS/PREFIX"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        Ok(IpCidr { addr, prefix })
    }
}

impl TryFrom<String> for IpCidr {
    type Error = Error;
    fn try_from(s: String) -> Result<IpCidr> {
        s.parse()
    }
}

impl From<IpCidr> for String {
    fn from(c: IpCidr) -> String {
        c.to_string()
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn family(a: &IpAddr) -> AddressFamily {
    if a.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

impl Netlink {
    /// Add `cidr` to link `index` (`link_name` names it in errors). IPv6
    /// addresses skip duplicate address detection (usable at once; the
    /// links vpsos makes are point-to-point or its own bridges).
    pub fn add_address(&self, index: u32, cidr: IpCidr, link_name: &str) -> Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = family(&cidr.addr);
        m.header.prefix_len = cidr.prefix;
        m.header.index = index;
        if cidr.addr.is_ipv6() {
            m.header.flags = AddressHeaderFlags::Nodad;
        }
        m.attributes.push(AddressAttribute::Local(cidr.addr));
        m.attributes.push(AddressAttribute::Address(cidr.addr));
        self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("adding {cidr} to {link_name}"),
        )
        .map(|_| ())
    }

    /// Add a route to `dest` (`None`: the default route) via `gateway`
    /// and/or out of link `oif`. `onlink` routes to a gateway that is not
    /// in any of the link's prefixes (routed setups).
    pub fn add_route(
        &self,
        dest: Option<IpCidr>,
        gateway: Option<IpAddr>,
        oif: Option<u32>,
        what: &str,
    ) -> Result<()> {
        let fam_addr = dest
            .map(|d| d.addr)
            .or(gateway)
            .ok_or_else(|| Error::invalid("route", "needs a destination or a gateway"))?;
        let mut m = RouteMessage::default();
        m.header = RouteHeader {
            address_family: family(&fam_addr),
            destination_prefix_length: dest.map_or(0, |d| d.prefix),
            table: RouteHeader::RT_TABLE_MAIN,
            protocol: RouteProtocol::Static,
            scope: if gateway.is_some() {
                RouteScope::Universe
            } else {
                RouteScope::Link
            },
            kind: RouteType::Unicast,
            ..m.header
        };
        if let Some(d) = dest {
            m.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(d.addr)));
        }
        if let Some(g) = gateway {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(g)));
        }
        if let Some(i) = oif {
            m.attributes.push(RouteAttribute::Oif(i));
        }
        self.request(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_EXCL,
            what,
        )
        .map(|_| ())
    }
}
