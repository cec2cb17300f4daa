//! The less common limits onto cgroup files, v1 and v2, and back.
//!
//! | limit | v2 | v1 |
//! |---|---|---|
//! | memory swappiness | unsupported | `memory.swappiness` |
//! | CPU realtime | unsupported | `cpu.rt_runtime_us`, `cpu.rt_period_us` |
//! | block I/O weight | `io.bfq.weight` or `io.weight` (10–1000 → 1–10000) | `blkio.bfq.weight` or `blkio.weight` |
//! | huge pages | `hugetlb.<size>.max` | `hugetlb.<size>.limit_in_bytes` |
//! | network class id | unsupported | `net_cls.classid` |
//! | network priorities | unsupported | `net_prio.ifpriomap` |
//! | unified | the file as named | unsupported |

use super::Cgroup;
use crate::config::{page_size_bytes, Resources, UNLIMITED};
use crate::error::{Error, Result};
use std::path::Path;

/// Where the kernel lists the huge page sizes it has.
const HUGEPAGES: &str = "/sys/kernel/mm/hugepages";

/// v1 `blkio.weight` (10–1000) to v2 `io.weight` (1–10000), as runc does.
fn blkio_to_io_weight(w: u64) -> u64 {
    1 + (w.saturating_sub(10)) * 9999 / 990
}

fn io_to_blkio_weight(w: u64) -> u64 {
    10 + (w.saturating_sub(1)) * 990 / 9999
}

/// The host's huge page sizes by name (`2MB`), from `hugepages-2048kB`.
pub(crate) fn host_page_sizes() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(HUGEPAGES) else {
        return vec![];
    };
    let mut v: Vec<(u64, String)> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let kb: u64 = n
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some((kb, page_size_name(kb << 10)))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, n)| n).collect()
}

/// `2097152` → `2MB`, as the hugetlb controller names its files.
fn page_size_name(bytes: u64) -> String {
    for (shift, unit) in [(30, "GB"), (20, "MB"), (10, "KB")] {
        if bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// Check that every page size of `r.hugepages` exists on this host.
///
/// An `InvalidConfig` naming `resources.hugepages.<size>` otherwise.
pub(crate) fn check_page_sizes(r: &Resources) -> Result<()> {
    let have = host_page_sizes();
    for size in r.hugepages.keys() {
        let canonical = page_size_bytes(size).map(page_size_name);
        if !canonical.is_some_and(|c| have.contains(&c)) {
            return Err(Error::invalid(
                format!("resources.hugepages.{size}"),
                format!(
                    "this host has no {size} huge pages (it has: {})",
                    if have.is_empty() {
                        "none".to_string()
                    } else {
                        have.join(", ")
                    }
                ),
            ));
        }
    }
    Ok(())
}

impl Cgroup {
    /// Apply the less common limits of `r` (fields left unset are untouched).
    pub(super) fn set_more(&self, r: &Resources) -> Result<()> {
        let v2 = self.is_v2();
        let v1_only = |set: bool, what: &str| -> Result<()> {
            if set && v2 {
                return Err(Error::unsupported(format!(
                    "{what}: cgroup v2 has no such setting, and this host runs v2"
                )));
            }
            Ok(())
        };
        v1_only(
            r.memory.swappiness.is_some(),
            "resources.memory.swappiness (memory.swappiness)",
        )?;
        v1_only(
            r.cpu.rt_runtime_us.is_some() || r.cpu.rt_period_us.is_some(),
            "resources.cpu.rt_runtime_us/rt_period_us (cpu.rt_*)",
        )?;
        v1_only(
            !r.network.is_empty(),
            "resources.network (the net_cls and net_prio controllers)",
        )?;
        if let Some(s) = r.memory.swappiness {
            self.write(
                "memory",
                "memory.swappiness",
                &s.to_string(),
                "memory swappiness",
            )?;
        }
        self.set_rt(r)?;
        if let Some(w) = r.block_io_weight {
            self.set_io_weight(w)?;
        }
        if !r.hugepages.is_empty() {
            check_page_sizes(r)?;
        }
        for (size, limit) in &r.hugepages {
            let canonical = page_size_bytes(size)
                .map(page_size_name)
                .unwrap_or_default();
            let (file, value) = if v2 {
                let v = if *limit == UNLIMITED {
                    "max".to_string()
                } else {
                    limit.to_string()
                };
                (format!("hugetlb.{canonical}.max"), v)
            } else {
                let v = if *limit == UNLIMITED {
                    "-1".to_string()
                } else {
                    limit.to_string()
                };
                (format!("hugetlb.{canonical}.limit_in_bytes"), v)
            };
            self.write("hugetlb", &file, &value, &format!("{size} huge page limit"))?;
        }
        if let Some(id) = r.network.class_id {
            self.write(
                "net_cls",
                "net_cls.classid",
                &id.to_string(),
                "network class id",
            )?;
        }
        for (iface, prio) in &r.network.priorities {
            self.write(
                "net_prio",
                "net_prio.ifpriomap",
                &format!("{iface} {prio}"),
                &format!("network priority of {iface}"),
            )?;
        }
        self.set_unified(r)
    }

    fn set_rt(&self, r: &Resources) -> Result<()> {
        let c = &r.cpu;
        if c.rt_runtime_us.is_none() && c.rt_period_us.is_none() {
            return Ok(());
        }
        // the kernel checks runtime <= period at every write: a longer
        // period goes first, a shorter one after the runtime
        let cur: u64 = self
            .read("cpu", "cpu.rt_period_us")?
            .parse()
            .unwrap_or(1_000_000);
        let period = |s: &Self, p: u64| {
            s.write(
                "cpu",
                "cpu.rt_period_us",
                &p.to_string(),
                "CPU realtime period",
            )
        };
        let runtime = |s: &Self, v: i64| {
            s.write(
                "cpu",
                "cpu.rt_runtime_us",
                &v.to_string(),
                "CPU realtime runtime",
            )
        };
        match (c.rt_period_us, c.rt_runtime_us) {
            (Some(p), Some(rt)) if p >= cur => {
                period(self, p)?;
                runtime(self, rt)
            }
            (Some(p), Some(rt)) => {
                runtime(self, rt)?;
                period(self, p)
            }
            (Some(p), None) => period(self, p),
            (None, Some(rt)) => runtime(self, rt),
            (None, None) => Ok(()),
        }
    }

    fn set_io_weight(&self, w: u64) -> Result<()> {
        let (controller, files) = if self.is_v2() {
            // io.bfq.weight takes the blkio range; io.weight its own
            (
                "io",
                [("io.bfq.weight", w), ("io.weight", blkio_to_io_weight(w))],
            )
        } else {
            ("blkio", [("blkio.bfq.weight", w), ("blkio.weight", w)])
        };
        for (file, v) in files {
            if self.has(controller, file) {
                return self.write(controller, file, &v.to_string(), "block I/O weight");
            }
        }
        Err(Error::unsupported(format!(
            "resources.block_io_weight: cgroup {} has neither {} nor {} (no BFQ or CFQ I/O scheduler?)",
            self.path, files[0].0, files[1].0
        )))
    }

    fn set_unified(&self, r: &Resources) -> Result<()> {
        if r.unified.is_empty() {
            return Ok(());
        }
        if !self.is_v2() {
            return Err(Error::unsupported(
                "resources.unified: cgroup v2 files, and this host runs cgroup v1",
            ));
        }
        let dir: &Path = &self.dirs[0].0;
        for (file, value) in &r.unified {
            let p = dir.join(file);
            if file.contains('/') || file.contains("..") || !p.is_file() {
                return Err(Error::invalid(
                    format!("resources.unified.{file}"),
                    format!("cgroup {} has no file {file:?}", self.path),
                ));
            }
            std::fs::write(&p, value).map_err(|e| {
                Error::from_errno(
                    e.raw_os_error().unwrap_or(libc::EIO),
                    format!("writing {value:?} to {}", p.display()),
                )
                .context(format!(
                    "applying resources.unified to cgroup {}",
                    self.path
                ))
            })?;
        }
        Ok(())
    }

    /// Read the less common limits back into `r` (controllers the host
    /// lacks leave their fields unset).
    pub(super) fn read_more(&self, r: &mut Resources) -> Result<()> {
        let num = |controller: &str, file: &str| -> Result<Option<String>> {
            if self.has(controller, file) {
                self.read(controller, file).map(Some)
            } else {
                Ok(None)
            }
        };
        let v2 = self.is_v2();
        if !v2 {
            r.memory.swappiness = num("memory", "memory.swappiness")?.and_then(|s| s.parse().ok());
            r.cpu.rt_runtime_us = num("cpu", "cpu.rt_runtime_us")?.and_then(|s| s.parse().ok());
            r.cpu.rt_period_us = num("cpu", "cpu.rt_period_us")?.and_then(|s| s.parse().ok());
            r.network.class_id = num("net_cls", "net_cls.classid")?.and_then(|s| s.parse().ok());
        }
        let weights: [(&str, &str, bool); 2] = if v2 {
            [("io", "io.bfq.weight", false), ("io", "io.weight", true)]
        } else {
            [
                ("blkio", "blkio.bfq.weight", false),
                ("blkio", "blkio.weight", false),
            ]
        };
        for (controller, file, convert) in weights {
            if let Some(s) = num(controller, file)? {
                // "default 100" on v2, a plain number on v1
                let w = s
                    .split_whitespace()
                    .find_map(|t| t.parse::<u64>().ok())
                    .map(|w| if convert { io_to_blkio_weight(w) } else { w });
                r.block_io_weight = w;
                break;
            }
        }
        for size in host_page_sizes() {
            let file = if v2 {
                format!("hugetlb.{size}.max")
            } else {
                format!("hugetlb.{size}.limit_in_bytes")
            };
            if let Some(s) = num("hugetlb", &file)? {
                let v = match s.as_str() {
                    "max" => UNLIMITED,
                    s => match s.parse::<u64>() {
                        Ok(v) if v >= 1 << 62 => UNLIMITED,
                        Ok(v) => v,
                        Err(_) => continue,
                    },
                };
                r.hugepages.insert(size, v);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_weight_conversion_keeps_the_ends() {
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(blkio_to_io_weight(500), 4950);
        for w in [10, 100, 500, 1000] {
            assert_eq!(io_to_blkio_weight(blkio_to_io_weight(w)), w);
        }
    }

    #[test]
    fn page_size_names_are_the_kernels() {
        assert_eq!(page_size_name(2 << 20), "2MB");
        assert_eq!(page_size_name(1 << 30), "1GB");
        assert_eq!(page_size_name(64 << 10), "64KB");
        assert_eq!(
            page_size_bytes("2048KB").map(page_size_name),
            Some("2MB".into())
        );
    }

    #[test]
    fn unknown_page_sizes_are_refused_naming_them() {
        let r = Resources::default().hugepages("3MB", 1 << 20);
        let e = check_page_sizes(&r).unwrap_err();
        assert_eq!(e.field(), Some("resources.hugepages.3MB"));
    }
}
