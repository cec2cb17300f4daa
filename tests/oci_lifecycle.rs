//! What OCI runtimes do beyond vpsos's own model: a container process
//! re-parented to the caller's subreaper (`Reaper::Subreaper`, as runc's
//! are for conmon and containerd's shim), hooks, sysctls, personality.

mod common;
use common::*;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::time::Duration;
use vpsos::config::{Console, Hook, Mount, Personality};
use vpsos::{CreateOptions, ErrorKind, Process, Reaper};

fn detached(w: vpsos::Stdio) -> CreateOptions {
    CreateOptions {
        stdout: w,
        reaper: Reaper::Subreaper,
        ..Default::default()
    }
}

fn ppid(pid: i32) -> i32 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Our status for the child behind `pidfd` (we are its subreaper).
fn reap(pidfd: &std::os::fd::OwnedFd) -> (i32, i32) {
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::waitid(
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::__WALL,
        )
    };
    assert_eq!(r, 0, "waitid: {}", std::io::Error::last_os_error());
    unsafe { (info.si_code, info.si_status()) }
}

#[test]
#[ignore = "helper: run in a process of its own by subreaper_gets_the_init"]
fn helper_subreaper_init() {
    assert_eq!(
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) },
        0
    );
    let cfg = config()
        .console(Console::none())
        .init(sh("echo up; read x < /dev/null; exit 7"))
        .build()
        .unwrap();
    let id = id("subreaper");
    let (r, w) = pipe();
    let ct = runtime().create(&id, &cfg, detached(w)).unwrap();
    assert!(
        monitors_of(&id).is_empty(),
        "a detached container has no monitor"
    );
    let pid = ct.pid().unwrap();
    // the launch helper exits at once: the init is ours
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while ppid(pid) != std::process::id() as i32 {
        assert!(
            std::time::Instant::now() < deadline,
            "init not re-parented to us"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    ct.start().unwrap();
    assert_eq!(read_all(r), "up\n");
    let pidfd = ct.pidfd().unwrap();
    assert_eq!(reap(&pidfd), (libc::CLD_EXITED, 7));
    // the library sees it ended, not how: we reaped it
    assert_eq!(ct.state().unwrap().status, vpsos::Status::Stopped);
    ct.delete().unwrap();
    assert_no_leaks(&id, &cfg.rootfs);
    println!("HELPER OK");
}

#[test]
fn subreaper_gets_the_init() {
    require_root!();
    assert!(run_helper("helper_subreaper_init", &[]).contains("HELPER OK"));
}

#[test]
#[ignore = "helper: run in a process of its own by subreaper_gets_exec_statuses"]
fn helper_subreaper_exec() {
    assert_eq!(
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) },
        0
    );
    let (id, ct) = sleeper("subexec");
    let opts = CreateOptions {
        reaper: Reaper::Subreaper,
        ..Default::default()
    };
    let p = ct.exec(&sh("exit 5"), opts).unwrap();
    let s = p.wait().unwrap();
    assert_eq!(s, vpsos::ExitStatus::Exited(5));
    ct.delete_force().unwrap();
    assert_no_leaks(&id, rootfs());
    println!("HELPER OK");
}

#[test]
fn subreaper_gets_exec_statuses() {
    require_root!();
    assert!(run_helper("helper_subreaper_exec", &[]).contains("HELPER OK"));
}

#[test]
fn without_being_the_subreaper_the_status_is_not_ours() {
    require_root!();
    let (id, ct) = sleeper("notours");
    let opts = CreateOptions {
        reaper: Reaper::Subreaper,
        ..Default::default()
    };
    let p = ct.exec(&sh("exit 5"), opts).unwrap();
    let e = p.wait().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    ct.delete_force().unwrap();
    assert_no_leaks(&id, rootfs());
}

#[test]
fn a_detached_console_is_refused_and_a_terminal_comes_back() {
    require_root!();
    let id = id("detachtty");
    let cfg = config().init(sh("true")).build().unwrap();
    let e = runtime()
        .create(&id, &cfg, detached(vpsos::Stdio::Null))
        .unwrap_err();
    assert_eq!(e.field(), Some("console.enabled"));
    let cfg = config()
        .console(Console::none())
        .init(sh("tty; [ /dev/console -ef \"$(tty)\" ] && echo console-is-the-tty").terminal(true))
        .build()
        .unwrap();
    let ct = runtime()
        .run(&id, &cfg, detached(vpsos::Stdio::Null))
        .unwrap();
    let master = ct.take_console().expect("the init's pty master");
    assert!(ct.take_console().is_none(), "taken once");
    let mut out = String::new();
    let mut f = std::fs::File::from(master);
    let mut buf = [0u8; 256];
    // EIO once the slave is closed
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    // the runtime spec's /dev/console: a bind of the pty's slave
    assert!(out.contains("console-is-the-tty"), "{out:?}");
    wait_stopped(&ct);
    ct.delete().unwrap();
    assert_no_leaks(&id, &cfg.rootfs);
}

fn wait_stopped(ct: &vpsos::Container) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ct.state().unwrap().status != vpsos::Status::Stopped {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn hook(script: &str) -> Hook {
    let mut h = Hook::new("/bin/sh").args(["sh", "-c", script]);
    h.env = vec!["PATH=/usr/bin:/bin".into()];
    h
}

#[test]
fn hooks_run_in_order_with_the_state_and_in_the_right_namespaces() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let l = log.display();
    let rootfs = rootfs().display();
    // what the container's hooks saw, told by the init (their own files:
    // a tmpfs of the container's, at <rootfs>/run before the pivot_root)
    let mut cfg = config()
        .init(sh("cat /run/cc /run/sc; echo started"))
        .mount(Mount::tmpfs("/run"))
        .build()
        .unwrap();
    cfg.bundle = Some("/srv/bundle".into());
    cfg.annotations.insert("org.example/a".into(), "b".into());
    let h = &mut cfg.hooks;
    // on the host, the init already in its cgroup
    let id = id("hooks");
    h.create_runtime.push(hook(&format!(
        "s=$(cat); {{ echo create_runtime; echo \"$s\"; }} >> {l}; \
         pid=$(echo \"$s\" | sed 's/.*\"pid\":\\([0-9]*\\).*/\\1/'); \
         grep -q /{id}$ /proc/$pid/cgroup && echo in-cgroup >> {l}"
    )));
    // in the container's namespaces (PID too) as its root, the host's
    // root still theirs: the container's hostname, uid map, and mounts
    // under the rootfs path
    // ($$ is the hook's own pid as it sees it, and only the container's
    // /proc has it when that is a pid of the container's PID namespace;
    // before the pivot_root that /proc is under the rootfs path)
    let saw = "$(hostname) $(id -u) $(grep -c 300000 /proc/self/uid_map)";
    h.create_container.push(hook(&format!(
        "echo cc {saw} $(test -d {rootfs}/proc/$$ && echo in-pidns) > {rootfs}/run/cc"
    )));
    // ... and in its root
    h.start_container.push(hook(&format!(
        "echo sc {saw} $(test -d /proc/$$ && echo in-pidns) > /run/sc"
    )));
    h.poststart.push(hook(&format!("echo poststart >> {l}")));
    h.poststop
        .push(hook(&format!("{{ echo poststop; cat; echo; }} >> {l}")));
    let (r, w) = pipe();
    let ct = runtime().create(&id, &cfg, capture(w)).unwrap();
    let pid = ct.pid().unwrap();
    ct.start().unwrap();
    assert_eq!(
        read_all(r),
        "cc testct 0 1 in-pidns\nsc testct 0 1 in-pidns\nstarted\n"
    );
    ct.wait().unwrap();
    ct.delete().unwrap();
    assert_no_leaks(&id, &cfg.rootfs);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(lines[0], "create_runtime");
    let state: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["status"], "creating");
    assert_eq!(state["bundle"], "/srv/bundle");
    assert_eq!(state["annotations"]["org.example/a"], "b");
    assert_eq!(state["pid"].as_i64().unwrap(), i64::from(pid));
    assert_eq!(lines[2], "in-cgroup");
    assert_eq!(lines[3], "poststart");
    assert_eq!(lines[4], "poststop");
    let state: serde_json::Value = serde_json::from_str(lines[5]).unwrap();
    assert_eq!(state["status"], "stopped");
}

/// A hook may be a script: its interpreter opens the program through
/// /dev/fd (a caller ignoring SIGCHLD: tests/outlive.rs).
#[test]
fn script_hooks_run_on_the_host_and_in_the_container() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hook.sh");
    let log = dir.path().join("log");
    // the container's root (host uid 300000) appends to it too
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(&log, "").unwrap();
    std::fs::set_permissions(&log, PermissionsExt::from_mode(0o666)).unwrap();
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" >> {}\nexit \"$2\"\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, PermissionsExt::from_mode(0o755)).unwrap();
    let script_hook = |word: &str, code: &str| {
        let mut h = Hook::new(&script).args(["hook.sh", word, code]);
        h.env = vec!["PATH=/usr/bin:/bin".into()];
        h
    };
    let mut cfg = config().init(sh("true")).build().unwrap();
    cfg.hooks.create_runtime.push(script_hook("runtime", "0"));
    cfg.hooks
        .create_container
        .push(script_hook("container", "0"));
    cfg.hooks.poststop.push(script_hook("poststop", "0"));
    let id = id("scripthook");
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    ct.wait().unwrap();
    ct.delete().unwrap();
    // a failing script fails the create, with its status
    let mut bad = config().init(sh("true")).build().unwrap();
    bad.hooks.create_runtime.push(script_hook("failing", "5"));
    let e = runtime()
        .create(&id, &bad, CreateOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("exit status: 5"), "{e}");
    assert_no_leaks(&id, &cfg.rootfs);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "runtime\ncontainer\npoststop\nfailing\n"
    );
}

#[test]
fn a_failing_or_hanging_hook_fails_the_create_and_leaves_nothing() {
    require_root!();
    for (h, why) in [
        (hook("echo nope >&2; exit 3"), "nope"),
        // the shell forks the sleep: the whole hook is killed
        (hook("sleep 30.25; true").timeout(1), "timed out"),
    ] {
        let mut cfg = config().init(sh("true")).build().unwrap();
        cfg.hooks.create_runtime.push(h);
        let id = id("badhook");
        let e = runtime()
            .create(&id, &cfg, CreateOptions::default())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Command, "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("hooks.create_runtime[0]") && msg.contains(why),
            "{msg}"
        );
        assert_no_leaks(&id, &cfg.rootfs);
    }
    // a failed poststart of `run`: no handle comes back, so nothing stays
    let mut cfg = config().init(sh("sleep 30")).build().unwrap();
    cfg.hooks.poststart.push(hook("exit 2"));
    let id = id("badpoststart");
    let e = runtime()
        .run(&id, &cfg, CreateOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("hooks.poststart[0]"), "{e}");
    assert_no_leaks(&id, &cfg.rootfs);
    let left = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x0030.25\x00")
        })
        .count();
    assert_eq!(left, 0, "the timed-out hook's child is still running");
}

#[test]
fn sysctls_are_set_in_the_containers_namespaces_only() {
    require_root!();
    let host_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let host_shm = std::fs::read_to_string("/proc/sys/kernel/shmmni").unwrap();
    let mut cfg = config()
        .init(sh(
            "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni",
        ))
        .build()
        .unwrap();
    // the opposite of the host's (a new network namespace starts with it)
    let fwd = if host_fwd.trim() == "1" { "0" } else { "1" };
    cfg.sysctl.insert("net.ipv4.ip_forward".into(), fwd.into());
    cfg.sysctl.insert("kernel/shmmni".into(), "1234".into());
    let (st, out) = run_config(&cfg);
    assert!(st.success());
    assert_eq!(out, format!("{fwd}\n1234\n"));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_fwd
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/shmmni").unwrap(),
        host_shm
    );
    // a parameter the kernel does not have: the start fails and says which
    let mut cfg = config().init(sh("true")).build().unwrap();
    cfg.sysctl
        .insert("net.ipv4.no_such_thing".into(), "1".into());
    let id = id("badsysctl");
    let e = runtime()
        .run(&id, &cfg, CreateOptions::default())
        .unwrap_err();
    assert_eq!(e.stage(), Some(vpsos::Stage::Sysctl), "{e}");
    assert!(e.to_string().contains("no_such_thing"), "{e}");
    assert_no_leaks(&id, &cfg.rootfs);
}

#[test]
fn personality_linux32_is_for_the_init_and_exec() {
    require_root!();
    let mut cfg = config()
        .init(Process::new(["/bin/sleep", "100"]))
        .build()
        .unwrap();
    cfg.personality = Some(Personality::Linux32);
    let id = id("personality");
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    // PER_LINUX32
    let init = std::fs::read_to_string(format!("/proc/{}/personality", ct.pid().unwrap())).unwrap();
    assert_eq!(init.trim(), "00000008");
    let (st, out) = exec_sh(&ct, "uname -m");
    assert!(st.success());
    assert_eq!(out.trim(), "i686");
    ct.delete_force().unwrap();
    assert_no_leaks(&id, &cfg.rootfs);
}

/// Receive one message with one fd on a unix socket: (payload, fd).
fn recv_with_fd(l: &std::os::unix::net::UnixListener) -> (String, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let (s, _) = l.accept().unwrap();
    let mut buf = vec![0u8; 8192];
    let mut cmsg = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = cmsg.len();
    let n = unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, 0) };
    assert!(n > 0, "recvmsg: {}", std::io::Error::last_os_error());
    let c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    assert!(!c.is_null(), "no fd came");
    let fd = unsafe { *(libc::CMSG_DATA(c) as *const libc::c_int) };
    (
        String::from_utf8_lossy(&buf[..n as usize]).into_owned(),
        unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) },
    )
}

#[test]
fn seccomp_listeners_go_to_the_agents_socket() {
    require_root!();
    use vpsos::security::seccomp::{Action, Notification, Profile, SyscallRule};
    use vpsos::security::seccomp_socket::ListenerSocket;
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("agent.sock");
    let agent = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let p =
        Profile::system_container().rule(SyscallRule::new(["mkdir", "mkdirat"], Action::Notify));
    let mut cfg = config()
        .seccomp(Some(p))
        .init(sh("exec 2>&1; mkdir /denied; echo done"))
        .build()
        .unwrap();
    cfg.seccomp_listener = Some(ListenerSocket {
        path: sock.clone(),
        metadata: "agent-data".into(),
    });
    let id = id("agent");
    let (r, w) = pipe();
    let t = std::thread::spawn(move || {
        let (payload, fd) = recv_with_fd(&agent);
        let n = Notification::receive(&fd).unwrap();
        n.fail(&fd, libc::EROFS).unwrap();
        payload
    });
    let ct = runtime().create(&id, &cfg, capture(w)).unwrap();
    assert!(ct.take_seccomp_listener().is_none(), "it went to the agent");
    let pid = ct.pid().unwrap();
    ct.start().unwrap();
    let out = read_all(r);
    assert!(
        out.contains("Read-only file system") && out.contains("done"),
        "{out}"
    );
    let payload: serde_json::Value = serde_json::from_str(&t.join().unwrap()).unwrap();
    assert_eq!(payload["fds"][0], "seccompFd");
    assert_eq!(payload["pid"], pid);
    assert_eq!(payload["metadata"], "agent-data");
    assert_eq!(payload["state"]["id"], id.as_str());
    ct.wait().unwrap();
    ct.delete().unwrap();
    assert_no_leaks(&id, &cfg.rootfs);
    // a listener socket without a notifying profile is refused by name
    let mut cfg = config().init(sh("true")).build().unwrap();
    cfg.seccomp_listener = Some(ListenerSocket {
        path: sock,
        metadata: String::new(),
    });
    assert_eq!(
        cfg.validate().unwrap_err().field(),
        Some("seccomp_listener")
    );
}

#[test]
fn without_a_cgroup_namespace_the_default_mounts_bind_the_containers_cgroup() {
    require_root!();
    let script = "f=/sys/fs/cgroup/pids/pids.max; [ -e $f ] || f=/sys/fs/cgroup/pids.max; \
                  cat $f; awk '$3 ~ /^cgroup/ {n++; if ($4 !~ /^ro/) w++} END \
                  {print (n > 0 && w == 0) ? \"read-only\" : n \" mounts, \" w \" writable\"}' /proc/mounts";
    let cfg = config()
        .namespace(vpsos::NamespaceKind::Cgroup, None)
        .resources(vpsos::config::Resources::default().pids_max(33))
        .init(sh(script))
        .build()
        .unwrap();
    let (st, out) = run_config(&cfg);
    assert!(st.success());
    assert_eq!(out, "33\nread-only\n");
}
