//! Device access through cgroups (v1 allow lists here, the eBPF program in
//! the test VM): /dev/kvm, /dev/net/tun and /dev/fuse, granted at creation
//! and live, and revoked live. Run as root.

mod common;

use common::*;
use vpsos::config::{DeviceAccess, DeviceRule};
use vpsos::{Container, CreateOptions, ExitStatus};

/// Run `script` in `ct`; (status, stdout + stderr).
fn exec_sh(ct: &Container, script: &str) -> (ExitStatus, String) {
    let (r, w) = pipe();
    let mut p = ct
        .exec(&sh(&format!("exec 2>&1; {script}")), capture(w))
        .unwrap();
    let out = read_all(r);
    (p.wait().unwrap(), out)
}

/// A sleeping container without a user namespace: its root may mknod, so
/// only the device cgroup stands between it and a device.
fn privileged(name: &str, extra: &[DeviceRule]) -> (String, Container) {
    let mut b = privileged_config().init(vpsos::Process::new(["/bin/sleep", "1000"]));
    for r in extra {
        b = b.device(r.clone());
    }
    let id = id(name);
    let ct = runtime()
        .run(&id, &b.build().unwrap(), CreateOptions::default())
        .unwrap();
    (id, ct)
}

/// A sleeping container with a user namespace and `extra` devices.
fn unprivileged(name: &str, extra: &[DeviceRule]) -> (String, Container) {
    let mut b = config().init(vpsos::Process::new(["/bin/sleep", "1000"]));
    for r in extra {
        b = b.device(r.clone());
    }
    let id = id(name);
    let ct = runtime()
        .run(&id, &b.build().unwrap(), CreateOptions::default())
        .unwrap();
    (id, ct)
}

fn finish(id: &str, ct: Container) {
    ct.delete_force().unwrap();
    assert_no_leaks(id, rootfs());
}

/// Open /dev/kvm read-write; a plain file there does not count (busybox's
/// `<>` creates one where no node exists).
const OPEN_KVM: &str = "test -c /dev/kvm && exec 3<>/dev/kvm && echo opened";

#[test]
fn kvm_opens_only_when_granted() {
    require_root!();
    // granted at creation, in a user namespace: the node is there and opens
    let (id, ct) = unprivileged("kvm", &[DeviceRule::kvm()]);
    let (st, out) = exec_sh(&ct, &format!("ls -l /dev/kvm; {OPEN_KVM}"));
    assert_eq!(st, ExitStatus::Exited(0), "{out}");
    assert!(out.contains("opened"), "{out}");
    // owned by the container's root
    assert!(out.contains("root"), "{out}");
    finish(&id, ct);

    // not granted: the default list allows mknod, the cgroup refuses the open
    let (id, ct) = privileged("nokvm", &[]);
    let (st, out) = exec_sh(&ct, &format!("mknod /dev/kvm c 10 232 && {OPEN_KVM}"));
    assert_ne!(st, ExitStatus::Exited(0), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    // the standard nodes still work
    let (st, out) = exec_sh(&ct, "echo x > /dev/null && head -c 4 /dev/urandom | wc -c");
    assert_eq!(st, ExitStatus::Exited(0), "{out}");
    assert_eq!(out.trim(), "4");
    finish(&id, ct);
}

#[test]
fn grant_and_revoke_on_a_running_container() {
    require_root!();
    let (id, mut ct) = privileged("live", &[]);
    let (_, out) = exec_sh(&ct, "test -e /dev/kvm && echo present || echo absent");
    assert_eq!(out.trim(), "absent");

    ct.grant_device(DeviceRule::kvm()).unwrap();
    let (st, out) = exec_sh(&ct, OPEN_KVM);
    assert_eq!(st, ExitStatus::Exited(0), "{out}");
    assert!(ct.devices().contains(&DeviceRule::kvm()));
    // another process sees the grant in the state
    assert!(runtime()
        .load(&id)
        .unwrap()
        .devices()
        .contains(&DeviceRule::kvm()));

    ct.revoke_device(&DeviceRule::kvm()).unwrap();
    let (_, out) = exec_sh(&ct, "test -e /dev/kvm && echo present || echo absent");
    assert_eq!(out.trim(), "absent", "the node goes with the grant");
    let (st, out) = exec_sh(&ct, &format!("mknod /dev/kvm c 10 232 && {OPEN_KVM}"));
    assert_ne!(st, ExitStatus::Exited(0), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(!ct.devices().contains(&DeviceRule::kvm()));
    // revoking what is not granted says so
    let e = ct.revoke_device(&DeviceRule::kvm()).unwrap_err();
    assert_eq!(e.kind(), vpsos::ErrorKind::NotFound);
    finish(&id, ct);
}

#[test]
fn live_grant_into_a_user_namespace_container() {
    require_root!();
    let (id, mut ct) = unprivileged("livens", &[]);
    let (st, out) = exec_sh(&ct, OPEN_KVM);
    assert_ne!(st, ExitStatus::Exited(0), "{out}");
    // its root may not make the node itself
    let (st, out) = exec_sh(&ct, "mknod /dev/kvm c 10 232");
    assert_ne!(st, ExitStatus::Exited(0), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    ct.grant_device(DeviceRule::kvm()).unwrap();
    let (st, out) = exec_sh(&ct, OPEN_KVM);
    assert_eq!(st, ExitStatus::Exited(0), "{out}");
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
