//! A running container's resources and devices: live limits, stats,
//! freeze/thaw, granting and revoking devices.

use super::devnodes;
use super::plan::host_id;
use super::Container;
use crate::cgroup::{Cgroup, Stats};
use crate::config::{Config, DeviceRule, Resources};
use crate::error::{Error, ErrorKind, Result};
use crate::spawn::inject;

/// Limits, device rules and delegation on a fresh cgroup, before the init
/// runs its first instruction.
pub(crate) fn prepare_cgroup(cg: &Cgroup, config: &Config) -> Result<()> {
    if !config.resources.is_empty() {
        cg.set_resources(&config.resources)?;
    }
    cg.set_devices(&config.devices)?;
    if config.cgroup.delegate {
        let uid = host_id(config.uid_map.as_ref(), 0);
        let gid = host_id(config.gid_map.as_ref(), 0);
        cg.delegate(uid, gid)?;
    }
    Ok(())
}

impl Container {
    fn need_cgroup(&self) -> Result<&Cgroup> {
        self.cgroup.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("container {} has no cgroup of its own", self.state.id),
            )
        })
    }

    /// Change limits on the running container: the fields set in `r` are
    /// applied (others stay) and remembered in its state.
    ///
    /// ```no_run
    /// # let rt = vpsos_core::Runtime::new();
    /// let mut ct = rt.load("ct1")?;
    /// ct.update_resources(&vpsos_core::config::Resources::default().memory_max(2 << 30))?;
    /// assert_eq!(ct.resources()?.memory.max, Some(2 << 30));
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn update_resources(&mut self, r: &Resources) -> Result<()> {
        let id = self.state.id.clone();
        let cg = self.need_cgroup()?;
        cg.set_resources(r)
            .map_err(|e| e.context(format!("updating limits of container {id}")))?;
        self.state.config.resources = self.state.config.resources.merged(r);
        self.state.write(&self.dir)
    }

    /// The limits in effect, read back from the cgroup.
    pub fn resources(&self) -> Result<Resources> {
        self.need_cgroup()?.resources()
    }

    /// Memory, CPU, pids, I/O and OOM numbers.
    ///
    /// ```no_run
    /// # let ct = vpsos_core::Runtime::new().load("ct1")?;
    /// let s = ct.stats()?;
    /// println!("{} µs of CPU, {} OOM kills", s.cpu_usage_usec, s.oom_kills);
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn stats(&self) -> Result<Stats> {
        self.need_cgroup()?.stats()
    }

    /// Freeze every process of the container.
    pub fn freeze(&self) -> Result<()> {
        self.need_cgroup()?.freeze()
    }

    /// Thaw the container.
    pub fn thaw(&self) -> Result<()> {
        self.need_cgroup()?.thaw()
    }

    /// Whether the container is frozen.
    pub fn is_frozen(&self) -> Result<bool> {
        self.need_cgroup()?.is_frozen()
    }

    /// The device allow list in force.
    pub fn devices(&self) -> &[DeviceRule] {
        &self.state.config.devices
    }

    /// Allow a device on the running container; a rule with a path also
    /// gets its node in the container's /dev.
    ///
    /// ```no_run
    /// use vpsos_core::config::DeviceRule;
    /// # let mut ct = vpsos_core::Runtime::new().load("ct1")?;
    /// ct.grant_device(DeviceRule::kvm())?;
    /// ct.revoke_device(&DeviceRule::kvm())?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn grant_device(&mut self, rule: DeviceRule) -> Result<()> {
        let id = self.state.id.clone();
        let ctx = |e: Error| e.context(format!("granting {rule} to container {id}"));
        rule.validate().map_err(ctx)?;
        let mut list = self.state.config.devices.clone();
        list.retain(|r| r != &rule);
        list.push(rule.clone());
        let cg = self.need_cgroup()?;
        cg.set_devices(&list).map_err(ctx)?;
        if let Err(e) = self.add_node(&rule) {
            let _ = cg.set_devices(&self.state.config.devices);
            return Err(ctx(e));
        }
        self.state.config.devices = list;
        self.state.write(&self.dir)
    }

    /// Take away every rule for `rule`'s device (same kind, major and
    /// minor) and its node. Processes that already opened it keep their
    /// descriptors; new opens fail with EPERM.
    pub fn revoke_device(&mut self, rule: &DeviceRule) -> Result<()> {
        let id = self.state.id.clone();
        let same =
            |r: &DeviceRule| (r.kind, r.major, r.minor) == (rule.kind, rule.major, rule.minor);
        let (gone, list): (Vec<DeviceRule>, Vec<DeviceRule>) =
            self.state.config.devices.iter().cloned().partition(same);
        if gone.is_empty() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("revoking {rule} from container {id}: no such rule"),
            ));
        }
        self.need_cgroup()?
            .set_devices(&list)
            .map_err(|e| e.context(format!("revoking {rule} from container {id}")))?;
        self.state.config.devices = list;
        self.state.write(&self.dir)?;
        let nodes = devnodes::node_dir(&self.dir);
        for p in gone.iter().filter_map(|r| r.path.as_ref()) {
            if let Some(fd) = self.pidfd.as_ref().filter(|_| self.alive()) {
                inject::remove_from(fd, p)?;
            }
            devnodes::remove(&nodes, p);
        }
        Ok(())
    }

    fn add_node(&self, rule: &DeviceRule) -> Result<()> {
        let Some(path) = &rule.path else {
            return Ok(());
        };
        let cfg = &self.state.config;
        let uid = host_id(cfg.uid_map.as_ref(), 0);
        let gid = host_id(cfg.gid_map.as_ref(), 0);
        let node = devnodes::make(&devnodes::node_dir(&self.dir), rule, uid, gid)?;
        if let Some(fd) = self.pidfd.as_ref().filter(|_| self.alive()) {
            inject::bind_into(fd, &node, path, (uid, gid))?;
        }
        Ok(())
    }
}
