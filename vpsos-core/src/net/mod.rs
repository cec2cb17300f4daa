//! Networking over netlink, synchronously: links (veth, bridge, dummy,
//! ifb), addresses and routes for IPv4 and IPv6, link counters, in any
//! network namespace; and the container interfaces built on them.
//!
//! ```no_run
//! use vpsos_core::net::Netlink;
//! let nl = Netlink::open()?;
//! nl.add_bridge("br-test")?;
//! let br = nl.index("br-test")?;
//! nl.set_up(br, true)?;
//! nl.add_address(br, "10.99.0.1/24".parse()?, "br-test")?;
//! nl.delete(br)?;
//! # Ok::<(), vpsos_core::Error>(())
//! ```

mod addr;
pub(crate) mod link;
pub(crate) mod shape;
pub(crate) mod socket;
mod tap;

pub use addr::IpCidr;
pub use link::{parse_mac, Link};
pub use shape::Qdisc;
pub use socket::{run_in_netns, Netlink};
pub use tap::create_tap;
