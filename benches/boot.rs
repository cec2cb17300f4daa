//! Boot-to-ready of Debian 12 with systemd: vpsos (through the library)
//! against LXC 5.0.2 (Debian's `lxc`, its `common.conf` + `userns.conf`),
//! one container at a time and as a storm of many started at once, in one
//! run, on the same tree with the same id map (0:1000000:65536).
//!
//! Each container gets a root of its own, made before the clock starts and
//! the same way for both: the cached tree (tests/images/build-debian.sh)
//! idmapped as the lower layer of an overlay with a fresh upper. The clock
//! runs from the create call (`Runtime::run`, `lxc-start -d`) until
//! `systemctl is-system-running` inside, run by `nsenter` into the init's
//! namespaces for both, says the boot has finished (`running`, or
//! `degraded` when a unit failed; which one is reported). Memory is read
//! from each container's own cgroup after boot (usage, and its anonymous
//! part, which page-cache charging does not skew).
//!
//! Run as root: `cargo bench --bench boot -- [RUNS] [STORM]` (defaults 5
//! and 20). Last line: `boot vpsos/lxc=<ratio> storm vpsos/lxc=<ratio>`
//! (medians of single boots; the storm's time until all are ready).

#[path = "../tests/common/distro.rs"]
#[allow(dead_code)]
mod distro;

use distro::Layered;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vpsos::cgroup::Cgroup;
use vpsos::{CgroupPlacement, Config, CreateOptions, Runtime};

const WORK: &str = "/var/tmp/vpsos-bench-boot";
const CG_PARENT: &str = "vpsos-bench-boot";
/// No boot here takes this long; past it the run is broken.
const LIMIT: Duration = Duration::from_secs(300);

/// What `systemctl is-system-running` says inside the namespaces of `pid`
/// (empty while systemd does not answer yet).
fn system_state(pid: i32) -> String {
    systemctl(pid, &["is-system-running"])
}

/// `systemctl args` inside the namespaces of `pid`: its output.
fn systemctl(pid: i32, args: &[&str]) -> String {
    let out = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-a", "systemctl"])
        .args(args)
        .stderr(Stdio::null())
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Poll every init in `pids` (in turn, 10 ms between rounds) until each has
/// finished booting; per init the time from `t0` and the state it reached.
fn wait_ready(pids: &[i32], t0: Instant) -> Vec<(Duration, String)> {
    let mut done: Vec<Option<(Duration, String)>> = vec![None; pids.len()];
    while done.iter().any(Option::is_none) {
        assert!(t0.elapsed() < LIMIT, "no boot after {LIMIT:?}");
        for (i, &pid) in pids.iter().enumerate() {
            if done[i].is_some() {
                continue;
            }
            let s = system_state(pid);
            if s == "running" {
                done[i] = Some((t0.elapsed(), s));
            } else if s == "degraded" {
                let t = t0.elapsed();
                let failed = systemctl(pid, &["--failed", "--no-legend", "--plain"]);
                let units: Vec<&str> = failed.lines().filter_map(|l| l.split(' ').next()).collect();
                done[i] = Some((t, format!("degraded ({})", units.join(" "))));
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done.into_iter().map(Option::unwrap).collect()
}

/// How long systemd itself took to boot (`systemd-analyze time`, its
/// "userspace" part: from its start to the default target).
fn systemd_own(pid: i32) -> Option<Duration> {
    let out = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-a", "systemd-analyze", "time"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.split(" (userspace)").next()?.rsplit(' ').next()?;
    let ms = if let Some(m) = v.strip_suffix("ms") {
        m.parse::<f64>().ok()?
    } else if let Some(s) = v.strip_suffix('s') {
        let (min, sec) = s.split_once("min ").unwrap_or(("0", s));
        min.parse::<f64>().ok()? * 60_000.0 + sec.parse::<f64>().ok()? * 1000.0
    } else {
        return None;
    };
    Some(Duration::from_secs_f64(ms / 1000.0))
}

/// Memory in a container's cgroup: (usage, anonymous) in KiB.
fn cgroup_memory(cg: &Cgroup) -> (u64, u64) {
    let usage = cg.stats().map(|s| s.memory_current).unwrap_or(0) / 1024;
    let stat = vpsos::cgroup::hierarchies()
        .iter()
        .find(|h| h.v2 || h.controllers.iter().any(|c| c == "memory"))
        .map(|h| {
            let p = h.mountpoint.join(cg.path().trim_start_matches('/'));
            fs::read_to_string(p.join("memory.stat")).unwrap_or_default()
        })
        .unwrap_or_default();
    let anon = stat
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            // v2 `anon` (hierarchical); v1 `total_rss` (with descendants)
            (k == "anon" || k == "total_rss").then(|| v.parse::<u64>().ok())?
        })
        .unwrap_or(0);
    (usage, anon / 1024)
}

/// One boot's (or one storm's) results for one runtime.
struct Booted {
    times: Vec<Duration>,
    /// systemd's own part of each boot.
    own: Vec<Duration>,
    states: Vec<String>,
    memory: Vec<(u64, u64)>,
}

impl Booted {
    /// What the inits `pids` reached, read while they still run.
    fn read(ready: Vec<(Duration, String)>, pids: &[i32], memory: Vec<(u64, u64)>) -> Booted {
        let (times, states) = ready.into_iter().unzip();
        Booted {
            times,
            own: pids.iter().filter_map(|&p| systemd_own(p)).collect(),
            states,
            memory,
        }
    }

    fn last(&self) -> Duration {
        self.times.iter().copied().max().unwrap_or_default()
    }

    /// Several boots' results as one.
    fn merge(all: Vec<Booted>) -> Booted {
        let mut m = Booted {
            times: vec![],
            own: vec![],
            states: vec![],
            memory: vec![],
        };
        for b in all {
            m.times.extend(b.times);
            m.own.extend(b.own);
            m.states.extend(b.states);
            m.memory.extend(b.memory);
        }
        m
    }

    /// The boots' states and memory, and the medians of systemd's own
    /// part and of the rest (the runtime's, with up to one poll's delay).
    fn summary(&self) -> String {
        let degraded: Vec<&str> = self
            .states
            .iter()
            .filter(|s| *s != "running")
            .map(|s| s.as_str())
            .collect();
        let n = self.memory.len().max(1) as u64;
        let usage = self.memory.iter().map(|m| m.0).sum::<u64>() / n;
        let anon = self.memory.iter().map(|m| m.1).sum::<u64>() / n;
        let own = median(self.own.clone());
        let rest = median(
            self.times
                .iter()
                .zip(&self.own)
                .map(|(t, o)| t.saturating_sub(*o))
                .collect(),
        );
        format!(
            "systemd {:.3} s + the rest {:.3} s; {} running, {} {}; cgroup memory {:.1} MiB (anon {:.1} MiB)",
            own.as_secs_f64(),
            rest.as_secs_f64(),
            self.states.len() - degraded.len(),
            degraded.len(),
            degraded.first().copied().unwrap_or("degraded"),
            usage as f64 / 1024.0,
            anon as f64 / 1024.0
        )
    }
}

/// Fresh roots for `n` containers of `who`, undone when dropped.
fn roots(image: &Path, who: &str, n: usize) -> Vec<Layered> {
    (0..n)
        .map(|i| Layered::new(image, &format!("bench-{who}-{i}")))
        .collect()
}

fn vpsos_boot(rt: &Runtime, image: &Path, n: usize) -> Booted {
    let layers = roots(image, "vpsos", n);
    let cfgs: Vec<Config> = layers
        .iter()
        .map(|l| {
            Config::builder(l.root())
                .id_maps(distro::distro_map())
                .cgroup(CgroupPlacement::at(format!("{CG_PARENT}/{{id}}")))
                .build()
                .unwrap()
        })
        .collect();
    let t0 = Instant::now();
    let cts: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = cfgs
            .iter()
            .enumerate()
            .map(|(i, cfg)| {
                s.spawn(move || {
                    rt.run(&format!("boot{i}"), cfg, CreateOptions::default())
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let pids: Vec<i32> = cts.iter().map(|c| c.pid().unwrap()).collect();
    let ready = wait_ready(&pids, t0);
    let memory = cts
        .iter()
        .map(|c| cgroup_memory(&c.cgroup().unwrap()))
        .collect();
    let booted = Booted::read(ready, &pids, memory);
    for c in cts {
        c.delete_force().unwrap();
    }
    drop(layers);
    booted
}

fn lxc_config(name: &str, rootfs: &Path, dir: &Path) -> String {
    format!(
        "lxc.include = /usr/share/lxc/config/common.conf\n\
         lxc.include = /usr/share/lxc/config/userns.conf\n\
         lxc.uts.name = {name}\n\
         lxc.rootfs.path = dir:{}\n\
         lxc.idmap = u 0 1000000 65536\n\
         lxc.idmap = g 0 1000000 65536\n\
         lxc.net.0.type = empty\n\
         lxc.console.logfile = {}/console.log\n",
        rootfs.display(),
        dir.display()
    )
}

fn lxc(args: &[&str], base: &Path) -> Command {
    let mut c = Command::new(args[0]);
    c.args(&args[1..]).arg("-P").arg(base);
    c
}

fn lxc_boot(image: &Path, n: usize) -> Booted {
    let base = PathBuf::from(WORK).join("lxc");
    let layers = roots(image, "lxc", n);
    let names: Vec<String> = (0..n).map(|i| format!("boot{i}")).collect();
    for (name, l) in names.iter().zip(&layers) {
        let dir = base.join(name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("config"), lxc_config(name, &l.root(), &dir)).unwrap();
    }
    let t0 = Instant::now();
    let kids: Vec<_> = names
        .iter()
        .map(|name| {
            lxc(&["lxc-start", "-d", "-n", name], &base)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut k in kids {
        assert!(k.wait().unwrap().success(), "lxc-start failed");
    }
    let pids: Vec<i32> = names
        .iter()
        .map(|name| {
            let out = lxc(&["lxc-info", "-n", name, "-p", "-H"], &base)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("lxc init pid")
        })
        .collect();
    let ready = wait_ready(&pids, t0);
    let memory = names
        .iter()
        .map(|name| cgroup_memory(&Cgroup::open(&format!("lxc.payload.{name}"))))
        .collect();
    let booted = Booted::read(ready, &pids, memory);
    for name in &names {
        let _ = lxc(&["lxc-stop", "-k", "-n", name], &base).status();
    }
    drop(layers);
    let _ = fs::remove_dir_all(&base);
    booted
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let mut nums = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| a.parse::<usize>().ok());
    let runs = nums.next().unwrap_or(5).max(1);
    let storm = nums.next().unwrap_or(20).max(1);
    let image = distro::image("systemd").unwrap_or_else(|why| {
        eprintln!("boot: {why}");
        std::process::exit(2)
    });
    if Command::new("lxc-start").arg("--version").output().is_err() {
        eprintln!("boot: lxc-start not found (scripts/install-deps.sh --bench installs it)");
        std::process::exit(2)
    }
    let _ = fs::remove_dir_all(WORK);
    let rt = Runtime::with_root(format!("{WORK}/run"));

    // one of each first, untimed, so both find the tree in the page cache
    vpsos_boot(&rt, &image, 1);
    lxc_boot(&image, 1);

    let (mut v, mut l) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        v.push(vpsos_boot(&rt, &image, 1));
        l.push(lxc_boot(&image, 1));
    }
    let vb = median(v.iter().map(Booted::last).collect());
    let lb = median(l.iter().map(Booted::last).collect());
    let (v, l) = (Booted::merge(v), Booted::merge(l));
    println!("{runs} single boots each, medians");
    println!("  vpsos {:>6.3} s  {}", vb.as_secs_f64(), v.summary());
    println!("  lxc   {:>6.3} s  {}", lb.as_secs_f64(), l.summary());

    let vs = vpsos_boot(&rt, &image, storm);
    let ls = lxc_boot(&image, storm);
    println!("a storm of {storm} at once, until all are ready; per container");
    println!(
        "  vpsos {:>6.3} s  {}",
        vs.last().as_secs_f64(),
        vs.summary()
    );
    println!(
        "  lxc   {:>6.3} s  {}",
        ls.last().as_secs_f64(),
        ls.summary()
    );

    for h in vpsos::cgroup::hierarchies() {
        let _ = fs::remove_dir(h.mountpoint.join(CG_PARENT));
    }
    let _ = fs::remove_dir_all(WORK);
    println!(
        "boot vpsos/lxc={:.2} storm vpsos/lxc={:.2}",
        vb.as_secs_f64() / lb.as_secs_f64(),
        vs.last().as_secs_f64() / ls.last().as_secs_f64()
    );
}
