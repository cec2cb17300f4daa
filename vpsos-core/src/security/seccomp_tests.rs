//! Tests of the seccomp profiles (`security::seccomp`).
use super::*;

fn builder() -> crate::ConfigBuilder {
    crate::Config::builder("/srv/ct").id_maps(crate::IdMap::single(0, 100_000, 65536))
}

#[test]
fn default_profile_round_trips_through_json() {
    let p = Profile::system_container();
    let j = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<Profile>(&j).unwrap(), p);
    assert!(!p.uses_notify());
}

#[test]
fn bad_argument_index_names_the_rule() {
    let p = Profile::new(Action::Allow)
        .rule(SyscallRule::new(["read"], Action::Log))
        .rule(SyscallRule::new(["write"], Action::Trap).arg(ArgCondition::new(6, CmpOp::Eq, 1)));
    let e = p.validate().unwrap_err();
    assert_eq!(e.field(), Some("seccomp.syscalls[1].args"));
}

#[test]
fn every_default_name_is_known() {
    Profile::system_container().validate().unwrap();
}

#[test]
fn an_unknown_name_is_an_error_naming_it() {
    let p = Profile::system_container().rule(SyscallRule::new(
        ["kexec_load", "kexec_lod"],
        Action::Errno(1),
    ));
    let e = p.validate().unwrap_err();
    assert_eq!(e.kind(), crate::ErrorKind::InvalidConfig);
    assert_eq!(e.field(), Some("seccomp.syscalls[4].names[1]"), "{e}");
    assert!(e.to_string().contains("\"kexec_lod\""), "{e}");
    // found when the description is validated, before anything is made
    let e = builder().seccomp(Some(p)).build().unwrap_err();
    assert_eq!(e.field(), Some("seccomp.syscalls[4].names[1]"), "{e}");
}

#[test]
fn unknown_fields_are_refused() {
    // a typo in "args" must not turn a conditional rule unconditional
    let rule = r#"{"names": ["umount2"], "action": {"errno": 1},
        "argz": [{"index": 1, "op": "masked_eq", "value": 1, "value_two": 1}]}"#;
    let e = serde_json::from_str::<SyscallRule>(rule).unwrap_err();
    assert!(e.to_string().contains("argz"), "{e}");
    let cond = r#"{"index": 1, "op": "masked_eq", "value": 1, "valu_two": 1}"#;
    let e = serde_json::from_str::<ArgCondition>(cond).unwrap_err();
    assert!(e.to_string().contains("valu_two"), "{e}");
    let profile = r#"{"default_action": "allow", "syscall": []}"#;
    assert!(serde_json::from_str::<Profile>(profile).is_err());
    assert!(serde_json::from_str::<Action>(r#"{"errno": 1, "x": 2}"#).is_err());
    // and the same through a whole description
    let mut v: serde_json::Value =
        serde_json::from_str(&builder().build_unchecked().to_json()).unwrap();
    v["seccomp"]["syscalls"][2]["argz"] = v["seccomp"]["syscalls"][2]["args"].take();
    v["seccomp"]["syscalls"][2]
        .as_object_mut()
        .unwrap()
        .remove("args");
    let e = crate::Config::from_json(&v.to_string()).unwrap_err();
    assert!(e.to_string().contains("argz"), "{e}");
}

#[test]
fn every_feature_round_trips_through_a_config() {
    let mut p = Profile::new(Action::Errno(38))
        .rule(SyscallRule::new(["read", "write"], Action::Allow))
        .rule(SyscallRule::new(["ptrace"], Action::KillProcess))
        .rule(SyscallRule::new(["getcpu"], Action::KillThread))
        .rule(SyscallRule::new(["getpgid"], Action::Trap))
        .rule(SyscallRule::new(["getsid"], Action::Log))
        .rule(SyscallRule::new(["mkdir"], Action::Notify))
        .rule(SyscallRule::new(["getppid"], Action::Trace(7)))
        .rule(
            SyscallRule::new(["umount2"], Action::Errno(1))
                .arg(ArgCondition::masked_eq(1, 1, 1))
                .arg(ArgCondition::new(0, CmpOp::Ne, u64::MAX)),
        );
    for op in [CmpOp::Lt, CmpOp::Le, CmpOp::Eq, CmpOp::Ge, CmpOp::Gt] {
        p = p.rule(
            SyscallRule::new(["setpriority"], Action::Errno(13)).arg(ArgCondition::new(2, op, 5)),
        );
    }
    p.architectures = vec!["x86".into(), "x32".into()];
    p.log = true;
    p.skipped_syscalls = vec!["no_such_call".into()];
    let cfg = builder().seccomp(Some(p)).build_unchecked();
    let back = crate::Config::from_json(&cfg.to_json()).unwrap();
    assert_eq!(back, cfg);
    let none = builder().seccomp(None).build_unchecked();
    assert_eq!(crate::Config::from_json(&none.to_json()).unwrap(), none);
}

#[test]
fn oci_import_skips_and_records_unknown_names() {
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
          {"names": ["getcpu", "no_such_call", "getpgid"], "action": "SCMP_ACT_ERRNO"},
          {"names": ["no_such_call", "nor_this_one"], "action": "SCMP_ACT_KILL"},
          {"names": ["getsid"], "action": "SCMP_ACT_LOG"}]}"#;
    let oci: oci_spec::runtime::LinuxSeccomp = serde_json::from_str(json).unwrap();
    let p = Profile::from_oci(&oci).unwrap();
    assert_eq!(p.skipped_syscalls(), ["no_such_call", "nor_this_one"]);
    assert_eq!(
        p.syscalls.len(),
        2,
        "the rule of unknown names only is dropped"
    );
    assert_eq!(p.syscalls[0].names, ["getcpu", "getpgid"]);
    assert_eq!(p.syscalls[1].names, ["getsid"]);
    p.validate().unwrap();
    // a clean import records nothing, and serializes as before
    let clean = r#"{"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getcpu"], "action": "SCMP_ACT_ERRNO"}]}"#;
    let oci: oci_spec::runtime::LinuxSeccomp = serde_json::from_str(clean).unwrap();
    let p = Profile::from_oci(&oci).unwrap();
    assert!(p.skipped_syscalls().is_empty());
    assert!(!serde_json::to_string(&p).unwrap().contains("skipped"));
}

#[test]
fn oci_argument_index_names_the_oci_rule() {
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
          {"names": ["no_such_call"], "action": "SCMP_ACT_ERRNO"},
          {"names": ["getcpu"], "action": "SCMP_ACT_ERRNO",
           "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#;
    let oci: oci_spec::runtime::LinuxSeccomp = serde_json::from_str(json).unwrap();
    let e = Profile::from_oci(&oci).unwrap_err();
    assert_eq!(e.field(), Some("seccomp.syscalls[1].args"), "{e}");
}

#[test]
fn oci_import_maps_actions_conditions_and_arches() {
    let json = r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
          {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
          {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
           "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
          {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}"#;
    let oci: oci_spec::runtime::LinuxSeccomp = serde_json::from_str(json).unwrap();
    let p = Profile::from_oci(&oci).unwrap();
    assert_eq!(p.default_action, Action::Errno(38));
    assert_eq!(p.architectures, ["x86_64", "x32"]);
    assert!(p.log);
    assert_eq!(p.syscalls[1].args, [ArgCondition::new(0, CmpOp::Eq, 8)]);
    assert!(p.uses_notify());
}
