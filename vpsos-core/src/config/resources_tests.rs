//! Tests of the resource limits' validation, merge and JSON form.

use super::*;

#[test]
fn validation_names_fields() {
    let e = Resources::default().cpu_weight(0).validate().unwrap_err();
    assert_eq!(e.field(), Some("resources.cpu.weight"));
    let e = Resources::default().cpus("0-").validate().unwrap_err();
    assert_eq!(e.field(), Some("resources.cpuset.cpus"));
    let e = Resources::default().pids_max(0).validate().unwrap_err();
    assert_eq!(e.field(), Some("resources.pids.max"));
    assert!(Resources::default().cpus("0-3,6").validate().is_ok());
    let e = Resources::default()
        .block_io(BlockIoLimit::new(8, 0).read_bps(0))
        .validate()
        .unwrap_err();
    assert_eq!(e.field(), Some("resources.block_io[0]"));
}

#[test]
fn quota_from_percent() {
    let c = CpuLimits {
        quota_percent: Some(50),
        ..Default::default()
    };
    assert_eq!(c.quota_us(100_000), Some(50_000));
    let c = CpuLimits {
        quota_percent: Some(UNLIMITED),
        ..Default::default()
    };
    assert_eq!(c.quota_us(100_000), None);
}

#[test]
fn merge_overrides_and_keeps() {
    let a = Resources::default()
        .memory_max(100)
        .block_io(BlockIoLimit::new(8, 0).read_bps(5));
    let b = Resources::default()
        .pids_max(3)
        .block_io(BlockIoLimit::new(8, 0).write_bps(7));
    let m = a.merged(&b);
    assert_eq!(m.memory.max, Some(100));
    assert_eq!(m.pids.max, Some(3));
    assert_eq!(m.block_io.len(), 1);
    assert_eq!(m.block_io[0].read_bps, Some(5));
    assert_eq!(m.block_io[0].write_bps, Some(7));
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(serde_json::from_str::<Resources>(&json).unwrap(), m);
}

#[test]
fn the_less_common_limits_validate_merge_and_round_trip() {
    let mut r = Resources::default()
        .hugepages("2MB", 64 << 20)
        .unified("memory.oom.group", "1");
    r.memory.swappiness = Some(10);
    r.cpu.rt_runtime_us = Some(950_000);
    r.cpu.rt_period_us = Some(1_000_000);
    r.block_io_weight = Some(500);
    r.network.class_id = Some(0x100001);
    r.network.priorities.insert("eth0".into(), 3);
    assert!(r.validate().is_ok());
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<Resources>(&json).unwrap(), r);
    // old JSON (none of the new fields) still parses, and says nothing new
    let old: Resources = serde_json::from_str(r#"{"memory":{"max":1024}}"#).unwrap();
    assert!(old.hugepages.is_empty() && old.network.is_empty() && old.unified.is_empty());
    assert!(!serde_json::to_string(&Resources::system_default())
        .unwrap()
        .contains("hugepages"));
    let m = Resources::default().hugepages("1GB", 1 << 30).merged(&r);
    assert_eq!(m.hugepages.len(), 2);
    assert_eq!(m.memory.swappiness, Some(10));

    for (bad, field) in [
        (
            Resources::default().hugepages("2M", 1),
            "resources.hugepages.2M",
        ),
        (
            Resources::default().unified("../x", "1"),
            "resources.unified",
        ),
        (
            Resources::default().unified("cgroup", "1"),
            "resources.unified",
        ),
        (
            Resources {
                block_io_weight: Some(5),
                ..Default::default()
            },
            "resources.block_io_weight",
        ),
    ] {
        assert_eq!(bad.validate().unwrap_err().field(), Some(field));
    }
    let mut s = Resources::default();
    s.memory.swappiness = Some(101);
    assert_eq!(
        s.validate().unwrap_err().field(),
        Some("resources.memory.swappiness")
    );
    let mut rt = Resources::default();
    rt.cpu.rt_runtime_us = Some(2000);
    rt.cpu.rt_period_us = Some(1000);
    assert_eq!(
        rt.validate().unwrap_err().field(),
        Some("resources.cpu.rt_runtime_us")
    );
}

#[test]
fn oci_shares_convert_as_runc_does() {
    assert_eq!(oci_shares_to_weight(2), 1);
    assert_eq!(oci_shares_to_weight(262_144), 10_000);
    assert_eq!(oci_shares_to_weight(1024), 39);
    assert_eq!(oci_shares_to_weight(0), 1);
}
