//! Tests of AppArmor profile generation, planning and validation.

use super::*;

#[test]
fn profile_has_the_name_the_namespace_and_the_options() {
    let a = AppArmor {
        nesting: true,
        rules: vec!["deny /srv/** w,".into()],
        ..AppArmor::default()
    };
    let name = a.profile_name("ct1");
    assert_eq!(name, "vpsos-ct1");
    let t = a.profile_text(&name);
    assert!(t.contains("change_profile -> **,"), "{t}");
    assert!(t.contains("deny /proc/sysrq-trigger rwklx,"));
    assert!(t.contains("mount fstype=proc,"));
    assert!(t.trim_end().ends_with("deny /srv/** w,\n}"));
    // rbinds only into systemd's unit roots, unless nesting
    assert!(!AppArmor::default()
        .profile_text("x")
        .contains("(rw,rbind),"));
}

#[test]
fn unloading_removes_the_parsers_cache_of_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vpsos-ct1");
    let cache = dir.path().join("cache/6b0d76a2.0");
    fs::create_dir_all(&cache).unwrap();
    for f in ["vpsos-ct1", "vpsos-ct10", ".features"] {
        fs::write(cache.join(f), "x").unwrap();
    }
    remove_cached(&file);
    let mut left: Vec<String> = fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, [".features", "vpsos-ct10"]);
    remove_cached(&dir.path().join("no-cache-dir/x")); // nothing there: fine
}

#[test]
fn validation_names_the_field() {
    let a = AppArmor {
        name: "ct/1".into(),
        ..AppArmor::default()
    };
    assert_eq!(a.validate().unwrap_err().field(), Some("apparmor.name"));
    let a = AppArmor {
        rules: vec!["deny /x w,".into(), "deny /y w".into()],
        ..AppArmor::default()
    };
    assert_eq!(a.validate().unwrap_err().field(), Some("apparmor.rules[1]"));
}

#[test]
fn an_existing_profile_is_used_as_is() {
    let a = AppArmor::existing("docker-default");
    assert!(a.validate().is_ok());
    let j = serde_json::to_string(&a).unwrap();
    assert_eq!(serde_json::from_str::<AppArmor>(&j).unwrap(), a);
    assert!(!serde_json::to_string(&AppArmor::default())
        .unwrap()
        .contains("profile"));
    let bad = AppArmor {
        nesting: true,
        ..AppArmor::existing("x")
    };
    assert_eq!(bad.validate().unwrap_err().field(), Some("apparmor.rules"));
    if crate::HostFeatures::get().apparmor {
        let p = plan(&a, "x").unwrap().unwrap();
        assert_eq!(p.label.as_deref(), Some("docker-default"));
        assert!(p.namespace.is_empty());
    } else {
        assert_eq!(plan(&a, "x").unwrap_err().kind(), ErrorKind::Unsupported);
    }
}

#[test]
fn off_and_auto_without_apparmor_load_nothing() {
    let off = AppArmor {
        mode: Mode::Off,
        ..AppArmor::default()
    };
    assert!(plan(&off, "x").unwrap().is_none());
    if !crate::HostFeatures::get().apparmor {
        let a = plan(&AppArmor::default(), "x").unwrap().unwrap();
        assert!(a.label.is_none() && a.skipped.is_some());
        let on = AppArmor {
            mode: Mode::On,
            ..AppArmor::default()
        };
        assert_eq!(plan(&on, "x").unwrap_err().kind(), ErrorKind::Unsupported);
    }
}
