//! Handles any thread or process can share: descriptions that round-trip
//! through JSON and `load`, racing starts, updates that never lose each
//! other, one handle in many threads, and the operations a node manager
//! needs (list with statuses, stats of many, live mounts, seccomp notify
//! rules that cannot stall a start, exec into a frozen container). Run as
//! root.

mod common;

use common::net::{iface, Bridge};
use common::*;
use std::sync::{Arc, Barrier};
use std::time::Duration;
use vpsos::config::{DeviceRule, Resources};
use vpsos::security::seccomp::{Action, Notification, Profile, SyscallRule};
use vpsos::{Config, CreateOptions, ErrorKind, ExitStatus, Mount, Process, Propagation, Status};

/// A description with every feature: mounts of each kind, devices, an
/// interface, seccomp rules, AppArmor, limits, rlimits, a console.
fn everything(bridge: &Bridge, src: &std::path::Path) -> Config {
    let mut p = Process::new(["/bin/sleep", "1000"]);
    p.env.push("FOO=bar".into());
    config()
        .init(p)
        .mount(
            Mount::bind(src, "/mnt/src")
                .readonly()
                .propagation(Propagation::Slave),
        )
        .mount(Mount::tmpfs("/run/extra").data("size=1m"))
        .mount(Mount::fs("mqueue", "mqueue", "/mnt/mq"))
        .device(DeviceRule::tun())
        .interface(iface("eth0", bridge, "10.242.0.2/24"))
        .seccomp(Some(Profile::system_container().rule(SyscallRule::new(
            ["mkdir", "mkdirat"],
            Action::Errno(libc::EROFS as u16),
        ))))
        .resources(Resources::default().memory_max(256 << 20).pids_max(512))
        .console(vpsos::config::Console {
            enabled: true,
            ttys: 2,
            log_bytes: 4096,
        })
        .build()
        .unwrap()
}

#[test]
fn every_feature_round_trips_through_json_and_load() {
    require_root!();
    let br = Bridge::new();
    let src = private_rootfs(&id("rtsrc"));
    let cfg = everything(&br, &src);
    let back = Config::from_json(&cfg.to_json()).unwrap();
    assert_eq!(back, cfg);
    let id = id("roundtrip");
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    // another process loads it, reads the same description, and stops and
    // deletes it; meanwhile its running veth is no orphan
    let rt = runtime();
    assert!(rt.orphaned_interfaces().unwrap().is_empty());
    let out = run_helper("helper_check_and_delete", &[("VPSOS_HELPER_ID", &id)]);
    assert!(out.contains("helper: same description, deleted"), "{out}");
    assert_eq!(ct.state().unwrap_err().kind(), ErrorKind::NotFound);
    assert_no_leaks(&id, rootfs());
    remove_rootfs(&src);
}

/// Run by `every_feature_round_trips_through_json_and_load`.
#[test]
#[ignore = "helper: runs only when spawned by another test"]
fn helper_check_and_delete() {
    let Ok(id) = std::env::var("VPSOS_HELPER_ID") else {
        return;
    };
    let ct = runtime().load(&id).unwrap();
    let cfg = ct.config().unwrap();
    assert_eq!(Config::from_json(&cfg.to_json()).unwrap(), cfg);
    assert_eq!(cfg.mounts.len(), 3);
    assert_eq!(ct.host_interfaces().unwrap().len(), 1);
    let (st, out) = exec_sh(
        &ct,
        "mkdir /tmp/x; cat /proc/self/status | grep Seccomp:; ls /dev/net/tun",
    );
    assert!(!st.success() || out.contains("Read-only"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    ct.stop(Duration::from_millis(200)).unwrap();
    ct.delete().unwrap();
    println!("helper: same description, deleted");
}

#[test]
fn racing_starts_one_wins_and_the_loser_touches_nothing() {
    require_root!();
    let cfg = config()
        .init(Process::new(["/bin/sleep", "1000"]))
        .build()
        .unwrap();
    let id = id("race");
    let rt = runtime();
    rt.create(&id, &cfg, CreateOptions::default()).unwrap();
    let go = Arc::new(Barrier::new(4));
    let results: Vec<_> = (0..4)
        .map(|_| {
            let (go, id) = (go.clone(), id.clone());
            std::thread::spawn(move || {
                let ct = runtime().load(&id).unwrap();
                go.wait();
                ct.start().map_err(|e| e.kind())
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || *r == Err(ErrorKind::Busy)),
        "{results:?}"
    );
    let ct = rt.load(&id).unwrap();
    let st = ct.state().unwrap();
    assert_eq!(st.status, Status::Running);
    // and once more, later: Busy, the container untouched
    assert_eq!(ct.start().unwrap_err().kind(), ErrorKind::Busy);
    assert_eq!(ct.state().unwrap().pid, st.pid);
    ct.delete_force().unwrap();
    assert_no_leaks(&id, rootfs());
}

#[test]
fn updates_through_two_handles_both_stick() {
    require_root!();
    let (id, ct) = sleeper("updates");
    let other = runtime().load(&id).unwrap();
    let a = std::thread::spawn({
        let id = id.clone();
        move || {
            let h = runtime().load(&id).unwrap();
            for i in 0..20u64 {
                h.update_resources(&Resources::default().memory_max((64 + i) << 20))
                    .unwrap();
            }
        }
    });
    for i in 0..20u64 {
        other
            .update_resources(&Resources::default().pids_max(100 + i))
            .unwrap();
    }
    ct.grant_device(DeviceRule::kvm()).unwrap();
    a.join().unwrap();
    let cfg = runtime().load(&id).unwrap().config().unwrap();
    assert_eq!(cfg.resources.memory.max, Some(83 << 20));
    assert_eq!(cfg.resources.pids.max, Some(119));
    assert!(cfg.devices.contains(&DeviceRule::kvm()));
    let leftovers: Vec<_> = std::fs::read_dir(ct.state_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    ct.delete_force().unwrap();
    assert_no_leaks(&id, rootfs());
}

#[test]
fn eight_threads_share_one_handle_while_another_waits() {
    require_root!();
    let (id, ct) = sleeper("shared");
    let ct = Arc::new(ct);
    let waiter = {
        let ct = ct.clone();
        std::thread::spawn(move || ct.wait().unwrap())
    };
    let workers: Vec<_> = (0..8u64)
        .map(|t| {
            let ct = ct.clone();
            std::thread::spawn(move || {
                for i in 0..6u64 {
                    ct.stats().unwrap();
                    ct.update_resources(&Resources::default().pids_max(200 + t * 10 + i))
                        .unwrap();
                    let p = ct
                        .exec(&Process::new(["/bin/true"]), CreateOptions::default())
                        .unwrap();
                    assert_eq!(p.wait().unwrap(), ExitStatus::Exited(0));
                    ct.kill(0).unwrap();
                    assert_eq!(ct.state().unwrap().status, Status::Running);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert!(!waiter.is_finished());
    let how = ct.stop(Duration::from_millis(100)).unwrap();
    assert_eq!(waiter.join().unwrap(), how.exit);
    ct.delete().unwrap();
    assert_no_leaks(&id, rootfs());
}

#[test]
fn list_shows_statuses_and_stats_come_for_many() {
    require_root!();
    let rt = runtime();
    let (a, ca) = sleeper("lista");
    let (b, cb) = sleeper("listb");
    let c = id("listc");
    let cc = rt
        .create(
            &c,
            &config()
                .init(Process::new(["/bin/sleep", "1000"]))
                .build()
                .unwrap(),
            CreateOptions::default(),
        )
        .unwrap();
    cb.freeze().unwrap();
    let list = rt.list().unwrap();
    let st = |id: &str| {
        list.iter()
            .find(|i| i.id == id)
            .map(|i| (i.status, i.pid.is_some()))
    };
    assert_eq!(st(&a), Some((Status::Running, true)));
    assert_eq!(st(&b), Some((Status::Frozen, true)));
    assert_eq!(st(&c), Some((Status::Created, true)));
    // exec into the frozen one is Busy at once
    let t = std::time::Instant::now();
    let e = cb
        .exec(&Process::new(["/bin/true"]), CreateOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Busy, "{e}");
    assert!(t.elapsed() < Duration::from_secs(2));
    let stats = rt.stats(&[&a, &b, "no-such-ct"]);
    assert!(stats[0].1.is_ok() && stats[1].1.is_ok());
    assert_eq!(stats[2].1.as_ref().unwrap_err().kind(), ErrorKind::NotFound);
    // a frozen container still stops and goes
    let how = cb.stop(Duration::from_millis(100)).unwrap();
    assert!(how.killed);
    for ct in [ca, cb, cc] {
        ct.delete_force().unwrap();
    }
    for id in [a, b, c] {
        assert_no_leaks(&id, rootfs());
    }
}

#[test]
fn mounts_come_and_go_in_a_running_container() {
    require_root!();
    let (id, ct) = sleeper("livemount");
    let src = std::path::PathBuf::from(format!("/var/tmp/vpsos-tests/live-{id}"));
    std::fs::create_dir_all(src.join("sub")).unwrap();
    /// Undoes the host mounts below it (even when an assertion fails).
    struct Undo(std::path::PathBuf);
    impl Drop for Undo {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-R")
                .arg(&self.0)
                .status();
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _undo = Undo(src.clone());
    std::fs::write(src.join("hello"), "hi").unwrap();
    // a shared mount on the host, so a slave copy sees new mounts below it
    let sh = |c: &str| {
        assert!(
            std::process::Command::new("sh")
                .args(["-c", c])
                .status()
                .unwrap()
                .success(),
            "{c}"
        )
    };
    sh(&format!(
        "mount --bind {0} {0} && mount --make-shared {0}",
        src.display()
    ));
    ct.mount(
        &Mount::bind(&src, "/mnt/live")
            .readonly()
            .propagation(Propagation::Slave),
    )
    .unwrap();
    ct.mount(&Mount::tmpfs("/mnt/scratch").data("size=1m,mode=700"))
        .unwrap();
    let (st, out) = exec_sh(&ct, "cat /mnt/live/hello; echo; touch /mnt/live/x 2>/dev/null || echo ro; touch /mnt/scratch/y && stat -c %u /mnt/scratch/y");
    assert!(st.success(), "{out}");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["hi", "ro", "0"], "{out}");
    sh(&format!(
        "mount -t tmpfs -o size=1m propagated {}/sub",
        src.display()
    ));
    let (_, out) = exec_sh(&ct, "grep -c ' /mnt/live/sub ' /proc/self/mountinfo");
    assert_eq!(out.trim(), "1", "host mount propagated to the slave: {out}");
    assert_eq!(ct.config().unwrap().mounts.len(), 2);
    ct.unmount("/mnt/scratch").unwrap();
    ct.unmount("/mnt/live").unwrap();
    let (_, out) = exec_sh(&ct, "grep -c '/mnt/' /proc/self/mountinfo");
    assert_eq!(out.trim(), "0", "{out}");
    assert!(ct.config().unwrap().mounts.is_empty());
    assert_eq!(
        ct.unmount("/mnt/live").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // a symlink inside cannot lead a mount out
    exec_sh(&ct, "ln -s /../../../../etc /tmp/evil");
    ct.mount(&Mount::tmpfs("/tmp/evil/owned")).unwrap();
    assert!(!std::path::Path::new("/etc/owned").exists());
    ct.delete_force().unwrap();
    assert_no_leaks(&id, rootfs());
}

#[test]
fn notify_rules_never_stall_a_start() {
    require_root!();
    // on the syscalls vpsos makes before the listener is handed over: refused, named
    let mut no_admin = vpsos::Capabilities::system_container();
    for set in [
        &mut no_admin.bounding,
        &mut no_admin.effective,
        &mut no_admin.permitted,
    ] {
        set.retain(|c| *c != vpsos::Capability::CAP_SYS_ADMIN);
    }
    for (caps, rule, name) in [
        (
            vpsos::Capabilities::system_container(),
            "sendmsg",
            "sendmsg",
        ),
        // capabilities without CAP_SYS_ADMIN are set after the filter loads
        (no_admin, "capset", "capset"),
    ] {
        let e = config()
            .capabilities(caps)
            .seccomp(Some(
                Profile::system_container().rule(SyscallRule::new([rule], Action::Notify)),
            ))
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.to_string().contains(name), "{e}");
    }
    let mut all = Profile::system_container();
    all.default_action = Action::Notify;
    let e = config().seccomp(Some(all)).build().unwrap_err();
    assert_eq!(e.field(), Some("seccomp.default_action"), "{e}");

    // on setresuid (which the setup makes) and execve: create returns, the
    // listener answers, exec returns before its execve is answered
    let profile =
        Profile::system_container().rule(SyscallRule::new(["setresuid", "execve"], Action::Notify));
    let cfg = config()
        .seccomp(Some(profile))
        .init(Process::new(["/bin/sleep", "1000"]))
        .build()
        .unwrap();
    let id = id("notify");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let t = {
        let id = id.clone();
        std::thread::spawn(move || {
            let ct = runtime()
                .create(&id, &cfg, CreateOptions::default())
                .unwrap();
            done_tx.send(()).unwrap();
            ct
        })
    };
    done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("create hung on a notify rule");
    let ct = t.join().unwrap();
    let listener = ct.take_seccomp_listener().unwrap();
    let answer = |l: std::os::fd::OwnedFd| {
        std::thread::spawn(move || {
            while let Ok(n) = Notification::receive(&l) {
                if n.allow(&l).is_err() {
                    break;
                }
            }
        })
    };
    answer(listener);
    ct.start().unwrap();
    assert_eq!(ct.state().unwrap().status, Status::Running);
    let p = ct
        .exec(&Process::new(["/bin/true"]), CreateOptions::default())
        .unwrap();
    answer(p.take_seccomp_listener().unwrap());
    assert_eq!(
        p.wait_timeout(Duration::from_secs(20)).unwrap(),
        Some(ExitStatus::Exited(0))
    );
    ct.delete_force().unwrap();
    assert_no_leaks(&id, rootfs());
}
