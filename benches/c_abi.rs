//! Start→exit latency through the C ABI against the Rust API, in the same
//! run: the `start_latency` workload (create + start + wait + delete of
//! `/bin/true` with every namespace and a cgroup of its own), once from a C
//! program linked with libvpsos (benches/c_abi_start.c, built here against
//! `scripts/install-c.sh`'s prefix in target/c-bench) and once in-process
//! through the Rust API, interleaved in batches so drift hits both alike.
//!
//! `cargo bench --bench c_abi -- [RUNS]` (as root; default 200 each)
//! prints both medians and a last line `c-abi/rust=<ratio>` (goal ≤ 1.05).
use std::process::Command;
use std::time::{Duration, Instant};
use vpsos::{busybox, CgroupPlacement, Config, IdMap, NamespaceKind, Process, Runtime};

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("target/c-bench");
    let ok = Command::new("bash")
        .arg(root.join("scripts/install-c.sh"))
        .arg(out.join("prefix"))
        .status()
        .expect("running scripts/install-c.sh")
        .success();
    assert!(ok, "scripts/install-c.sh failed");
    let prefix = out.join("prefix");
    let exe = out.join("c_abi_start");
    let ok = Command::new("cc")
        .args(["-O2", "-std=c99", "-o"])
        .arg(&exe)
        .arg(root.join("benches/c_abi_start.c"))
        .arg(format!("-I{}", prefix.join("include").display()))
        .arg(format!("-L{}", prefix.join("lib").display()))
        .args(["-lvpsos"])
        .arg(format!("-Wl,-rpath,{}", prefix.join("lib").display()))
        .status()
        .expect("running cc")
        .success();
    assert!(ok, "building benches/c_abi_start.c failed");

    let rootfs = busybox::build_rootfs("/var/tmp/vpsos-bench/rootfs", 400_000, 400_000)
        .expect("building busybox rootfs");
    let cfg = Config::builder(&rootfs)
        .id_maps(IdMap::single(0, 400_000, 65536))
        .namespace(NamespaceKind::Time, None)
        .hostname("bench")
        .cgroup(CgroupPlacement::at("vpsos-bench/{id}"))
        .console(vpsos::config::Console::none())
        .init(Process::new(["/bin/true"]))
        .build()
        .expect("bench config");
    let json = out.join("config.json");
    std::fs::write(&json, cfg.to_json()).expect("writing the config");
    let rt = Runtime::with_root("/run/vpsos-bench");
    let rust_one = |i: usize| {
        let t = Instant::now();
        let ct = rt
            .run(&format!("r{i}"), &cfg, Default::default())
            .expect("run");
        let st = ct.wait().expect("wait");
        ct.delete().expect("delete");
        assert!(st.status().is_some_and(|s| s.success()));
        t.elapsed()
    };
    let c_batch = |n: usize, tag: &str| -> Vec<Duration> {
        let o = Command::new(&exe)
            .arg(&json)
            .arg(n.to_string())
            .arg(tag)
            .output()
            .expect("running c_abi_start");
        assert!(
            o.status.success(),
            "c_abi_start: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| Duration::from_nanos(l.parse().expect("nanoseconds")))
            .collect()
    };
    // warm-up, then batches: C, Rust, C, Rust, …
    c_batch(10, "w");
    for i in 0..10 {
        rust_one(i);
    }
    let batches = 10;
    let (mut c, mut r) = (Vec::new(), Vec::new());
    for b in 0..batches {
        c.extend(c_batch(runs / batches, &format!("c{b}-")));
        r.extend((0..runs / batches).map(|i| rust_one(b * runs + i)));
    }
    for h in vpsos::cgroup::hierarchies() {
        let _ = std::fs::remove_dir(h.mountpoint.join("vpsos-bench"));
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1000.0
    };
    let (cm, rm) = (median(&mut c), median(&mut r));
    println!("C ABI    median {cm:.3} ms ({} runs)", c.len());
    println!("Rust API median {rm:.3} ms ({} runs)", r.len());
    println!("c-abi/rust={:.3}", cm / rm);
}
