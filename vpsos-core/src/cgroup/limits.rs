//! Resource limits onto cgroup files, v1 and v2, and back.
//!
//! | limit | v2 | v1 |
//! |---|---|---|
//! | memory max | `memory.max` | `memory.limit_in_bytes` |
//! | swap | `memory.swap.max` | `memory.memsw.limit_in_bytes` − max |
//! | memory high/low/min, oom group | `memory.{high,low,min,oom.group}` | unsupported |
//! | CPU quota | `cpu.max` | `cpu.cfs_quota_us`, `cpu.cfs_period_us` |
//! | CPU weight | `cpu.weight` | `cpu.shares` = weight × 1024 / 100 |
//! | cpuset | `cpuset.cpus`, `cpuset.mems` | the same |
//! | pids | `pids.max` | `pids.max` |
//! | block I/O | `io.max` | `blkio.throttle.*_device` |
//!
//! The less common ones (huge pages, swappiness, realtime CPU, I/O weight,
//! network, raw v2 files) are in `limits_more`.

use super::Cgroup;
use crate::config::{
    BlockIoLimit, CpuLimits, CpusetLimits, MemoryLimits, PidsLimits, Resources, UNLIMITED,
};
use crate::error::{Error, Result};

/// v1 reports "no limit" as a page-rounded huge number.
const V1_UNLIMITED_FROM: u64 = 1 << 62;

fn v2_value(v: u64) -> String {
    if v == UNLIMITED {
        "max".into()
    } else {
        v.to_string()
    }
}

fn parse_v2(s: &str) -> Option<u64> {
    if s == "max" {
        Some(UNLIMITED)
    } else {
        s.parse().ok()
    }
}

fn parse_v1(s: &str) -> Option<u64> {
    match s.parse::<i64>().ok()? {
        v if v < 0 => Some(UNLIMITED),
        v if v as u64 >= V1_UNLIMITED_FROM => Some(UNLIMITED),
        v => Some(v as u64),
    }
}

fn v1_value(v: u64) -> String {
    if v == UNLIMITED {
        "-1".into()
    } else {
        v.to_string()
    }
}

/// v2 `cpu.weight` → v1 `cpu.shares`, keeping the defaults (100 ↔ 1024)
/// aligned the way systemd does.
pub(crate) fn weight_to_shares(w: u64) -> u64 {
    (w * 1024 / 100).clamp(2, 262_144)
}

fn shares_to_weight(s: u64) -> u64 {
    ((s * 100 + 512) / 1024).clamp(1, 10_000)
}

impl Cgroup {
    /// Apply every limit set in `r` (fields left `None` are untouched).
    /// Works the same on a running container; a limit the host cannot
    /// enforce is `Unsupported` and names it.
    ///
    /// ```no_run
    /// use vpsos_core::{config::Resources, Cgroup};
    /// let cg = Cgroup::open("vpsos/ct1");
    /// cg.set_resources(&Resources::default().memory_max(1 << 30).pids_max(500))?;
    /// assert_eq!(cg.resources()?.memory.max, Some(1 << 30));
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn set_resources(&self, r: &Resources) -> Result<()> {
        r.validate()?;
        self.set_memory(&r.memory)?;
        self.set_cpu(&r.cpu)?;
        self.set_cpuset(&r.cpuset)?;
        if let Some(max) = r.pids.max {
            self.write("pids", "pids.max", &v2_value(max), "pids limit")?;
        }
        for l in &r.block_io {
            self.set_block_io(l)?;
        }
        self.set_more(r)
    }

    /// The effective limits, read from the cgroup files ([`UNLIMITED`] for
    /// none). Controllers the host lacks leave their fields `None`.
    pub fn resources(&self) -> Result<Resources> {
        let mut r = Resources {
            memory: self.memory_limits()?,
            cpu: self.cpu_limits()?,
            cpuset: CpusetLimits {
                cpus: self.effective_list("cpus")?,
                mems: self.effective_list("mems")?,
            },
            pids: PidsLimits {
                max: self
                    .opt_read("pids", "pids.max")?
                    .and_then(|s| parse_v2(&s)),
            },
            block_io: self.block_io_limits()?,
            ..Resources::default()
        };
        self.read_more(&mut r)?;
        Ok(r)
    }

    fn opt_read(&self, controller: &str, file: &str) -> Result<Option<String>> {
        if self.has(controller, file) {
            self.read(controller, file).map(Some)
        } else {
            Ok(None)
        }
    }

    fn set_memory(&self, m: &MemoryLimits) -> Result<()> {
        if self.is_v2() {
            if let Some(v) = m.max {
                self.write("memory", "memory.max", &v2_value(v), "memory limit")?;
            }
            if let Some(v) = m.swap {
                self.write("memory", "memory.swap.max", &v2_value(v), "swap limit")?;
            }
            for (v, file, what) in [
                (m.high, "memory.high", "memory high limit"),
                (m.low, "memory.low", "memory low protection"),
                (m.min, "memory.min", "memory min protection"),
            ] {
                if let Some(v) = v {
                    self.write("memory", file, &v2_value(v), what)?;
                }
            }
            if let Some(g) = m.oom_group {
                let v = if g { "1" } else { "0" };
                self.write("memory", "memory.oom.group", v, "OOM group kill")?;
            }
            return Ok(());
        }
        for (set, what) in [
            (m.high.is_some(), "memory.high"),
            (m.low.is_some(), "memory.low"),
            (m.min.is_some(), "memory.min"),
            (m.oom_group.is_some(), "memory.oom.group (OOM group kill)"),
        ] {
            if set {
                return Err(Error::unsupported(format!(
                    "{what} needs cgroup v2; this host runs the v1 memory controller"
                )));
            }
        }
        if m.max.is_none() && m.swap.is_none() {
            return Ok(());
        }
        let has_memsw = self.has("memory", "memory.memsw.limit_in_bytes");
        if m.swap.is_some() && !has_memsw {
            return Err(Error::unsupported(
                "swap limit: no memory.memsw.limit_in_bytes (boot the host with swapaccount=1)",
            ));
        }
        let cur_max = self
            .read("memory", "memory.limit_in_bytes")
            .map(|s| parse_v1(&s).unwrap_or(UNLIMITED))?;
        let max = m.max.unwrap_or(cur_max);
        if !has_memsw {
            return self.write(
                "memory",
                "memory.limit_in_bytes",
                &v1_value(max),
                "memory limit",
            );
        }
        // keep the swap allowance when only the memory limit changes
        let cur_memsw = self
            .read("memory", "memory.memsw.limit_in_bytes")
            .map(|s| parse_v1(&s).unwrap_or(UNLIMITED))?;
        let swap = match m.swap {
            Some(s) => s,
            None if cur_memsw == UNLIMITED || cur_max == UNLIMITED => UNLIMITED,
            None => cur_memsw.saturating_sub(cur_max),
        };
        let memsw = if max == UNLIMITED || swap == UNLIMITED {
            UNLIMITED
        } else {
            max.saturating_add(swap)
        };
        // the kernel keeps limit <= memsw at every step: order the writes
        let limit = |s: &Self| {
            s.write(
                "memory",
                "memory.limit_in_bytes",
                &v1_value(max),
                "memory limit",
            )
        };
        let sw = |s: &Self| {
            s.write(
                "memory",
                "memory.memsw.limit_in_bytes",
                &v1_value(memsw),
                "swap limit",
            )
        };
        if memsw >= cur_memsw {
            sw(self)?;
            limit(self)
        } else {
            limit(self)?;
            sw(self)
        }
    }

    fn memory_limits(&self) -> Result<MemoryLimits> {
        if self.controller_dir("memory").is_none() {
            return Ok(MemoryLimits::default());
        }
        if self.is_v2() {
            let get = |f: &str| -> Result<Option<u64>> {
                Ok(self.opt_read("memory", f)?.and_then(|s| parse_v2(&s)))
            };
            return Ok(MemoryLimits {
                max: get("memory.max")?,
                swap: get("memory.swap.max")?,
                high: get("memory.high")?,
                low: get("memory.low")?,
                min: get("memory.min")?,
                oom_group: self
                    .opt_read("memory", "memory.oom.group")?
                    .map(|s| s == "1"),
                ..Default::default()
            });
        }
        let max = parse_v1(&self.read("memory", "memory.limit_in_bytes")?);
        let memsw = self
            .opt_read("memory", "memory.memsw.limit_in_bytes")?
            .and_then(|s| parse_v1(&s));
        let swap = match (max, memsw) {
            (_, Some(UNLIMITED)) | (Some(UNLIMITED), _) => memsw.map(|_| UNLIMITED),
            (Some(m), Some(s)) => Some(s.saturating_sub(m)),
            _ => None,
        };
        Ok(MemoryLimits {
            max,
            swap,
            ..Default::default()
        })
    }

    fn set_cpu(&self, c: &CpuLimits) -> Result<()> {
        if c.quota_percent.is_some() || c.period_us.is_some() {
            if self.is_v2() {
                let cur = self.read("cpu", "cpu.max")?;
                let mut it = cur.split_whitespace();
                let cur_quota = it.next().unwrap_or("max").to_string();
                let cur_period: u64 = it.next().and_then(|p| p.parse().ok()).unwrap_or(100_000);
                let period = c.period_us.unwrap_or(cur_period);
                let quota = match c.quota_percent {
                    Some(_) => c.quota_us(period).map_or("max".into(), |q| q.to_string()),
                    None => cur_quota,
                };
                self.write("cpu", "cpu.max", &format!("{quota} {period}"), "CPU limit")?;
            } else {
                let period = match c.period_us {
                    Some(p) => {
                        self.write("cpu", "cpu.cfs_period_us", &p.to_string(), "CPU period")?;
                        p
                    }
                    None => self
                        .read("cpu", "cpu.cfs_period_us")?
                        .parse()
                        .unwrap_or(100_000),
                };
                if c.quota_percent.is_some() {
                    let q = c.quota_us(period).map_or("-1".into(), |q| q.to_string());
                    self.write("cpu", "cpu.cfs_quota_us", &q, "CPU limit")?;
                }
            }
        }
        if let Some(w) = c.weight {
            if self.is_v2() {
                self.write("cpu", "cpu.weight", &w.to_string(), "CPU weight")?;
            } else {
                let shares = weight_to_shares(w).to_string();
                self.write("cpu", "cpu.shares", &shares, "CPU weight (cpu.shares)")?;
            }
        }
        Ok(())
    }

    fn cpu_limits(&self) -> Result<CpuLimits> {
        if self.controller_dir("cpu").is_none() {
            return Ok(CpuLimits::default());
        }
        let percent = |q: Option<u64>, p: u64| q.map_or(UNLIMITED, |q| q * 100 / p.max(1));
        if self.is_v2() {
            let max = self.read("cpu", "cpu.max")?;
            let mut it = max.split_whitespace();
            let q = it.next().and_then(|q| q.parse().ok());
            let p = it.next().and_then(|p| p.parse().ok()).unwrap_or(100_000);
            let w = self
                .opt_read("cpu", "cpu.weight")?
                .and_then(|s| s.parse().ok());
            return Ok(CpuLimits {
                quota_percent: Some(percent(q, p)),
                period_us: Some(p),
                weight: w,
                ..Default::default()
            });
        }
        let p: u64 = self
            .read("cpu", "cpu.cfs_period_us")?
            .parse()
            .unwrap_or(100_000);
        let q: i64 = self.read("cpu", "cpu.cfs_quota_us")?.parse().unwrap_or(-1);
        let shares = self
            .opt_read("cpu", "cpu.shares")?
            .and_then(|s| s.parse().ok());
        Ok(CpuLimits {
            quota_percent: Some(percent((q > 0).then_some(q as u64), p)),
            period_us: Some(p),
            weight: shares.map(shares_to_weight),
            ..Default::default()
        })
    }

    fn set_cpuset(&self, c: &CpusetLimits) -> Result<()> {
        for (v, file) in [(&c.cpus, "cpuset.cpus"), (&c.mems, "cpuset.mems")] {
            if let Some(v) = v {
                self.write("cpuset", file, v, file)?;
            }
        }
        Ok(())
    }

    fn effective_list(&self, what: &str) -> Result<Option<String>> {
        let file = if self.is_v2() {
            format!("cpuset.{what}.effective")
        } else {
            format!("cpuset.effective_{what}")
        };
        self.opt_read("cpuset", &file)
    }

    fn set_block_io(&self, l: &BlockIoLimit) -> Result<()> {
        let dev = format!("{}:{}", l.major, l.minor);
        let vals = [
            ("rbps", "read_bps", l.read_bps),
            ("wbps", "write_bps", l.write_bps),
            ("riops", "read_iops", l.read_iops),
            ("wiops", "write_iops", l.write_iops),
        ];
        if self.is_v2() {
            let kv: Vec<String> = vals
                .iter()
                .filter_map(|(k, _, v)| v.map(|v| format!("{k}={}", v2_value(v))))
                .collect();
            if kv.is_empty() {
                return Ok(());
            }
            let line = format!("{dev} {}", kv.join(" "));
            return self.write("io", "io.max", &line, &format!("block I/O limit on {dev}"));
        }
        for (_, name, v) in vals {
            if let Some(v) = v {
                // 0 removes a v1 throttle
                let v = if v == UNLIMITED { 0 } else { v };
                self.write(
                    "blkio",
                    &format!("blkio.throttle.{name}_device"),
                    &format!("{dev} {v}"),
                    &format!("block I/O limit on {dev}"),
                )?;
            }
        }
        Ok(())
    }

    fn block_io_limits(&self) -> Result<Vec<BlockIoLimit>> {
        let mut out: Vec<BlockIoLimit> = Vec::new();
        let mut entry = |maj_min: &str| -> Option<usize> {
            let (a, b) = maj_min.split_once(':')?;
            let (major, minor) = (a.parse().ok()?, b.parse().ok()?);
            Some(
                match out
                    .iter()
                    .position(|l| (l.major, l.minor) == (major, minor))
                {
                    Some(i) => i,
                    None => {
                        out.push(BlockIoLimit::new(major, minor));
                        out.len() - 1
                    }
                },
            )
        };
        let mut sets: Vec<(usize, String, u64)> = Vec::new();
        if self.is_v2() {
            let Some(text) = self.opt_read("io", "io.max")? else {
                return Ok(vec![]);
            };
            for line in text.lines() {
                let mut it = line.split_whitespace();
                let Some(i) = it.next().and_then(&mut entry) else {
                    continue;
                };
                for kv in it {
                    if let Some((k, v)) = kv.split_once('=') {
                        if let Some(v) = parse_v2(v).filter(|v| *v != UNLIMITED) {
                            sets.push((i, k.to_string(), v));
                        }
                    }
                }
            }
        } else {
            for (k, name) in [
                ("rbps", "read_bps"),
                ("wbps", "write_bps"),
                ("riops", "read_iops"),
                ("wiops", "write_iops"),
            ] {
                let file = format!("blkio.throttle.{name}_device");
                let Some(text) = self.opt_read("blkio", &file)? else {
                    return Ok(vec![]);
                };
                for line in text.lines() {
                    let mut it = line.split_whitespace();
                    let (Some(i), Some(v)) = (
                        it.next().and_then(&mut entry),
                        it.next().and_then(|v| v.parse().ok()),
                    ) else {
                        continue;
                    };
                    sets.push((i, k.to_string(), v));
                }
            }
        }
        for (i, k, v) in sets {
            let l = &mut out[i];
            match k.as_str() {
                "rbps" => l.read_bps = Some(v),
                "wbps" => l.write_bps = Some(v),
                "riops" => l.read_iops = Some(v),
                "wiops" => l.write_iops = Some(v),
                _ => {}
            }
        }
        out.retain(|l| {
            l.read_bps.is_some()
                || l.write_bps.is_some()
                || l.read_iops.is_some()
                || l.write_iops.is_some()
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_forms() {
        assert_eq!(v2_value(UNLIMITED), "max");
        assert_eq!(parse_v2("max"), Some(UNLIMITED));
        assert_eq!(parse_v1("9223372036854771712"), Some(UNLIMITED));
        assert_eq!(parse_v1("-1"), Some(UNLIMITED));
        assert_eq!(parse_v1("1048576"), Some(1 << 20));
        assert_eq!(v1_value(UNLIMITED), "-1");
    }

    #[test]
    fn weight_and_shares_keep_defaults() {
        assert_eq!(weight_to_shares(100), 1024);
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(weight_to_shares(1), 10);
        assert_eq!(weight_to_shares(10000), 102_400);
        for w in [1, 50, 100, 250, 10000] {
            assert_eq!(shares_to_weight(weight_to_shares(w)), w);
        }
    }
}
