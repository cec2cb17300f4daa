//! Host-side memory per container with many containers alive at once:
//! every process vpsos keeps per container (its monitor) against LXC's
//! `lxc-start` monitor, on the same busybox rootfs, measured in one run.
//! Both hold a console and four ttys and log the console to a file.
//!
//! PSS (proportional set size) charges each shared page to its sharers in
//! equal parts, so it is what a container really costs the host; the
//! anonymous part is memory of its own. Run as root, with Debian's `lxc`
//! installed (`scripts/install-deps.sh --bench`).
//!
//! `cargo bench --bench monitor_memory -- [N]` (default 100).
//! Last line: `overhead vpsos/lxc=<ratio>` (mean PSS per container).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use vpsos::{CgroupPlacement, Config, CreateOptions, IdMap, Process, Runtime};

const HOST_ID: u32 = 500_000;
const WORK: &str = "/var/tmp/vpsos-bench-mem";

/// (PSS, anonymous, RSS) of a process in KiB, from smaps_rollup.
fn memory(pid: i32) -> (u64, u64, u64) {
    let s = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("Pss:"), field("Anonymous:"), field("Rss:"))
}

fn ppid(pid: i32) -> i32 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// One runtime's figures: per container, its processes' total memory.
struct Figures {
    name: &'static str,
    per_ct: Vec<(u64, u64, u64)>,
    processes: usize,
}

impl Figures {
    fn mean(&self, f: impl Fn(&(u64, u64, u64)) -> u64) -> f64 {
        self.per_ct.iter().map(f).sum::<u64>() as f64 / self.per_ct.len().max(1) as f64
    }

    fn print(&self) {
        println!(
            "{:<6} {:>4} containers  {} process(es) each  PSS {:>7.1} KiB  anon {:>7.1} KiB  RSS {:>7.1} KiB",
            self.name,
            self.per_ct.len(),
            self.processes,
            self.mean(|m| m.0),
            self.mean(|m| m.1),
            self.mean(|m| m.2)
        );
    }
}

fn vpsos_figures(n: usize, rootfs: &Path) -> Figures {
    let rt = Runtime::with_root("/run/vpsos-bench-mem");
    let cfg = Config::builder(rootfs)
        .id_maps(IdMap::single(0, HOST_ID, 65536))
        .hostname("memct")
        .cgroup(CgroupPlacement::at("vpsos-bench-mem/{id}"))
        .init(Process::new(["/bin/sleep", "100000"]))
        .build()
        .unwrap();
    let t = Instant::now();
    let cts: Vec<_> = (0..n)
        .map(|i| {
            rt.run(&format!("mem{i}"), &cfg, CreateOptions::default())
                .unwrap()
        })
        .collect();
    eprintln!("vpsos: {n} containers up in {:?}", t.elapsed());
    std::thread::sleep(Duration::from_millis(500));
    let mut per_ct = Vec::new();
    for ct in &cts {
        let st = ct.state().unwrap();
        let mon = st.monitor_pid.expect("a monitor");
        assert_eq!(ppid(st.pid.unwrap()), mon);
        per_ct.push(memory(mon));
    }
    for ct in cts {
        ct.delete_force().unwrap();
    }
    Figures {
        name: "vpsos",
        per_ct,
        processes: 1,
    }
}

fn lxc_config(name: &str, rootfs: &Path, dir: &Path) -> String {
    format!(
        "lxc.uts.name = {name}\n\
         lxc.rootfs.path = dir:{}\n\
         lxc.idmap = u 0 {HOST_ID} 65536\n\
         lxc.idmap = g 0 {HOST_ID} 65536\n\
         lxc.net.0.type = empty\n\
         lxc.init.cmd = /bin/sleep 100000\n\
         lxc.mount.auto = proc:mixed sys:ro cgroup:mixed\n\
         lxc.apparmor.profile = unconfined\n\
         lxc.tty.max = 4\n\
         lxc.console.logfile = {}/console.log\n",
        rootfs.display(),
        dir.display()
    )
}

fn lxc_figures(n: usize, rootfs: &Path) -> Option<Figures> {
    if Command::new("lxc-start").arg("--version").output().is_err() {
        eprintln!("lxc: lxc-start not found (scripts/install-deps.sh --bench installs it)");
        return None;
    }
    let base = Path::new(WORK).join("lxc");
    let names: Vec<String> = (0..n).map(|i| format!("mem{i}")).collect();
    let t = Instant::now();
    // eight lxc-start at a time
    for chunk in names.chunks(8) {
        let kids: Vec<_> = chunk
            .iter()
            .map(|name| {
                let dir = base.join(name);
                fs::create_dir_all(&dir).unwrap();
                fs::write(dir.join("config"), lxc_config(name, rootfs, &dir)).unwrap();
                Command::new("lxc-start")
                    .args(["-d", "-n", name, "-P"])
                    .arg(&base)
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut k in kids {
            assert!(k.wait().unwrap().success(), "lxc-start failed");
        }
    }
    eprintln!("lxc: {n} containers up in {:?}", t.elapsed());
    std::thread::sleep(Duration::from_millis(500));
    let mut per_ct = Vec::new();
    for name in &names {
        let out = Command::new("lxc-info")
            .args(["-n", name, "-P"])
            .arg(&base)
            .args(["-p", "-H"])
            .output()
            .unwrap();
        let init: i32 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("lxc init pid");
        per_ct.push(memory(ppid(init)));
    }
    for name in &names {
        let _ = Command::new("lxc-stop")
            .args(["-k", "-n", name, "-P"])
            .arg(&base)
            .status();
    }
    let _ = fs::remove_dir_all(&base);
    Some(Figures {
        name: "lxc",
        per_ct,
        processes: 1,
    })
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let rootfs = Path::new(WORK).join("rootfs");
    vpsos::busybox::build_rootfs(&rootfs, HOST_ID, HOST_ID).unwrap();
    let v = vpsos_figures(n, &rootfs);
    let l = lxc_figures(n, &rootfs);
    v.print();
    if let Some(l) = &l {
        l.print();
    }
    for h in vpsos::cgroup::hierarchies() {
        let _ = fs::remove_dir(h.mountpoint.join("vpsos-bench-mem"));
    }
    let _ = fs::remove_dir_all(WORK);
    match l {
        Some(l) => println!(
            "overhead vpsos/lxc={:.3}",
            v.mean(|m| m.0) / l.mean(|m| m.0)
        ),
        None => println!("overhead vpsos/lxc=unmeasured (no lxc)"),
    }
}
