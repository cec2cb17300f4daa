//! Resource limits: memory, CPU, cpuset, pids and block I/O, in one typed
//! form for cgroup v1 and v2 (the `cgroup` module maps them to files).
//!
//! Every field is optional: `None` leaves the kernel's value alone. Numbers
//! use [`UNLIMITED`] for "no limit" (`max` on v2, `-1` on v1).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[path = "resources_more.rs"]
mod more;
use more::merged_map;
pub use more::{oci_shares_to_weight, page_size_bytes, NetworkLimits};

/// "No limit" for any numeric limit.
pub const UNLIMITED: u64 = u64::MAX;

/// Memory limits, in bytes.
///
/// ```
/// use vpsos_core::config::MemoryLimits;
/// let m = MemoryLimits { max: Some(512 << 20), swap: Some(0), ..Default::default() };
/// assert!(m.validate().is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryLimits {
    /// Hard limit: past it the kernel reclaims, then OOM-kills
    /// (`memory.max`, v1 `memory.limit_in_bytes`).
    pub max: Option<u64>,
    /// Swap the container may use on top of `max` (`memory.swap.max`; v1
    /// `memory.memsw.limit_in_bytes` = max + swap).
    pub swap: Option<u64>,
    /// Throttle and reclaim above this (`memory.high`, v2 only).
    pub high: Option<u64>,
    /// Best-effort protection from reclaim (`memory.low`, v2 only).
    pub low: Option<u64>,
    /// Hard protection from reclaim (`memory.min`, v2 only).
    pub min: Option<u64>,
    /// On OOM kill the whole container, not one process
    /// (`memory.oom.group`, v2 only).
    pub oom_group: Option<bool>,
    /// How eagerly the kernel swaps the container's anonymous memory, 0 to
    /// 100 (`memory.swappiness`, v1 only: v2 has no per-cgroup knob).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<u64>,
}

/// CPU limits.
///
/// ```
/// use vpsos_core::config::CpuLimits;
/// // osctld's cpu-limit 150: one and a half CPUs
/// let c = CpuLimits { quota_percent: Some(150), ..Default::default() };
/// assert_eq!(c.quota_us(100_000), Some(150_000));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CpuLimits {
    /// Quota as a percentage of one CPU (100 = one CPU, 200 = two; osctld's
    /// `cpu-limit`); [`UNLIMITED`] removes it (`cpu.max`, v1
    /// `cpu.cfs_quota_us`).
    pub quota_percent: Option<u64>,
    /// The quota's period in microseconds (1000 to 1000000; the kernel
    /// default is 100000).
    pub period_us: Option<u64>,
    /// Relative weight, 1 to 10000, default 100 (`cpu.weight`; v1
    /// `cpu.shares` = weight × 1024 / 100).
    pub weight: Option<u64>,
    /// Realtime runtime in µs per [`rt_period_us`](Self::rt_period_us)
    /// (`cpu.rt_runtime_us`, v1 only; -1 for no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rt_runtime_us: Option<i64>,
    /// Realtime period in µs (`cpu.rt_period_us`, v1 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rt_period_us: Option<u64>,
}

impl CpuLimits {
    /// The quota in µs per `period_us`, or `None` for unlimited.
    pub fn quota_us(&self, period_us: u64) -> Option<u64> {
        match self.quota_percent {
            None | Some(UNLIMITED) => None,
            Some(p) => Some((p.saturating_mul(period_us) / 100).max(1000)),
        }
    }
}

/// The CPUs and memory nodes the container may use (`cpuset.cpus`,
/// `cpuset.mems`), in the kernel's list form `0-3,6`.
///
/// ```
/// use vpsos_core::config::CpusetLimits;
/// let c = CpusetLimits { cpus: Some("0".into()), mems: None };
/// assert!(c.validate().is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CpusetLimits {
    /// CPU list.
    pub cpus: Option<String>,
    /// Memory node list.
    pub mems: Option<String>,
}

/// The `pids.max` of a container whose config does not set one: room for
/// any real workload's processes and threads (an idle Debian system runs
/// a few dozen, a busy application server a few thousand), while a fork
/// bomb stops there instead of taking the host's pid space (`pid_max` is
/// 32768 on many hosts). [`UNLIMITED`] (JSON `null`) for none.
pub const DEFAULT_PIDS_MAX: u64 = 4096;

fn default_pids_max() -> Option<u64> {
    Some(DEFAULT_PIDS_MAX)
}

/// Process count limit (`pids.max`).
///
/// In a container description an absent `max` is [`DEFAULT_PIDS_MAX`]
/// and `null` is no limit; `Default` (for [`Resources`] updates) sets
/// nothing.
///
/// ```
/// use vpsos_core::config::{PidsLimits, DEFAULT_PIDS_MAX};
/// assert_eq!(PidsLimits { max: Some(100) }.max, Some(100));
/// let p: PidsLimits = serde_json::from_str("{}").unwrap();
/// assert_eq!(p.max, Some(DEFAULT_PIDS_MAX));
/// let p: PidsLimits = serde_json::from_str(r#"{"max": null}"#).unwrap();
/// assert_eq!(p.max, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PidsLimits {
    /// Maximum number of tasks; [`UNLIMITED`] for none.
    #[serde(default = "default_pids_max")]
    pub max: Option<u64>,
}

impl PidsLimits {
    /// A container's default: [`DEFAULT_PIDS_MAX`].
    pub fn system_default() -> PidsLimits {
        PidsLimits {
            max: default_pids_max(),
        }
    }
}

/// Throttling of one block device (`io.max`; v1
/// `blkio.throttle.{read,write}_{bps,iops}_device`). `UNLIMITED` (or, when
/// reading back, an absent value) means no throttle.
///
/// ```
/// use vpsos_core::config::BlockIoLimit;
/// let l = BlockIoLimit::new(8, 0).read_bps(10 << 20).write_iops(100);
/// assert_eq!(l.read_bps, Some(10 << 20));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlockIoLimit {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Read bytes per second.
    pub read_bps: Option<u64>,
    /// Write bytes per second.
    pub write_bps: Option<u64>,
    /// Read operations per second.
    pub read_iops: Option<u64>,
    /// Write operations per second.
    pub write_iops: Option<u64>,
}

impl BlockIoLimit {
    /// No throttle yet for device `major:minor`.
    pub fn new(major: u32, minor: u32) -> BlockIoLimit {
        BlockIoLimit {
            major,
            minor,
            ..Default::default()
        }
    }

    /// For the block device at `path` (`/dev/sda`).
    ///
    /// ```no_run
    /// let l = vpsos_core::config::BlockIoLimit::for_device("/dev/vda")?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn for_device(path: impl AsRef<std::path::Path>) -> Result<BlockIoLimit> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let p = path.as_ref();
        let md = std::fs::metadata(p).map_err(|e| {
            Error::from_errno(
                e.raw_os_error().unwrap_or(0),
                format!("stat {}", p.display()),
            )
        })?;
        if !md.file_type().is_block_device() {
            return Err(Error::invalid(
                "block_io.device",
                format!("{} is not a block device", p.display()),
            ));
        }
        let rdev = md.rdev();
        Ok(BlockIoLimit::new(libc::major(rdev), libc::minor(rdev)))
    }

    /// Limit read bytes/s.
    pub fn read_bps(mut self, v: u64) -> Self {
        self.read_bps = Some(v);
        self
    }

    /// Limit write bytes/s.
    pub fn write_bps(mut self, v: u64) -> Self {
        self.write_bps = Some(v);
        self
    }

    /// Limit read operations/s.
    pub fn read_iops(mut self, v: u64) -> Self {
        self.read_iops = Some(v);
        self
    }

    /// Limit write operations/s.
    pub fn write_iops(mut self, v: u64) -> Self {
        self.write_iops = Some(v);
        self
    }
}

/// All of a container's resource limits.
///
/// Set at creation through [`Config`](crate::Config), changed live with
/// [`Container::update_resources`](crate::Container::update_resources),
/// read back with [`Container::resources`](crate::Container::resources).
///
/// ```
/// use vpsos_core::config::Resources;
/// let r = Resources::default()
///     .memory_max(512 << 20)
///     .swap_max(0)
///     .cpu_quota_percent(50)
///     .pids_max(200);
/// assert!(r.validate().is_ok());
/// assert_eq!(r.memory.max, Some(512 << 20));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Resources {
    /// Memory.
    pub memory: MemoryLimits,
    /// CPU bandwidth and weight.
    pub cpu: CpuLimits,
    /// CPU and memory-node pinning.
    pub cpuset: CpusetLimits,
    /// Process count (in a container description: [`DEFAULT_PIDS_MAX`]
    /// unless set).
    #[serde(default = "PidsLimits::system_default")]
    pub pids: PidsLimits,
    /// Per-device I/O throttles.
    pub block_io: Vec<BlockIoLimit>,
    /// Relative block I/O weight, 10 to 1000 (v1 `blkio.weight` or
    /// `blkio.bfq.weight`; v2 `io.weight` or `io.bfq.weight`, converted to
    /// 1 to 10000 as runc does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_io_weight: Option<u64>,
    /// Huge page limits in bytes by page size (`2MB`, `1GB`): v1
    /// `hugetlb.<size>.limit_in_bytes`, v2 `hugetlb.<size>.max`. A size the
    /// host does not have is refused.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub hugepages: BTreeMap<String, u64>,
    /// Network class id and interface priorities (v1 only).
    #[serde(skip_serializing_if = "NetworkLimits::is_empty")]
    pub network: NetworkLimits,
    /// cgroup v2 files written as given (`memory.zswap.max` = `0`), after
    /// everything else; v2 only. Names are plain file names of the cgroup.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unified: BTreeMap<String, String>,
}

impl Resources {
    /// Set the memory hard limit.
    pub fn memory_max(mut self, bytes: u64) -> Self {
        self.memory.max = Some(bytes);
        self
    }

    /// Set the swap limit (on top of the memory limit).
    pub fn swap_max(mut self, bytes: u64) -> Self {
        self.memory.swap = Some(bytes);
        self
    }

    /// Set the CPU quota in percent of one CPU.
    pub fn cpu_quota_percent(mut self, percent: u64) -> Self {
        self.cpu.quota_percent = Some(percent);
        self
    }

    /// Set the CPU weight (1 to 10000).
    pub fn cpu_weight(mut self, weight: u64) -> Self {
        self.cpu.weight = Some(weight);
        self
    }

    /// Pin to these CPUs (`0-1`).
    pub fn cpus(mut self, list: impl Into<String>) -> Self {
        self.cpuset.cpus = Some(list.into());
        self
    }

    /// Set the maximum number of tasks.
    pub fn pids_max(mut self, max: u64) -> Self {
        self.pids.max = Some(max);
        self
    }

    /// Add a block-device throttle.
    pub fn block_io(mut self, limit: BlockIoLimit) -> Self {
        self.block_io.push(limit);
        self
    }

    /// Limit huge pages of `page_size` (`2MB`) to `bytes`.
    ///
    /// ```
    /// let r = vpsos_core::config::Resources::default().hugepages("2MB", 64 << 20);
    /// assert_eq!(r.hugepages["2MB"], 64 << 20);
    /// ```
    pub fn hugepages(mut self, page_size: &str, bytes: u64) -> Self {
        self.hugepages.insert(page_size.into(), bytes);
        self
    }

    /// Write the cgroup v2 file `file` with `value`.
    ///
    /// ```
    /// let r = vpsos_core::config::Resources::default().unified("memory.oom.group", "1");
    /// assert_eq!(r.unified["memory.oom.group"], "1");
    /// ```
    pub fn unified(mut self, file: &str, value: &str) -> Self {
        self.unified.insert(file.into(), value.into());
        self
    }

    /// What a container gets when its description sets no limit: only
    /// [`DEFAULT_PIDS_MAX`].
    ///
    /// ```
    /// use vpsos_core::config::{Resources, DEFAULT_PIDS_MAX};
    /// assert_eq!(Resources::system_default().pids.max, Some(DEFAULT_PIDS_MAX));
    /// assert!(Resources::system_default().is_system_default());
    /// ```
    pub fn system_default() -> Resources {
        Resources {
            pids: PidsLimits::system_default(),
            ..Resources::default()
        }
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }

    /// Whether this is what a container gets by default (or nothing).
    pub fn is_system_default(&self) -> bool {
        self.is_empty() || *self == Resources::system_default()
    }

    /// `other`'s set fields over ours (block-I/O limits by device).
    ///
    /// ```
    /// use vpsos_core::config::Resources;
    /// let r = Resources::default().pids_max(10).merged(&Resources::default().memory_max(1 << 30));
    /// assert_eq!((r.pids.max, r.memory.max), (Some(10), Some(1 << 30)));
    /// ```
    pub fn merged(&self, other: &Resources) -> Resources {
        fn pick<T: Clone>(a: &Option<T>, b: &Option<T>) -> Option<T> {
            b.clone().or_else(|| a.clone())
        }
        let (a, b) = (self, other);
        let mut io = a.block_io.clone();
        for l in &b.block_io {
            match io
                .iter_mut()
                .find(|x| (x.major, x.minor) == (l.major, l.minor))
            {
                Some(x) => {
                    x.read_bps = pick(&x.read_bps, &l.read_bps);
                    x.write_bps = pick(&x.write_bps, &l.write_bps);
                    x.read_iops = pick(&x.read_iops, &l.read_iops);
                    x.write_iops = pick(&x.write_iops, &l.write_iops);
                }
                None => io.push(l.clone()),
            }
        }
        Resources {
            memory: MemoryLimits {
                max: pick(&a.memory.max, &b.memory.max),
                swap: pick(&a.memory.swap, &b.memory.swap),
                high: pick(&a.memory.high, &b.memory.high),
                low: pick(&a.memory.low, &b.memory.low),
                min: pick(&a.memory.min, &b.memory.min),
                oom_group: pick(&a.memory.oom_group, &b.memory.oom_group),
                swappiness: pick(&a.memory.swappiness, &b.memory.swappiness),
            },
            cpu: CpuLimits {
                quota_percent: pick(&a.cpu.quota_percent, &b.cpu.quota_percent),
                period_us: pick(&a.cpu.period_us, &b.cpu.period_us),
                weight: pick(&a.cpu.weight, &b.cpu.weight),
                rt_runtime_us: pick(&a.cpu.rt_runtime_us, &b.cpu.rt_runtime_us),
                rt_period_us: pick(&a.cpu.rt_period_us, &b.cpu.rt_period_us),
            },
            cpuset: CpusetLimits {
                cpus: pick(&a.cpuset.cpus, &b.cpuset.cpus),
                mems: pick(&a.cpuset.mems, &b.cpuset.mems),
            },
            pids: PidsLimits {
                max: pick(&a.pids.max, &b.pids.max),
            },
            block_io: io,
            block_io_weight: pick(&a.block_io_weight, &b.block_io_weight),
            hugepages: merged_map(&a.hugepages, &b.hugepages),
            network: NetworkLimits {
                class_id: pick(&a.network.class_id, &b.network.class_id),
                priorities: merged_map(&a.network.priorities, &b.network.priorities),
            },
            unified: merged_map(&a.unified, &b.unified),
        }
    }

    /// Check ranges; errors name the field (`resources.cpu.weight`).
    pub fn validate(&self) -> Result<()> {
        self.memory.validate()?;
        let c = &self.cpu;
        if let Some(w) = c.weight {
            if !(1..=10000).contains(&w) {
                return Err(Error::invalid(
                    "resources.cpu.weight",
                    format!("{w}: must be 1 to 10000"),
                ));
            }
        }
        if let Some(p) = c.period_us {
            if !(1000..=1_000_000).contains(&p) {
                return Err(Error::invalid(
                    "resources.cpu.period_us",
                    format!("{p}: must be 1000 to 1000000"),
                ));
            }
        }
        if c.quota_percent == Some(0) {
            return Err(Error::invalid(
                "resources.cpu.quota_percent",
                "0 would stop the container; use UNLIMITED to remove the quota",
            ));
        }
        self.cpuset.validate()?;
        if self.pids.max == Some(0) {
            return Err(Error::invalid("resources.pids.max", "must be at least 1"));
        }
        self.validate_more()?;
        for (i, l) in self.block_io.iter().enumerate() {
            if [l.read_bps, l.write_bps, l.read_iops, l.write_iops].contains(&Some(0)) {
                return Err(Error::invalid(
                    format!("resources.block_io[{i}]"),
                    "a throttle of 0 is not a limit; use UNLIMITED to remove one",
                ));
            }
        }
        Ok(())
    }
}

impl MemoryLimits {
    /// Check that limits are non-zero where zero makes no sense.
    pub fn validate(&self) -> Result<()> {
        if self.max == Some(0) {
            return Err(Error::invalid(
                "resources.memory.max",
                "0 bytes: nothing could run",
            ));
        }
        Ok(())
    }
}

impl CpusetLimits {
    /// Check the list syntax (`0-3,6`).
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("cpus", &self.cpus), ("mems", &self.mems)] {
            let Some(v) = v else { continue };
            if !valid_list(v) {
                return Err(Error::invalid(
                    format!("resources.cpuset.{name}"),
                    format!("{v:?}: expected a list such as 0-3,6"),
                ));
            }
        }
        Ok(())
    }
}

/// The kernel's cpu list syntax: `N` or `N-M`, comma separated.
fn valid_list(s: &str) -> bool {
    !s.is_empty()
        && s.split(',').all(|part| {
            let mut it = part.splitn(2, '-');
            let a = it.next().unwrap_or("");
            let ok = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
            ok(a) && it.next().is_none_or(ok)
        })
}

#[cfg(test)]
#[path = "resources_tests.rs"]
mod tests;
