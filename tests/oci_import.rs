//! OCI bundles imported with `Config::from_oci_bundle` and run: with a
//! user namespace and without (privileged, as podman runs rootful
//! containers). The container sees the devices the runtime spec requires,
//! its mounts, masked and read-only paths, hostname and exactly its
//! capabilities; deleting it leaves nothing behind. Run as root.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use vpsos::{Config, CreateOptions, ExitStatus, Runtime};

/// A bundle dir with `rootfs` linked to the shared busybox tree (a
/// relative `root.path`, resolved against the bundle) and `config.json`.
fn bundle(id: &str, userns: bool) -> PathBuf {
    let dir = PathBuf::from(format!("/var/tmp/vpsos-tests/bundles/{id}"));
    fs::create_dir_all(&dir).unwrap();
    let _ = fs::remove_file(dir.join("rootfs"));
    std::os::unix::fs::symlink(rootfs(), dir.join("rootfs")).unwrap();
    let caps = r#"["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]"#;
    let (userns_ns, maps) = if userns {
        (
            r#", {"type": "user"}"#,
            format!(
                r#""uidMappings": [{{"containerID": 0, "hostID": {HOST_ROOT}, "size": 65536}}],
                   "gidMappings": [{{"containerID": 0, "hostID": {HOST_ROOT}, "size": 65536}}],"#
            ),
        )
    } else {
        ("", String::new())
    };
    let script = "\
        for d in null zero full random urandom tty; do test -c /dev/$d || echo missing-$d; done; \
        echo x > /dev/null && test \"$(head -c 4 /dev/urandom | wc -c)\" = 4 && echo dev-ok; \
        echo ptmx=$(readlink /dev/ptmx) fd=$(readlink /dev/fd) stdin=$(readlink /dev/stdin) \
          stdout=$(readlink /dev/stdout) stderr=$(readlink /dev/stderr); \
        test -c /dev/fuse && echo fuse-node; (: </dev/fuse) 2>/dev/null || echo fuse-denied; \
        echo host=$(hostname); \
        grep -E ' /(dev/pts|dev/shm|dev/mqueue|sys|sys/fs/cgroup|sys/fs/cgroup/memory|run) ' /proc/mounts | \
          awk '{print \"mount\", $2, $3, substr($4,1,2)}'; \
        test -c /proc/keys && echo keys-masked; echo firmware=$(ls /sys/firmware | wc -l); \
        awk '$2 == \"/\" {print \"root\", substr($4,1,2)}' /proc/mounts; \
        (echo 64 > /proc/sys/net/ipv4/ip_default_ttl) 2>&1 | grep -q Read-only && echo procsys-ro; \
        grep -E '^Cap(Bnd|Eff|Prm|Inh|Amb)' /proc/self/status";
    let json = format!(
        r#"{{
  "ociVersion": "1.0.2",
  "process": {{
    "terminal": false, "user": {{"uid": 0, "gid": 0}},
    "args": ["/bin/sh", "-c", {script:?}],
    "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "cwd": "/",
    "capabilities": {{"bounding": {caps}, "effective": {caps}, "permitted": {caps}}},
    "rlimits": [{{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}}],
    "noNewPrivileges": true
  }},
  "root": {{"path": "rootfs", "readonly": true}},
  "hostname": "ocitest",
  "mounts": [
    {{"destination": "/proc", "type": "proc", "source": "proc"}},
    {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","strictatime","mode=755","size=65536k"]}},
    {{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620"]}},
    {{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid","noexec","nodev","mode=1777","size=65536k"]}},
    {{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid","noexec","nodev"]}},
    {{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid","noexec","nodev","ro"]}},
    {{"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","nodev","mode=755"]}},
    {{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid","noexec","nodev","relatime","ro"]}}
  ],
  "linux": {{
    {maps}
    "cgroupsPath": "/{CGROUP_PARENT}/{id}",
    "resources": {{"devices": [{{"allow": false, "access": "rwm"}}], "pids": {{"limit": 100}}}},
    "devices": [{{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}}],
    "namespaces": [{{"type": "pid"}}, {{"type": "network"}}, {{"type": "ipc"}}, {{"type": "uts"}},
                   {{"type": "mount"}}, {{"type": "cgroup"}}{userns_ns}],
    "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
    "readonlyPaths": ["/proc/sys"]
  }}
}}"#
    );
    fs::write(dir.join("config.json"), json).unwrap();
    dir
}

/// The capability mask of the bundle's sets.
fn mask() -> u64 {
    use caps::Capability as C;
    [
        C::CAP_CHOWN,
        C::CAP_KILL,
        C::CAP_NET_BIND_SERVICE,
        C::CAP_AUDIT_WRITE,
    ]
    .iter()
    .fold(0, |m, c| m | c.bitmask())
}

/// Removes the bundle, the container (should the test fail before its
/// delete) and the then empty state root.
struct Cleanup(PathBuf, PathBuf, String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(ct) = Runtime::with_root(&self.1).load(&self.2) {
            let _ = ct.delete_force();
        }
        let _ = fs::remove_dir_all(&self.0);
        let _ = fs::remove_dir(&self.1);
    }
}

fn run_bundle(name: &str, userns: bool) {
    let id = id(name);
    let dir = bundle(&id, userns);
    let state = PathBuf::from(format!("{STATE_ROOT}/oci-{}-{id}", std::process::id()));
    let _cleanup = Cleanup(dir.clone(), state.clone(), id.clone());
    let cfg = Config::from_oci_bundle(&dir).unwrap();
    assert_eq!(cfg.privileged, !userns);
    assert_eq!(cfg.bundle.as_deref(), Some(dir.as_path()));
    let rt = Runtime::with_root(&state);
    let (r, w) = pipe();
    let ct = rt
        .run(
            &id,
            &cfg,
            CreateOptions {
                stdout: w,
                ..Default::default()
            },
        )
        .unwrap();
    let out = read_all(r);
    let st = ct.wait().unwrap().status().unwrap();
    ct.delete().unwrap();
    assert_eq!(st, ExitStatus::Exited(0), "{out}");
    assert!(!out.contains("missing-"), "{out}");
    for want in [
        "dev-ok",
        "ptmx=pts/ptmx fd=/proc/self/fd stdin=/proc/self/fd/0 stdout=/proc/self/fd/1 \
         stderr=/proc/self/fd/2",
        "fuse-node",
        "fuse-denied",
        "host=ocitest",
        "mount /dev/pts devpts rw",
        "mount /dev/shm tmpfs rw",
        "mount /dev/mqueue mqueue rw",
        "mount /sys sysfs ro",
        "mount /run tmpfs rw",
        "keys-masked",
        "firmware=0",
        "root ro",
        "procsys-ro",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
    // the container's cgroupfs, read-only: cgroup2 on v2; on v1 a tmpfs
    // with a mount per hierarchy
    let cgroupfs = if vpsos::HostFeatures::get().cgroup_mode == vpsos::CgroupMode::Unified {
        "mount /sys/fs/cgroup cgroup2 ro"
    } else {
        "mount /sys/fs/cgroup/memory cgroup ro"
    };
    assert!(out.contains(cgroupfs), "no {cgroupfs:?} in:\n{out}");
    let cap = |set: &str| {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("Cap{set}:")))
            .unwrap_or_else(|| panic!("no Cap{set} in {out}"));
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    // root keeps its sets across exec (no user switch): exactly the spec's
    for set in ["Bnd", "Eff", "Prm"] {
        assert_eq!(cap(set), mask(), "Cap{set} in {out}");
    }
    assert_eq!((cap("Inh"), cap("Amb")), (0, 0));
    // nothing left: state, cgroups, processes, device nodes
    assert!(!state.join(&id).exists(), "state dir left behind");
    for h in vpsos::cgroup::hierarchies() {
        let d = h.mountpoint.join(CGROUP_PARENT).join(&id);
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }
    assert_no_monitor(&id);
    assert_no_process_in(rootfs());
    let nodes_left = fs::read_dir("/dev/.vpsos")
        .map(|rd| {
            rd.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{id}."))
            })
        })
        .unwrap_or(false);
    assert!(!nodes_left, "device nodes of {id} left in /dev/.vpsos");
}

#[test]
fn a_bundle_with_a_user_namespace_runs_as_specified() {
    require_root!();
    run_bundle("oci-userns", true);
}

#[test]
fn a_privileged_bundle_runs_as_specified() {
    require_root!();
    run_bundle("oci-priv", false);
}

#[test]
fn a_bundle_asking_for_what_vpsos_cannot_do_is_refused_by_field() {
    let id = format!("oci-refused-{}", std::process::id());
    let dir = Path::new("/var/tmp/vpsos-tests/bundles").join(&id);
    fs::create_dir_all(&dir).unwrap();
    let json = r#"{"ociVersion": "1.0.2",
      "process": {"user": {"uid": 0, "gid": 0}, "args": ["/bin/true"], "cwd": "/"},
      "root": {"path": "rootfs"},
      "linux": {"namespaces": [{"type": "mount"}],
                "resources": {"hugepageLimits": [{"pageSize": "3MB", "limit": 1048576}]}}}"#;
    fs::write(dir.join("config.json"), json).unwrap();
    let e = Config::from_oci_bundle(&dir).unwrap_err();
    assert_eq!(
        e.field(),
        Some("linux.resources.hugepageLimits[0].pageSize")
    );
    fs::remove_dir_all(&dir).unwrap();
}
