//! OCI `linux.resources` → [`Resources`] and the device allow list.

use super::refuse;
use crate::config::{
    oci_shares_to_weight, page_size_bytes, BlockIoLimit, DeviceAccess, DeviceKind, DeviceRule,
    PidsLimits, Resources, UNLIMITED,
};
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxResources;

const AT: &str = "linux.resources";

/// An OCI byte count: -1 is no limit, other negatives are refused.
fn bytes(v: i64, field: &str) -> Result<u64> {
    match v {
        -1 => Ok(UNLIMITED),
        v if v < 0 => Err(Error::invalid(field, format!("{v}: not a size"))),
        v => Ok(v as u64),
    }
}

/// The limits and the device rules (OCI's, then the devices the runtime
/// spec has every container use, as runc appends them).
pub(super) fn convert(r: Option<&LinuxResources>) -> Result<(Resources, Vec<DeviceRule>)> {
    // no default pids limit: OCI asks for none unless it says so
    let mut out = Resources {
        pids: PidsLimits {
            max: Some(UNLIMITED),
        },
        ..Resources::default()
    };
    let Some(r) = r else {
        return Ok((out, DeviceRule::system_defaults()));
    };
    if let Some(m) = r.memory() {
        let f = |n: &str| format!("{AT}.memory.{n}");
        refuse(
            m.kernel().is_some(),
            &f("kernel"),
            "kernel memory limits are gone from the kernel (v1 kmem) and not supported",
        )?;
        refuse(
            m.kernel_tcp().is_some(),
            &f("kernelTCP"),
            "v1 kernel TCP memory limits are not supported",
        )?;
        refuse(
            m.disable_oom_killer() == Some(true),
            &f("disableOOMKiller"),
            "not supported by vpsos (cgroup v2 has no such switch)",
        )?;
        refuse(
            m.use_hierarchy() == Some(false),
            &f("useHierarchy"),
            "cgroups are always hierarchical",
        )?;
        refuse(
            m.check_before_update() == Some(true),
            &f("checkBeforeUpdate"),
            "not supported by vpsos",
        )?;
        out.memory.max = m.limit().map(|v| bytes(v, &f("limit"))).transpose()?;
        out.memory.low = m
            .reservation()
            .map(|v| bytes(v, &f("reservation")))
            .transpose()?;
        if let Some(swap) = m.swap() {
            // OCI's swap is memory + swap; vpsos's is swap on top of memory
            let total = bytes(swap, &f("swap"))?;
            out.memory.swap = Some(match out.memory.max {
                _ if total == UNLIMITED => UNLIMITED,
                Some(UNLIMITED) | None => {
                    return Err(Error::invalid(
                        f("swap"),
                        "memory+swap needs a memory limit (limit)",
                    ))
                }
                Some(max) if total < max => {
                    return Err(Error::invalid(
                        f("swap"),
                        format!("{total}: below the memory limit, {max}"),
                    ))
                }
                Some(max) => total - max,
            });
        }
        out.memory.swappiness = m.swappiness();
    }
    if let Some(c) = r.cpu() {
        let f = |n: &str| format!("{AT}.cpu.{n}");
        refuse(
            c.idle().is_some_and(|i| i != 0),
            &f("idle"),
            "not supported by vpsos",
        )?;
        refuse(c.burst().is_some(), &f("burst"), "not supported by vpsos")?;
        if let Some(s) = c.shares().filter(|s| *s != 0) {
            out.cpu.weight = Some(oci_shares_to_weight(s));
        }
        let period = c.period();
        out.cpu.period_us = period;
        match c.quota() {
            None => {}
            Some(q) if q < 0 => out.cpu.quota_percent = Some(UNLIMITED),
            Some(0) => return Err(Error::invalid(f("quota"), "0 would stop the container")),
            Some(q) => {
                // vpsos keeps a percentage of one CPU: rounded to the nearest
                let p = period.unwrap_or(100_000).max(1);
                out.cpu.quota_percent = Some(((q as u64 * 100 + p / 2) / p).max(1));
            }
        }
        out.cpu.rt_runtime_us = c.realtime_runtime();
        out.cpu.rt_period_us = c.realtime_period();
        out.cpuset.cpus = c.cpus().clone().filter(|s| !s.is_empty());
        out.cpuset.mems = c.mems().clone().filter(|s| !s.is_empty());
    }
    if let Some(p) = r.pids() {
        out.pids.max = Some(if p.limit() > 0 {
            p.limit() as u64
        } else {
            UNLIMITED
        });
    }
    if let Some(b) = r.block_io() {
        let f = |n: &str| format!("{AT}.blockIO.{n}");
        refuse(
            b.leaf_weight().is_some(),
            &f("leafWeight"),
            "not supported by vpsos (gone with cgroup v1 CFQ)",
        )?;
        refuse(
            b.weight_device().as_ref().is_some_and(|w| !w.is_empty()),
            &f("weightDevice"),
            "per-device weights are not supported by vpsos",
        )?;
        out.block_io_weight = b.weight().filter(|w| *w != 0).map(u64::from);
        let lists = [
            ("throttleReadBpsDevice", b.throttle_read_bps_device(), 0),
            ("throttleWriteBpsDevice", b.throttle_write_bps_device(), 1),
            ("throttleReadIOPSDevice", b.throttle_read_iops_device(), 2),
            ("throttleWriteIOPSDevice", b.throttle_write_iops_device(), 3),
        ];
        for (name, list, which) in lists {
            for (i, d) in list.iter().flatten().enumerate() {
                let at = f(&format!("{name}[{i}]"));
                let major = super::device_number(d.major(), format!("{at}.major"))?;
                let minor = super::device_number(d.minor(), format!("{at}.minor"))?;
                // a rate of 0 removes the throttle
                let rate = if d.rate() == 0 { UNLIMITED } else { d.rate() };
                let l = match out
                    .block_io
                    .iter_mut()
                    .position(|l| (l.major, l.minor) == (major, minor))
                {
                    Some(k) => &mut out.block_io[k],
                    None => {
                        out.block_io.push(BlockIoLimit::new(major, minor));
                        out.block_io.last_mut().expect("just pushed")
                    }
                };
                let slot = [
                    &mut l.read_bps,
                    &mut l.write_bps,
                    &mut l.read_iops,
                    &mut l.write_iops,
                ]
                .into_iter()
                .nth(which)
                .expect("four");
                *slot = Some(rate);
            }
        }
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let at = format!("{AT}.hugepageLimits[{i}]");
        let size = h.page_size();
        if page_size_bytes(size).is_none() {
            return Err(Error::invalid(
                format!("{at}.pageSize"),
                format!("{size:?}: a size such as 2MB or 1GB"),
            ));
        }
        if !crate::cgroup::host_page_sizes()
            .iter()
            .any(|s| page_size_bytes(s) == page_size_bytes(size))
        {
            return Err(Error::invalid(
                format!("{at}.pageSize"),
                format!("this host has no {size} huge pages"),
            ));
        }
        out.hugepages
            .insert(size.clone(), bytes(h.limit(), &format!("{at}.limit"))?);
    }
    if let Some(n) = r.network() {
        out.network.class_id = n.class_id();
        for p in n.priorities().iter().flatten() {
            out.network
                .priorities
                .insert(p.name().clone(), p.priority());
        }
    }
    for (k, v) in r.unified().iter().flatten() {
        out.unified.insert(k.clone(), v.clone());
    }
    refuse(
        r.rdma().as_ref().is_some_and(|m| !m.is_empty()),
        &format!("{AT}.rdma"),
        "not supported by vpsos",
    )?;
    out.validate()
        .map_err(|e| e.context("importing linux.resources"))?;
    let mut rules = device_rules(r.devices().as_deref().unwrap_or(&[]))?;
    rules.extend(DeviceRule::system_defaults());
    Ok((out, rules))
}

/// OCI device rules, in order, over vpsos's deny-all start: an allow adds
/// a rule; a deny of everything starts over; a deny of something nothing
/// allowed so far is a no-op; any other deny (taking back part of an
/// allow) cannot be an allow list and is refused.
fn device_rules(list: &[oci_spec::runtime::LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>> {
    let mut rules: Vec<DeviceRule> = Vec::new();
    for (i, d) in list.iter().enumerate() {
        let at = |f: &str| format!("{AT}.devices[{i}]{f}");
        let kind = super::device_kind(d.typ())
            .ok_or_else(|| Error::invalid(at(".type"), "FIFOs are not device-controlled"))?;
        let num = |v: Option<i64>, f: &str| -> Result<Option<u32>> {
            match v {
                None | Some(-1) => Ok(None),
                Some(v) => super::device_number(v, at(f)).map(Some),
            }
        };
        let access: DeviceAccess = match d.access().as_deref() {
            None | Some("") => DeviceAccess::RWM,
            Some(a) => a
                .parse()
                .map_err(|_| Error::invalid(at(".access"), format!("{a:?}: letters r, w, m")))?,
        };
        let rule = DeviceRule {
            kind,
            major: num(d.major(), ".major")?,
            minor: num(d.minor(), ".minor")?,
            access,
            path: None,
            mode: super::super::devices::default_mode(),
        };
        if d.allow() {
            rules.push(rule);
        } else if kind == DeviceKind::All
            && rule.major.is_none()
            && rule.minor.is_none()
            && access == DeviceAccess::RWM
        {
            rules.clear();
        } else if let Some(r) = rules.iter().find(|r| overlaps(r, &rule)) {
            return Err(Error::invalid(
                at(""),
                format!("denies part of what an earlier rule ({r}) allows: vpsos keeps an allow list over deny-all, so put the narrower allows instead"),
            ));
        }
    }
    Ok(rules)
}

fn overlaps(a: &DeviceRule, b: &DeviceRule) -> bool {
    let kind = a.kind == DeviceKind::All || b.kind == DeviceKind::All || a.kind == b.kind;
    let num = |x: Option<u32>, y: Option<u32>| x.is_none() || y.is_none() || x == y;
    let acc = (a.access.read && b.access.read)
        || (a.access.write && b.access.write)
        || (a.access.mknod && b.access.mknod);
    kind && num(a.major, b.major) && num(a.minor, b.minor) && acc
}

impl Resources {
    /// The limits an OCI `linux.resources` sets, for a live update (as
    /// `runc update --resources` takes them): what it leaves out stays as
    /// it is (no default pids limit is added). Its `devices` are not
    /// limits: a container's device list changes through
    /// `Container::grant_device`/`revoke_device`, so they are left aside
    /// here, as runc's `update` does.
    ///
    /// ```
    /// let r: oci_spec::runtime::LinuxResources =
    ///     serde_json::from_str(r#"{"memory": {"limit": 67108864}, "pids": {"limit": 50}}"#).unwrap();
    /// let r = vpsos_core::config::Resources::from_oci(&r)?;
    /// assert_eq!((r.memory.max, r.pids.max), (Some(64 << 20), Some(50)));
    /// let r = vpsos_core::config::Resources::from_oci(&Default::default())?;
    /// assert_eq!(r.pids.max, None);
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn from_oci(r: &LinuxResources) -> Result<Resources> {
        // (the devices are not converted at all: an update leaves them)
        let mut r = r.clone();
        r.set_devices(None);
        let (mut out, _) = convert(Some(&r))?;
        if r.pids().is_none() {
            out.pids.max = None;
        }
        Ok(out)
    }
}
