//! A running container's resources and devices: live limits, stats,
//! freeze/thaw, granting and revoking devices.

use super::devnodes;
use super::Container;
use crate::cgroup::{Cgroup, Stats};
use crate::config::{Config, DeviceRule, Resources};
use crate::error::{Error, ErrorKind, Result};
use crate::plan::build::host_id;
use crate::spawn::inject;

/// Limits, device rules and delegation on a fresh cgroup, before the init
/// runs its first instruction.
pub(crate) fn prepare_cgroup(cg: &Cgroup, config: &Config) -> Result<()> {
    if !config.resources.is_empty() {
        cg.set_resources(&config.resources)?;
    }
    cg.set_devices(&config.devices)?;
    // `config` is the start's resolved description: delegate is decided
    if config.cgroup.delegate == Some(true) {
        let uid = host_id(config.uid_map.as_ref(), 0);
        let gid = host_id(config.gid_map.as_ref(), 0);
        cg.delegate(uid, gid)?;
    }
    Ok(())
}

impl Container {
    fn need_cgroup(&self) -> Result<Cgroup> {
        self.current()?
            .cgroup
            .as_deref()
            .map(Cgroup::open)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    format!("container {} has no cgroup of its own", self.id),
                )
            })
    }

    /// Change limits on the running container: the fields set in `r` are
    /// applied (others stay) and remembered in its description.
    ///
    /// ```no_run
    /// # let rt = vpsos_core::Runtime::new();
    /// let ct = rt.load("ct1")?;
    /// ct.update_resources(&vpsos_core::config::Resources::default().memory_max(2 << 30))?;
    /// assert_eq!(ct.resources()?.memory.max, Some(2 << 30));
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn update_resources(&self, r: &Resources) -> Result<()> {
        let cg = self.need_cgroup()?;
        self.update(|_, cfg| {
            cg.set_resources(r)
                .map_err(|e| e.context(format!("updating limits of container {}", self.id)))?;
            cfg.resources = cfg.resources.merged(r);
            Ok(())
        })
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
    pub fn devices(&self) -> Result<Vec<DeviceRule>> {
        Ok(self.config()?.devices)
    }

    /// Allow a device on the running container; a rule with a path also
    /// gets its node in the container's /dev.
    ///
    /// ```no_run
    /// use vpsos_core::config::DeviceRule;
    /// # let ct = vpsos_core::Runtime::new().load("ct1")?;
    /// ct.grant_device(DeviceRule::kvm())?;
    /// ct.revoke_device(&DeviceRule::kvm())?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn grant_device(&self, rule: DeviceRule) -> Result<()> {
        let ctx = |e: Error| e.context(format!("granting {rule} to container {}", self.id));
        rule.validate().map_err(ctx)?;
        let cg = self.need_cgroup()?;
        self.update(|st, cfg| {
            let mut list = cfg.devices.clone();
            list.retain(|r| r != &rule);
            list.push(rule.clone());
            cg.set_devices(&list).map_err(ctx)?;
            if let Err(e) = self.add_node(st, cfg, &rule) {
                let _ = cg.set_devices(&cfg.devices);
                return Err(ctx(e));
            }
            cfg.devices = list;
            Ok(())
        })
    }

    /// Take away every rule for `rule`'s device (same kind, major and
    /// minor) and its node. Processes that already opened it keep their
    /// descriptors; new opens fail with EPERM.
    pub fn revoke_device(&self, rule: &DeviceRule) -> Result<()> {
        let id = &self.id;
        let same =
            |r: &DeviceRule| (r.kind, r.major, r.minor) == (rule.kind, rule.major, rule.minor);
        let cg = self.need_cgroup()?;
        self.update(|st, cfg| {
            let (gone, list): (Vec<DeviceRule>, Vec<DeviceRule>) =
                cfg.devices.iter().cloned().partition(same);
            if gone.is_empty() {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("revoking {rule} from container {id}: no such rule"),
                ));
            }
            cg.set_devices(&list)
                .map_err(|e| e.context(format!("revoking {rule} from container {id}")))?;
            cfg.devices = list;
            let nodes = devnodes::node_dir(&self.dir);
            let init = self.init_live(st).filter(|l| l.r.alive());
            for p in gone.iter().filter_map(|r| r.path.as_ref()) {
                if let Some(l) = &init {
                    inject::remove_from(&l.pidfd, p)?;
                }
                devnodes::remove(&nodes, p);
            }
            Ok(())
        })
    }

    fn add_node(
        &self,
        st: &super::state::StateFile,
        cfg: &Config,
        rule: &DeviceRule,
    ) -> Result<()> {
        let Some(path) = &rule.path else {
            return Ok(());
        };
        let uid = host_id(cfg.uid_map.as_ref(), 0);
        let gid = host_id(cfg.gid_map.as_ref(), 0);
        let node = devnodes::make(&devnodes::node_dir(&self.dir), rule, uid, gid)?;
        if let Some(l) = self.init_live(st).filter(|l| l.r.alive()) {
            inject::bind_into(&l.pidfd, &node, path, (uid, gid))?;
        }
        Ok(())
    }
}
