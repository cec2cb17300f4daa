//! The import of representative configs (runc's `runc spec`, containerd's
//! `ctr` default, a podman container with a user namespace), and that
//! every refused field is named.

use super::*;
use crate::config::{
    DeviceAccess, DeviceKind, MountFlag, MountKind, NamespaceKind, NamespaceMode, TimeOffsets,
    UNLIMITED,
};
use crate::ErrorKind;
use caps::Capability as C;
use serde_json::{json, Value};

const RUNC: &str = include_str!("testdata/runc-spec.json");
const CTR: &str = include_str!("testdata/ctr-default.json");
const PODMAN: &str = include_str!("testdata/podman-userns.json");

fn value(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Import JSON `v` as a bundle at /bundle would be (relative paths resolved).
fn import(v: &Value) -> Result<Config> {
    let spec = parse_spec(&v.to_string())?;
    convert(&spec, Some(Path::new("/bundle")))
}

/// The runc default with the terminal off.
fn runc() -> Value {
    let mut v = value(RUNC);
    v["process"]["terminal"] = json!(false);
    v
}

#[test]
fn runc_spec_default() {
    // the init's terminal (a pty of its own: Reaper::Subreaper)
    assert!(import(&value(RUNC)).unwrap().process.terminal);
    let c = import(&runc()).unwrap();
    assert_eq!(c.rootfs, Path::new("/bundle/rootfs"));
    assert!(c.readonly_rootfs && c.privileged && !c.default_mounts);
    assert_eq!(c.hostname.as_deref(), Some("runc"));
    assert_eq!(c.bundle.as_deref(), Some(Path::new("/bundle")));
    assert!(c.uid_map.is_none() && c.namespaces.user.is_none());
    assert!(c.namespaces.is_new(NamespaceKind::Cgroup));
    assert!(c.namespaces.time.is_none());
    let caps = c.process.capabilities.as_ref().unwrap();
    let want = [C::CAP_KILL, C::CAP_NET_BIND_SERVICE, C::CAP_AUDIT_WRITE];
    let mut want = want.to_vec();
    want.sort_by_key(|c| c.index());
    assert_eq!(caps.bounding, want);
    // ambient without inheritable can never be raised: left out, as runc does
    assert!(caps.ambient.is_empty() && caps.inheritable.is_empty());
    assert!(c.process.no_new_privileges);
    assert_eq!(c.process.rlimits[0].resource, "RLIMIT_NOFILE");
    assert_eq!(c.process.env.len(), 2);
    // six mounts: the cgroup one is vpsos's own, read-only
    assert_eq!(c.mounts.len(), 6);
    assert!(c.cgroup.mount && c.cgroup.delegate == Some(false));
    let dev = &c.mounts[1];
    assert_eq!(dev.kind, MountKind::Tmpfs);
    assert_eq!(dev.flags, [MountFlag::Strictatime]);
    assert_eq!(dev.data.as_deref(), Some("mode=755,size=65536k"));
    assert!(dev.nosuid && !dev.nodev);
    let pts = &c.mounts[2];
    assert_eq!(
        pts.data.as_deref(),
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5")
    );
    assert!(c.mounts[5].readonly);
    assert_eq!(c.masked_paths.len(), 10);
    assert_eq!(c.readonly_paths[3], Path::new("/proc/sys"));
    assert!(c.seccomp.is_none());
    assert_eq!(c.apparmor.mode, crate::security::apparmor::Mode::Off);
    assert_eq!(c.console, Console::none());
    assert_eq!(c.container_env, None);
    assert_eq!(c.resources.pids.max, Some(UNLIMITED));
    assert_eq!(c.devices, crate::config::DeviceRule::system_defaults());
    assert_eq!(c.cgroup.path, CgroupPlacement::default().path);
    // the result is a vpsos config like any other
    assert_eq!(Config::from_json(&c.to_json()).unwrap(), c);
}

#[test]
fn ctr_default_spec() {
    let c = import(&value(CTR)).unwrap();
    assert_eq!(c.cgroup.path, "default/ctr1");
    assert!(!c.cgroup.mount);
    assert!(c.privileged && c.hostname.is_none());
    assert!(!c.readonly_rootfs);
    assert_eq!(c.mounts.last().unwrap().destination, Path::new("/run"));
    assert!(c.namespaces.cgroup.is_none());
    assert_eq!(c.process.capabilities.as_ref().unwrap().bounding.len(), 14);
    assert!(c.process.capabilities.as_ref().unwrap().ambient.is_empty());
    assert_eq!(Config::from_json(&c.to_json()).unwrap(), c);
}

#[test]
fn podman_with_a_user_namespace() {
    let c = import(&value(PODMAN)).unwrap();
    assert!(!c.privileged);
    assert_eq!(c.uid_map.as_ref().unwrap().to_string(), "0:100000:65536");
    assert_eq!(c.gid_map.as_ref().unwrap().to_host(27), Some(100_027));
    assert_eq!(c.process.user.additional_gids.len(), 11);
    assert_eq!(c.process.umask, Some(0o22));
    assert_eq!(c.process.oom_score_adj, Some(0));
    assert_eq!(c.cgroup.path, "machine/libpod-a1b2c3");
    assert!(c.cgroup.mount);
    assert_eq!(c.resources.memory.max, Some(512 << 20));
    assert_eq!(c.resources.memory.swap, Some(512 << 20));
    assert_eq!(c.resources.cpu.quota_percent, Some(150));
    assert_eq!(c.resources.cpu.weight, Some(39));
    assert_eq!(c.resources.pids.max, Some(2048));
    assert_eq!(c.sysctl["net.ipv4.ping_group_range"], "0 0");
    assert_eq!(c.annotations["io.container.manager"], "libpod");
    let seccomp = c.seccomp.as_ref().unwrap();
    assert_eq!(seccomp.syscalls.len(), 1);
    let hosts = &c.mounts[5];
    assert_eq!(
        hosts.kind,
        MountKind::Bind {
            source: "/run/containers/storage/overlay-containers/a1b2c3/userdata/hosts".into()
        }
    );
    assert!(!hosts.recursive);
    assert_eq!(hosts.propagation, Some(Propagation::Private));
    assert_eq!(Config::from_json(&c.to_json()).unwrap(), c);
}

#[test]
fn namespaces_maps_hooks_devices_and_the_rest() {
    let mut v = value(PODMAN);
    v["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "mount"}, {"type": "user"}, {"type": "uts"},
        {"type": "network", "path": "/run/netns/a"}, {"type": "time"}
    ]);
    v["linux"]["timeOffsets"] =
        json!({"monotonic": {"secs": 10}, "boottime": {"secs": -5, "nanosecs": 0}});
    v["linux"]["uidMappings"] = json!([
        {"containerID": 0, "hostID": 100000, "size": 1000},
        {"containerID": 1000, "hostID": 200000, "size": 64536}
    ]);
    v["mounts"].as_array_mut().unwrap().pop(); // no cgroup ns now
    v["linux"]["personality"] = json!({"domain": "LINUX32"});
    v["linux"]["rootfsPropagation"] = json!("rslave");
    v["linux"]["devices"] = json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 8630, "uid": 0, "gid": 0}
    ]);
    v["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"},
        {"allow": false, "type": "b", "major": 8, "access": "rwm"}
    ]);
    v["linux"]["resources"]["blockIO"] = json!({"weight": 300,
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]});
    v["linux"]["resources"]["network"] =
        json!({"classID": 65537, "priorities": [{"name": "eth0", "priority": 5}]});
    v["linux"]["resources"]["unified"] = json!({"memory.high": "100000000"});
    v["process"]["apparmorProfile"] = json!("docker-default");
    v["hooks"] = json!({
        "prestart": [{"path": "/bin/pre"}],
        "createRuntime": [{"path": "/bin/cr", "args": ["cr", "x"], "env": ["A=b"], "timeout": 5}],
        "poststop": [{"path": "/bin/stop"}]
    });
    // a net sysctl, and the network namespace joined: not vpsos's to set
    let e = import(&v).unwrap_err();
    assert_eq!(e.field(), Some("linux.sysctl.net.ipv4.ping_group_range"));
    v["linux"]["sysctl"] = json!({});
    let c = import(&v).unwrap();
    assert_eq!(
        c.namespaces.network,
        Some(NamespaceMode::Join("/run/netns/a".into()))
    );
    assert!(c.namespaces.ipc.is_none() && c.namespaces.cgroup.is_none());
    assert_eq!(
        c.namespaces.time_offsets,
        TimeOffsets::Fixed {
            monotonic: 10,
            boottime: -5
        }
    );
    assert_eq!(c.uid_map.as_ref().unwrap().entries().len(), 2);
    assert_eq!(c.personality, Some(crate::config::Personality::Linux32));
    assert_eq!(c.root_propagation, Propagation::Slave);
    let node = c.devices.iter().find(|d| d.path.is_some()).unwrap();
    assert_eq!((node.major, node.mode), (Some(10), 0o666));
    assert!(node.access.is_empty());
    assert!(c.devices.iter().any(|d| d.kind == DeviceKind::Char
        && d.minor == Some(229)
        && d.access == DeviceAccess::RW));
    assert_eq!(c.resources.block_io_weight, Some(300));
    assert_eq!(c.resources.block_io.len(), 1);
    assert_eq!(c.resources.block_io[0].read_bps, Some(1 << 20));
    assert_eq!(c.resources.block_io[0].write_iops, Some(100));
    assert_eq!(c.resources.network.class_id, Some(65537));
    assert_eq!(c.resources.unified["memory.high"], "100000000");
    assert_eq!(c.apparmor.profile.as_deref(), Some("docker-default"));
    let names: Vec<_> = c
        .hooks
        .create_runtime
        .iter()
        .map(|h| h.path.clone())
        .collect();
    assert_eq!(names, [PathBuf::from("/bin/pre"), PathBuf::from("/bin/cr")]);
    assert_eq!(c.hooks.create_runtime[1].timeout, Some(5));
    assert_eq!(c.hooks.poststop.len(), 1);
    assert_eq!(Config::from_json(&c.to_json()).unwrap(), c);

    // a time namespace without offsets: the host's clocks
    let mut v = runc();
    v["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    let c = import(&v).unwrap();
    assert_eq!(
        c.namespaces.time_offsets,
        TimeOffsets::Fixed {
            monotonic: 0,
            boottime: 0
        }
    );
}

/// Apply `change` to `base`, import, and return the error.
fn refused(base: &Value, change: impl FnOnce(&mut Value)) -> crate::Error {
    let mut v = base.clone();
    change(&mut v);
    match import(&v) {
        Ok(_) => panic!("accepted: {v}"),
        Err(e) => e,
    }
}

#[test]
fn every_refused_field_is_named() {
    let r = runc();
    let p = value(PODMAN);
    let cases: Vec<(&Value, Box<dyn FnOnce(&mut Value)>, &str)> = vec![
        (
            &r,
            Box::new(|v| v["ociVersion"] = json!("2.0.0")),
            "ociVersion",
        ),
        (&r, Box::new(|v| v["solaris"] = json!({})), "solaris"),
        (
            &r,
            Box::new(|v| v["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0")),
            "process.selinuxLabel",
        ),
        (
            &r,
            Box::new(|v| v["process"]["user"]["username"] = json!("root")),
            "process.user.username",
        ),
        (
            &r,
            Box::new(|v| v["process"]["commandLine"] = json!("sh")),
            "process.commandLine",
        ),
        (
            &r,
            Box::new(|v| {
                v["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0})
            }),
            "process.ioPriority",
        ),
        (
            &r,
            Box::new(|v| v["process"]["scheduler"] = json!({"policy": "SCHED_OTHER"})),
            "process.scheduler",
        ),
        (
            &r,
            Box::new(|v| v["process"]["execCPUAffinity"] = json!({"initial": "0"})),
            "process.execCPUAffinity",
        ),
        (
            &r,
            Box::new(|v| v["process"]["oomScoreAdj"] = json!(5000)),
            "process.oomScoreAdj",
        ),
        (
            &r,
            Box::new(|v| v["process"]["user"]["umask"] = json!(4095)),
            "process.user.umask",
        ),
        (
            &r,
            Box::new(|v| v["mounts"][3]["options"] = json!(["idmap"])),
            "mounts[3].options",
        ),
        (
            &r,
            Box::new(|v| v["mounts"][3]["options"] = json!(["runbindable"])),
            "mounts[3].options",
        ),
        (
            &r,
            Box::new(|v| v["mounts"][3]["options"] = json!(["rro"])),
            "mounts[3].options",
        ),
        (
            &r,
            Box::new(|v| {
                v["mounts"][3]["uidMappings"] = json!([{"containerID": 0, "hostID": 1, "size": 1}])
            }),
            "mounts[3].uidMappings",
        ),
        (
            &r,
            Box::new(|v| v["mounts"][0]["type"] = json!(null)),
            "mounts[0].type",
        ),
        (
            &r,
            Box::new(|v| {
                v["mounts"].as_array_mut().unwrap().push(json!({"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind", "size=1"]}))
            }),
            "mounts[7].options",
        ),
        (
            &r,
            Box::new(|v| v["mounts"][6]["destination"] = json!("/cg")),
            "mounts[6].destination",
        ),
        (
            &r,
            Box::new(|v| v["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "uts"}])),
            "linux.namespaces",
        ),
        (
            &r,
            Box::new(|v| v["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "pid"}])),
            "linux.namespaces[1].type",
        ),
        (
            &r,
            Box::new(|v| {
                v["linux"]["resources"]["hugepageLimits"] = json!([{"pageSize": "3MB", "limit": 1}])
            }),
            "linux.resources.hugepageLimits[0].pageSize",
        ),
        (
            &r,
            Box::new(|v| v["linux"]["resources"]["memory"] = json!({"kernel": 1})),
            "linux.resources.memory.kernel",
        ),
        (
            &r,
            Box::new(|v| v["linux"]["resources"]["memory"] = json!({"swap": 100})),
            "linux.resources.memory.swap",
        ),
        (
            &r,
            Box::new(|v| v["linux"]["resources"]["memory"] = json!({"disableOOMKiller": true})),
            "linux.resources.memory.disableOOMKiller",
        ),
        (
            &r,
            Box::new(|v| v["linux"]["resources"]["cpu"] = json!({"idle": 1})),
            "linux.resources.cpu.idle",
        ),
        (
            &r,
            Box::new(|v| v["linux"]["resources"]["blockIO"] = json!({"leafWeight": 10})),
            "linux.resources.blockIO.leafWeight",
        ),
        (
            &r,
            Box::new(|v| {
                v["linux"]["resources"]["blockIO"] =
                    json!({"weightDevice": [{"major": 8, "minor": 0, "weight": 10}]})
            }),
            "linux.resources.blockIO.weightDevice",
        ),
        (
            &r,
            Box::new(|v| v["linux"]["resources"]["rdma"] = json!({"mlx5_1": {"hcaHandles": 3}})),
            "linux.resources.rdma",
        ),
        (
            &r,
            Box::new(
                |v| v["linux"]["resources"]["devices"] = json!([{"allow": true, "type": "c", "access": "rwm"}, {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"}]),
            ),
            "linux.resources.devices[1]",
        ),
        (
            &r,
            Box::new(|v| v["linux"]["cgroupsPath"] = json!("machine.slice:libpod:abc")),
            "linux.cgroupsPath",
        ),
        (
            &r,
            Box::new(|v| v["uidMappings"] = json!([{"containerID": 0, "hostID": 1, "size": 1}])),
            "uidMappings",
        ),
        (
            &r,
            Box::new(|v| v["mounts"][6]["options"] = json!(["ro", "exec"])),
            "mounts[6].options",
        ),
        (
            &r,
            Box::new(|v| v["mounts"][6]["options"] = json!(["ro", "noatime"])),
            "mounts[6].options",
        ),
        // after the cgroup mount (left out of vpsos's list), counted as OCI does
        (
            &r,
            Box::new(|v| {
                v["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": "/x/../..", "type": "tmpfs", "source": "tmpfs"}))
            }),
            "mounts[7].destination",
        ),
        (
            &r,
            Box::new(|v| v["linux"]["cgroupsPath"] = json!("/a/../b")),
            "linux.cgroupsPath",
        ),
        (
            &r,
            Box::new(|v| v["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0")),
            "linux.mountLabel",
        ),
        (
            &r,
            Box::new(|v| {
                v["linux"]["personality"] =
                    json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]})
            }),
            "linux.personality.flags",
        ),
        (
            &r,
            Box::new(|v| {
                v["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "time"}));
                v["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 1, "nanosecs": 5}});
            }),
            "linux.timeOffsets.monotonic.nanosecs",
        ),
        (
            &r,
            Box::new(|v| v["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 1}})),
            "linux.timeOffsets",
        ),
        (
            &r,
            Box::new(|v| {
                v["linux"]["seccomp"] =
                    json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/seccomp.sock"})
            }),
            "linux.seccomp.listenerPath",
        ),
        (
            &r,
            Box::new(
                |v| v["linux"]["devices"] = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "uid": 1000}]),
            ),
            "linux.devices[0].uid",
        ),
        (
            &r,
            Box::new(|v| {
                v["linux"]["devices"] =
                    json!([{"path": "/dev/p", "type": "p", "major": 0, "minor": 0}])
            }),
            "linux.devices[0].type",
        ),
        (
            &r,
            Box::new(|v| v["linux"]["netDevices"] = json!({"eth1": {"name": "eth0"}})),
            "linux.netDevices",
        ),
        (
            &r,
            Box::new(|v| v["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"})),
            "linux.memoryPolicy",
        ),
        (
            &r,
            Box::new(|v| {
                v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}])
            }),
            "linux.uidMappings",
        ),
        (
            &r,
            Box::new(|v| v["linux"]["frobnicate"] = json!(true)),
            "linux.frobnicate",
        ),
        (
            &r,
            Box::new(|v| v["hooks"] = json!({"poststart": [{"path": "/bin/x", "timeout": 0}]})),
            "hooks.poststart[0].timeout",
        ),
        (
            &p,
            Box::new(|v| v["linux"]["gidMappings"] = json!([])),
            "linux.gidMappings",
        ),
    ];
    for (base, change, field) in cases {
        let e = refused(base, change);
        assert_eq!(e.field(), Some(field), "{e}");
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    }
    let e = refused(&r, |v| v["linux"]["intelRdt"] = json!({"closID": "a"}));
    assert_eq!(e.field(), Some("linux.intelRdt"), "{e}");
    // without a bundle, relative paths have nothing to resolve against
    let spec = parse_spec(&r.to_string()).unwrap();
    assert_eq!(
        Config::from_oci(&spec).unwrap_err().field(),
        Some("root.path")
    );
}

#[test]
fn a_process_for_exec() {
    let v = value(PODMAN);
    let oci: oci_spec::runtime::Process = serde_json::from_value(v["process"].clone()).unwrap();
    let p = crate::Process::from_oci(&oci).unwrap();
    assert_eq!(p.args, ["/bin/sh", "-c", "sleep 1000"]);
    assert_eq!(p.rlimits.len(), 2);
    let mut v = v["process"].clone();
    v["apparmorProfile"] = json!("x");
    let oci: oci_spec::runtime::Process = serde_json::from_value(v).unwrap();
    assert_eq!(
        crate::Process::from_oci(&oci).unwrap_err().field(),
        Some("process.apparmorProfile")
    );
}
