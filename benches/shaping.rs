//! Throughput through a shaped interface against its limit: two containers
//! on a test bridge (no host address on it), the receiver's interface
//! limited with `max_rx`, 8 MiB sent with busybox nc, timed inside the
//! sender. Prints `shaped/limit=<ratio>` (1.0 is the limit exactly).
//!
//! `cargo bench --bench shaping -- [LIMIT_MBIT]` (as root; default 40).
use std::time::Instant;
use vpsos::config::Interface;
use vpsos::net::Netlink;
use vpsos::{busybox, CgroupPlacement, Config, CreateOptions, IdMap, Process, Runtime, Stdio};

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let limit_mbit: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(40);
    let rootfs = busybox::build_rootfs("/var/tmp/vpsos-bench/shaping-rootfs", 410_000, 410_000)
        .expect("building busybox rootfs");
    let br = format!("vpbbr{}", std::process::id() % 10000);
    let nl = Netlink::open().expect("netlink");
    nl.add_bridge(&br).expect("bridge");
    nl.set_up(nl.index(&br).unwrap(), true).unwrap();
    let rt = Runtime::with_root("/run/vpsos-bench");
    let make = |name: &str, addr: &str, rx: Option<u64>| {
        let mut i = Interface::bridged("eth0", &br).address(addr.parse().unwrap());
        i.max_rx = rx;
        let cfg = Config::builder(&rootfs)
            .id_maps(IdMap::single(0, 410_000, 65536))
            .cgroup(CgroupPlacement::at("vpsos-bench/{id}"))
            .interface(i)
            .init(Process::new(["/bin/sleep", "1000"]))
            .build()
            .unwrap();
        let opts = CreateOptions {
            stdin: Stdio::Null,
            ..Default::default()
        };
        rt.run(name, &cfg, opts).expect("container")
    };
    let rx = make("shape-rx", "10.254.0.2/24", Some(limit_mbit * 1_000_000));
    let tx = make("shape-tx", "10.254.0.3/24", None);
    let sh = |s: &str| Process::new(["/bin/sh", "-c", s]);
    let server = rx
        .exec(
            &sh("sleep 1000 | nc -l -p 5000 > /dev/null"),
            CreateOptions::default(),
        )
        .unwrap();
    let bytes: u64 = 8 << 20;
    let p = tx
        .exec(
            &sh("dd if=/dev/zero of=/dev/shm/data bs=1M count=8 2>/dev/null; \
                 for i in $(seq 50); do nc -z 10.254.0.2 5000 2>/dev/null && break; sleep 0.1; done"),
            CreateOptions::default(),
        )
        .unwrap();
    p.wait().unwrap();
    let t = Instant::now();
    let send = tx
        .exec(
            &sh("nc 10.254.0.2 5000 < /dev/shm/data"),
            CreateOptions::default(),
        )
        .unwrap();
    send.wait().unwrap();
    let secs = t.elapsed().as_secs_f64();
    let mbit = bytes as f64 * 8.0 / secs / 1e6;
    let _ = server.kill(libc::SIGKILL);
    let _ = server.wait();
    rx.delete_force().unwrap();
    tx.delete_force().unwrap();
    let _ = nl.delete_named(&br);
    for h in vpsos::cgroup::hierarchies() {
        let _ = std::fs::remove_dir(h.mountpoint.join("vpsos-bench"));
    }
    println!("shaped to {limit_mbit} Mbit/s: 8 MiB in {secs:.2} s = {mbit:.1} Mbit/s");
    println!("shaped/limit={:.2}", mbit / limit_mbit as f64);
}
