//! A new container from a ZFS clone of a template snapshot against one
//! from a copy of a directory rootfs (`DirStorage::create_from_dir`): each
//! run makes the rootfs, starts `/bin/true` in it, waits, and removes both.
//! The template is busybox plus 32 MiB of files (an image's bulk). Prints
//! `clone/copy=<ratio>`. Needs ZFS (the test VM); elsewhere it says so.
//!
//! `cargo bench --bench storage_clone -- [RUNS]` (as root; default 10).
use std::path::Path;
use std::process::Command;

#[allow(dead_code)]
#[path = "../tests/common/zfs.rs"]
mod zfs_pool;
use std::time::{Duration, Instant};
use vpsos::storage::DirStorage;
use vpsos::{busybox, CgroupPlacement, Config, CreateOptions, IdMap, Process, Runtime};

fn run_once(rt: &Runtime, rootfs: &Path, id: &str) {
    let cfg = Config::builder(rootfs)
        .id_maps(IdMap::single(0, 420_000, 65536))
        .cgroup(CgroupPlacement::at("vpsos-bench/{id}"))
        .init(Process::new(["/bin/true"]))
        .build()
        .unwrap();
    let ct = rt.run(id, &cfg, CreateOptions::default()).unwrap();
    ct.wait().unwrap();
    ct.delete().unwrap();
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10);
    let Some(zfs) = zfs_pool::zfs() else {
        println!("storage_clone: no ZFS on this host (run it in the test VM)");
        return;
    };
    // the tests' file-backed pool: destroyed when dropped, panics included
    let pool = zfs_pool::Pool::new("bench");
    let tpl = pool.ds("tpl");
    zfs.create(&tpl, &[]).unwrap();
    let src = "/var/tmp/vpsos-bench/clone-src";
    busybox::build_rootfs(src, 420_000, 420_000).unwrap();
    for i in 0..32 {
        std::fs::write(
            Path::new(src).join(format!("root/bulk{i}")),
            vec![i as u8; 1 << 20],
        )
        .unwrap();
    }
    let cp = Command::new("cp")
        .arg("-a")
        .arg(format!("{src}/."))
        .arg(pool.path("tpl"))
        .status();
    assert!(cp.unwrap().success(), "filling the template");
    zfs.snapshot(&format!("{tpl}@base"), false).unwrap();

    let rt = Runtime::with_root("/run/vpsos-bench");
    let st = DirStorage::new("/var/tmp/vpsos-bench/clone-store");
    let (mut copy, mut clone) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let t = Instant::now();
        let root = st.create_from_dir(&format!("c{i}"), src).unwrap();
        run_once(&rt, &root, &format!("copy{i}"));
        st.delete(&format!("c{i}")).unwrap();
        copy.push(t.elapsed());

        let t = Instant::now();
        let ds = pool.ds(&format!("ct{i}"));
        zfs.clone_snapshot(&format!("{tpl}@base"), &ds, &[])
            .unwrap();
        run_once(&rt, &pool.path(&format!("ct{i}")), &format!("clone{i}"));
        zfs.destroy(&ds, false).unwrap();
        clone.push(t.elapsed());
    }
    drop(pool);
    let _ = std::fs::remove_dir_all(src);
    let _ = std::fs::remove_dir("/var/tmp/vpsos-bench/clone-store");
    for h in vpsos::cgroup::hierarchies() {
        let _ = std::fs::remove_dir(h.mountpoint.join("vpsos-bench"));
    }
    let (c, z) = (median(copy), median(clone));
    println!("{runs} runs, medians: directory copy {c:.1} ms, zfs clone {z:.1} ms");
    println!("clone/copy={:.2}", z / c);
}
