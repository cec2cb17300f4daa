//! Real containers from a busybox rootfs: the lifecycle (create, start,
//! state, stop, delete, exec, console), reattach from another process,
//! failure cleanup and a multi-threaded hammer. Run as root.

mod common;

use common::*;
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use vpsos::{
    CreateOptions, ErrorKind, ExitStatus, Halt, IdRange, InitExit, Mount, NamespaceKind,
    NamespaceMode, Process, Stage, Status, Stdio,
};

#[test]
fn create_start_state_stop_delete() {
    require_root!();
    let rt = runtime();
    let script = "trap 'echo halted; exit 0' USR2; echo started; while :; do sleep 0.05; done";
    let cfg = config()
        .halt(Halt::Busybox)
        .init(sh(script))
        .build()
        .unwrap();
    let id = id("life");
    let (r, w) = pipe();
    let ct = rt.create(&id, &cfg, capture(w)).unwrap();
    assert_eq!(ct.state().unwrap().status, Status::Created);
    assert!(rt.ids().unwrap().contains(&id));
    assert_eq!(
        rt.load(&id).unwrap().state().unwrap().status,
        Status::Created
    );
    let dup = rt.create(&id, &cfg, CreateOptions::default()).unwrap_err();
    assert_eq!(dup.kind(), ErrorKind::AlreadyExists);
    ct.start().unwrap();
    let st = ct.state().unwrap();
    assert_eq!(st.status, Status::Running);
    assert!(st.pid.is_some());
    let mut r = std::io::BufReader::new(r);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut r, &mut line).unwrap();
    assert_eq!(line, "started\n");
    let running = rt.load(&id).unwrap();
    assert_eq!(running.delete().unwrap_err().kind(), ErrorKind::Busy);
    let t = Instant::now();
    let how = ct.stop(Duration::from_secs(10)).unwrap();
    assert_eq!(how.exit, InitExit::Status(ExitStatus::Exited(0)));
    assert!(!how.killed, "halt signal honoured");
    assert!(t.elapsed() < Duration::from_secs(10));
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "halted\n");
    assert_eq!(ct.state().unwrap().status, Status::Stopped);
    ct.delete().unwrap();
    assert_eq!(rt.load(&id).unwrap_err().kind(), ErrorKind::NotFound);
    assert!(!rt.ids().unwrap().contains(&id));
    assert_no_leaks(&id, rootfs());
}

#[test]
fn stop_kills_after_timeout() {
    require_root!();
    // sleep as PID 1 has no handler: the halt signal is ignored
    let (id, ct) = sleeper("stopkill");
    let how = ct.stop(Duration::from_millis(300)).unwrap();
    assert_eq!(
        how.exit,
        InitExit::Status(ExitStatus::Signaled(libc::SIGKILL))
    );
    assert!(how.killed);
    assert_eq!(how.exit.reason(), vpsos::EndReason::Killed(libc::SIGKILL));
    ct.delete().unwrap();
    assert_no_leaks(&id, rootfs());
}

#[test]
fn exec_joins_namespaces_with_own_status() {
    require_root!();
    let (id, ct) = sleeper("exec");
    let (r, w) = pipe();
    let p = ct
        .exec(
            &sh("echo pid=$$; hostname; cat /proc/self/uid_map | tr -s ' '; ls /proc | grep -c '^[0-9]'; exit 3"),
            capture(w),
        )
        .unwrap();
    assert_eq!(p.wait().unwrap(), ExitStatus::Exited(3));
    let out = read_all(r);
    let l: Vec<&str> = out.lines().collect();
    assert_ne!(l[0], "pid=1");
    assert_eq!(l[1], "testct");
    assert_eq!(l[2].trim(), format!("0 {HOST_ROOT} 65536"));
    // the exec'd process is in the container's cgroup
    let cg = ct.cgroup().unwrap().procs().unwrap();
    assert!(cg.contains(&ct.pid().unwrap()));
    // missing binary: typed error, nothing left running
    let e = ct
        .exec(&Process::new(["/no/such/bin"]), CreateOptions::default())
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.stage(), e.errno()),
        (ErrorKind::Child, Some(Stage::Exec), Some(libc::ENOENT))
    );
    assert_eq!(ct.cgroup().unwrap().procs().unwrap().len(), 1);
    ct.delete_force().unwrap();
    assert_no_leaks(&id, rootfs());
}

fn read_until(master: &mut std::fs::File, needle: &str) -> String {
    let mut all = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 1024];
    while !all.contains(needle) && Instant::now() < deadline {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    all
}

#[test]
fn console_pty_for_init_and_exec() {
    require_root!();
    let script = "[ -t 0 ] && [ -t 1 ] && echo isatty; [ -c /dev/console ] && echo console-ok; read line; echo got:$line";
    let cfg = config().init(sh(script).terminal(true)).build().unwrap();
    let id = id("console");
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    let mut master = std::fs::File::from(ct.attach_console().expect("console attached"));
    master.write_all(b"hello\n").unwrap();
    let out = read_until(&mut master, "got:hello");
    assert!(out.contains("got:hello"), "{out}");
    assert!(ct.wait().unwrap().status().unwrap().success());
    // what it wrote before anyone attached is in the log
    let log = String::from_utf8_lossy(&ct.console_log().unwrap()).into_owned();
    assert!(
        log.contains("isatty") && log.contains("console-ok"),
        "{log}"
    );
    ct.delete().unwrap();

    let (id2, ct) = sleeper("execpty");
    let p = ct
        .exec(
            &sh("[ -t 1 ] && echo exec-tty; tty").terminal(true),
            CreateOptions::default(),
        )
        .unwrap();
    let mut m = std::fs::File::from(p.take_console().unwrap());
    let out = read_until(&mut m, "/dev/pts/");
    assert!(out.contains("exec-tty"), "{out}");
    // a pty of the container's own devpts, as lxc-attach gives
    // (a host pty is "not a tty" inside: its path is not in the container)
    assert!(
        out.contains("/dev/pts/") && !out.contains("not a tty"),
        "{out}"
    );
    assert!(p.wait().unwrap().success());
    ct.delete_force().unwrap();
    assert_no_leaks(&id, rootfs());
    assert_no_leaks(&id2, rootfs());
}

#[test]
fn pid_reuse_cannot_redirect_signals() {
    require_root!();
    let rt = runtime();
    let (id, ct) = sleeper("reuse");
    ct.stop(Duration::from_millis(100)).unwrap();
    // pretend the pid was reused by this very test process
    let p = ct.state_dir().join("state.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["init"]["pid"] = serde_json::json!(std::process::id());
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let loaded = rt.load(&id).unwrap();
    assert_eq!(loaded.state().unwrap().status, Status::Stopped);
    assert_eq!(
        loaded.kill(libc::SIGKILL).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    loaded.delete().unwrap();
    // deleted through the other handle: this one says so
    assert_eq!(ct.delete().unwrap_err().kind(), ErrorKind::NotFound);
    assert_no_leaks(&id, rootfs());
}

/// Another process: load by id, read state, exec, stop, delete.
#[test]
fn reattach_from_another_process() {
    require_root!();
    let rt = runtime();
    let script = "trap 'exit 0' USR2; while :; do sleep 0.05; done";
    let cfg = config()
        .halt(Halt::Busybox)
        .init(sh(script))
        .build()
        .unwrap();
    let id = id("reattach");
    // created here, started by the other process
    let ct = rt.create(&id, &cfg, CreateOptions::default()).unwrap();
    assert_eq!(ct.state().unwrap().status, Status::Created);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "helper_reattach",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("VPSOS_HELPER_ID", &id)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "helper failed: {text}");
    assert!(text.contains("helper: exec said testct"), "{text}");
    assert!(text.contains("helper: stopped"), "{text}");
    // deleted by the other process: this handle says so
    assert_eq!(ct.state().unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(ct.wait().unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(rt.load(&id).unwrap_err().kind(), ErrorKind::NotFound);
    assert_no_leaks(&id, rootfs());
}

/// Run by `reattach_from_another_process` in a separate process.
#[test]
#[ignore = "helper: runs only when spawned by reattach_from_another_process"]
fn helper_reattach() {
    let Ok(id) = std::env::var("VPSOS_HELPER_ID") else {
        return;
    };
    let rt = runtime();
    let ct = rt.load(&id).unwrap();
    assert_eq!(ct.state().unwrap().status, Status::Created);
    ct.start().unwrap();
    assert_eq!(ct.state().unwrap().status, Status::Running);
    let (r, w) = pipe();
    let p = ct.exec(&Process::new(["hostname"]), capture(w)).unwrap();
    assert!(p.wait().unwrap().success());
    println!("helper: exec said {}", read_all(r).trim());
    let how = ct.stop(Duration::from_secs(10)).unwrap();
    // not our child, yet its monitor recorded how it ended
    assert_eq!(
        (how.exit, how.killed),
        (InitExit::Status(ExitStatus::Exited(0)), false)
    );
    assert_eq!(ct.state().unwrap().status, Status::Stopped);
    ct.delete().unwrap();
    println!("helper: stopped");
}

#[test]
fn failed_starts_leave_nothing_behind() {
    require_root!();
    let rt = runtime();
    type Case = (
        &'static str,
        vpsos::Config,
        ErrorKind,
        Option<Stage>,
        Option<i32>,
    );
    let cases: Vec<Case> = {
        let root = |id: &str| private_rootfs(id);
        let mut v = Vec::new();
        let i = id("fail-exec");
        let c = config()
            .init(Process::new(["/no/such/init"]))
            .build_unchecked();
        v.push((
            i,
            c,
            ErrorKind::Child,
            Some(Stage::Exec),
            Some(libc::ENOENT),
        ));
        let i2 = id("fail-mount");
        let c = config()
            .mount(Mount::bind("/no/such/source", "/mnt"))
            .build_unchecked();
        v.push((
            i2,
            c,
            ErrorKind::Child,
            Some(Stage::Mount),
            Some(libc::ENOENT),
        ));
        let i3 = id("fail-cwd");
        let c = config()
            .init(Process::new(["/bin/true"]).cwd("/no/such/dir"))
            .build_unchecked();
        v.push((
            i3,
            c,
            ErrorKind::Child,
            Some(Stage::ProcessAttrs),
            Some(libc::ENOENT),
        ));
        let i4 = id("fail-map");
        let c = config()
            .id_maps("1:300000:100".parse::<vpsos::IdMap>().unwrap())
            .build_unchecked();
        v.push((i4, c, ErrorKind::InvalidConfig, None, None));
        let i5 = id("fail-join");
        let c = config()
            .namespace(
                NamespaceKind::Network,
                Some(NamespaceMode::Join("/proc/self/ns/nonexistent".into())),
            )
            .build_unchecked();
        v.push((i5, c, ErrorKind::NotFound, None, Some(libc::ENOENT)));
        v.into_iter()
            .map(|(i, mut c, k, s, e)| {
                c.rootfs = root(&i);
                (Box::leak(i.into_boxed_str()) as &str, c, k, s, e)
            })
            .collect()
    };
    for (id, cfg, kind, stage, errno) in cases {
        for create in [false, true] {
            let res = if create {
                rt.create(id, &cfg, CreateOptions::default())
                    .and_then(|c| c.start().map(|_| c))
            } else {
                rt.run(id, &cfg, CreateOptions::default())
            };
            let e = res.expect_err(id);
            println!("{id}: {e}");
            assert_eq!(e.kind(), kind, "{id}: {e}");
            assert_eq!(e.stage(), stage, "{id}: {e}");
            if errno.is_some() {
                assert_eq!(e.errno(), errno, "{id}: {e}");
            }
            assert_no_leaks(id, &cfg.rootfs);
        }
        remove_rootfs(&cfg.rootfs);
    }
}

#[test]
fn capabilities_the_runtime_lacks_are_refused_without_a_user_namespace() {
    require_root!();
    // capabilities are per thread: this one gives up CAP_SYS_NICE for good
    std::thread::spawn(|| {
        for set in [caps::CapSet::Effective, caps::CapSet::Permitted] {
            caps::drop(None, set, caps::Capability::CAP_SYS_NICE).unwrap();
        }
        let mut wanted = held_caps();
        for set in [&mut wanted.bounding, &mut wanted.permitted] {
            set.push(caps::Capability::CAP_SYS_NICE);
        }
        let cfg = privileged_config()
            .capabilities(wanted)
            .init(sh("true"))
            .build()
            .unwrap();
        let id = id("capless");
        let e = runtime()
            .run(&id, &cfg, CreateOptions::default())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        assert!(e.to_string().contains("CAP_SYS_NICE"), "{e}");
        assert_no_leaks(&id, rootfs());
        // what it still holds, it can give
        let (st, out) = run_config(
            &privileged_config()
                .init(sh("grep CapEff /proc/self/status"))
                .build()
                .unwrap(),
        );
        assert!(st.success(), "{out}");
    })
    .join()
    .unwrap();
}

#[test]
fn id_range_is_safe_across_threads_and_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("range.json");
    let range = IdRange::open_or_create(&path, 1_000_000, 65536, 1000).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let r = IdRange::open_or_create(&path, 1_000_000, 65536, 1000).unwrap();
                (0..10)
                    .map(|i| r.allocate(1 + i % 3, &format!("t{t}-{i}")).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let helpers: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--ignored",
                    "--exact",
                    "helper_allocate",
                    "--test-threads=1",
                ])
                .env("VPSOS_HELPER_RANGE", &path)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut all: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    for mut h in helpers {
        assert!(h.wait().unwrap().success());
    }
    let listed = range.list().unwrap();
    assert_eq!(listed.len(), 80 + 2 * 20);
    all.sort_by_key(|a| a.index);
    let mut blocks = std::collections::HashSet::new();
    for a in &listed {
        for b in a.index..a.index + a.count {
            assert!(blocks.insert(b), "block {b} handed out twice");
        }
    }
}

#[test]
#[ignore = "helper: runs only when spawned by id_range_is_safe_across_threads_and_processes"]
fn helper_allocate() {
    let Ok(path) = std::env::var("VPSOS_HELPER_RANGE") else {
        return;
    };
    let r = IdRange::open_or_create(&path, 1_000_000, 65536, 1000).unwrap();
    for i in 0..20 {
        r.allocate(1, &format!("proc{}-{i}", std::process::id()))
            .unwrap();
    }
}

/// 32 containers from 8 threads while 4 threads allocate heavily: no
/// deadlock, every exit code right.
#[test]
fn many_threads_start_containers_while_others_allocate() {
    require_root!();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let allocators: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let v: Vec<String> = (0..256).map(|i| format!("{i}-{n}")).collect();
                    n += v.len() as u64;
                    std::hint::black_box(v);
                }
                n
            })
        })
        .collect();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let starters: Vec<_> = (0..8)
        .map(|t| {
            let done = done_tx.clone();
            std::thread::spawn(move || {
                for i in 0..4 {
                    let code = t * 10 + i;
                    let cfg = config().init(sh(&format!("exit {code}"))).build().unwrap();
                    let id = id("hammer");
                    let ct = runtime()
                        .run(
                            &id,
                            &cfg,
                            CreateOptions {
                                stdin: Stdio::Null,
                                ..Default::default()
                            },
                        )
                        .unwrap();
                    let st = ct.wait().unwrap();
                    ct.delete().unwrap();
                    done.send((code, st, id)).unwrap();
                }
            })
        })
        .collect();
    drop(done_tx);
    let mut results = Vec::new();
    // a deadlock shows as no progress for a long time, not as a timing limit
    while let Ok(r) = done_rx.recv_timeout(Duration::from_secs(120)) {
        results.push(r);
        if results.len() == 32 {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(results.len(), 32, "some starts never finished (deadlock?)");
    for s in starters {
        s.join().unwrap();
    }
    for a in allocators {
        assert!(a.join().unwrap() > 0);
    }
    for (code, st, id) in results {
        assert_eq!(st, InitExit::Status(ExitStatus::Exited(code)));
        assert_no_leaks(&id, rootfs());
    }
}
