//! Seccomp on real containers: the system-container default, every action,
//! argument conditions, the 32-bit ABI, OCI import and user notification.
//! Raw syscalls come from tests/probe (x86_64 numbers). Run as root.
#![cfg(target_arch = "x86_64")]

mod common;

use common::*;
use vpsos::security::seccomp::{Action, ArgCondition, CmpOp, Notification, Profile, SyscallRule};
use vpsos::{CreateOptions, ExitStatus};

/// Run `script` as init under `profile`; (status, stdout + stderr).
fn run_with(profile: Option<Profile>, script: &str) -> (ExitStatus, String) {
    run_sh(config().seccomp(profile), &format!("exec 2>&1; {script}"))
}

/// `probe sys NR ARGS` lines, one per call, as the container prints them.
fn probe_lines(profile: Option<Profile>, calls: &[&str]) -> Vec<String> {
    let script: Vec<String> = calls.iter().map(|c| format!("probe {c}")).collect();
    let (_, out) = run_with(profile, &script.join("; "));
    out.lines().map(String::from).collect()
}

#[test]
fn default_profile_refuses_the_dangerous_calls() {
    require_root!();
    let lines = probe_lines(
        Some(Profile::system_container()),
        &[
            "sys 246 0 0 0 0", // kexec_load
            "sys 175 0 0 0",   // init_module
            "sys 313 -1 0 0",  // finit_module
            "sys 304 -1 0 0",  // open_by_handle_at
            "sys 250 0 0",     // keyctl: ENOSYS, as on a kernel without keys
            "sys 166 0 1",     // umount2(NULL, MNT_FORCE)
            "sys 166 0 0",     // umount2(NULL, 0): reaches the kernel
            "sys 39",          // getpid
            "sys32 283 0 0 0", // kexec_load through the 32-bit ABI
            "sys32 20",        // getpid through the 32-bit ABI
        ],
    );
    let want = [
        "errno=EPERM",
        "errno=EPERM",
        "errno=EPERM",
        "errno=EPERM",
        "errno=ENOSYS",
        "errno=EPERM",
        "errno=EFAULT",
        " errno=0",
        "errno=EPERM",
        " errno=0",
    ];
    assert_eq!(lines.len(), want.len(), "{lines:?}");
    for (l, w) in lines.iter().zip(want) {
        assert!(l.ends_with(w), "{l} should end with {w}: {lines:?}");
    }
}

#[test]
fn no_profile_means_no_filter() {
    require_root!();
    let (st, out) = run_with(None, "grep Seccomp: /proc/self/status");
    assert!(st.success(), "{out}");
    assert_eq!(out.trim(), "Seccomp:\t0");
    let (_, out) = run_with(
        Some(Profile::system_container()),
        "grep Seccomp: /proc/self/status",
    );
    assert_eq!(out.trim(), "Seccomp:\t2");
}

#[test]
fn every_action_and_argument_conditions() {
    require_root!();
    let p = Profile::new(Action::Allow)
        // setpriority(PRIO_PROCESS, 0, prio > 10) refused; lower allowed
        .rule(
            SyscallRule::new(["setpriority"], Action::Errno(libc::EACCES as u16))
                .arg(ArgCondition::new(2, CmpOp::Gt, 10)),
        )
        // calls the shell itself never makes
        .rule(SyscallRule::new(
            ["sched_getscheduler"],
            Action::KillProcess,
        ))
        .rule(SyscallRule::new(["sched_getparam"], Action::Trap))
        .rule(SyscallRule::new(["sched_get_priority_max"], Action::Log))
        .rule(SyscallRule::new(
            ["mkdir", "mkdirat"],
            Action::Errno(libc::EROFS as u16),
        ));
    let (st, out) = run_with(
        Some(p.clone()),
        "probe sys 141 0 0 15; probe sys 141 0 0 5; probe sys 146 0; mkdir /x; \
         probe sys 145 0; echo killed=$?",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with("errno=EACCES"), "{out}");
    assert!(lines[1].ends_with("ret=0 errno=0"), "{out}");
    assert!(
        lines[2].starts_with("ret=") && lines[2].ends_with("errno=0"),
        "{out}"
    );
    assert!(out.contains("Read-only file system"), "{out}");
    // KillProcess: the probe died of SIGSYS (128 + 31), its shell goes on
    assert!(out.contains("killed=159"), "{out}");
    assert_eq!(st, ExitStatus::Exited(0), "{out}");
    // Trap: SIGSYS to the caller
    let (st, out) = run_with(Some(p), "exec probe sys 143 0 0");
    assert_eq!(st, ExitStatus::Signaled(libc::SIGSYS), "{out}");
}

#[test]
fn oci_profile_imports_and_applies() {
    require_root!();
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
          {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
          {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#;
    let oci: oci_spec::runtime::LinuxSeccomp = serde_json::from_str(json).unwrap();
    let p = Profile::from_oci(&oci).unwrap();
    let (_, out) = run_with(Some(p), "mkdir /x; probe sys 39; probe sys32 20");
    assert!(out.contains("Permission denied"), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[1].ends_with("errno=EPERM"), "{out}");
    assert!(lines[2].ends_with("errno=EPERM"), "{out}");
}

#[test]
fn a_supervisor_answers_notified_calls() {
    require_root!();
    let p =
        Profile::system_container().rule(SyscallRule::new(["mkdir", "mkdirat"], Action::Notify));
    let cfg = config()
        .seccomp(Some(p))
        .init(sh("exec 2>&1; mkdir /denied; mkdir /allowed && echo made; test -d /allowed && echo exists"))
        .build()
        .unwrap();
    let id = id("notify");
    let (r, w) = pipe();
    let ct = runtime().create(&id, &cfg, capture(w)).unwrap();
    let listener = ct
        .take_seccomp_listener()
        .expect("a listener for a Notify profile");
    assert!(ct.take_seccomp_listener().is_none(), "handed out once");
    let pid = ct.pid().unwrap();
    let supervisor = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let n = Notification::receive(&listener).unwrap();
            seen.push(n.pid);
            if seen.len() == 1 {
                n.fail(&listener, libc::EDQUOT).unwrap();
            } else {
                n.allow(&listener).unwrap();
            }
        }
        seen
    });
    ct.start().unwrap();
    let out = read_all(r);
    let st = ct.wait().unwrap().status().unwrap();
    let seen = supervisor.join().unwrap();
    assert!(st.success(), "{out}");
    assert!(out.contains("Disk quota exceeded"), "{out}");
    assert!(out.contains("made") && out.contains("exists"), "{out}");
    // the calls came from the container's processes (children of its init)
    assert!(
        seen.iter().all(|p| *p as i32 != std::process::id() as i32),
        "{seen:?} {pid}"
    );
    ct.delete().unwrap();
    assert_no_leaks(&id, rootfs());

    // an exec'd process gets a listener of its own
    let p =
        Profile::system_container().rule(SyscallRule::new(["mkdir", "mkdirat"], Action::Notify));
    let cfg = config()
        .seccomp(Some(p))
        .init(vpsos::Process::new(["/bin/sleep", "1000"]))
        .build()
        .unwrap();
    let id = common::id("notifyexec");
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    let init_listener = ct.take_seccomp_listener().unwrap();
    let (r, w) = pipe();
    let e = ct.exec(&sh("mkdir /y 2>&1"), capture(w)).unwrap();
    let l = e.take_seccomp_listener().expect("exec'd process listener");
    let n = Notification::receive(&l).unwrap();
    n.fail(&l, libc::ENOSPC).unwrap();
    assert!(read_all(r).contains("No space left"));
    assert!(!e.wait().unwrap().success());
    drop(init_listener);
    ct.delete_force().unwrap();
    assert_no_leaks(&id, rootfs());
}

#[test]
fn bad_profiles_fail_before_anything_is_made() {
    require_root!();
    let mut p = Profile::system_container();
    p.architectures.push("vax".into());
    let cfg = config().seccomp(Some(p)).init(sh("true")).build().unwrap();
    let id = id("badseccomp");
    let e = runtime()
        .run(&id, &cfg, CreateOptions::default())
        .unwrap_err();
    assert_eq!(e.field(), Some("seccomp.architectures[2]"), "{e}");
    assert_no_leaks(&id, rootfs());
}
