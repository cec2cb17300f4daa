//! Crash consistency: a creator (or deleter) killed at any point leaves a
//! container that `list` shows, `orphaned_interfaces` accounts for and
//! `recover` undoes, after which nothing is left and the id is free.
//! The creator is a helper process of this test binary that kills itself
//! with SIGKILL at a named point (`VPSOS_FAULT`, the `fault-injection`
//! feature), or is killed by the test at a random moment. Run as root.

mod common;

use common::net::{iface, Bridge};
use common::*;
use std::time::Duration;
use vpsos::config::DeviceRule;
use vpsos::{Config, CreateOptions, ErrorKind, Process, Status};

/// A container with something of every kind to undo: cgroup, veth on a
/// test bridge, granted device node, AppArmor (where the host has it),
/// a seccomp filter.
fn full_config(bridge: &str, n: u32) -> Config {
    let br = Bridge {
        name: bridge.to_string(),
    };
    let i = iface("eth0", &br, &format!("10.241.{n}.2/24"));
    std::mem::forget(br);
    config()
        .init(Process::new(["/bin/sleep", "1000"]))
        .interface(i)
        .device(DeviceRule::tun())
        .build()
        .unwrap()
}

/// Run by the tests in a process of their own: create (and, with
/// `VPSOS_HELPER_START`, start; with `VPSOS_HELPER_DELETE`, then delete)
/// container `VPSOS_HELPER_ID` on bridge `VPSOS_HELPER_BRIDGE`.
#[test]
#[ignore = "helper: runs only when spawned by another test"]
fn helper_create() {
    let (Ok(id), Ok(br)) = (
        std::env::var("VPSOS_HELPER_ID"),
        std::env::var("VPSOS_HELPER_BRIDGE"),
    ) else {
        return;
    };
    let n: u32 = std::env::var("VPSOS_HELPER_N").unwrap().parse().unwrap();
    let ct = runtime()
        .create(&id, &full_config(&br, n), CreateOptions::default())
        .unwrap();
    if std::env::var("VPSOS_HELPER_START").is_ok() {
        ct.start().unwrap();
    }
    if std::env::var("VPSOS_HELPER_DELETE").is_ok() {
        ct.delete_force().unwrap();
    }
    println!("helper: done");
}

fn helper(
    id: &str,
    bridge: &str,
    n: u32,
    fault: &str,
    extra: &[(&str, &str)],
) -> std::process::ExitStatus {
    let mut c = std::process::Command::new(std::env::current_exe().unwrap());
    c.args([
        "--ignored",
        "--exact",
        "helper_create",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("VPSOS_HELPER_ID", id)
    .env("VPSOS_HELPER_BRIDGE", bridge)
    .env("VPSOS_HELPER_N", n.to_string())
    .env("VPSOS_FAULT", fault)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    for (k, v) in extra {
        c.env(k, v);
    }
    c.status().unwrap()
}

/// Everything is gone and the id can be used again.
fn assert_recovered(id: &str, bridge: &Bridge, n: u32) {
    assert_no_leaks(id, rootfs());
    let gone = vpsos::net::Netlink::open().unwrap().links().unwrap();
    assert!(
        !gone.iter().any(|l| l
            .alias
            .as_deref()
            .is_some_and(|a| a.ends_with(&format!("/{id}")))),
        "a link of {id} is left"
    );
    let nodes: Vec<_> = std::fs::read_dir("/dev/.vpsos")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !nodes
            .iter()
            .any(|n: &String| n.starts_with(&format!("{id}."))),
        "device nodes of {id}: {nodes:?}"
    );
    let ct = runtime()
        .run(id, &full_config(&bridge.name, n), CreateOptions::default())
        .unwrap();
    ct.delete_force().unwrap();
    assert_no_leaks(id, rootfs());
}

#[test]
fn creator_killed_at_every_stage_is_recovered() {
    require_root!();
    let br = Bridge::new();
    let rt = runtime();
    let points = [
        ("create:reserved", Status::Creating),
        ("create:apparmor", Status::Creating),
        ("create:planned", Status::Creating),
        ("create:spawned", Status::Creating),
        ("create:interfaces", Status::Creating),
        ("create:created", Status::Created),
    ];
    for (n, (point, status)) in points.into_iter().enumerate() {
        let id = id("crash");
        let st = helper(&id, &br.name, n as u32, point, &[]);
        assert_eq!(
            st.code(),
            None,
            "{point}: the helper should have been killed"
        );
        let info = rt.list().unwrap().into_iter().find(|c| c.id == id);
        assert_eq!(info.map(|c| c.status), Some(status), "{point}");
        if status == Status::Creating {
            // its veth (if made) counts as an orphan: nobody is making it
            let orphans: Vec<String> = rt
                .orphaned_interfaces()
                .unwrap()
                .into_iter()
                .map(|l| l.name)
                .collect();
            let made = rt.load(&id).unwrap().host_interfaces().unwrap();
            for m in &made {
                if vpsos::net::Netlink::open().unwrap().link(m).is_ok() {
                    assert!(orphans.contains(m), "{point}: {m} not among {orphans:?}");
                }
            }
            let r = rt.recover(&id).unwrap();
            assert!(r.state_removed, "{point}: {r:?}");
            if point != "create:reserved" && point != "create:apparmor" {
                assert!(
                    r.cgroup.is_some() || point == "create:planned",
                    "{point}: {r:?}"
                );
            }
        } else {
            // complete: recovery leaves it, a created container still starts
            let r = rt.recover(&id).unwrap();
            assert!(!r.state_removed, "{point}: {r:?}");
            let ct = rt.load(&id).unwrap();
            ct.start().unwrap();
            assert_eq!(ct.state().unwrap().status, Status::Running);
            ct.delete_force().unwrap();
        }
        assert_recovered(&id, &br, n as u32);
    }
}

#[test]
fn deleter_killed_half_way_is_recovered() {
    require_root!();
    let br = Bridge::new();
    let rt = runtime();
    for (n, point) in ["delete:marked", "teardown:killed"].into_iter().enumerate() {
        let id = id("delcrash");
        let st = helper(
            &id,
            &br.name,
            10 + n as u32,
            point,
            &[("VPSOS_HELPER_START", "1"), ("VPSOS_HELPER_DELETE", "1")],
        );
        assert_eq!(st.code(), None, "{point}");
        assert_eq!(
            rt.load(&id).unwrap().state().unwrap().status,
            Status::Deleting,
            "{point}"
        );
        let all = rt.recover_all().unwrap();
        assert!(
            all.iter().any(|r| r.id == id && r.state_removed),
            "{point}: {all:?}"
        );
        assert_recovered(&id, &br, 10 + n as u32);
    }
}

/// Killed at random moments (not only the named points): every time the
/// id is recovered, nothing is left and it can be used again.
#[test]
fn creator_killed_at_random_moments_is_recovered() {
    require_root!();
    let br = Bridge::new();
    let rt = runtime();
    let mut seed: u64 = std::process::id() as u64 * 2654435761;
    let mut seen = std::collections::BTreeMap::<String, u32>::new();
    for n in 0..24u32 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let id = id("random");
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "helper_create", "--test-threads=1"])
            .env("VPSOS_HELPER_ID", &id)
            .env("VPSOS_HELPER_BRIDGE", &br.name)
            .env("VPSOS_HELPER_N", (20 + n).to_string())
            .env("VPSOS_HELPER_START", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // the test binary needs ~5-40 ms to get to create; spread over it
        std::thread::sleep(Duration::from_micros(2_000 + seed % 60_000));
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        child.wait().unwrap();
        let found = rt
            .load(&id)
            .and_then(|c| c.state())
            .map_or("absent".into(), |s| format!("{:?}", s.status));
        *seen.entry(found).or_default() += 1;
        match rt.recover(&id) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {} // killed before create began
            Err(e) => {
                let lock = rt.root().join(&id);
                let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&lock).unwrap());
                let mut holders = vec![];
                for p in std::fs::read_dir("/proc").unwrap().flatten() {
                    for f in std::fs::read_dir(p.path().join("fd"))
                        .into_iter()
                        .flatten()
                        .flatten()
                    {
                        if std::fs::metadata(f.path())
                            .is_ok_and(|m| std::os::unix::fs::MetadataExt::ino(&m) == ino)
                        {
                            let comm =
                                std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
                            let st =
                                std::fs::read_to_string(p.path().join("stat")).unwrap_or_default();
                            holders.push(format!("{:?} {} {}", p.file_name(), comm.trim(), st));
                        }
                    }
                }
                panic!("{id}: {e}; held by {holders:?}")
            }
        }
        if rt.load(&id).is_ok() {
            rt.load(&id).unwrap().delete_force().unwrap();
        }
        assert_recovered(&id, &br, 20 + n);
    }
    println!("killed creators left: {seen:?}");
}

/// A creator killed before its directory got the container's name leaves
/// a temporary directory: recovering the id removes it, as recover_all
/// does, and leaves a live creator's, also before that creator has locked
/// it (the moment after its mkdir; recover_all decides the same way).
#[test]
fn recovering_an_id_removes_its_dead_creators_temp_dirs() {
    require_root!();
    let rt = runtime();
    let id = id("tempdirs");
    let root = rt.root().to_path_buf();
    std::fs::create_dir_all(&root).unwrap();
    let mut gone = std::process::Command::new("/bin/true").spawn().unwrap();
    gone.wait().unwrap();
    let dead = root.join(format!(".new-{id}.{}.1.0.tmp", gone.id()));
    let live = root.join(format!(".new-{id}.{}.1.1.tmp", std::process::id()));
    for d in [&dead, &live] {
        std::fs::create_dir(d).unwrap();
    }
    let r = rt.recover(&id).unwrap();
    assert!(r.state_removed, "{r:?}");
    assert!(!dead.exists(), "the dead creator's directory is removed");
    assert!(live.exists(), "a live creator's directory is not touched");
    std::fs::remove_dir_all(&live).unwrap();
    // nothing of the id at all: NotFound, as before
    assert_eq!(rt.recover(&id).unwrap_err().kind(), ErrorKind::NotFound);
}
