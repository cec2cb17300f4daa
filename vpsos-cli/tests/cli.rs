//! The `vpsos` binary as containerd and podman drive it: runc's
//! commands, state transitions, exit codes and error texts.

mod support;
use serde_json::Value;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use support::*;

#[test]
fn run_in_the_foreground_passes_output_and_exit_code() {
    require_root!();
    for userns in [true, false] {
        let e = Env::new("run");
        let id = format!("{}-{userns}", e.name);
        let b = e.bundle(
            "b",
            &config(&id, &["sh", "-c", "echo out; hostname; exit 3"], userns),
        );
        let o = e.vpsos(&["run", "--bundle", b.to_str().unwrap(), &id]);
        assert_eq!(
            o.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&o.stdout), "out\nclitest\n");
        // removed afterwards, cgroup included
        assert!(e.fails(&["state", &id]).contains("does not exist"));
        assert!(cgroup_dir(&id, "memory").is_none());
        // (where --keep keeps it: the look-up above finds what there is)
        let o = e.vpsos(&["run", "--keep", "--bundle", b.to_str().unwrap(), &id]);
        assert_eq!(o.status.code(), Some(3));
        assert_eq!(e.state(&id)["status"], "stopped");
        assert!(cgroup_dir(&id, "memory").is_some());
        e.ok(&["delete", &id]);
        assert!(cgroup_dir(&id, "memory").is_none());
    }
}

#[test]
fn a_killed_init_is_128_plus_the_signal() {
    require_root!();
    let e = Env::new("sig");
    let b = e.bundle("b", &config(&e.name, &["sleep", "1000"], true));
    let mut c = e.cmd(&["run", "-b", b.to_str().unwrap(), &e.name]);
    let mut child = c.stdin(std::process::Stdio::null()).spawn().unwrap();
    e.wait_status(&e.name, "running");
    e.ok(&["kill", &e.name, "9"]);
    assert_eq!(child.wait().unwrap().code(), Some(137));
    assert!(e.fails(&["state", &e.name]).contains("does not exist"));
}

#[test]
fn create_start_state_kill_delete() {
    require_root!();
    let e = Env::new("life");
    let id = &e.name;
    let b = e.bundle("b", &config(id, &["sleep", "1000"], true));
    let pidf = e.dir.path().join("pid");
    e.ok(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--pid-file",
        pidf.to_str().unwrap(),
        id,
    ]);
    let s = e.state(id);
    assert_eq!(s["status"], "created");
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["bundle"], b.to_str().unwrap());
    assert_eq!(s["ociVersion"], "1.0.2");
    let pid = s["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pidf).unwrap(), pid.to_string());
    // the created init has not exec'd yet: a second create is refused
    assert!(e
        .fails(&["create", "-b", b.to_str().unwrap(), id])
        .contains("exists"));
    e.ok(&["start", id]);
    assert_eq!(e.state(id)["status"], "running");
    assert!(e.fails(&["start", id]).contains("started already"));
    let err = e.fails(&["delete", id]);
    assert!(err.contains("not stopped"), "{err}");
    e.ok(&["kill", id, "KILL"]);
    e.wait_status(id, "stopped");
    // runc's words exactly (containerd matches on them)
    assert!(e
        .fails(&["kill", id, "TERM"])
        .contains("container not running"));
    e.ok(&["delete", id]);
    assert!(e.fails(&["state", id]).contains("does not exist"));
    assert!(e.fails(&["delete", id]).contains("does not exist"));
    e.ok(&["delete", "--force", id]);
}

#[test]
fn a_created_container_is_deleted_without_force() {
    require_root!();
    let e = Env::new("created");
    let b = e.bundle("b", &config(&e.name, &["true"], true));
    e.ok(&["create", "-b", b.to_str().unwrap(), &e.name]);
    assert!(cgroup_dir(&e.name, "pids").is_some(), "its cgroup exists");
    e.ok(&["delete", &e.name]);
    assert!(cgroup_dir(&e.name, "pids").is_none());
}

#[test]
fn exec_from_the_command_line_and_from_a_process_file() {
    require_root!();
    let e = Env::new("exec");
    let id = &e.name;
    let b = e.bundle("b", &config(id, &["sleep", "1000"], true));
    e.ok(&["run", "-d", "-b", b.to_str().unwrap(), id]);
    let o = e.vpsos(&["exec", id, "sh", "-c", "echo $FOO; id -u; exit 4"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "\n0\n");
    let o = e.vpsos(&[
        "exec",
        "--env",
        "FOO=bar",
        "--user",
        "1000:1000",
        "--cwd",
        "/tmp",
        id,
        "sh",
        "-c",
        "echo $FOO $(id -u) $(pwd)",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "bar 1000 /tmp\n");
    let p = e.dir.path().join("process.json");
    std::fs::write(
        &p,
        serde_json::json!({
            "terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
            "args": ["sh", "-c", "echo from-file; exit 2"],
            "env": ["PATH=/bin:/usr/bin"]
        })
        .to_string(),
    )
    .unwrap();
    let o = e.vpsos(&["exec", "--process", p.to_str().unwrap(), id]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "from-file\n");
    // detached, with a pid file: the process is in the container
    let pidf = e.dir.path().join("exec.pid");
    e.ok(&[
        "exec",
        "-d",
        "--pid-file",
        pidf.to_str().unwrap(),
        id,
        "sleep",
        "100",
    ]);
    let pid: i32 = std::fs::read_to_string(&pidf).unwrap().parse().unwrap();
    let ps: Value = serde_json::from_str(&e.ok(&["ps", "--format", "json", id])).unwrap();
    assert!(
        ps.as_array().unwrap().iter().any(|p| p == pid),
        "{ps} lacks {pid}"
    );
    assert!(ps.as_array().unwrap().len() >= 2);
    // --all reaches every process: TERM ends the exec'd sleep, while the
    // init (PID 1 of its namespace, no handler) ignores it
    e.ok(&["kill", "--all", id, "TERM"]);
    let gone = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z ")) {
        assert!(std::time::Instant::now() < gone, "--all missed {pid}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(e.state(id)["status"], "running");
    e.ok(&["kill", "--all", id, "KILL"]);
    e.wait_status(id, "stopped");
    e.ok(&["delete", id]);
}

#[test]
fn pause_resume_and_exec_while_paused() {
    require_root!();
    let e = Env::new("pause");
    let id = &e.name;
    let b = e.bundle("b", &config(id, &["sleep", "1000"], true));
    e.ok(&["run", "--detach", "--bundle", b.to_str().unwrap(), id]);
    assert!(e.fails(&["resume", id]).contains("not paused"));
    e.ok(&["pause", id]);
    assert_eq!(e.state(id)["status"], "paused");
    assert!(e.fails(&["exec", id, "true"]).contains("frozen"));
    e.ok(&["resume", id]);
    assert_eq!(e.state(id)["status"], "running");
    e.ok(&["pause", id]);
    assert!(cgroup_dir(id, "freezer").is_some(), "its cgroup exists");
    // a paused container goes with --force
    e.ok(&["delete", "--force", id]);
    assert!(cgroup_dir(id, "freezer").is_none());
}

#[test]
fn update_and_events_stats() {
    require_root!();
    let e = Env::new("update");
    let id = &e.name;
    let b = e.bundle("b", &config(id, &["sleep", "1000"], true));
    e.ok(&["run", "-d", "-b", b.to_str().unwrap(), id]);
    e.ok(&["update", "--memory", "64m", "--pids-limit", "50", id]);
    let res = e.dir.path().join("res.json");
    std::fs::write(&res, r#"{"pids": {"limit": 60}}"#).unwrap();
    e.ok(&["update", "--resources", res.to_str().unwrap(), id]);
    let d = cgroup_dir(id, "memory").expect("the container's memory cgroup");
    let f = ["memory.limit_in_bytes", "memory.max"]
        .iter()
        .find_map(|f| std::fs::read_to_string(d.join(f)).ok())
        .unwrap();
    assert_eq!(f.trim(), "67108864");
    let d = cgroup_dir(id, "pids").expect("the container's pids cgroup");
    assert_eq!(
        std::fs::read_to_string(d.join("pids.max")).unwrap().trim(),
        "60"
    );
    let ev: Value = serde_json::from_str(e.ok(&["events", "--stats", id]).trim()).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 67108864);
    assert!(ev["data"]["pids"]["current"].as_u64().unwrap() >= 1);
    e.ok(&["delete", "-f", id]);
}

/// Receive one fd over a unix socket (the console socket's other end).
fn recv_fd(listener: &std::os::unix::net::UnixListener) -> OwnedFd {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let (s, _) = listener.accept().unwrap();
    let mut buf = [0u8; 64];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(s.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()).unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no fd received");
}

#[test]
fn the_terminal_goes_to_the_console_socket() {
    require_root!();
    let e = Env::new("tty");
    let id = &e.name;
    let mut c = config(id, &["sh", "-c", "tty; echo hello-tty"], true);
    c["process"]["terminal"] = true.into();
    let b = e.bundle("b", &c);
    // a terminal without a socket is refused when detaching, as by runc
    assert!(e
        .fails(&["create", "-b", b.to_str().unwrap(), id])
        .contains("console socket"));
    let sock = e.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let t = std::thread::spawn(move || recv_fd(&listener));
    e.ok(&[
        "create",
        "-b",
        b.to_str().unwrap(),
        "--console-socket",
        sock.to_str().unwrap(),
        id,
    ]);
    let master = t.join().unwrap();
    e.ok(&["start", id]);
    let mut out = String::new();
    let mut f = std::fs::File::from(master);
    let mut buf = [0u8; 256];
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        out.contains("/dev/pts/0") && out.contains("hello-tty"),
        "{out:?}"
    );
    e.wait_status(id, "stopped");
    e.ok(&["delete", id]);
}

#[test]
fn hooks_from_the_bundle_run() {
    require_root!();
    let e = Env::new("hooks");
    let id = &e.name;
    let out = e.dir.path().join("hook.out");
    let mut c = config(id, &["true"], true);
    let script = format!("cat > {}", out.display());
    c["hooks"] = serde_json::json!({
        "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]
    });
    let b = e.bundle("b", &c);
    e.ok(&["run", "-b", b.to_str().unwrap(), id]);
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["bundle"], b.to_str().unwrap());

    // a poststart hook may drive the container (it runs unlocked), for
    // `start` and for a detached `run`
    for detached in [false, true] {
        let id = format!("{}-post-{detached}", e.name);
        let mut c = config(&id, &["sleep", "100"], true);
        let update = format!(
            "{} --root {} update --pids-limit 77 {id}",
            env!("CARGO_BIN_EXE_vpsos"),
            e.root.display()
        );
        c["hooks"] = serde_json::json!({
            "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", update], "timeout": 20}]
        });
        let b = e.bundle(&id, &c);
        if detached {
            e.ok(&["run", "-d", "-b", b.to_str().unwrap(), &id]);
        } else {
            e.ok(&["create", "-b", b.to_str().unwrap(), &id]);
            e.ok(&["start", &id]);
        }
        let d = cgroup_dir(&id, "pids").expect("the container's pids cgroup");
        assert_eq!(
            std::fs::read_to_string(d.join("pids.max")).unwrap().trim(),
            "77"
        );
        assert_eq!(e.state(&id)["status"], "running");
        e.ok(&["delete", "--force", &id]);
    }
}

#[test]
fn errors_go_to_the_json_log_and_bad_flags_are_refused() {
    require_root!();
    let e = Env::new("log");
    let log = e.dir.path().join("log.json");
    let o = e.vpsos(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "nope",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let line = std::fs::read_to_string(&log).unwrap();
    let v: Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains("does not exist"));
    assert!(v["time"].as_str().unwrap().ends_with('Z'));
    assert!(e.fails(&["--systemd-cgroup", "list"]).contains("systemd"));
    // an unsupported OCI field names itself
    let mut c = config(&e.name, &["true"], true);
    c["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0".into();
    let b = e.bundle("b", &c);
    let err = e.fails(&["run", "-b", b.to_str().unwrap(), &e.name]);
    assert!(err.contains("process.selinuxLabel"), "{err}");
    assert!(e.fails(&["state", &e.name]).contains("does not exist"));
}

#[test]
fn features_spec_and_list() {
    require_root!();
    let e = Env::new("misc");
    let f: Value = serde_json::from_str(&e.ok(&["features"])).unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert!(f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "user"));
    assert!(f["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "createContainer"));
    let d = e.dir.path().join("spec");
    std::fs::create_dir_all(&d).unwrap();
    e.ok(&["spec", "--bundle", d.to_str().unwrap()]);
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("config.json")).unwrap()).unwrap();
    assert_eq!(s["process"]["args"][0], "sh");
    assert!(e
        .fails(&["spec", "--bundle", d.to_str().unwrap()])
        .contains("exists"));
    std::fs::remove_file(d.join("config.json")).unwrap();
    e.ok(&["spec", "--rootless", "--bundle", d.to_str().unwrap()]);
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("config.json")).unwrap()).unwrap();
    assert!(s["linux"]["uidMappings"].is_array());
    // list: empty, then one
    assert_eq!(e.ok(&["list", "--format", "json"]).trim(), "[]");
    let b = e.bundle("b", &config(&e.name, &["sleep", "100"], false));
    e.ok(&["run", "-d", "-b", b.to_str().unwrap(), &e.name]);
    let l: Value = serde_json::from_str(&e.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(l[0]["id"], e.name.as_str());
    assert_eq!(l[0]["status"], "running");
    assert_eq!(e.ok(&["list", "-q"]).trim(), e.name);
    e.ok(&["delete", "--force", &e.name]);
}

#[test]
fn without_a_cgroup_namespace_the_cgroup_mount_is_its_own_directories() {
    require_root!();
    for userns in [true, false] {
        let e = Env::new("cgbind");
        let id = format!("{}-{userns}", e.name);
        // whichever layout (v1: a directory per hierarchy; v2: one)
        let script = "f=/sys/fs/cgroup/pids/pids.max; [ -e $f ] || f=/sys/fs/cgroup/pids.max; \
                      cat $f; awk '$3 ~ /^cgroup/ {n++; if ($4 !~ /^ro/) w++} END \
                      {print (n > 0 && w == 0) ? \"read-only\" : n \" mounts, \" w \" writable\"}' /proc/mounts";
        let mut c = config(&id, &["sh", "-c", script], userns);
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "cgroup");
        c["linux"]["resources"]["pids"] = serde_json::json!({"limit": 42});
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
        }));
        let b = e.bundle("b", &c);
        let o = e.vpsos(&["run", "-b", b.to_str().unwrap(), &id]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "42\nread-only\n");
    }
}
