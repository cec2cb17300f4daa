//! What a container's processes see: PID 1, id maps, hidden host
//! processes, the time namespace, process attributes, the rootfs and its
//! mounts, joined namespaces, the fds that reach it. Run as root.

mod common;

use common::*;
use std::os::fd::OwnedFd;
use vpsos::{
    CreateOptions, ExitStatus, InitExit, Mount, NamespaceKind, NamespaceMode, Status, Stdio,
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
