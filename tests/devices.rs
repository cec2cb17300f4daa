//! Device access through cgroups (v1 allow lists here, the eBPF program in
//! the test VM): /dev/kvm, /dev/net/tun and /dev/fuse, granted at creation
//! and live, and revoked live. Run as root.

mod common;

use common::*;
use vpsos::config::{DeviceAccess, DeviceRule};
use vpsos::{Container, CreateOptions, ExitStatus};

/// A sleeping container from `builder` with `extra` devices.
fn sleeping(
    builder: vpsos::ConfigBuilder,
    name: &str,
    extra: &[DeviceRule],
) -> (String, Container) {
    let b = extra.iter().fold(builder, |b, r| b.device(r.clone()));
    let cfg = b
        .init(vpsos::Process::new(["/bin/sleep", "1000"]))
        .build()
        .unwrap();
    let id = id(name);
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    (id, ct)
}

/// Without a user namespace: its root may mknod, so only the device
/// cgroup stands between it and a device.
fn privileged(name: &str, extra: &[DeviceRule]) -> (String, Container) {
    sleeping(privileged_config(), name, extra)
}

/// With a user namespace.
fn unprivileged(name: &str, extra: &[DeviceRule]) -> (String, Container) {
    sleeping(config(), name, extra)
}

fn finish(id: &str, ct: Container) {
    ct.delete_force().unwrap();
    assert_no_leaks(id, rootfs());
}

/// Open /dev/kvm read-write; a plain file there does not count (busybox's
/// `<>` creates one where no node exists).
const OPEN_KVM: &str = "test -c /dev/kvm && exec 3<>/dev/kvm && echo opened";

/// What opening kvm does for host root on this machine, through a node of
/// our own: `None` when it opens, else the driver's error text. The test VM
/// emulates a CPU without virtualization, and its kvm says ENODEV; that
/// answer comes from the driver, past the device cgroup (which says EPERM).
fn host_kvm_error() -> Option<String> {
    static R: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    R.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix(".vpsos-probe")
            .tempdir_in("/dev")
            .unwrap();
        let node = dir.path().join("kvm");
        let c = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
        let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(10, 232)) };
        assert_eq!(r, 0, "mknod {}", node.display());
        let res = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&node);
        res.err().map(|e| {
            let text = e.to_string();
            text.split(" (os error").next().unwrap().to_string()
        })
    })
    .clone()
}

/// `ct` opens /dev/kvm as host root would: it opens, or the driver (not
/// the device cgroup) refuses.
fn assert_kvm_opens(ct: &Container, before: &str) -> String {
    let (st, out) = exec_sh(ct, &format!("{before}{OPEN_KVM}"));
    match host_kvm_error() {
        None => {
            assert_eq!(st, ExitStatus::Exited(0), "{out}");
            assert!(out.contains("opened"), "{out}");
        }
        Some(err) => {
            assert!(out.contains(&err), "host root gets {err:?}; inside: {out}");
            assert!(!out.contains("Operation not permitted"), "{out}");
        }
    }
    out
}

/// `ct` cannot open /dev/kvm: the device cgroup refuses (EPERM).
fn assert_kvm_denied(ct: &Container, before: &str) {
    let (st, out) = exec_sh(ct, &format!("{before}{OPEN_KVM}"));
    assert_ne!(st, ExitStatus::Exited(0), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
}

#[test]
fn kvm_opens_only_when_granted() {
    require_root!();
    // granted at creation, in a user namespace: the node is there and opens
    let (id, ct) = unprivileged("kvm", &[DeviceRule::kvm()]);
    let out = assert_kvm_opens(&ct, "ls -l /dev/kvm; ");
    // owned by the container's root
    assert!(out.contains("root"), "{out}");
    finish(&id, ct);

    // not granted: the default list allows mknod, the cgroup refuses the open
    let (id, ct) = privileged("nokvm", &[]);
    assert_kvm_denied(&ct, "mknod /dev/kvm c 10 232 && ");
    // the standard nodes still work
    let (st, out) = exec_sh(&ct, "echo x > /dev/null && head -c 4 /dev/urandom | wc -c");
    assert_eq!(st, ExitStatus::Exited(0), "{out}");
    assert_eq!(out.trim(), "4");
    finish(&id, ct);
}

#[test]
fn grant_and_revoke_on_a_running_container() {
    require_root!();
    let (id, ct) = privileged("live", &[]);
    let (_, out) = exec_sh(&ct, "test -e /dev/kvm && echo present || echo absent");
    assert_eq!(out.trim(), "absent");

    ct.grant_device(DeviceRule::kvm()).unwrap();
    assert_kvm_opens(&ct, "");
    assert!(ct.devices().unwrap().contains(&DeviceRule::kvm()));
    // another process sees the grant in the state
    assert!(runtime()
        .load(&id)
        .unwrap()
        .devices()
        .unwrap()
        .contains(&DeviceRule::kvm()));

    ct.revoke_device(&DeviceRule::kvm()).unwrap();
    let (_, out) = exec_sh(&ct, "test -e /dev/kvm && echo present || echo absent");
    assert_eq!(out.trim(), "absent", "the node goes with the grant");
    assert_kvm_denied(&ct, "mknod /dev/kvm c 10 232 && ");
    assert!(!ct.devices().unwrap().contains(&DeviceRule::kvm()));
    // revoking what is not granted says so
    let e = ct.revoke_device(&DeviceRule::kvm()).unwrap_err();
    assert_eq!(e.kind(), vpsos::ErrorKind::NotFound);
    finish(&id, ct);
}

#[test]
fn live_grant_into_a_user_namespace_container() {
    require_root!();
    let (id, ct) = unprivileged("livens", &[]);
    let (st, out) = exec_sh(&ct, OPEN_KVM);
    assert_ne!(st, ExitStatus::Exited(0), "{out}");
    // its root may not make the node itself
    let (st, out) = exec_sh(&ct, "mknod /dev/kvm c 10 232");
    assert_ne!(st, ExitStatus::Exited(0), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    ct.grant_device(DeviceRule::kvm()).unwrap();
    assert_kvm_opens(&ct, "");
    ct.revoke_device(&DeviceRule::kvm()).unwrap();
    let (st, out) = exec_sh(&ct, OPEN_KVM);
    assert_ne!(st, ExitStatus::Exited(0), "{out}");
    finish(&id, ct);
}

#[test]
fn tun_lets_the_container_make_a_tap() {
    require_root!();
    let (id, ct) = unprivileged("tun", &[DeviceRule::tun()]);
    let (st, out) = exec_sh(&ct, "tunctl -t tap0 && ip link show tap0");
    assert_eq!(st, ExitStatus::Exited(0), "{out}");
    assert!(out.contains("tap0"), "{out}");
    finish(&id, ct);

    // without the grant there is no node, and a self-made one is refused
    let (id, ct) = privileged("notun", &[]);
    let (st, out) = exec_sh(
        &ct,
        "mkdir -p /dev/net && mknod /dev/net/tun c 10 200 && tunctl -t tap0",
    );
    assert_ne!(st, ExitStatus::Exited(0), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    finish(&id, ct);
}

#[test]
fn fuse_and_access_subsets() {
    require_root!();
    // read-only access: opening for writing is refused
    let ro = DeviceRule::char(
        10,
        229,
        DeviceAccess {
            read: true,
            write: false,
            mknod: false,
        },
    )
    .path("/dev/fuse");
    let (id, ct) = unprivileged("fuse", &[DeviceRule::fuse()]);
    let (st, out) = exec_sh(&ct, "test -c /dev/fuse && exec 3<>/dev/fuse && echo opened");
    assert_eq!(st, ExitStatus::Exited(0), "{out}");
    finish(&id, ct);

    let (id, ct) = privileged("fusero", &[ro]);
    let (st, out) = exec_sh(&ct, "test -c /dev/fuse && exec 3</dev/fuse && echo read-ok");
    assert_eq!(st, ExitStatus::Exited(0), "{out}");
    let (st, out) = exec_sh(&ct, "exec 3>/dev/fuse && echo write-ok");
    assert_ne!(st, ExitStatus::Exited(0), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    finish(&id, ct);
}

#[test]
fn bad_device_rules_are_refused() {
    require_root!();
    let e = config()
        .device("c *:* rw".parse::<DeviceRule>().unwrap().path("/dev/x"))
        .build()
        .unwrap_err();
    assert_eq!(e.field(), Some("devices[11]"));
    let e = "c 10:232 rwx".parse::<DeviceRule>().unwrap_err();
    assert_eq!(e.kind(), vpsos::ErrorKind::InvalidConfig);
}
