//! OCI `linux` → namespaces, id maps, cgroup placement, device nodes,
//! seccomp, masked and read-only paths, sysctl, personality, time offsets.

use super::{refuse, LinuxParts};
use crate::config::{
    CgroupPlacement, DeviceAccess, DeviceKind, DeviceRule, NamespaceKind, NamespaceMode,
    Namespaces, Personality, Propagation, TimeOffsets,
};
use crate::error::{Error, Result};
use crate::idmap::{IdMap, IdMapEntry};
use oci_spec::runtime::{Linux, LinuxNamespaceType, LinuxPersonalityDomain};
use std::path::{Path, PathBuf};

pub(super) fn convert(l: &Linux) -> Result<LinuxParts> {
    refuse(
        l.mount_label().as_deref().is_some_and(|s| !s.is_empty()),
        "linux.mountLabel",
        "this vpsos has no SELinux support",
    )?;
    refuse(
        l.memory_policy().is_some(),
        "linux.memoryPolicy",
        "not supported by vpsos",
    )?;
    refuse(
        l.net_devices().as_ref().is_some_and(|d| !d.is_empty()),
        "linux.netDevices",
        "not supported by vpsos (its interfaces are configured as vpsos interfaces)",
    )?;
    refuse(
        l.intel_rdt().is_some(),
        "linux.intelRdt",
        "not supported by vpsos",
    )?;
    let namespaces = namespaces(l)?;
    let (uid_map, gid_map) = id_maps(l, &namespaces)?;
    let privileged = namespaces.user.is_none()
        || [&uid_map, &gid_map]
            .iter()
            .any(|m| m.as_ref().is_some_and(|m| m.to_container(0).is_some()));
    // the agent's socket (listenerPath): the listeners go there
    let seccomp_listener = l.seccomp().as_ref().and_then(|s| {
        s.listener_path()
            .clone()
            .map(|path| crate::security::seccomp_socket::ListenerSocket {
                path,
                metadata: s.listener_metadata().clone().unwrap_or_default(),
            })
    });
    let seccomp = match l.seccomp() {
        None => None,
        Some(s) => {
            refuse(
                s.listener_metadata().is_some() && s.listener_path().is_none(),
                "linux.seccomp.listenerMetadata",
                "goes with listenerPath",
            )?;
            Some(
                crate::security::seccomp::Profile::from_oci(s)
                    .map_err(|e| e.context("importing linux.seccomp"))?,
            )
        }
    };
    let propagation = match l.rootfs_propagation().as_deref().unwrap_or("") {
        "" | "private" | "rprivate" => Propagation::Private,
        "slave" | "rslave" => Propagation::Slave,
        "shared" | "rshared" => Propagation::Shared,
        other => {
            return Err(Error::invalid(
                "linux.rootfsPropagation",
                format!("{other:?}: vpsos has private, slave and shared (applied recursively)"),
            ))
        }
    };
    let personality = match l.personality() {
        None => None,
        Some(p) => {
            refuse(
                p.flags().as_ref().is_some_and(|f| !f.is_empty()),
                "linux.personality.flags",
                "vpsos sets the execution domain only",
            )?;
            Some(match p.domain() {
                LinuxPersonalityDomain::PerLinux => Personality::Linux,
                LinuxPersonalityDomain::PerLinux32 => Personality::Linux32,
            })
        }
    };
    let (resources, mut devices) = super::resources::convert(l.resources().as_ref())?;
    devices.extend(nodes(l)?);
    Ok(LinuxParts {
        namespaces,
        uid_map,
        gid_map,
        privileged,
        masked_paths: paths(l.masked_paths())?,
        readonly_paths: paths(l.readonly_paths())?,
        propagation,
        cgroup: cgroup_placement(l.cgroups_path().as_deref())?,
        resources,
        devices,
        seccomp,
        seccomp_listener,
        sysctl: l
            .sysctl()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        personality,
    })
}

fn paths(list: &Option<Vec<String>>) -> Result<Vec<PathBuf>> {
    Ok(list.iter().flatten().map(PathBuf::from).collect())
}

fn namespaces(l: &Linux) -> Result<Namespaces> {
    let mut ns = Namespaces::default();
    for (i, n) in l.namespaces().iter().flatten().enumerate() {
        let kind = match n.typ() {
            LinuxNamespaceType::User => NamespaceKind::User,
            LinuxNamespaceType::Pid => NamespaceKind::Pid,
            LinuxNamespaceType::Mount => NamespaceKind::Mount,
            LinuxNamespaceType::Network => NamespaceKind::Network,
            LinuxNamespaceType::Uts => NamespaceKind::Uts,
            LinuxNamespaceType::Ipc => NamespaceKind::Ipc,
            LinuxNamespaceType::Cgroup => NamespaceKind::Cgroup,
            LinuxNamespaceType::Time => NamespaceKind::Time,
        };
        if ns.get(kind).is_some() {
            return Err(Error::invalid(
                format!("linux.namespaces[{i}].type"),
                format!("{} listed twice", kind.proc_name()),
            ));
        }
        let mode = match n.path() {
            Some(p) if !p.as_os_str().is_empty() => {
                if !p.is_absolute() {
                    return Err(Error::invalid(
                        format!("linux.namespaces[{i}].path"),
                        "must be absolute",
                    ));
                }
                NamespaceMode::Join(p.clone())
            }
            _ => NamespaceMode::New,
        };
        ns.set(kind, Some(mode));
    }
    if !ns.is_new(NamespaceKind::Mount) {
        return Err(Error::invalid(
            "linux.namespaces",
            "vpsos needs a new mount namespace (type mount, without a path)",
        ));
    }
    match l.time_offsets() {
        Some(offsets) => {
            if !ns.is_new(NamespaceKind::Time) {
                return Err(Error::invalid(
                    "linux.timeOffsets",
                    "offsets need a new time namespace (type time, without a path)",
                ));
            }
            let (mut monotonic, mut boottime) = (0, 0);
            for (clock, o) in offsets {
                let at = format!("linux.timeOffsets.{clock}");
                if o.nanosecs().is_some_and(|n| n != 0) {
                    return Err(Error::invalid(
                        format!("{at}.nanosecs"),
                        "vpsos sets whole seconds only",
                    ));
                }
                let secs = o.secs().unwrap_or(0);
                match clock.as_str() {
                    "monotonic" => monotonic = secs,
                    "boottime" => boottime = secs,
                    _ => return Err(Error::invalid(at, "the clocks are monotonic and boottime")),
                }
            }
            ns.time_offsets = TimeOffsets::Fixed {
                monotonic,
                boottime,
            };
        }
        // a new time namespace as OCI means it: the host's clocks
        None if ns.is_new(NamespaceKind::Time) => {
            ns.time_offsets = TimeOffsets::Fixed {
                monotonic: 0,
                boottime: 0,
            }
        }
        None => {}
    }
    Ok(ns)
}

fn id_maps(l: &Linux, ns: &Namespaces) -> Result<(Option<IdMap>, Option<IdMap>)> {
    let map = |field: &str, list: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        let Some(list) = list.as_ref().filter(|l| !l.is_empty()) else {
            return Ok(None);
        };
        if !ns.is_new(NamespaceKind::User) {
            return Err(Error::invalid(field, "mappings need a new user namespace"));
        }
        let entries = list
            .iter()
            .map(|m| IdMapEntry::new(m.container_id(), m.host_id(), m.size()))
            .collect();
        IdMap::new(entries)
            .map(Some)
            .map_err(|e| Error::invalid(field, e.message()))
    };
    let uid = map("linux.uidMappings", l.uid_mappings())?;
    let gid = map("linux.gidMappings", l.gid_mappings())?;
    if ns.is_new(NamespaceKind::User) && (uid.is_none() || gid.is_none()) {
        let field = if uid.is_none() {
            "linux.uidMappings"
        } else {
            "linux.gidMappings"
        };
        return Err(Error::invalid(
            field,
            "a new user namespace needs uid and gid mappings",
        ));
    }
    Ok((uid, gid))
}

/// `/a/b` → `a/b` under each hierarchy's root; `a/b` → under vpsos's
/// default parent; none → vpsos's default (`vpsos/<id>`).
fn cgroup_placement(p: Option<&Path>) -> Result<CgroupPlacement> {
    let field = "linux.cgroupsPath";
    let Some(p) = p.filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(CgroupPlacement::default());
    };
    let s = p
        .to_str()
        .ok_or_else(|| Error::invalid(field, "not valid UTF-8"))?;
    if s.contains(':') {
        return Err(Error::invalid(
            field,
            format!("{s:?}: the systemd form slice:prefix:name is for a caller driving systemd"),
        ));
    }
    let rel = s.trim_matches('/');
    if rel.is_empty()
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(Error::invalid(
            field,
            format!("{s:?}: not a path of plain names"),
        ));
    }
    if rel.contains("{id}") {
        return Err(Error::invalid(
            field,
            format!("{s:?}: `{{id}}` is not allowed here"),
        ));
    }
    let path = if s.starts_with('/') {
        rel.to_string()
    } else {
        let default = CgroupPlacement::default().path;
        let parent = default.trim_end_matches("/{id}");
        format!("{parent}/{rel}")
    };
    Ok(CgroupPlacement::at(path))
}

/// `linux.devices`: nodes only (their permission comes from
/// `linux.resources.devices`).
fn nodes(l: &Linux) -> Result<Vec<DeviceRule>> {
    let mut out = Vec::new();
    for (i, d) in l.devices().iter().flatten().enumerate() {
        let at = |f: &str| format!("linux.devices[{i}].{f}");
        let kind = match super::device_kind(Some(d.typ())) {
            None => return Err(Error::invalid(at("type"), "FIFOs are not supported")),
            Some(DeviceKind::All) => return Err(Error::invalid(at("type"), "a node is c, b or u")),
            Some(k) => k,
        };
        let num = |v: i64, f: &str| super::device_number(v, at(f));
        for (v, f) in [(d.uid(), "uid"), (d.gid(), "gid")] {
            if v.is_some_and(|v| v != 0) {
                return Err(Error::invalid(
                    at(f),
                    "vpsos makes device nodes owned by the container's root only",
                ));
            }
        }
        let rule = DeviceRule {
            kind,
            major: Some(num(d.major(), "major")?),
            minor: Some(num(d.minor(), "minor")?),
            access: DeviceAccess::default(),
            path: Some(d.path().clone()),
            mode: d
                .file_mode()
                .map_or_else(super::super::devices::default_mode, |m| m & 0o7777),
        };
        rule.validate()
            .map_err(|e| Error::invalid(at("path"), e.message()))?;
        out.push(rule);
    }
    Ok(out)
}
