//! Device access control: the container's allow list enforced through
//! `devices.deny`/`devices.allow` on cgroup v1 and an eBPF program on v2.
//!
//! Both take the whole list and converge on it, so the same call sets the
//! list at creation and grants or revokes devices on a running container.
//! Revoking stops new opens; a descriptor already open stays usable (the
//! kernel checks at open and mknod).

use super::{bpf, Cgroup};
use crate::config::{DeviceAccess, DeviceKind, DeviceRule};
use crate::error::Result;

impl Cgroup {
    /// Allow exactly `rules` (everything else denied). On v2 the new
    /// program replaces the old one atomically; on v1 only the difference
    /// is written, so devices that stay allowed never flicker.
    ///
    /// ```no_run
    /// use vpsos_core::{config::DeviceRule, Cgroup};
    /// let mut rules = DeviceRule::system_defaults();
    /// rules.push(DeviceRule::kvm());
    /// Cgroup::open("vpsos/ct1").set_devices(&rules)?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn set_devices(&self, rules: &[DeviceRule]) -> Result<()> {
        for r in rules {
            r.validate()?;
        }
        if self.is_v2() {
            return bpf::install(&self.dirs[0].0, rules);
        }
        let what = "device rules";
        let list = self.read("devices", "devices.list")?;
        let mut current: Vec<DeviceRule> = list.lines().filter_map(|l| l.parse().ok()).collect();
        if current.iter().any(|r| r.kind == DeviceKind::All) {
            // the inherited allow-all: switch to deny-by-default
            self.write("devices", "devices.deny", "a", what)?;
            current.clear();
        }
        let mut deny = Vec::new();
        for e in &current {
            let mut keep = DeviceAccess::default();
            for r in rules
                .iter()
                .filter(|r| (r.kind, r.major, r.minor) == (e.kind, e.major, e.minor))
            {
                keep.read |= r.access.read;
                keep.write |= r.access.write;
                keep.mknod |= r.access.mknod;
            }
            let drop = DeviceAccess {
                read: e.access.read && !keep.read,
                write: e.access.write && !keep.write,
                mknod: e.access.mknod && !keep.mknod,
            };
            if !drop.is_empty() {
                deny.push(
                    DeviceRule {
                        access: drop,
                        ..e.clone()
                    }
                    .to_string(),
                );
            }
        }
        self.write_each("devices", "devices.deny", &deny, what)?;
        // a rule granting nothing only makes a node
        let allow: Vec<String> = rules
            .iter()
            .filter(|r| !r.access.is_empty())
            .map(|r| r.to_string())
            .collect();
        self.write_each("devices", "devices.allow", &allow, what)?;
        Ok(())
    }

    /// Whether the cgroup enforces a device list of vpsos's (v2: our
    /// program is attached; v1: the list is not allow-all).
    pub fn has_device_rules(&self) -> Result<bool> {
        if self.is_v2() {
            return bpf::is_installed(&self.dirs[0].0);
        }
        let list = self.read("devices", "devices.list")?;
        Ok(!list.lines().any(|l| l.starts_with("a ")))
    }
}
