//! Consistency checks for [`Config`]; every error names the field.

use super::{Config, MountKind, NamespaceKind, NamespaceMode, Process};
use crate::error::{Error, Result};
use crate::idmap::IdMap;
use std::path::{Component, Path};

pub(super) fn config(c: &Config) -> Result<()> {
    absolute("rootfs", &c.rootfs)?;
    namespaces(c)?;
    if let Some(p) = &c.seccomp {
        p.validate()?;
        crate::plan::build::check_process_notify(c, &c.process)?;
    }
    c.apparmor.validate()?;
    if c.console.ttys > 16 {
        return Err(Error::invalid("console.ttys", "at most 16"));
    }
    if !c.console.enabled && c.console.ttys > 0 {
        return Err(Error::invalid(
            "console.ttys",
            "ttys need the console enabled",
        ));
    }
    if c.idmapped_rootfs
        && (!c.namespaces.is_new(NamespaceKind::User) || c.uid_map.is_none() || c.gid_map.is_none())
    {
        return Err(Error::invalid(
            "idmapped_rootfs",
            "needs a new user namespace with uid and gid maps",
        ));
    }
    for (i, iface) in c.interfaces.iter().enumerate() {
        let at = format!("interfaces[{i}]");
        iface.validate(&at)?;
        if !c.namespaces.is_new(NamespaceKind::Network) {
            return Err(Error::invalid(
                at,
                "interfaces need a new network namespace",
            ));
        }
        let tun = |r: &crate::config::DeviceRule| {
            r.major == Some(10) && r.minor == Some(200) && r.path.is_some()
        };
        if iface.kind == crate::config::InterfaceKind::Tap && !c.devices.iter().any(tun) {
            return Err(Error::invalid(
                at,
                "a tap needs /dev/net/tun granted (add DeviceRule::tun())",
            ));
        }
        if c.interfaces[..i].iter().any(|o| o.name == iface.name) {
            return Err(Error::invalid(format!("{at}.name"), "used twice"));
        }
    }
    for (field, name) in [("hostname", &c.hostname), ("domainname", &c.domainname)] {
        if let Some(name) = name {
            if !c.namespaces.is_new(NamespaceKind::Uts) {
                return Err(Error::invalid(field, "needs a new uts namespace"));
            }
            if name.is_empty() || name.len() > 64 || name.contains('\0') {
                return Err(Error::invalid(field, "must be 1 to 64 bytes without NUL"));
            }
        }
    }
    for (i, m) in c.mounts.iter().enumerate() {
        let field = format!("mounts[{i}].destination");
        absolute(&field, &m.destination)?;
        if m.destination == Path::new("/") {
            return Err(Error::invalid(field, "cannot mount over /"));
        }
        match &m.kind {
            MountKind::Bind { source } => absolute(&format!("mounts[{i}].source"), source)?,
            MountKind::Fs { fstype, .. } if fstype.is_empty() => {
                return Err(Error::invalid(format!("mounts[{i}].fstype"), "is empty"))
            }
            _ => {}
        }
    }
    for (i, p) in c.masked_paths.iter().enumerate() {
        absolute(&format!("masked_paths[{i}]"), p)?;
    }
    for (i, p) in c.readonly_paths.iter().enumerate() {
        absolute(&format!("readonly_paths[{i}]"), p)?;
    }
    if c.cgroup.enabled {
        let p = c.cgroup.resolve("x");
        if p.is_empty() || p.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(Error::invalid(
                "cgroup.path",
                format!("{:?} is not a relative path of plain names", c.cgroup.path),
            ));
        }
    }
    c.resources.validate()?;
    for (i, d) in c.devices.iter().enumerate() {
        d.validate()
            .map_err(|e| Error::invalid(format!("devices[{i}]"), e.message()))?;
    }
    let custom_devices = c.devices != crate::config::DeviceRule::system_defaults();
    if !c.cgroup.enabled
        && (!c.resources.is_system_default() || c.cgroup.delegate == Some(true) || custom_devices)
    {
        return Err(Error::invalid(
            "cgroup.enabled",
            "resource limits, device rules and delegation need the container's own cgroup",
        ));
    }
    match &c.halt {
        super::Halt::Signal(n) if *n <= 0 || *n >= 65 => {
            return Err(Error::invalid("halt", "not a signal number"));
        }
        super::Halt::Command(argv) if argv.first().is_none_or(|a| !a.starts_with('/')) => {
            return Err(Error::invalid(
                "halt",
                "a command needs an absolute program path",
            ));
        }
        _ => {}
    }
    if let Some(v) = &c.container_env {
        if v.is_empty() || v.contains('\0') {
            return Err(Error::invalid(
                "container_env",
                "must be a non-empty string without NUL",
            ));
        }
    }
    c.hooks.validate()?;
    if let Some(l) = &c.seccomp_listener {
        absolute("seccomp_listener.path", &l.path)?;
        if !c.seccomp.as_ref().is_some_and(|p| p.uses_notify()) {
            return Err(Error::invalid(
                "seccomp_listener",
                "needs a seccomp profile with a notify rule (there is no listener otherwise)",
            ));
        }
    }
    super::sysctl::validate(c)?;
    if let Some(b) = &c.bundle {
        absolute("bundle", b)?;
    }
    process(
        "process",
        &c.process,
        c.uid_map.as_ref(),
        c.gid_map.as_ref(),
    )
}

fn namespaces(c: &Config) -> Result<()> {
    let ns = &c.namespaces;
    if !ns.is_new(NamespaceKind::Mount) {
        return Err(Error::invalid(
            "namespaces.mount",
            "a container with its own rootfs needs a new mount namespace",
        ));
    }
    for (kind, path) in ns.joined() {
        let field = format!("namespaces.{}", kind.proc_name());
        absolute(&field, path)?;
    }
    match ns.get(NamespaceKind::User) {
        Some(NamespaceMode::New) => {
            let uid = c
                .uid_map
                .as_ref()
                .ok_or_else(|| Error::invalid("uid_map", "a new user namespace needs a uid map"))?;
            let gid = c
                .gid_map
                .as_ref()
                .ok_or_else(|| Error::invalid("gid_map", "a new user namespace needs a gid map"))?;
            uid.validate().map_err(|e| Error::invalid("uid_map", e))?;
            gid.validate().map_err(|e| Error::invalid("gid_map", e))?;
            if !uid.maps(0) {
                return Err(Error::invalid(
                    "uid_map",
                    "container root (uid 0) is not mapped",
                ));
            }
            if !gid.maps(0) {
                return Err(Error::invalid(
                    "gid_map",
                    "container root (gid 0) is not mapped",
                ));
            }
            for (field, map, what) in [("uid_map", uid, "uid"), ("gid_map", gid, "gid")] {
                if let (Some(inside), false) = (map.to_container(0), c.privileged) {
                    return Err(Error::invalid(
                        field,
                        format!(
                            "it maps host {what} 0 (root) to {inside} inside, so the container \
                             acts as host root on files and kernel settings; set `privileged` \
                             if a privileged container is meant"
                        ),
                    ));
                }
            }
        }
        None if !c.privileged => {
            return Err(Error::invalid(
                "namespaces.user",
                "without a user namespace the container's root is the host's root; \
                 set `privileged` if a privileged container is meant",
            ));
        }
        _ => {
            if c.uid_map.is_some() || c.gid_map.is_some() {
                return Err(Error::invalid(
                    "uid_map",
                    "id maps need a new user namespace (namespaces.user = \"new\")",
                ));
            }
        }
    }
    if matches!(ns.time_offsets, super::TimeOffsets::Fixed { .. })
        && !ns.is_new(NamespaceKind::Time)
    {
        return Err(Error::invalid(
            "namespaces.time_offsets",
            "offsets need a new time namespace",
        ));
    }
    Ok(())
}

/// Check a process description; `prefix` is its field name (`process`).
pub(crate) fn process(
    prefix: &str,
    p: &Process,
    uid_map: Option<&IdMap>,
    gid_map: Option<&IdMap>,
) -> Result<()> {
    if p.args.is_empty() || p.args[0].is_empty() {
        return Err(Error::invalid(
            format!("{prefix}.args"),
            "must not be empty",
        ));
    }
    if p.args.iter().any(|a| a.contains('\0')) {
        return Err(Error::invalid(
            format!("{prefix}.args"),
            "contains a NUL byte",
        ));
    }
    for e in &p.env {
        if !e.contains('=') || e.starts_with('=') || e.contains('\0') {
            return Err(Error::invalid(
                format!("{prefix}.env"),
                format!("{e:?} is not KEY=value"),
            ));
        }
    }
    absolute(&format!("{prefix}.cwd"), &p.cwd)?;
    if let Some(m) = uid_map {
        if !m.maps(p.user.uid) {
            return Err(Error::invalid(
                format!("{prefix}.user.uid"),
                format!("uid {} is not in the uid map", p.user.uid),
            ));
        }
    }
    if let Some(m) = gid_map {
        for g in std::iter::once(&p.user.gid).chain(&p.user.additional_gids) {
            if !m.maps(*g) {
                return Err(Error::invalid(
                    format!("{prefix}.user.gid"),
                    format!("gid {g} is not in the gid map"),
                ));
            }
        }
    }
    if p.user.additional_gids.len() > 65536 {
        return Err(Error::invalid(
            format!("{prefix}.user.additional_gids"),
            "too many groups",
        ));
    }
    for r in &p.rlimits {
        r.resource_id()?;
        if r.soft > r.hard {
            return Err(Error::invalid(
                format!("{prefix}.rlimits"),
                format!("{}: soft limit above hard limit", r.resource),
            ));
        }
    }
    if let Some(adj) = p.oom_score_adj {
        if !(-1000..=1000).contains(&adj) {
            return Err(Error::invalid(
                format!("{prefix}.oom_score_adj"),
                "must be within -1000..=1000",
            ));
        }
    }
    if let Some(u) = p.umask {
        if u > 0o777 {
            return Err(Error::invalid(
                format!("{prefix}.umask"),
                "must be at most 0777",
            ));
        }
    }
    if let Some(c) = &p.capabilities {
        let [bounding, effective, permitted, inheritable, ambient] = c.masks();
        if effective & !permitted != 0 {
            return Err(Error::invalid(
                format!("{prefix}.capabilities.effective"),
                "holds capabilities missing from the permitted set",
            ));
        }
        if ambient & !(permitted & inheritable) != 0 {
            return Err(Error::invalid(
                format!("{prefix}.capabilities.ambient"),
                "must be within both the permitted and inheritable sets",
            ));
        }
        if permitted & !bounding != 0 && p.user.uid == 0 {
            return Err(Error::invalid(
                format!("{prefix}.capabilities.permitted"),
                "holds capabilities missing from the bounding set",
            ));
        }
    }
    Ok(())
}

fn absolute(field: &str, p: &Path) -> Result<()> {
    if !p.is_absolute() {
        return Err(Error::invalid(
            field,
            format!("{} is not absolute", p.display()),
        ));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(Error::invalid(
            field,
            format!("{} contains ..", p.display()),
        ));
    }
    if p.as_os_str().len() >= 4000 {
        return Err(Error::invalid(field, "path too long"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{Config, IdMap, Mount, NamespaceKind, NamespaceMode, Process};

    fn base() -> crate::config::ConfigBuilder {
        Config::builder("/srv/ct").id_maps(IdMap::single(0, 100000, 65536))
    }

    fn field(b: crate::config::ConfigBuilder) -> String {
        b.build().unwrap_err().field().unwrap().to_string()
    }

    #[test]
    fn accepts_a_system_container() {
        base().hostname("ct").build().unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field(Config::builder("/srv/ct")), "uid_map");
        assert_eq!(
            field(base().init(Process::new(["sh"]).cwd("rel"))),
            "process.cwd"
        );
        assert_eq!(
            field(base().init(Process::new(["/bin/sh"]).user(70000, 0))),
            "process.user.uid"
        );
        assert_eq!(
            field(base().mount(Mount::bind("rel", "/x"))),
            "mounts[0].source"
        );
        assert_eq!(
            field(base().mount(Mount::tmpfs("/a/../b"))),
            "mounts[0].destination"
        );
        assert_eq!(
            field(base().namespace(NamespaceKind::Uts, None).hostname("x")),
            "hostname"
        );
        assert_eq!(
            field(base().id_maps("1:100000:10".parse().unwrap())),
            "uid_map"
        );
        let mut p = Process::new(["/bin/sh"]);
        p.rlimits.push(crate::Rlimit::new("bogus", 1, 1));
        assert_eq!(field(base().init(p)), "process.rlimits");
        assert_eq!(
            field(base().namespace(
                NamespaceKind::Network,
                Some(NamespaceMode::Join("x".into()))
            )),
            "namespaces.net"
        );
        assert_eq!(
            field(base().namespace(NamespaceKind::Mount, None)),
            "namespaces.mount"
        );
        assert_eq!(
            field(
                Config::builder("/srv/ct")
                    .namespace(NamespaceKind::User, None)
                    .privileged(true)
                    .id_maps(IdMap::single(0, 1, 1))
            ),
            "uid_map"
        );
    }

    /// Host root in the container only when asked for by name.
    #[test]
    fn host_root_needs_privileged() {
        let e = base().id_maps(IdMap::single(0, 0, 1)).build().unwrap_err();
        assert_eq!(e.field(), Some("uid_map"));
        assert!(e.to_string().contains("privileged"), "{e}");
        // host 0 anywhere in the map, for gids too
        let m: IdMap = "0:100000:1000,1000:0:1".parse().unwrap();
        assert_eq!(field(base().uid_map(m.clone())), "uid_map");
        assert_eq!(field(base().gid_map(m.clone())), "gid_map");
        assert_eq!(
            field(Config::builder("/srv/ct").namespace(NamespaceKind::User, None)),
            "namespaces.user"
        );
        base().id_maps(m).privileged(true).build().unwrap();
        Config::builder("/srv/ct")
            .namespace(NamespaceKind::User, None)
            .privileged(true)
            .build()
            .unwrap();
    }

    #[test]
    fn json_round_trip_and_unknown_fields() {
        let c = base().hostname("h").build().unwrap();
        let back = Config::from_json(&c.to_json()).unwrap();
        assert_eq!(back, c);
        let e = Config::from_json(r#"{"rootfs":"/x","process":{"args":["/a"]},"bogus":1}"#)
            .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidConfig);
        let minimal = Config::from_json(
            r#"{"rootfs":"/x","namespaces":{"mount":"new"},"privileged":true,"process":{"args":["/a"]}}"#,
        )
        .unwrap();
        assert!(minimal.default_mounts);
    }
}
