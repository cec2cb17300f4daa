//! Seccomp on real containers: the system-container default (each denial
//! shown to be the filter's: the same call without a filter gets another
//! answer from the kernel), every action, argument conditions, the 32-bit
//! and x32 ABIs, OCI import and user notification.
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
    probe_lines_in(config(), profile, calls)
}

/// The same in a container made from `builder`.
fn probe_lines_in(
    builder: vpsos::ConfigBuilder,
    profile: Option<Profile>,
    calls: &[&str],
) -> Vec<String> {
    let script: Vec<String> = calls.iter().map(|c| format!("probe {c}")).collect();
    let (_, out) = run_sh(
        builder.seccomp(profile),
        &format!("exec 2>&1; {}", script.join("; ")),
    );
    out.lines().map(String::from).collect()
}

/// The errno name each `probe` line ends with ("0" for success), one per
/// call: the probe ran every call and printed what the kernel said.
fn errnos(lines: &[String], calls: &[&str]) -> Vec<String> {
    assert_eq!(lines.len(), calls.len(), "{calls:?} gave {lines:?}");
    lines
        .iter()
        .map(|l| {
            assert!(l.starts_with("ret="), "{l}: {lines:?}");
            l.rsplit_once("errno=").expect("errno=").1.to_string()
        })
        .collect()
}

/// x32 syscall numbers: the x86_64 instruction with this bit set.
const X32: u32 = 0x4000_0000;

/// Each call with the default profile fails with EPERM, and the same call
/// without a filter does not (so the EPERM is the filter's, not the
/// kernel's answer to a container without the capability): the arguments
/// are bad pointers or descriptors the kernel would refuse with `plain`,
/// or ENOSYS for x32 on a kernel without it.
fn assert_filter_denies(builder: impl Fn() -> vpsos::ConfigBuilder, calls: &[(String, &[&str])]) {
    let cmds: Vec<&str> = calls.iter().map(|(c, _)| c.as_str()).collect();
    let with = errnos(
        &probe_lines_in(builder(), Some(Profile::system_container()), &cmds),
        &cmds,
    );
    let without = errnos(&probe_lines_in(builder(), None, &cmds), &cmds);
    let mut wrong = Vec::new();
    for (((call, plain), w), wo) in calls.iter().zip(&with).zip(&without) {
        if w != "EPERM" || !plain.contains(&wo.as_str()) {
            wrong.push(format!(
                "{call}: {w} with the default profile (want EPERM), \
                 {wo} without a filter (want one of {plain:?})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
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
    // a mistyped name in a profile of vpsos's own: refused when the
    // description is built, naming the rule, the position and the name
    let p = Profile::system_container().rule(SyscallRule::new(
        ["kexec_lod"],
        Action::Errno(libc::EPERM as u16),
    ));
    let e = config()
        .seccomp(Some(p))
        .init(sh("true"))
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), vpsos::ErrorKind::InvalidConfig);
    assert_eq!(e.field(), Some("seccomp.syscalls[4].names[0]"), "{e}");
    assert!(e.to_string().contains("kexec_lod"), "{e}");
}

/// Setting the clock is a host-wide operation: refused by the filter on
/// every ABI it covers, 64-bit, 32-bit (`int 0x80`) and x32, including
/// the 32-bit ABI's 64-bit-time calls and `adjtimex`.
#[test]
fn default_profile_refuses_setting_the_clock_on_every_abi() {
    require_root!();
    let fault: &[&str] = &["EFAULT"];
    // x32 is compiled into most kernels but often switched off (ENOSYS)
    let x32: &[&str] = &["EFAULT", "ENOSYS"];
    let calls = [
        ("sys 164 1 0".to_string(), fault), // settimeofday(bad, NULL)
        ("sys 227 0 1".into(), fault),      // clock_settime(REALTIME, bad)
        ("sys 305 0 1".into(), fault),      // clock_adjtime(REALTIME, bad)
        ("sys 159 1".into(), fault),        // adjtimex(bad)
        ("sys32 79 1 0".into(), fault),     // settimeofday
        ("sys32 25 1".into(), fault),       // stime
        ("sys32 264 0 1".into(), fault),    // clock_settime
        ("sys32 404 0 1".into(), fault),    // clock_settime64
        ("sys32 343 0 1".into(), fault),    // clock_adjtime
        ("sys32 405 0 1".into(), fault),    // clock_adjtime64
        ("sys32 124 1".into(), fault),      // adjtimex
        (format!("sys {:#x} 1 0", X32 | 164), x32), // settimeofday
        (format!("sys {:#x} 0 1", X32 | 227), x32), // clock_settime
        (format!("sys {:#x} 0 1", X32 | 305), x32), // clock_adjtime
        (format!("sys {:#x} 1", X32 | 159), x32), // adjtimex
    ];
    assert_filter_denies(config, &calls);
}

/// io_uring is refused on every ABI (its operations would also bypass
/// the filter: they are not syscalls).
#[test]
fn default_profile_refuses_io_uring() {
    require_root!();
    let x32: &[&str] = &["EFAULT", "EBADF", "ENOSYS"];
    let calls = [
        ("sys 425 1 1".to_string(), &["EFAULT"][..]), // io_uring_setup(1, bad)
        ("sys 426 1000 0 0 0 0 0".into(), &["EBADF"][..]), // io_uring_enter(not an fd, ...)
        ("sys 427 1000 0 0 0".into(), &["EBADF"][..]), // io_uring_register(not an fd, ...)
        ("sys32 425 1 1".into(), &["EFAULT"][..]),
        ("sys32 426 1000 0 0 0 0 0".into(), &["EBADF"][..]),
        ("sys32 427 1000 0 0 0".into(), &["EBADF"][..]),
        (format!("sys {:#x} 1 1", X32 | 425), x32),
        (format!("sys {:#x} 1000 0 0 0 0 0", X32 | 426), x32),
        (format!("sys {:#x} 1000 0 0 0", X32 | 427), x32),
    ];
    assert_filter_denies(config, &calls);
}

/// A userfaultfd that handles the kernel's own faults is refused even to
/// a container whose root holds CAP_SYS_PTRACE in the host's namespace
/// (no user namespace: the kernel itself would allow it, as the control
/// shows); a user-mode-only one stays allowed.
#[test]
fn default_profile_refuses_kernel_mode_userfaultfd() {
    require_root!();
    let ptrace = vpsos::Capabilities::held()
        .unwrap()
        .permitted
        .contains(&vpsos::Capability::CAP_SYS_PTRACE);
    skip_unless!(
        ptrace,
        "default_profile_refuses_kernel_mode_userfaultfd",
        "this process lacks CAP_SYS_PTRACE"
    );
    let calls = [
        "sys 323 0",       // userfaultfd(0)
        "sys 323 0x80000", // userfaultfd(O_CLOEXEC)
        "sys 323 1",       // userfaultfd(UFFD_USER_MODE_ONLY)
        "sys32 374 0",     // the same through the 32-bit ABI
        "sys32 374 1",
        &format!("sys {:#x} 0", X32 | 323),
    ];
    let with = errnos(
        &probe_lines_in(
            privileged_config(),
            Some(Profile::system_container()),
            &calls,
        ),
        &calls,
    );
    assert_eq!(
        with,
        ["EPERM", "EPERM", "0", "EPERM", "0", "EPERM"],
        "{calls:?}"
    );
    let without = errnos(&probe_lines_in(privileged_config(), None, &calls), &calls);
    assert_eq!(&without[..5], ["0", "0", "0", "0", "0"], "{calls:?}");
    assert!(
        ["0", "ENOSYS"].contains(&without[5].as_str()),
        "{without:?}"
    );
    // in a user namespace the user-mode-only kind works under the profile
    let lines = probe_lines(Some(Profile::system_container()), &["sys 323 1"]);
    assert_eq!(errnos(&lines, &["sys 323 1"]), ["0"]);
}

/// An OCI profile's names this libseccomp does not know are skipped, and
/// the container's state says which.
#[test]
fn oci_import_reports_skipped_names_in_the_state() {
    require_root!();
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
          {"names": ["getpid", "vpsos_no_such_call"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#;
    let oci: oci_spec::runtime::LinuxSeccomp = serde_json::from_str(json).unwrap();
    let p = Profile::from_oci(&oci).unwrap();
    let cfg = config()
        .seccomp(Some(p))
        .init(sh("exec 2>&1; probe sys 39"))
        .build()
        .unwrap();
    let id = id("skipped");
    let (r, w) = pipe();
    let ct = runtime().create(&id, &cfg, capture(w)).unwrap();
    assert_eq!(ct.state().unwrap().seccomp_skipped, ["vpsos_no_such_call"]);
    // any handle sees it
    let other = runtime().load(&id).unwrap();
    assert_eq!(
        other.state().unwrap().seccomp_skipped,
        ["vpsos_no_such_call"]
    );
    ct.start().unwrap();
    let out = read_all(r);
    // the rest of the rule applies: the probe's getpid failed
    assert_eq!(ct.wait().unwrap().status(), Some(ExitStatus::Exited(1)));
    assert_eq!(out.trim(), "ret=-1 errno=EPERM");
    ct.delete().unwrap();
    assert_no_leaks(&id, rootfs());
    // a profile without skipped names reports none
    let (id, ct) = sleeper("noskipped");
    assert!(ct.state().unwrap().seccomp_skipped.is_empty());
    ct.delete_force().unwrap();
    assert_no_leaks(&id, rootfs());
}
