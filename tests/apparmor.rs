//! AppArmor on real containers: a per-container profile and policy
//! namespace, the init and exec'd processes confined by the stacked label,
//! a rule of the container's own enforced, and everything unloaded on
//! delete. Needs a host with AppArmor (the test VM); elsewhere the tests
//! that need it report SKIPPED. Run as root.

mod common;

use common::*;
use vpsos::security::apparmor::{self, AppArmor, Load, Mode};
use vpsos::{CreateOptions, ErrorKind, ExitStatus, Process};

fn has_apparmor() -> bool {
    vpsos::HostFeatures::get().apparmor
}

#[test]
fn profile_confines_init_and_exec_and_goes_with_delete() {
    require_root!();
    skip_unless!(
        has_apparmor(),
        "profile_confines_init_and_exec_and_goes_with_delete",
        "the host has no AppArmor"
    );
    let id = id("aa");
    let cfg = config()
        .apparmor(AppArmor {
            mode: Mode::On,
            rules: vec!["deny /etc/forbidden w,".into()],
            ..AppArmor::default()
        })
        .init(Process::new(["/bin/sleep", "1000"]))
        .build()
        .unwrap();
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    let applied = ct.apparmor().unwrap().unwrap();
    let label = applied.label.clone().expect("confined");
    assert_eq!(applied.profile, format!("vpsos-{id}"));
    assert!(apparmor::is_loaded(&applied.profile));
    assert!(apparmor::namespace_exists(&applied.namespace));

    // the init (seen from the host) and an exec'd process wear the stack
    let host_view =
        std::fs::read_to_string(format!("/proc/{}/attr/current", ct.pid().unwrap())).unwrap();
    assert!(
        host_view.contains(&applied.profile),
        "init: {host_view} (want {label})"
    );
    let (r, w) = pipe();
    let p = ct
        .exec(&Process::new(["/bin/sleep", "1000"]), capture(w))
        .unwrap();
    let host_view = std::fs::read_to_string(format!("/proc/{}/attr/current", p.pid())).unwrap();
    assert!(
        host_view.contains(&label),
        "exec: {host_view} (want {label})"
    );
    p.kill(libc::SIGKILL).unwrap();
    p.wait().unwrap();
    drop(r);
    // inside its own policy namespace the stack shows as that namespace's
    // unconfined: the container may load profiles of its own there
    let (_, out) = exec_sh(&ct, "cat /proc/self/attr/current");
    assert_eq!(out.trim(), "unconfined", "inside: {out}");

    // the container's own rule: writing /etc/forbidden is EACCES, others work
    let (st, out) = exec_sh(&ct, "echo x > /etc/forbidden");
    assert_ne!(st, ExitStatus::Exited(0), "{out}");
    assert!(out.contains("Permission denied"), "{out}");
    let (st, out) = exec_sh(&ct, "echo x > /etc/allowed && cat /etc/allowed");
    assert_eq!(st, ExitStatus::Exited(0), "{out}");
    // and the base profile: no writes to the kernel's knobs
    let (st, out) = exec_sh(&ct, "echo 1 > /proc/sys/kernel/panic");
    assert_ne!(st, ExitStatus::Exited(0), "{out}");

    // another process sees it in the state and deletes it all
    let again = runtime().load(&id).unwrap();
    assert_eq!(again.apparmor().unwrap(), Some(applied.clone()));
    again.delete_force().unwrap();
    drop(ct);
    assert!(
        !apparmor::is_loaded(&applied.profile),
        "profile still loaded"
    );
    assert!(
        !apparmor::namespace_exists(&applied.namespace),
        "namespace still there"
    );
    assert_no_leaks(&id, rootfs());
    let _ = std::fs::remove_file(rootfs().join("etc/allowed"));
}

#[test]
fn reparses_only_when_the_text_changes() {
    require_root!();
    skip_unless!(
        has_apparmor(),
        "reparses_only_when_the_text_changes",
        "the host has no AppArmor"
    );
    let dir = tempfile::tempdir().unwrap();
    let name = format!("vpsos-test-reparse-{}", std::process::id());
    let a = AppArmor::default();
    let text = a.profile_text(&name);
    assert_eq!(
        apparmor::load(dir.path(), &name, &text).unwrap(),
        Load::Parsed
    );
    assert_eq!(
        apparmor::load(dir.path(), &name, &text).unwrap(),
        Load::Unchanged
    );
    let b = AppArmor { nesting: true, ..a };
    assert_eq!(
        apparmor::load(dir.path(), &name, &b.profile_text(&name)).unwrap(),
        Load::Parsed
    );
    std::fs::write("/sys/kernel/security/apparmor/.remove", &name).unwrap();
    assert!(!apparmor::is_loaded(&name));
}

#[test]
fn modes_on_a_host_with_and_without_apparmor() {
    require_root!();
    let on = config()
        .apparmor(AppArmor {
            mode: Mode::On,
            ..AppArmor::default()
        })
        .init(sh("true"))
        .build()
        .unwrap();
    let auto = config().init(sh("true")).build().unwrap();
    let id = id("aamode");
    if has_apparmor() {
        let ct = runtime().run(&id, &on, CreateOptions::default()).unwrap();
        let label = ct.apparmor().unwrap().unwrap().label.clone().unwrap();
        assert_eq!(label, format!("vpsos-{id}//&:vpsos-{id}:"));
        ct.wait().unwrap();
        ct.delete().unwrap();
        assert!(!apparmor::is_loaded(&format!("vpsos-{id}")));
    } else {
        let e = runtime()
            .run(&id, &on, CreateOptions::default())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("AppArmor"), "{e}");
        assert_no_leaks(&id, rootfs());
        // auto goes on without, and says why
        let ct = runtime().run(&id, &auto, CreateOptions::default()).unwrap();
        ct.wait().unwrap();
        let a = ct.apparmor().unwrap().unwrap();
        assert!(a.label.is_none());
        assert!(
            a.skipped.as_deref().unwrap().contains("no AppArmor"),
            "{a:?}"
        );
        ct.delete().unwrap();
    }
    // a bad rule is refused before anything is made
    let e = config()
        .apparmor(AppArmor {
            rules: vec!["deny /x w".into()],
            ..AppArmor::default()
        })
        .build()
        .unwrap_err();
    assert_eq!(e.field(), Some("apparmor.rules[0]"));
}
