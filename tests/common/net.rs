//! Test networking helpers: bridges and host-end names the leak checker
//! recognises (`vptbr…`, `vpst…`).

use std::sync::atomic::{AtomicU32, Ordering};
use vpsos::config::Interface;
use vpsos::net::Netlink;

/// A test bridge, deleted when dropped.
pub struct Bridge {
    pub name: String,
}

impl Bridge {
    pub fn new() -> Bridge {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "vptbr{}{}",
            std::process::id() % 10000,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let nl = Netlink::open().unwrap();
        nl.add_bridge(&name).unwrap();
        nl.set_up(nl.index(&name).unwrap(), true).unwrap();
        Bridge { name }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Netlink::open().and_then(|nl| nl.delete_named(&self.name));
    }
}

/// A host-end name the leak checker recognises.
pub fn host_end() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "vpst{}x{}",
        std::process::id() % 100000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A /24 of 10.213.0.0/16 for this test binary and `n`.
pub fn subnet(n: u32) -> String {
    format!("10.{}.{}", 200 + std::process::id() % 50, n % 250)
}

pub fn iface(name: &str, br: &Bridge, addr: &str) -> Interface {
    let mut i = Interface::bridged(name, &br.name).address(addr.parse().unwrap());
    i.host_name = Some(host_end());
    i
}
