//! The escape suite: a container with vpsos's defaults (user namespace,
//! default capabilities, default seccomp, AppArmor where the host has it)
//! attacks the host from inside. Every attempt must be blocked; each is
//! judged by its goal (did the host change, did a forbidden read or write
//! succeed), not by which layer stopped it. Prints
//! `escape: N attempts, N blocked`. Run as root; x86_64 syscall numbers.
#![cfg(target_arch = "x86_64")]

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use vpsos::{CreateOptions, ExitStatus, Mount, Process};

/// Written to the real stdout, past libtest's capture.
fn say(line: &str) {
    let l = format!("{line}\n");
    unsafe { libc::write(1, l.as_ptr() as *const libc::c_void, l.len()) };
}

struct Suite {
    attempts: usize,
    escaped: Vec<String>,
}

impl Suite {
    fn check(&mut self, name: &str, blocked: bool, detail: &str) {
        self.attempts += 1;
        if blocked {
            say(&format!("escape: blocked: {name}"));
        } else {
            say(&format!("escape: ESCAPED: {name}: {detail}"));
            self.escaped.push(format!("{name}: {detail}"));
        }
    }
}

fn sha(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap()
}

/// major:minor of the filesystem at the host's /.
fn host_root_dev() -> (u32, u32) {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
        .unwrap();
    let mm = line.split_whitespace().nth(2).unwrap();
    let (a, b) = mm.split_once(':').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

fn host_links() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn escape_attempts_are_all_blocked() {
    require_root!();
    let mut s = Suite {
        attempts: 0,
        escaped: vec![],
    };
    let host_pid = std::process::id();
    let cfg = config()
        .init(Process::new(["/bin/sleep", "100000"]))
        .build()
        .unwrap();
    let id = id("escape");
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();

    // --- the host's processes
    let (_, out) = exec_sh(&ct, "ls /proc");
    s.check(
        "see a host process",
        !out.split_whitespace().any(|p| p == host_pid.to_string()),
        &out,
    );
    let (st, out) = exec_sh(
        &ct,
        &format!("kill -0 {host_pid} && echo SIGNALLED; probe sys 62 {host_pid} 0"),
    );
    s.check(
        "signal a host process",
        st != ExitStatus::Exited(0) && !out.contains("SIGNALLED") && out.contains("ESRCH"),
        &out,
    );
    let (_, out) = exec_sh(&ct, &format!("probe sys 101 16 {host_pid} 0 0"));
    s.check("ptrace a host process", out.contains("ESRCH"), &out);

    // --- kernel tunables and sysfs
    let panic0 = fs::read_to_string("/proc/sys/kernel/panic").unwrap();
    let helper = fs::read_to_string("/sys/kernel/uevent_helper").unwrap_or_default();
    let (_, out) = exec_sh(
        &ct,
        "echo 77 > /proc/sys/kernel/panic && echo WROTE; echo 3 > /proc/sys/vm/drop_caches && echo WROTE",
    );
    s.check(
        "write /proc/sys",
        !out.contains("WROTE") && fs::read_to_string("/proc/sys/kernel/panic").unwrap() == panic0,
        &out,
    );
    let (_, out) = exec_sh(&ct, "echo h > /proc/sysrq-trigger && echo WROTE");
    s.check("write /proc/sysrq-trigger", !out.contains("WROTE"), &out);
    let (_, out) = exec_sh(&ct, "echo /evil > /sys/kernel/uevent_helper && echo WROTE");
    s.check("write /sys", !out.contains("WROTE"), &out);
    let (_, out) = exec_sh(
        &ct,
        "mount -o remount,rw /sys; echo /evil > /sys/kernel/uevent_helper && echo WROTE",
    );
    s.check(
        "remount /sys read-write and write it",
        !out.contains("WROTE"),
        &out,
    );
    let (_, out) = exec_sh(
        &ct,
        "mkdir -p /tmp/s && mount -t sysfs sysfs /tmp/s && echo /evil > /tmp/s/kernel/uevent_helper && echo WROTE",
    );
    s.check(
        "mount a new sysfs read-write and write it",
        !out.contains("WROTE"),
        &out,
    );
    let (_, out) = exec_sh(
        &ct,
        "mkdir -p /tmp/p && mount -t proc proc /tmp/p && \
         { echo h > /tmp/p/sysrq-trigger && echo WROTE; head -c 1 /tmp/p/kcore >/dev/null && echo READ; }",
    );
    s.check(
        "mount a fresh proc around the masked paths",
        !out.contains("WROTE") && !out.contains("READ"),
        &out,
    );
    s.check(
        "host sysctl and uevent_helper unchanged",
        fs::read_to_string("/proc/sys/kernel/panic").unwrap() == panic0
            && fs::read_to_string("/sys/kernel/uevent_helper").unwrap_or_default() == helper,
        "changed",
    );

    // --- kernel code
    let (_, out) = exec_sh(
        &ct,
        "probe sys 175 0 0 0; probe sys 313 0 0 0; probe sys32 128 0 0 0; insmod /no.ko",
    );
    let lines: Vec<&str> = out.lines().take(3).collect();
    s.check(
        "load a kernel module (64- and 32-bit)",
        lines.len() == 3 && lines.iter().all(|l| l.ends_with("errno=EPERM")),
        &out,
    );
    let (_, out) = exec_sh(&ct, "probe sys 246 0 0 0 0; probe sys32 283 0 0 0 0");
    s.check(
        "kexec a new kernel",
        out.lines().all(|l| l.ends_with("errno=EPERM")),
        &out,
    );
    let (_, out) = exec_sh(&ct, "probe sys 304 3 0 0");
    s.check(
        "open_by_handle_at around mounts (shocker)",
        out.contains("EPERM"),
        &out,
    );
    let (_, out) = exec_sh(&ct, "probe sys 250 0 0 0");
    s.check("reach the host's keyring", out.contains("ENOSYS"), &out);
    let (_, out) = exec_sh(&ct, "grep CapBnd /proc/self/status");
    let bnd =
        u64::from_str_radix(out.split_whitespace().nth(1).unwrap_or("ffff"), 16).unwrap_or(!0);
    s.check(
        "hold module, raw I/O, time or MAC capabilities",
        vpsos::config::SYSTEM_CONTAINER_DROPPED
            .iter()
            .all(|c| bnd & c.bitmask() == 0),
        &out,
    );

    // --- devices and block devices
    let (maj, min) = host_root_dev();
    let (_, out) = exec_sh(
        &ct,
        &format!("mknod /tmp/root b {maj} {min} && mount /tmp/root /mnt && echo MOUNTED; grep -c ' /mnt ' /proc/self/mountinfo"),
    );
    s.check(
        "mount the host's root block device",
        !out.contains("MOUNTED"),
        &out,
    );
    let (_, out) = exec_sh(
        &ct,
        "mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem >/dev/null && echo READ; \
         test -c /dev/kvm && echo HAVE-KVM; test -b /dev/sda && head -c 1 /dev/sda >/dev/null && echo OPENED-SDA",
    );
    s.check(
        "make or open a device that was not granted",
        !out.contains("READ") && !out.contains("HAVE-KVM") && !out.contains("OPENED-SDA"),
        &out,
    );

    // --- cgroups
    let (_, out) = exec_sh(
        &ct,
        "for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max; do \
           test -e $f && { echo max > $f && echo RAISED $f; }; done; true",
    );
    s.check("raise its own cgroup limits", !out.contains("RAISED"), &out);
    let (_, out) = exec_sh(
        &ct,
        "mkdir -p /tmp/cg && mount -t cgroup -o rdma cgroup /tmp/cg && \
         echo /evil > /tmp/cg/release_agent && echo WROTE",
    );
    s.check(
        "set a cgroup release_agent (CVE-2022-0492)",
        !out.contains("WROTE"),
        &out,
    );

    // --- host identity: hostname, clock, network
    let (name0, links0) = (hostname(), host_links());
    let (_, out) = exec_sh(
        &ct,
        "hostname evil-host; date -s '2001-01-01 00:00:00' >/dev/null; \
         ip link set lo down; ip link add evil0 type dummy; ip addr add 10.250.0.1/32 dev lo; true",
    );
    let year = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / (365 * 86400)
        + 1970;
    s.check("change the host's hostname", hostname() == name0, &out);
    s.check(
        "set the host's clock",
        !out.contains("CLOCK-SET") && year >= 2024,
        &out,
    );
    // judged on what the container asked for: its interface, and the
    // loopback it took down and addressed. (Creating a dummy link may make
    // the kernel autoload the dummy module, which adds dummy0 to the host:
    // a host module policy matter, see the README.)
    let lo_host = fs::read_to_string("/sys/class/net/lo/operstate").unwrap_or_default();
    // every local IPv4 address of the host's namespace is in its fib trie
    let addrs = fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    s.check(
        "change the host's network",
        !host_links().iter().any(|l| l == "evil0")
            && lo_host.trim() != "down"
            && !addrs.contains("10.250.0.1"),
        &format!(
            "{out}
host links {:?} -> {:?}",
            links0,
            host_links()
        ),
    );

    // --- the runtime's binary and the host's fds
    let exe = std::env::current_exe().unwrap();
    let before = sha(&exe);
    let (r, w) = pipe();
    let attacker = ct
        .exec(
            &sh("end=$(($(date +%s) + 3)); while [ $(date +%s) -lt $end ]; do \
                 for p in /proc/[0-9]*; do (echo x >> $p/exe) 2>/dev/null && echo \"WROTE $p\"; done; \
                 (echo x >> /proc/self/exe) 2>/dev/null && echo WROTE-SELF; done"),
            capture(w),
        )
        .unwrap();
    // processes joining the container while the attacker watches /proc
    for _ in 0..20 {
        let (_, o) = exec_sh(&ct, "true");
        assert!(o.is_empty(), "{o}");
    }
    let out = read_all(r);
    attacker.wait().unwrap();
    s.check(
        "overwrite the runtime through /proc/<pid>/exe (CVE-2019-5736)",
        !out.contains("WROTE") && sha(&exe) == before,
        &out,
    );

    let secret = tempfile::NamedTempFile::new().unwrap();
    fs::write(secret.path(), "host-secret-4711").unwrap();
    let leaky = fs::File::open(secret.path()).unwrap();
    let dir = fs::File::open("/").unwrap();
    for f in [&leaky, &dir] {
        unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(f), libc::F_SETFD, 0) };
    }
    let (_, out) = exec_sh(
        &ct,
        "for f in /proc/self/fd/*; do cat $f 2>/dev/null; ls $f/ 2>/dev/null; done; true",
    );
    let mut leaked = out.contains("host-secret-4711");
    for n in 3..12 {
        let (r, w) = pipe();
        if let Ok(p) = ct.exec(
            &Process::new(["/bin/sh", "-c", "pwd; ls"]).cwd(format!("/proc/self/fd/{n}")),
            capture(w),
        ) {
            let o = read_all(r);
            p.wait().unwrap();
            leaked |= o.contains(
                &secret
                    .path()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .to_string(),
            ) || o.contains("vpsos-tests") && !o.contains("proc");
        }
    }
    s.check(
        "use an fd leaked from the host (CVE-2024-21626)",
        !leaked,
        &out,
    );
    drop((leaky, dir));

    ct.delete_force().unwrap();
    assert_no_leaks(&id, rootfs());

    // --- a symlink planted at a mount destination (CVE-2021-30465-style)
    let id = common::id("escapelink");
    let root = private_rootfs(&id);
    let tag = format!("vpsos-escape-{}", std::process::id());
    std::os::unix::fs::symlink("/", root.join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../tmp", root.join("evil2")).unwrap();
    let cfg = config()
        .mount(Mount::tmpfs(format!("/evil/{tag}")))
        .mount(Mount::tmpfs(format!("/evil2/{tag}")))
        .init(sh(&format!("grep -c {tag} /proc/self/mountinfo")))
        .build()
        .unwrap();
    let mut c2 = cfg.clone();
    c2.rootfs = root.clone();
    let (r, w) = pipe();
    let res = runtime().run(&id, &c2, capture(w));
    let inside = match res {
        Ok(ct) => {
            let o = read_all(r);
            ct.wait().unwrap();
            ct.delete().unwrap();
            o
        }
        Err(e) => e.to_string(),
    };
    let host_paths: Vec<PathBuf> = vec![
        PathBuf::from("/").join(&tag),
        PathBuf::from("/tmp").join(&tag),
    ];
    s.check(
        "mount through a symlink planted in the rootfs (CVE-2021-30465)",
        host_paths.iter().all(|p| !p.exists())
            && !fs::read_to_string("/proc/self/mountinfo")
                .unwrap()
                .contains(&tag),
        &inside,
    );
    assert_no_leaks(&id, &root);
    remove_rootfs(&root);

    say(&format!(
        "escape: {} attempts, {} blocked",
        s.attempts,
        s.attempts - s.escaped.len()
    ));
    assert!(s.escaped.is_empty(), "escaped: {:#?}", s.escaped);
}
