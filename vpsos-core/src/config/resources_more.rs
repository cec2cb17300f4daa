//! The less common limits: huge pages, network class and priorities, raw
//! cgroup v2 files, block I/O weight, swappiness, realtime CPU — their
//! types, conversions and checks.

use super::Resources;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// OCI `cpu.shares` (v1, 2 to 262144) to vpsos's weight (1 to 10000), as
/// runc converts them for cgroup v2: `1 + (shares - 2) × 9999 / 262142`.
/// (The v1 default 1024 becomes 39, not [`CpuLimits::weight`]'s default
/// 100: on a v1 host vpsos then writes `cpu.shares` 399. Relative weights
/// between containers converted alike keep their proportions.)
///
/// ```
/// use vpsos_core::config::oci_shares_to_weight;
/// assert_eq!(oci_shares_to_weight(2), 1);
/// assert_eq!(oci_shares_to_weight(1024), 39);
/// assert_eq!(oci_shares_to_weight(262_144), 10_000);
/// ```
pub fn oci_shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + (s - 2) * 9999 / 262_142
}

/// Network classification and priorities (v1 `net_cls`, `net_prio`; cgroup
/// v2 has no such controllers).
///
/// ```
/// use vpsos_core::config::NetworkLimits;
/// let n = NetworkLimits { class_id: Some(0x10001), priorities: [("eth0".into(), 5)].into() };
/// assert!(!n.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkLimits {
    /// The class id put on the container's packets (`net_cls.classid`).
    pub class_id: Option<u32>,
    /// Priority per interface name (`net_prio.ifpriomap`).
    pub priorities: BTreeMap<String, u32>,
}

impl NetworkLimits {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.class_id.is_none() && self.priorities.is_empty()
    }
}

fn valid_page_size(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && ["KB", "MB", "GB"].contains(&unit)
}

/// The byte size of a huge page size name (`2MB` → 2097152).
///
/// ```
/// assert_eq!(vpsos_core::config::page_size_bytes("2MB"), Some(2 << 20));
/// assert_eq!(vpsos_core::config::page_size_bytes("1GB"), Some(1 << 30));
/// assert_eq!(vpsos_core::config::page_size_bytes("2M"), None);
/// ```
pub fn page_size_bytes(s: &str) -> Option<u64> {
    if !valid_page_size(s) {
        return None;
    }
    let n: u64 = s[..s.len() - 2].parse().ok()?;
    let shift = match &s[s.len() - 2..] {
        "KB" => 10,
        "MB" => 20,
        _ => 30,
    };
    n.checked_mul(1 << shift)
}

pub(super) fn merged_map<V: Clone>(
    a: &BTreeMap<String, V>,
    b: &BTreeMap<String, V>,
) -> BTreeMap<String, V> {
    let mut m = a.clone();
    m.extend(b.iter().map(|(k, v)| (k.clone(), v.clone())));
    m
}

impl Resources {
    /// The checks of the less common limits.
    pub(super) fn validate_more(&self) -> Result<()> {
        if let Some(w) = self.block_io_weight {
            if !(10..=1000).contains(&w) {
                return Err(Error::invalid(
                    "resources.block_io_weight",
                    format!("{w}: must be 10 to 1000"),
                ));
            }
        }
        if let Some(s) = self.memory.swappiness {
            if s > 100 {
                return Err(Error::invalid(
                    "resources.memory.swappiness",
                    format!("{s}: must be 0 to 100"),
                ));
            }
        }
        if let (Some(rt), Some(p)) = (self.cpu.rt_runtime_us, self.cpu.rt_period_us) {
            if rt > 0 && rt as u64 > p {
                return Err(Error::invalid(
                    "resources.cpu.rt_runtime_us",
                    format!("{rt}: more than the period, {p}"),
                ));
            }
        }
        if self.cpu.rt_runtime_us.is_some_and(|r| r < -1) {
            return Err(Error::invalid(
                "resources.cpu.rt_runtime_us",
                "must be -1 (no limit) or more",
            ));
        }
        for size in self.hugepages.keys() {
            if page_size_bytes(size).is_none() {
                return Err(Error::invalid(
                    format!("resources.hugepages.{size}"),
                    format!("{size:?}: a page size such as 2MB or 1GB"),
                ));
            }
        }
        for iface in self.network.priorities.keys() {
            if iface.is_empty() || iface.len() > 15 || iface.contains(['/', ' ', '\n']) {
                return Err(Error::invalid(
                    "resources.network.priorities",
                    format!("{iface:?}: not an interface name"),
                ));
            }
        }
        for (file, value) in &self.unified {
            let plain = !file.is_empty()
                && !file.contains('/')
                && file != "."
                && file != ".."
                && file.contains('.');
            if !plain {
                return Err(Error::invalid(
                    "resources.unified",
                    format!("{file:?}: a plain file name of the cgroup, such as memory.high"),
                ));
            }
            if value.contains('\0') {
                return Err(Error::invalid(
                    format!("resources.unified.{file}"),
                    "contains a NUL byte",
                ));
            }
        }
        Ok(())
    }
}
