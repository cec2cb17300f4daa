//! Usage numbers from a cgroup, the same fields on v1 and v2: what osctld's
//! `ct ls` and its Prometheus exporter read.

use super::Cgroup;
use crate::error::Result;
use serde::{Deserialize, Serialize};

/// A snapshot of a cgroup's usage. Counters a host lacks are `None`.
///
/// ```no_run
/// let s = vpsos_core::Cgroup::open("vpsos/ct1").stats()?;
/// println!("{} bytes, {} µs CPU, {} tasks", s.memory_current, s.cpu_usage_usec, s.pids_current);
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Memory in use, bytes (`memory.current`, v1 `memory.usage_in_bytes`).
    pub memory_current: u64,
    /// Highest memory use seen, bytes (`memory.peak`, v1
    /// `memory.max_usage_in_bytes`).
    pub memory_peak: Option<u64>,
    /// Swap in use, bytes.
    pub swap_current: Option<u64>,
    /// CPU time, µs.
    pub cpu_usage_usec: u64,
    /// CPU time in user mode, µs.
    pub cpu_user_usec: u64,
    /// CPU time in the kernel, µs.
    pub cpu_system_usec: u64,
    /// Tasks now.
    pub pids_current: u64,
    /// Bytes read from block devices.
    pub io_read_bytes: u64,
    /// Bytes written to block devices.
    pub io_write_bytes: u64,
    /// Read operations.
    pub io_read_ops: u64,
    /// Write operations.
    pub io_write_ops: u64,
    /// Processes the OOM killer killed in this cgroup.
    pub oom_kills: u64,
}

/// `key value` lines (cpu.stat, memory.events, memory.oom_control).
fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

impl Cgroup {
    /// Read the current usage. Controllers the host lacks read as zero
    /// (or `None`).
    pub fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        let get = |c: &str, f: &str| -> Result<Option<String>> {
            if self.has(c, f) {
                self.read(c, f).map(Some)
            } else {
                Ok(None)
            }
        };
        let num = |t: Option<String>| t.and_then(|t| t.parse::<u64>().ok());
        if self.is_v2() {
            s.memory_current = num(get("memory", "memory.current")?).unwrap_or(0);
            s.memory_peak = num(get("memory", "memory.peak")?);
            s.swap_current = num(get("memory", "memory.swap.current")?);
            if let Some(t) = get("memory", "memory.events")? {
                s.oom_kills = field(&t, "oom_kill").unwrap_or(0);
            }
            // cpu.stat exists even without the cpu controller
            if let Ok(t) = std::fs::read_to_string(self.dirs[0].0.join("cpu.stat")) {
                s.cpu_usage_usec = field(&t, "usage_usec").unwrap_or(0);
                s.cpu_user_usec = field(&t, "user_usec").unwrap_or(0);
                s.cpu_system_usec = field(&t, "system_usec").unwrap_or(0);
            }
            s.pids_current = num(get("pids", "pids.current")?).unwrap_or(0);
            if let Some(t) = get("io", "io.stat")? {
                for line in t.lines() {
                    for kv in line.split_whitespace().skip(1) {
                        let Some((k, v)) = kv.split_once('=') else {
                            continue;
                        };
                        let v: u64 = v.parse().unwrap_or(0);
                        match k {
                            "rbytes" => s.io_read_bytes += v,
                            "wbytes" => s.io_write_bytes += v,
                            "rios" => s.io_read_ops += v,
                            "wios" => s.io_write_ops += v,
                            _ => {}
                        }
                    }
                }
            }
            return Ok(s);
        }
        s.memory_current = num(get("memory", "memory.usage_in_bytes")?).unwrap_or(0);
        s.memory_peak = num(get("memory", "memory.max_usage_in_bytes")?);
        if let Some(memsw) = num(get("memory", "memory.memsw.usage_in_bytes")?) {
            s.swap_current = Some(memsw.saturating_sub(s.memory_current));
        }
        if let Some(t) = get("memory", "memory.oom_control")? {
            s.oom_kills = field(&t, "oom_kill").unwrap_or(0);
        }
        let ns = |f: &str| -> Result<u64> { Ok(num(get("cpuacct", f)?).unwrap_or(0) / 1000) };
        s.cpu_usage_usec = ns("cpuacct.usage")?;
        s.cpu_user_usec = ns("cpuacct.usage_user")?;
        s.cpu_system_usec = ns("cpuacct.usage_sys")?;
        s.pids_current = num(get("pids", "pids.current")?).unwrap_or(0);
        for (file, read, write) in [
            (
                "blkio.throttle.io_service_bytes_recursive",
                &mut s.io_read_bytes,
                &mut s.io_write_bytes,
            ),
            (
                "blkio.throttle.io_serviced_recursive",
                &mut s.io_read_ops,
                &mut s.io_write_ops,
            ),
        ] {
            let Some(t) = get("blkio", file)? else {
                continue;
            };
            // "8:0 Read 4096" per device, then "Total N"
            for line in t.lines() {
                let mut it = line.split_whitespace();
                let (_, Some(op), Some(v)) = (it.next(), it.next(), it.next()) else {
                    continue;
                };
                let v: u64 = v.parse().unwrap_or(0);
                match op {
                    "Read" => *read += v,
                    "Write" => *write += v,
                    _ => {}
                }
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_fields() {
        let t = "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n";
        assert_eq!(field(t, "user_usec"), Some(1000));
        assert_eq!(field(t, "usage"), None);
        let oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(field(oom, "oom_kill"), Some(3));
    }
}
