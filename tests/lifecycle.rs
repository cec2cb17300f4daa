//! Real containers from a busybox rootfs: lifecycle, namespaces, id maps,
//! rootfs, exec, console, reattach, failure cleanup and a multi-threaded
//! hammer. Run as root.

mod common;

use common::*;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};
use vpsos::{
    CreateOptions, ErrorKind, ExitStatus, HaltSignal, IdRange, InitExit, Mount, NamespaceKind,
    NamespaceMode, Process, Stage, Status, Stdio,
};

#[test]
fn init_is_pid1_with_hostname_and_uid_map() {
    require_root!();
    let (st, out) = run_sh(
        config(),
        "echo pid=$$; echo host=$(hostname); cat /proc/self/uid_map; cat /proc/self/gid_map; id -u",
    );
    assert!(st.success(), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pid=1");
    assert_eq!(lines[1], "host=testct");
    let fields = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(fields(lines[2]), ["0", &HOST_ROOT.to_string(), "65536"]);
    assert_eq!(fields(lines[3]), ["0", &HOST_ROOT.to_string(), "65536"]);
    assert_eq!(lines[4], "0");
}

#[test]
fn several_map_entries_are_written() {
    require_root!();
    let map: vpsos::IdMap = format!("0:{HOST_ROOT}:1000,1000:{}:64536", HOST_ROOT + 1000)
        .parse()
        .unwrap();
    let (st, out) = run_sh(config().id_maps(map), "cat /proc/self/uid_map");
    assert!(st.success());
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn host_processes_are_invisible() {
    require_root!();
    let me = std::process::id();
    let (st, out) = run_sh(
        config(),
        &format!("ls /proc | grep -c '^[0-9]'; test -e /proc/{me} && echo visible || echo hidden"),
    );
    assert!(st.success());
    let n: u32 = out.lines().next().unwrap().parse().unwrap();
    assert!(n <= 4, "{n} processes visible: {out}");
    assert_eq!(out.lines().nth(1), Some("hidden"));
}

#[test]
fn uptime_starts_near_zero_in_time_namespace() {
    require_root!();
    let (st, out) = run_sh(config(), "cut -d' ' -f1 /proc/uptime");
    assert!(st.success());
    let up: f64 = out.trim().parse().unwrap();
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(up < 10.0 && up < host, "container uptime {up}, host {host}");
}

#[test]
fn exit_codes_and_signals_propagate() {
    require_root!();
    let (st, _) = run_sh(config(), "exit 7");
    assert_eq!(st, ExitStatus::Exited(7));
    // a signal from outside
    let (id, ct) = sleeper("sig");
    ct.kill(libc::SIGKILL).unwrap();
    assert_eq!(
        ct.wait().unwrap(),
        InitExit::Status(ExitStatus::Signaled(libc::SIGKILL))
    );
    assert_eq!(ct.state().unwrap().status, Status::Stopped);
    ct.delete().unwrap();
    assert_no_leaks(&id, rootfs());
}

#[test]
fn process_attributes_are_applied() {
    require_root!();
    let mut p = sh("ulimit -n; cat /proc/self/oom_score_adj; grep -E '^(NoNewPrivs|CapBnd)' /proc/self/status; umask; id -u; id -g; id -G; pwd");
    p.user = vpsos::User {
        uid: 1000,
        gid: 1000,
        additional_gids: vec![5],
    };
    p.rlimits
        .push(vpsos::Rlimit::new("RLIMIT_NOFILE", 321, 654));
    p.oom_score_adj = Some(123);
    p.no_new_privileges = true;
    p.umask = Some(0o027);
    p.cwd = "/tmp".into();
    let (st, out) = run_init(config().init(p));
    assert!(st.success(), "{out}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "321");
    assert_eq!(l[1], "123");
    assert!(l.contains(&"NoNewPrivs:\t1"), "{out}");
    let bnd = u64::from_str_radix(
        l.iter().find(|x| x.starts_with("CapBnd")).unwrap()[8..].trim(),
        16,
    )
    .unwrap();
    assert_eq!(bnd & (1 << 16), 0, "CAP_SYS_MODULE dropped");
    assert_ne!(bnd & (1 << 21), 0, "CAP_SYS_ADMIN kept");
    assert!(l.contains(&"0027"), "{out}");
    assert!(l.contains(&"1000"), "{out}");
    assert!(l.contains(&"/tmp"), "{out}");
    assert!(
        l.iter().any(|x| x.split(' ').any(|g| g == "5")),
        "groups: {out}"
    );
}

#[test]
fn rootfs_has_dev_proc_sys_and_mounts() {
    require_root!();
    let host_file = std::env::temp_dir().join(format!("vpsos-bind-{}", std::process::id()));
    std::fs::write(&host_file, "from-host\n").unwrap();
    let b = config()
        .mount(Mount::bind(&host_file, "/etc/bound").readonly())
        .mount(Mount::tmpfs("/run/scratch").data("mode=700"));
    let script = "set -e
        for d in null zero full random urandom tty; do test -c /dev/$d; done
        echo ok > /dev/null
        head -c 4 /dev/zero | wc -c
        test -d /dev/pts && test -L /dev/ptmx && test -d /dev/shm && test -d /dev/mqueue
        test -L /dev/fd
        cat /etc/bound
        echo x > /etc/bound 2>/dev/null && echo bound-writable || echo bound-readonly
        touch /run/scratch/f && echo tmpfs-ok
        echo x > /sys/kernel/uevent_helper 2>/dev/null && echo sys-writable || echo sys-readonly
        grep -c -E ' /proc/(keys|timer_list|acpi) ' /proc/self/mountinfo
        awk '$5 == \"/proc/fs\" { split($6, o, \",\"); print \"procfs-\" o[1] }' /proc/self/mountinfo
        grep -c ' / ' /proc/self/mountinfo";
    let (st, out) = run_sh(b, script);
    std::fs::remove_file(&host_file).unwrap();
    assert!(st.success(), "{out}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0].trim(), "4");
    assert_eq!(l[1], "from-host");
    assert_eq!(l[2], "bound-readonly");
    assert_eq!(l[3], "tmpfs-ok");
    assert_eq!(l[4], "sys-readonly");
    assert_eq!(l[5].trim(), "3", "masked paths are mounted over");
    assert_eq!(l[6], "procfs-ro", "read-only path is a read-only mount");
}

#[test]
fn create_start_state_stop_delete() {
    require_root!();
    let rt = runtime();
    let script = "trap 'echo halted; exit 0' USR2; echo started; while :; do sleep 0.05; done";
    let cfg = config()
        .halt_signal(HaltSignal::Busybox)
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
            &sh("[ -t 1 ] && echo exec-tty").terminal(true),
            CreateOptions::default(),
        )
        .unwrap();
    let mut m = std::fs::File::from(p.take_console().unwrap());
    let out = read_until(&mut m, "exec-tty");
    assert!(out.contains("exec-tty"), "{out}");
    assert!(p.wait().unwrap().success());
    ct.delete_force().unwrap();
    assert_no_leaks(&id, rootfs());
    assert_no_leaks(&id2, rootfs());
}

#[test]
fn joins_another_containers_network_namespace() {
    require_root!();
    let (a_id, a) = sleeper("nsA");
    let a_pid = a.pid().unwrap();
    let a_net = std::fs::read_link(format!("/proc/{a_pid}/ns/net")).unwrap();
    let mut b = config()
        .namespace(
            NamespaceKind::User,
            Some(NamespaceMode::Join(format!("/proc/{a_pid}/ns/user").into())),
        )
        .namespace(
            NamespaceKind::Network,
            Some(NamespaceMode::Join(format!("/proc/{a_pid}/ns/net").into())),
        )
        .build_unchecked();
    b.uid_map = None;
    b.gid_map = None;
    let cfg = vpsos::Config {
        process: sh("readlink /proc/self/ns/net; echo pid=$$; hostname"),
        ..b
    };
    cfg.validate().unwrap();
    let (st, out) = run_config(&cfg);
    assert!(st.success(), "{out}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], a_net.to_str().unwrap());
    assert_eq!(l[1], "pid=1", "new pid namespace through the staged path");
    assert_eq!(l[2], "testct");
    a.delete_force().unwrap();
    assert_no_leaks(&a_id, rootfs());
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
        .halt_signal(HaltSignal::Busybox)
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

#[test]
fn extra_fds_reach_the_container_and_nothing_else() {
    require_root!();
    let (r, w) = pipe();
    let (r3, w3) = pipe();
    let Stdio::Fd(w3) = w3 else { unreachable!() };
    // a host fd without CLOEXEC must not leak in
    let leaky: OwnedFd = std::fs::File::open("/etc/hostname").unwrap().into();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&leaky);
    unsafe { libc::fcntl(raw, libc::F_SETFD, 0) };
    let cfg = config()
        .init(sh(
            "echo via-fd3 >&3; ls /proc/self/fd | sort -n | tr '\\n' ' '",
        ))
        .build()
        .unwrap();
    let id = id("fds");
    let ct = runtime()
        .run(
            &id,
            &cfg,
            CreateOptions {
                stdout: w,
                extra_fds: vec![w3],
                ..Default::default()
            },
        )
        .unwrap();
    let out = read_all(r);
    assert!(ct.wait().unwrap().status().unwrap().success());
    ct.delete().unwrap();
    assert_eq!(read_all(r3), "via-fd3\n");
    // 0 1 2 3 and the fd ls itself opens for /proc/self/fd
    let fds: Vec<i32> = out.split_whitespace().map(|f| f.parse().unwrap()).collect();
    assert!(
        fds.len() <= 5 && fds[..4] == [0, 1, 2, 3],
        "fds inside: {out}"
    );
    drop(leaky);
}

/// Many extra fds, through create and start: their targets (3 ..) cover
/// the numbers the setup's own fds had, which must not be clobbered.
#[test]
fn many_extra_fds_through_create_and_start() {
    require_root!();
    let (r, w) = pipe();
    let extra: Vec<OwnedFd> = (0..12)
        .map(|_| std::fs::File::open("/dev/null").unwrap().into())
        .collect();
    let cfg = config()
        .init(sh("ls /proc/self/fd | sort -n | tr '\\n' ' '"))
        .build()
        .unwrap();
    let id = id("manyfds");
    let ct = runtime()
        .create(
            &id,
            &cfg,
            CreateOptions {
                stdout: w,
                extra_fds: extra,
                ..Default::default()
            },
        )
        .unwrap();
    ct.start().unwrap();
    let out = read_all(r);
    assert!(ct.wait().unwrap().status().unwrap().success(), "{out}");
    let fds: Vec<i32> = out.split_whitespace().map(|f| f.parse().unwrap()).collect();
    assert_eq!(
        fds[..15],
        (0..15).collect::<Vec<_>>()[..],
        "fds inside: {out}"
    );
    assert!(fds.len() <= 16, "fds inside: {out}");
    ct.delete().unwrap();
    assert_no_leaks(&id, rootfs());
}

#[test]
fn fixed_time_offsets() {
    require_root!();
    let ten_days = 10 * 86400;
    let b = config().time_offsets(vpsos::TimeOffsets::Fixed {
        monotonic: 0,
        boottime: ten_days,
    });
    let (st, out) = run_sh(b, "cut -d' ' -f1 /proc/uptime");
    assert!(st.success());
    let up: f64 = out.trim().parse().unwrap();
    assert!(up >= ten_days as f64, "uptime {up}");
}

#[test]
fn shared_network_namespace_gets_a_readonly_sys_bind() {
    require_root!();
    // without its own netns a user namespace may not mount sysfs: /sys is
    // the host's, bound read-only
    let b = config().namespace(NamespaceKind::Network, None);
    let script = "ls /sys/class/net | grep -qx lo && echo host-net-visible
        readlink /proc/self/ns/net
        echo x > /sys/kernel/uevent_helper 2>/dev/null && echo sys-writable || echo sys-readonly";
    let (st, out) = run_sh(b, script);
    assert!(st.success(), "{out}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "host-net-visible");
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(l[1], host_net.to_str().unwrap());
    assert_eq!(l[2], "sys-readonly");
}

#[test]
fn readonly_rootfs_and_domainname() {
    require_root!();
    let b = config().readonly_rootfs(true).domainname("example.test");
    let script = "touch /newfile 2>/dev/null && echo root-writable || echo root-readonly
        touch /tmp/x 2>/dev/null && echo tmp-writable || echo tmp-readonly
        cat /proc/sys/kernel/domainname";
    let (st, out) = run_sh(b, script);
    assert!(st.success(), "{out}");
    assert_eq!(out, "root-readonly\ntmp-readonly\nexample.test\n");
    assert!(!rootfs().join("newfile").exists());
}
