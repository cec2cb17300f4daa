//! Network interfaces in the container description.

use crate::error::{Error, Result};
use crate::net::IpCidr;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// How an interface reaches the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type", deny_unknown_fields)]
pub enum InterfaceKind {
    /// A veth whose host end is a port of the host bridge `bridge`.
    Bridged {
        /// The host bridge (it must exist).
        bridge: String,
    },
    /// osctld's routed model: a veth with host routes to the container's
    /// addresses and `routes` via its host end (rp_filter on); inside, the
    /// default routes go via 255.255.255.254 (an address of every host
    /// end) and, for IPv6, via the host end's link-local fe80::1.
    Routed {
        /// Networks routed to the container besides its addresses.
        #[serde(default)]
        routes: Vec<IpCidr>,
    },
    /// A persistent tap inside the container, owned by its root, for a VM
    /// running there (needs /dev/net/tun granted: `DeviceRule::tun()`).
    Tap,
}

/// A network interface of the container.
///
/// ```
/// use vpsos_core::config::Interface;
/// let i = Interface::bridged("eth0", "br0")
///     .address("10.0.0.2/24".parse()?)
///     .gateway("10.0.0.1".parse().unwrap());
/// assert_eq!(i.addresses.len(), 1);
/// # Ok::<(), vpsos_core::Error>(())
/// ```
///
/// In JSON it is one flat object, `{"name": "eth0", "type": "bridged",
/// "bridge": "br0", ...}`; a field it does not know, or one that does not
/// belong to its type, is an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "InterfaceJson", into = "InterfaceJson")]
pub struct Interface {
    /// Its name inside the container (`eth0`).
    pub name: String,
    /// Bridged, routed or tap.
    pub kind: InterfaceKind,
    /// The host end's name; default `vps` + a hash of the container id +
    /// the interface's position.
    #[serde(default)]
    pub host_name: Option<String>,
    /// MAC address inside (`aa:bb:cc:dd:ee:ff`); default random.
    #[serde(default)]
    pub mac: Option<String>,
    /// MTU of both ends.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Static addresses inside; none leaves configuration (DHCP, ...) to
    /// the distribution.
    #[serde(default)]
    pub addresses: Vec<IpCidr>,
    /// IPv4 default gateway.
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    /// IPv6 default gateway.
    #[serde(default)]
    pub gateway6: Option<IpAddr>,
    /// Most the container may receive through it, bits/s (a tbf on the
    /// host end; osctld's `max_rx`).
    #[serde(default)]
    pub max_rx: Option<u64>,
    /// Most the container may send through it, bits/s (the host end's
    /// ingress redirected to an ifb with a tbf; osctld's `max_tx`).
    #[serde(default)]
    pub max_tx: Option<u64>,
}

/// [`Interface`]'s JSON form: its kind's fields beside the others (serde
/// cannot deny unknown fields of a struct with a flattened enum).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InterfaceJson {
    name: String,
    #[serde(rename = "type")]
    kind: KindName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bridge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    routes: Option<Vec<IpCidr>>,
    #[serde(default)]
    host_name: Option<String>,
    #[serde(default)]
    mac: Option<String>,
    #[serde(default)]
    mtu: Option<u32>,
    #[serde(default)]
    addresses: Vec<IpCidr>,
    #[serde(default)]
    gateway: Option<IpAddr>,
    #[serde(default)]
    gateway6: Option<IpAddr>,
    #[serde(default)]
    max_rx: Option<u64>,
    #[serde(default)]
    max_tx: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum KindName {
    Bridged,
    Routed,
    Tap,
}

impl TryFrom<InterfaceJson> for Interface {
    type Error = String;

    fn try_from(j: InterfaceJson) -> std::result::Result<Interface, String> {
        let kind = match (j.kind, j.bridge, j.routes) {
            (KindName::Bridged, Some(bridge), None) => InterfaceKind::Bridged { bridge },
            (KindName::Bridged, None, _) => return Err("a bridged interface needs `bridge`".into()),
            (KindName::Routed, None, routes) => InterfaceKind::Routed {
                routes: routes.unwrap_or_default(),
            },
            (KindName::Tap, None, None) => InterfaceKind::Tap,
            (_, Some(_), _) => return Err("`bridge` belongs to a bridged interface".into()),
            (_, _, Some(_)) => return Err("`routes` belong to a routed interface".into()),
        };
        Ok(Interface {
            name: j.name,
            kind,
            host_name: j.host_name,
            mac: j.mac,
            mtu: j.mtu,
            addresses: j.addresses,
            gateway: j.gateway,
            gateway6: j.gateway6,
            max_rx: j.max_rx,
            max_tx: j.max_tx,
        })
    }
}

impl From<Interface> for InterfaceJson {
    fn from(i: Interface) -> InterfaceJson {
        let (kind, bridge, routes) = match i.kind {
            InterfaceKind::Bridged { bridge } => (KindName::Bridged, Some(bridge), None),
            InterfaceKind::Routed { routes } => (KindName::Routed, None, Some(routes)),
            InterfaceKind::Tap => (KindName::Tap, None, None),
        };
        InterfaceJson {
            name: i.name,
            kind,
            bridge,
            routes,
            host_name: i.host_name,
            mac: i.mac,
            mtu: i.mtu,
            addresses: i.addresses,
            gateway: i.gateway,
            gateway6: i.gateway6,
            max_rx: i.max_rx,
            max_tx: i.max_tx,
        }
    }
}

fn check_name(field: &str, n: &str) -> Result<()> {
    if n.is_empty() || n.len() > 15 || n.contains(['/', ' ', '\0']) || n == "." || n == ".." {
        return Err(Error::invalid(
            field,
            format!("{n:?}: 1 to 15 characters, no '/' or space"),
        ));
    }
    Ok(())
}

impl Interface {
    /// A veth named `name` inside, its host end on bridge `bridge`.
    pub fn bridged(name: &str, bridge: &str) -> Interface {
        Interface {
            name: name.into(),
            kind: InterfaceKind::Bridged {
                bridge: bridge.into(),
            },
            host_name: None,
            mac: None,
            mtu: None,
            addresses: vec![],
            gateway: None,
            gateway6: None,
            max_rx: None,
            max_tx: None,
        }
    }

    /// A tap named `name` inside.
    pub fn tap(name: &str) -> Interface {
        Interface {
            kind: InterfaceKind::Tap,
            ..Interface::bridged(name, "")
        }
    }

    /// A routed veth named `name` inside.
    pub fn routed(name: &str) -> Interface {
        Interface {
            kind: InterfaceKind::Routed { routes: vec![] },
            ..Interface::bridged(name, "")
        }
    }

    /// Add a static address.
    pub fn address(mut self, a: IpCidr) -> Interface {
        self.addresses.push(a);
        self
    }

    /// Set the IPv4 default gateway.
    pub fn gateway(mut self, g: IpAddr) -> Interface {
        self.gateway = Some(g);
        self
    }

    /// Check names, MAC, MTU and gateways; `at` is the field prefix
    /// (`interfaces[0]`).
    pub fn validate(&self, at: &str) -> Result<()> {
        check_name(&format!("{at}.name"), &self.name)?;
        if let Some(h) = &self.host_name {
            check_name(&format!("{at}.host_name"), h)?;
        }
        match &self.kind {
            InterfaceKind::Bridged { bridge } => check_name(&format!("{at}.bridge"), bridge)?,
            InterfaceKind::Tap => {
                if self.gateway.is_some() || self.gateway6.is_some() || self.host_name.is_some() {
                    return Err(Error::invalid(
                        format!("{at}.kind"),
                        "a tap has no host end and no gateway",
                    ));
                }
            }
            InterfaceKind::Routed { .. } => {
                if self.gateway.is_some() || self.gateway6.is_some() {
                    return Err(Error::invalid(
                        format!("{at}.gateway"),
                        "a routed interface's gateways are 255.255.255.254 and fe80::1",
                    ));
                }
            }
        }
        if let Some(m) = &self.mac {
            crate::net::parse_mac(m).map_err(|_| {
                Error::invalid(
                    format!("{at}.mac"),
                    format!("{m:?} is not aa:bb:cc:dd:ee:ff"),
                )
            })?;
        }
        for (rate, f) in [(self.max_rx, "max_rx"), (self.max_tx, "max_tx")] {
            if rate.is_some_and(|r| r < 8_000) {
                return Err(Error::invalid(format!("{at}.{f}"), "at least 8000 bit/s"));
            }
            if rate.is_some() && self.kind == InterfaceKind::Tap {
                return Err(Error::invalid(
                    format!("{at}.{f}"),
                    "shaping is for veth interfaces",
                ));
            }
        }
        if self.mtu.is_some_and(|m| !(68..=65535).contains(&m)) {
            return Err(Error::invalid(format!("{at}.mtu"), "68 to 65535"));
        }
        if self.gateway.is_some_and(|g| !g.is_ipv4()) {
            return Err(Error::invalid(
                format!("{at}.gateway"),
                "must be IPv4 (use gateway6)",
            ));
        }
        if self.gateway6.is_some_and(|g| !g.is_ipv6()) {
            return Err(Error::invalid(format!("{at}.gateway6"), "must be IPv6"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form_and_validation() {
        let j = r#"{"name": "eth0", "type": "bridged", "bridge": "br0",
                    "addresses": ["10.0.0.2/24", "fd00::2/64"], "gateway": "10.0.0.1"}"#;
        let i: Interface = serde_json::from_str(j).unwrap();
        assert_eq!(
            i.kind,
            InterfaceKind::Bridged {
                bridge: "br0".into()
            }
        );
        assert_eq!(i.addresses[1].prefix, 64);
        i.validate("interfaces[0]").unwrap();
        let bad = Interface {
            gateway: Some("fd00::1".parse().unwrap()),
            ..i.clone()
        };
        assert_eq!(
            bad.validate("interfaces[0]").unwrap_err().field(),
            Some("interfaces[0].gateway")
        );
        let long = Interface::bridged("a-very-long-name0", "br0");
        assert_eq!(
            long.validate("interfaces[1]").unwrap_err().field(),
            Some("interfaces[1].name")
        );
        assert!(serde_json::from_str::<Interface>(
            r#"{"name": "eth0", "type": "bridged", "bridge": "b", "addresses": ["x"]}"#
        )
        .is_err());
        // what the state file holds reads back
        let j = serde_json::to_string(&i).unwrap();
        assert_eq!(serde_json::from_str::<Interface>(&j).unwrap(), i);
    }

    /// A typo or a field of another type is an error, never ignored.
    #[test]
    fn json_refuses_unknown_and_misplaced_fields() {
        for (j, why) in [
            (
                r#"{"name": "eth0", "type": "bridged", "bridge": "br0", "max_rxx": 1}"#,
                "unknown field",
            ),
            (
                r#"{"name": "eth0", "type": "routed", "bridge": "br0"}"#,
                "bridged",
            ),
            (r#"{"name": "eth0", "type": "tap", "routes": []}"#, "routed"),
            (r#"{"name": "eth0", "type": "bridged"}"#, "needs `bridge`"),
            (r#"{"name": "eth0", "type": "veth"}"#, "unknown variant"),
        ] {
            let e = serde_json::from_str::<Interface>(j)
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{j}: {e}");
        }
        for i in [
            Interface::routed("eth1").address("10.0.0.2/32".parse().unwrap()),
            Interface::tap("tap0"),
            Interface {
                kind: InterfaceKind::Routed {
                    routes: vec!["10.1.0.0/16".parse().unwrap()],
                },
                ..Interface::routed("eth2")
            },
        ] {
            let j = serde_json::to_string(&i).unwrap();
            assert_eq!(serde_json::from_str::<Interface>(&j).unwrap(), i, "{j}");
        }
    }
}
