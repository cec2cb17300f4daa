//! cgroup limits, stats, freeze and kill on real containers, the same
//! tests on this host (cgroup v1 hybrid) and in the test VM (pure v2).
//! Run as root.

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};
use vpsos::config::{BlockIoLimit, Resources, UNLIMITED};
use vpsos::{CgroupPlacement, Container, CreateOptions, ErrorKind, ExitStatus};

const MIB: u64 = 1 << 20;

fn v2() -> bool {
    vpsos::HostFeatures::get().cgroup_mode == vpsos::CgroupMode::Unified
}

/// Run `script` in `ct` with exec; (status, stdout, stderr).
fn exec_split(ct: &Container, script: &str) -> (ExitStatus, String, String) {
    let (r, w) = pipe();
    let (er, ew) = pipe();
    let p = ct
        .exec(
            &sh(script),
            CreateOptions {
                stdout: w,
                stderr: ew,
                ..Default::default()
            },
        )
        .unwrap();
    let out = read_all(r);
    let err = read_all(er);
    (p.wait().unwrap(), out, err)
}

/// A running container whose init is `script`, with `resources`.
fn start(name: &str, resources: Resources, script: &str) -> (String, Container) {
    let cfg = config()
        .resources(resources)
        .init(sh(script))
        .build()
        .unwrap();
    let id = id(name);
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    (id, ct)
}

fn finish(id: &str, ct: Container) {
    ct.delete_force().unwrap();
    assert_no_leaks(id, rootfs());
}

/// The limit file as the container sees it in its own cgroupfs.
fn memory_max_inside() -> &'static str {
    if v2() {
        "/sys/fs/cgroup/memory.max"
    } else {
        "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    }
}

#[test]
fn memory_hog_is_oom_killed_and_counted() {
    require_root!();
    let r = Resources::default().memory_max(32 * MIB).swap_max(0);
    let (id, ct) = start("oom", r, "sleep 1000");
    assert_eq!(ct.stats().unwrap().oom_kills, 0);
    // dd's 64 MiB buffer is filled from /dev/zero: every page is touched
    let (st, _, _) = exec_split(&ct, "exec dd if=/dev/zero of=/dev/null bs=64M count=1");
    assert_eq!(st, ExitStatus::Signaled(libc::SIGKILL));
    assert!(ct.stats().unwrap().oom_kills >= 1);
    finish(&id, ct);
}

#[test]
fn fork_loop_stops_at_pids_max() {
    require_root!();
    let (r, w) = pipe();
    let (er, ew) = pipe();
    let cfg = config()
        .resources(Resources::default().pids_max(8))
        // one line per child that got a pid
        .init(sh(
            "i=0; while [ $i -lt 30 ]; do sleep 1000 & echo $!; i=$((i+1)); done",
        ))
        .build()
        .unwrap();
    let id = id("pids");
    let opts = CreateOptions {
        stdout: w,
        stderr: ew,
        ..Default::default()
    };
    let ct = runtime().run(&id, &cfg, opts).unwrap();
    let out = read_all(r);
    let err = read_all(er);
    ct.wait().unwrap();
    assert_eq!(out.lines().count(), 7, "the shell is the 8th task: {out}");
    assert!(err.contains("fork"), "stderr: {err}");
    assert_eq!(ct.resources().unwrap().pids.max, Some(8));
    ct.delete().unwrap();
    assert_no_leaks(&id, rootfs());
}

/// Without a limit in its description a container still gets one
/// (DEFAULT_PIDS_MAX), and UNLIMITED really leaves it out.
#[test]
fn a_default_pids_limit_applies_unless_lifted() {
    require_root!();
    let read = |ct: &Container| {
        let (_, out) = exec_sh(
            ct,
            "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max",
        );
        out.trim().to_string()
    };
    let (id1, ct) = start("pidsdefault", Resources::default(), "sleep 1000");
    assert_eq!(read(&ct), vpsos::config::DEFAULT_PIDS_MAX.to_string());
    finish(&id1, ct);
    let (id2, ct) = start(
        "pidsunlimited",
        Resources::default().pids_max(vpsos::config::UNLIMITED),
        "sleep 1000",
    );
    assert_eq!(read(&ct), "max");
    finish(&id2, ct);
}

#[test]
fn cpu_quota_holds_a_busy_loop_near_half_a_cpu() {
    require_root!();
    let r = Resources::default().cpu_quota_percent(50);
    let (id, ct) = start("cpu", r, "while :; do :; done");
    std::thread::sleep(Duration::from_millis(300));
    let s0 = ct.stats().unwrap();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let s1 = ct.stats().unwrap();
    let wall = t0.elapsed().as_micros() as f64;
    let used = (s1.cpu_usage_usec - s0.cpu_usage_usec) as f64 / wall;
    eprintln!(
        "busy loop under a 50 % quota used {:.0} % of a CPU",
        used * 100.0
    );
    assert!(used <= 0.60, "{used}");
    assert!(used > 0.0);
    // stats of a busy container are not zero
    assert!(s1.memory_current > 0);
    assert!(s1.pids_current >= 1);
    assert!(s1.cpu_user_usec + s1.cpu_system_usec > 0);
    let res = ct.resources().unwrap();
    assert_eq!(res.cpu.quota_percent, Some(50));
    assert_eq!(res.cpu.period_us, Some(100_000));
    finish(&id, ct);
}

/// The counter file's text as the container last wrote it ("" between
/// the shell's truncate and its write).
fn counter_text(ct: &Container) -> String {
    let f = format!("/proc/{}/root/dev/shm/count", ct.pid().unwrap());
    fs::read_to_string(f).unwrap_or_default()
}

/// Wait (up to 10 s) until the counter reads above `above`.
fn wait_count_above(ct: &Container, above: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(n) = counter_text(ct).trim().parse::<u64>() {
            if n > above {
                return n;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the counter does not pass {above}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn freeze_stops_thaw_resumes_and_kill_all_empties() {
    require_root!();
    let (id, ct) = start(
        "freeze",
        Resources::default(),
        "i=0; while :; do i=$((i+1)); echo $i > /dev/shm/count; done",
    );
    let c0 = wait_count_above(&ct, 0);
    ct.freeze().unwrap();
    assert!(ct.is_frozen().unwrap());
    // frozen maybe between truncate and write: compare the text itself
    let c1 = counter_text(&ct);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(counter_text(&ct), c1, "frozen, yet counting");
    ct.thaw().unwrap();
    assert!(!ct.is_frozen().unwrap());
    let frozen_at = c1.trim().parse().unwrap_or(c0);
    wait_count_above(&ct, frozen_at);
    // more processes, then kill them all through the cgroup
    let (st, _, _) = exec_split(
        &ct,
        "sleep 1000 >/dev/null 2>&1 & sleep 1000 >/dev/null 2>&1 & echo ok",
    );
    assert_eq!(st, ExitStatus::Exited(0));
    let cg = ct.cgroup().unwrap().clone();
    assert!(cg.procs_recursive().len() >= 3);
    cg.kill_all(std::time::Duration::from_secs(10)).unwrap();
    assert!(cg.procs_recursive().is_empty());
    finish(&id, ct);
}

#[test]
fn live_memory_limit_change_is_visible_inside_and_effective() {
    require_root!();
    let r = Resources::default().memory_max(32 * MIB).swap_max(0);
    let (id, ct) = start("livemem", r, "sleep 1000");
    let read_inside = |ct: &Container| {
        let (st, out, err) = exec_split(ct, &format!("cat {}", memory_max_inside()));
        assert_eq!(st, ExitStatus::Exited(0), "{err}");
        out.trim().parse::<u64>().unwrap()
    };
    assert_eq!(read_inside(&ct), 32 * MIB);
    let hog = "exec dd if=/dev/zero of=/dev/null bs=48M count=1 2>/dev/null";
    assert_eq!(exec_split(&ct, hog).0, ExitStatus::Signaled(libc::SIGKILL));

    ct.update_resources(&Resources::default().memory_max(128 * MIB))
        .unwrap();
    assert_eq!(read_inside(&ct), 128 * MIB);
    assert_eq!(ct.resources().unwrap().memory.max, Some(128 * MIB));
    // the swap allowance stays 0 when only the limit changes
    assert_eq!(ct.resources().unwrap().memory.swap, Some(0));
    assert_eq!(exec_split(&ct, hog).0, ExitStatus::Exited(0));
    // the state remembers it for other processes
    let again = runtime().load(&id).unwrap();
    assert_eq!(
        again.config().unwrap().resources.memory.max,
        Some(128 * MIB)
    );
    finish(&id, ct);
}

/// The first whole disk of the host, for block-I/O limits.
fn a_disk() -> Option<(u32, u32)> {
    let mut names: Vec<_> = fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("loop") && !n.starts_with("ram") && !n.starts_with("zram"))
        .collect();
    names.sort();
    let dev = fs::read_to_string(format!("/sys/block/{}/dev", names.first()?)).ok()?;
    let (a, b) = dev.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[test]
fn every_limit_is_set_at_creation_and_read_back() {
    require_root!();
    let (major, minor) = a_disk().expect("a block device");
    let mut r = Resources::default()
        .memory_max(256 * MIB)
        .swap_max(16 * MIB)
        .cpu_quota_percent(150)
        .cpu_weight(200)
        .cpus("0")
        .pids_max(100)
        .block_io(
            BlockIoLimit::new(major, minor)
                .read_bps(10 * MIB)
                .write_bps(5 * MIB)
                .read_iops(1000)
                .write_iops(500),
        );
    r.cpu.period_us = Some(50_000);
    if v2() {
        r.memory.high = Some(200 * MIB);
        r.memory.low = Some(8 * MIB);
        r.memory.min = Some(4 * MIB);
        r.memory.oom_group = Some(true);
    } else {
        r.memory.swappiness = Some(30);
        // a realtime budget above the parent's is refused: 0 is always allowed
        r.cpu.rt_runtime_us = Some(0);
        r.cpu.rt_period_us = Some(500_000);
    }
    let (id, ct) = start("limits", r.clone(), "sleep 1000");
    let got = ct.resources().unwrap();
    assert_eq!(got.memory, r.memory);
    assert_eq!(got.cpu, r.cpu);
    assert_eq!(got.cpuset.cpus.as_deref(), Some("0"));
    assert_eq!(got.pids.max, Some(100));
    assert_eq!(got.block_io, r.block_io);

    // live: remove the quota and a throttle, lower the pids limit
    let ct = ct;
    let change = Resources::default()
        .cpu_quota_percent(UNLIMITED)
        .pids_max(50)
        .block_io(BlockIoLimit::new(major, minor).write_iops(UNLIMITED));
    ct.update_resources(&change).unwrap();
    let got = ct.resources().unwrap();
    assert_eq!(got.cpu.quota_percent, Some(UNLIMITED));
    assert_eq!(got.pids.max, Some(50));
    assert_eq!(got.block_io[0].write_iops, None);
    assert_eq!(got.block_io[0].read_iops, Some(1000));
    finish(&id, ct);
}

#[test]
fn unsupported_and_bad_limits_fail_cleanly() {
    require_root!();
    let bad = if v2() {
        // no such device: the kernel refuses io.max for it
        Resources::default().block_io(BlockIoLimit::new(259, 99_999).read_bps(MIB))
    } else {
        let mut r = Resources::default();
        r.memory.high = Some(64 * MIB);
        r
    };
    let cfg = config().resources(bad).init(sh("true")).build().unwrap();
    let id1 = id("badlimit");
    let e = runtime()
        .run(&id1, &cfg, CreateOptions::default())
        .unwrap_err();
    if v2() {
        assert!(e.to_string().contains("block I/O limit"), "{e}");
    } else {
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("memory.high"), "{e}");
    }
    assert_no_leaks(&id1, rootfs());

    // a cpuset the machine does not have: fails after the cgroup was made
    let cfg = config()
        .resources(Resources::default().cpus("999"))
        .init(sh("true"))
        .build()
        .unwrap();
    let id2 = id("badcpus");
    let e = runtime()
        .run(&id2, &cfg, CreateOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("cpuset.cpus"), "{e}");
    assert_no_leaks(&id2, rootfs());

    // a memory limit too low for the start itself: the OOM killer takes
    // the process during setup, and the error says so
    let cfg = config()
        .resources(Resources::default().memory_max(4096))
        .init(sh("true"))
        .build()
        .unwrap();
    let id3 = id("oomsetup");
    let e = runtime()
        .run(&id3, &cfg, CreateOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Child, "{e}");
    assert!(e.to_string().contains("OOM killer during setup"), "{e}");
    assert!(e.to_string().contains("memory.max"), "{e}");
    assert_no_leaks(&id3, rootfs());

    // validation names the field before anything is made
    let e = config()
        .resources(Resources::default().cpu_weight(20_000))
        .build()
        .unwrap_err();
    assert_eq!(e.field(), Some("resources.cpu.weight"));
}

#[test]
fn nested_layout_cgroup_namespace_and_delegation() {
    require_root!();
    let layout = format!("{CGROUP_PARENT}/pool.tank/group.default/user.1000/ct.{{id}}/user-owned");
    let sub = if v2() {
        "/sys/fs/cgroup/payload"
    } else {
        "/sys/fs/cgroup/systemd/payload"
    };
    let script = format!(
        "cat /proc/self/cgroup | head -1; mkdir {sub} && echo $$ > {sub}/cgroup.procs && echo moved; \
         (echo 1 > {}) 2>/dev/null || echo limits-protected; sleep 1000",
        memory_max_inside()
    );
    let cfg = config()
        .cgroup(CgroupPlacement::at(&layout))
        .delegate_cgroup(true)
        .init(sh(&script))
        .build()
        .unwrap();
    let id = id("nested");
    let (r, w) = pipe();
    let ct = runtime().run(&id, &cfg, capture(w)).unwrap();
    let mut lines = Vec::new();
    let mut reader = std::io::BufReader::new(r);
    for _ in 0..3 {
        let mut l = String::new();
        std::io::BufRead::read_line(&mut reader, &mut l).unwrap();
        lines.push(l.trim().to_string());
    }
    // the container's cgroup is its root
    assert!(lines[0].ends_with(":/"), "{lines:?}");
    assert_eq!(lines[1], "moved", "{lines:?}");
    assert_eq!(lines[2], "limits-protected", "{lines:?}");
    let full = cfg.cgroup.resolve(&id);
    let host_view = fs::read_to_string(format!("/proc/{}/cgroup", ct.pid().unwrap())).unwrap();
    assert!(
        host_view.contains(&format!("{full}/payload")),
        "{host_view}"
    );
    ct.delete_force().unwrap();
    for h in vpsos::cgroup::hierarchies() {
        assert!(!h.mountpoint.join(&full).exists());
    }
    // the levels above the container are the caller's (osctld's) to remove
    let top = format!("{CGROUP_PARENT}/pool.tank");
    vpsos::Cgroup::open(&top).remove().unwrap();
    assert!(!Path::new(STATE_ROOT).join(&id).exists());
}

#[test]
fn the_cgroupfs_mount_can_be_left_out() {
    require_root!();
    let count = "grep -c ' /sys/fs/cgroup' /proc/self/mountinfo; true";
    let (st, out) = run_sh(config(), count);
    assert!(st.success());
    assert!(out.trim().parse::<u32>().unwrap() >= 1, "{out}");
    let mut placement = CgroupPlacement::at(format!("{CGROUP_PARENT}/{{id}}"));
    placement.mount = false;
    let (st, out) = run_sh(config().cgroup(placement), count);
    assert!(st.success());
    assert_eq!(out.trim(), "0", "{out}");
}

/// Whether the host has a controller (v2: enabled at the root).
fn has_controller(name: &str) -> bool {
    if v2() {
        fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control")
            .is_ok_and(|s| s.split_whitespace().any(|c| c == name))
    } else {
        vpsos::cgroup::hierarchies()
            .iter()
            .any(|h| h.controllers.iter().any(|c| c == name))
    }
}

#[test]
fn hugepage_limits_apply_and_unknown_sizes_are_refused() {
    require_root!();
    // a size no host has: refused before anything runs, naming the field
    let cfg = config()
        .resources(Resources::default().hugepages("3MB", MIB))
        .init(sh("true"))
        .build()
        .unwrap();
    let id0 = id("hugebad");
    let e = runtime()
        .run(&id0, &cfg, CreateOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("resources.hugepages.3MB"), "{e}");
    assert_no_leaks(&id0, rootfs());
    skip_unless!(
        has_controller("hugetlb"),
        test_name(),
        "the host has no hugetlb cgroup controller"
    );
    skip_unless!(
        Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists(),
        test_name(),
        "the host has no 2MB huge pages"
    );
    let (id, ct) = start(
        "huge",
        Resources::default().hugepages("2MB", 8 * MIB),
        "sleep 1000",
    );
    assert_eq!(ct.resources().unwrap().hugepages["2MB"], 8 * MIB);
    ct.update_resources(&Resources::default().hugepages("2MB", UNLIMITED))
        .unwrap();
    assert_eq!(ct.resources().unwrap().hugepages["2MB"], UNLIMITED);
    finish(&id, ct);
}

#[test]
fn network_class_and_priorities_apply_on_v1_and_are_refused_on_v2() {
    require_root!();
    let mut r = Resources::default();
    r.network.class_id = Some(0x10001);
    r.network.priorities.insert("lo".into(), 5);
    if v2() {
        let cfg = config().resources(r).init(sh("true")).build().unwrap();
        let id = id("netprio");
        let e = runtime()
            .run(&id, &cfg, CreateOptions::default())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("resources.network"), "{e}");
        assert_no_leaks(&id, rootfs());
        return;
    }
    skip_unless!(
        has_controller("net_cls") && has_controller("net_prio"),
        test_name(),
        "the host has no net_cls/net_prio cgroup controllers"
    );
    let (id, ct) = start("netprio", r, "sleep 1000");
    assert_eq!(ct.resources().unwrap().network.class_id, Some(0x10001));
    finish(&id, ct);
}

#[test]
fn unified_files_are_written_on_v2_and_refused_on_v1() {
    require_root!();
    let r = Resources::default().unified("pids.max", "77");
    if !v2() {
        let cfg = config().resources(r).init(sh("true")).build().unwrap();
        let id = id("unified");
        let e = runtime()
            .run(&id, &cfg, CreateOptions::default())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("resources.unified"), "{e}");
        assert_no_leaks(&id, rootfs());
        return;
    }
    let (id, ct) = start("unified", r, "sleep 1000");
    assert_eq!(ct.resources().unwrap().pids.max, Some(77));
    let e = ct
        .update_resources(&Resources::default().unified("no.such-file", "1"))
        .unwrap_err();
    assert_eq!(e.field(), Some("resources.unified.no.such-file"));
    finish(&id, ct);
}

#[test]
fn block_io_weight_applies_where_the_scheduler_has_one() {
    require_root!();
    let (id, ct) = start("ioweight", Resources::default(), "sleep 1000");
    // the weight files exist in non-root cgroups with BFQ (or CFQ)
    let (controller, files): (&str, &[&str]) = if v2() {
        ("", &["io.bfq.weight", "io.weight"])
    } else {
        ("blkio", &["blkio.bfq.weight", "blkio.weight"])
    };
    let dir = Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(CGROUP_PARENT)
        .join(&id);
    let has = files.iter().any(|f| dir.join(f).exists());
    let r = Resources {
        block_io_weight: Some(300),
        ..Default::default()
    };
    let res = ct.update_resources(&r);
    if has {
        res.unwrap();
        assert_eq!(ct.resources().unwrap().block_io_weight, Some(300));
    } else {
        let e = res.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("block_io_weight"), "{e}");
    }
    finish(&id, ct);
    skip_unless!(
        has,
        test_name(),
        "no block I/O weight file (no BFQ or CFQ scheduler); checked the refusal only"
    );
}
