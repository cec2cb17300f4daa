//! Start→exit latency of `/bin/true` in a container with user, pid, mount,
//! net, uts, ipc and cgroup namespaces, pivot_root and its own cgroup (as
//! crun and runc make one), driven in-process through the library.
//!
//! `cargo bench --bench start_latency -- [RUNS] [ROOTFS] [bare|system]` (as
//! root) prints the median and p95, and a last line
//! `vpsos_median_ms=<m> vpsos_p95_ms=<p>` that `benches/peers.sh` reads.
//! Each run is create + start + wait + delete, the same work `crun run`
//! does. `bare` (default) is issue 1's workload; `system` adds what a
//! distribution's init gets by default: the container's cgroup mounted at
//! /sys/fs/cgroup (on a v1 host a tmpfs and one mount per hierarchy).
use std::time::{Duration, Instant};
use vpsos::{
    busybox, CgroupPlacement, Config, CreateOptions, IdMap, NamespaceKind, Process, Runtime, Stdio,
};

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let rootfs = match args.next().filter(|a| a != "-") {
        Some(r) => r.into(),
        None => busybox::build_rootfs("/var/tmp/vpsos-bench/rootfs", 400_000, 400_000)
            .expect("building busybox rootfs"),
    };
    let system = args.next().as_deref() == Some("system");
    let mut placement = CgroupPlacement::at("vpsos-bench/{id}");
    placement.mount = system;
    let cfg = Config::builder(&rootfs)
        .id_maps(IdMap::single(0, 400_000, 65536))
        .namespace(NamespaceKind::Time, None)
        .hostname("bench")
        .cgroup(placement)
        // crun's bundle has no terminal: no console and no ttys here either
        // (with them: console + 4 ttys, see the README)
        .console(if std::env::var_os("VPSOS_BENCH_CONSOLE").is_some() {
            vpsos::config::Console::default()
        } else {
            vpsos::config::Console::none()
        })
        .init(Process::new(["/bin/true"]))
        .build()
        .expect("bench config");
    let rt = Runtime::with_root("/run/vpsos-bench");
    // per run: (run, wait, delete), for VPSOS_BENCH_PHASES
    let phases = std::cell::RefCell::new(Vec::new());
    let one = |i: usize| {
        let t = Instant::now();
        let opts = CreateOptions {
            stdin: Stdio::Null,
            ..Default::default()
        };
        let ct = rt.run(&format!("b{i}"), &cfg, opts).expect("run");
        let t1 = t.elapsed();
        let st = ct.wait().expect("wait");
        let t2 = t.elapsed();
        ct.delete().expect("delete");
        assert!(st.status().is_some_and(|s| s.success()));
        let all = t.elapsed();
        phases.borrow_mut().push([t1, t2 - t1, all - t2]);
        all
    };
    for i in 0..10 {
        one(i); // warm-up
    }
    let mut times: Vec<Duration> = (0..runs).map(one).collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = ms(times[times.len() / 2]);
    let p95 = ms(times[(times.len() * 95 / 100).min(times.len() - 1)]);
    // leave the host as it was: the (now empty) parent cgroup goes too
    for h in vpsos::cgroup::hierarchies() {
        let _ = std::fs::remove_dir(h.mountpoint.join("vpsos-bench"));
    }
    if std::env::var_os("VPSOS_BENCH_PHASES").is_some() {
        let p = phases.borrow();
        let p = &p[10..];
        for (k, name) in ["run", "wait", "delete"].iter().enumerate() {
            let mut v: Vec<Duration> = p.iter().map(|x| x[k]).collect();
            v.sort();
            println!("  {name:<6} median {:.3} ms", ms(v[v.len() / 2]));
        }
    }
    let workload = if system { "system" } else { "bare" };
    println!("vpsos in-process ({workload}): {runs} runs, median {median:.3} ms, p95 {p95:.3} ms");
    println!("vpsos_median_ms={median:.3} vpsos_p95_ms={p95:.3}");
}
