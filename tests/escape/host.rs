//! Attacks on the host's processes, identity, devices and cgroups.

use super::Suite;
use std::fs;
use vpsos::Container;

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

pub fn attacks(s: &mut Suite, ct: &Container) {
    // --- the host's processes
    let host_pid = std::process::id().to_string();
    s.attempt(ct, "see a host process", "ls /proc", |out| {
        // the control: its own pid 1 is there
        out.split_whitespace().any(|p| p == "1") && !out.split_whitespace().any(|p| p == host_pid)
    });
    s.probe(
        ct,
        "signal a host process",
        &format!("probe sys 62 {host_pid} 0"),
        1,
        &["ESRCH"],
    );
    s.probe(
        ct,
        "ptrace a host process",
        &format!("probe sys 101 16 {host_pid} 0 0"),
        1,
        &["ESRCH"],
    );

    // --- devices and block devices
    let (maj, min) = host_root_dev();
    s.attempt(
        ct,
        "mount the host's root block device",
        &format!(
            "mknod /tmp/root b {maj} {min}; echo mknod=$?; mount /tmp/root /mnt && echo MOUNTED"
        ),
        |out| out.contains("mknod=") && !out.contains("MOUNTED"),
    );
    s.attempt(
        ct,
        "make or open a device that was not granted",
        "mknod /tmp/mem c 1 1; head -c 1 /tmp/mem >/dev/null && echo READ; \
         test -c /dev/kvm && echo HAVE-KVM; test -b /dev/sda && head -c 1 /dev/sda >/dev/null && echo OPENED-SDA; true",
        |out| !out.contains("READ") && !out.contains("HAVE-KVM") && !out.contains("OPENED-SDA"),
    );

    // --- cgroups
    s.attempt(
        ct,
        "raise its own cgroup limits",
        "for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max; do \
           test -e $f && { echo TRIED; echo max > $f && echo RAISED $f; }; done; true",
        |out| out.contains("TRIED") && !out.contains("RAISED"),
    );
    s.attempt(
        ct,
        "set a cgroup release_agent (CVE-2022-0492)",
        "mkdir -p /tmp/cg && mount -t cgroup -o rdma cgroup /tmp/cg; echo mount=$?; \
         grep -q ' /tmp/cg ' /proc/self/mountinfo && echo /evil > /tmp/cg/release_agent && echo WROTE",
        |out| out.contains("mount=") && !out.contains("WROTE"),
    );

    // --- host identity: hostname, clock, network
    let (name0, links0) = (hostname(), host_links());
    s.attempt(
        ct,
        "change the host's hostname",
        "hostname evil-host; hostname",
        // the control: it renamed its own UTS namespace
        |out| out.contains("evil-host") && hostname() == name0,
    );
    s.attempt(
        ct,
        "set the host's clock",
        "date -s '2001-01-01 00:00:00' >/dev/null; echo date=$?",
        |out| {
            let year = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                / (365 * 86400)
                + 1970;
            out.contains("date=") && year >= 2024
        },
    );
    // judged on what the container asked for: its interface, and the
    // loopback it took down and addressed. (Creating a dummy link may make
    // the kernel autoload the dummy module, which adds dummy0 to the host:
    // a host module policy matter, see the README.)
    let out = s.attempt(
        ct,
        "change the host's network",
        "ip link set lo down; ip link add evil0 type dummy; ip addr add 10.250.0.1/32 dev lo; \
         ip -o link show lo",
        |out| {
            let lo_host = fs::read_to_string("/sys/class/net/lo/operstate").unwrap_or_default();
            // every local IPv4 address of the host's namespace is in its fib trie
            let addrs = fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
            // the control: its own lo went down (no UP among its flags)
            out.contains("<LOOPBACK>")
                && !host_links().iter().any(|l| l == "evil0")
                && lo_host.trim() != "down"
                && !addrs.contains("10.250.0.1")
        },
    );
    if !out.is_empty() && host_links() != links0 {
        super::say(&format!(
            "escape: note: host links {links0:?} -> {:?}",
            host_links()
        ));
    }
}
