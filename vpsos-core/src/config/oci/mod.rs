//! Import of an OCI runtime-spec `config.json` into a [`Config`]: the whole
//! spec is mapped, and whatever vpsos cannot do is an `InvalidConfig` (or
//! `Unsupported`) error naming the field in OCI's own JSON spelling
//! (`linux.resources.hugepageLimits[0].pageSize`, `mounts[3].options`):
//! nothing is silently left out. docs/oci.md has the table.
//!
//! An OCI config describes its /proc, /dev, /sys, ... itself, so the
//! result has no default mounts, exactly the spec's masked and read-only
//! paths, capabilities, seccomp filter and limits, no console, and no
//! `container=` variable. Without a user namespace (or with id maps that
//! cover host id 0) the container is marked `privileged`: an OCI caller
//! such as podman runs rootful containers so on purpose.

mod linux;
mod mounts;
mod process;
mod resources;
#[cfg(test)]
mod tests;

use super::{
    CgroupPlacement, Config, Console, Halt, Hook, Hooks, Namespaces, Propagation, Resources,
};
use crate::error::{Error, Result};
use oci_spec::runtime::Spec;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An OCI device type as vpsos's kind (`a`, or none: every kind); a FIFO
/// (`p`) has none.
pub(super) fn device_kind(
    t: Option<oci_spec::runtime::LinuxDeviceType>,
) -> Option<crate::config::DeviceKind> {
    use oci_spec::runtime::LinuxDeviceType as T;
    match t {
        None | Some(T::A) => Some(crate::config::DeviceKind::All),
        Some(T::C | T::U) => Some(crate::config::DeviceKind::Char),
        Some(T::B) => Some(crate::config::DeviceKind::Block),
        Some(T::P) => None,
    }
}

/// An OCI device number (`major`, `minor`) as vpsos's, or field `at`'s error.
pub(super) fn device_number(v: i64, at: impl Into<String>) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::invalid(at, format!("{v}: not a device number")))
}

/// Refuse `field` when `set`: vpsos has no equivalent.
pub(crate) fn refuse(set: bool, field: &str, why: &str) -> Result<()> {
    if set {
        return Err(Error::invalid(field, why));
    }
    Ok(())
}

impl Config {
    /// Import an OCI runtime spec. `root.path` must be absolute here (see
    /// [`from_oci_bundle`](Config::from_oci_bundle) for a bundle's relative
    /// one), as must bind mounts' sources.
    ///
    /// ```
    /// let json = r#"{
    ///   "ociVersion": "1.0.2",
    ///   "process": {"user": {"uid": 0, "gid": 0}, "args": ["/bin/sh"], "cwd": "/"},
    ///   "root": {"path": "/srv/rootfs", "readonly": true},
    ///   "hostname": "box",
    ///   "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
    ///   "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}]}
    /// }"#;
    /// let spec: oci_spec::runtime::Spec = serde_json::from_str(json).unwrap();
    /// let c = vpsos_core::Config::from_oci(&spec)?;
    /// assert!(c.readonly_rootfs && c.privileged && !c.default_mounts);
    /// assert_eq!(c.hostname.as_deref(), Some("box"));
    ///
    /// let mut spec = spec;
    /// spec.process_mut().as_mut().unwrap().set_selinux_label(Some("system_u:r".into()));
    /// let e = vpsos_core::Config::from_oci(&spec).unwrap_err();
    /// assert_eq!(e.field(), Some("process.selinuxLabel"));
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn from_oci(spec: &Spec) -> Result<Config> {
        convert(spec, None)
    }

    /// Import `<bundle>/config.json`: a relative `root.path` and relative
    /// bind sources are taken from the bundle, and
    /// [`bundle`](Config::bundle) is set. Fields the `oci-spec` crate does
    /// not know (a newer spec's, or misspelt ones) are refused too.
    ///
    /// ```no_run
    /// let c = vpsos_core::Config::from_oci_bundle("/var/lib/bundles/ct1".as_ref())?;
    /// assert_eq!(c.bundle.as_deref(), Some(std::path::Path::new("/var/lib/bundles/ct1")));
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn from_oci_bundle(bundle: &Path) -> Result<Config> {
        let bundle = if bundle.is_absolute() {
            bundle.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| Error::from_errno(e.raw_os_error().unwrap_or(0), "getcwd"))?
                .join(bundle)
        };
        let file = bundle.join("config.json");
        let text = std::fs::read_to_string(&file).map_err(|e| {
            Error::from_errno(
                e.raw_os_error().unwrap_or(libc::EIO),
                format!("reading {}", file.display()),
            )
        })?;
        let spec = parse_spec(&text)?;
        convert(&spec, Some(&bundle))
            .map_err(|e| e.context(format!("importing {}", file.display())))
    }
}

/// Parse a config.json, refusing fields `oci-spec` drops.
pub(crate) fn parse_spec(text: &str) -> Result<Spec> {
    let raw: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::invalid("config.json", format!("JSON: {e}")))?;
    let spec: Spec = serde_json::from_value(raw.clone())
        .map_err(|e| Error::invalid("config.json", format!("{e}")))?;
    let back = serde_json::to_value(&spec).expect("a spec serializes");
    let mut unknown = Vec::new();
    unknown_fields(&raw, &back, "", &mut unknown);
    if let Some(first) = unknown.first() {
        return Err(Error::invalid(
            first.clone(),
            format!(
                "not a field vpsos knows (unknown: {}); refused rather than ignored",
                unknown.join(", ")
            ),
        ));
    }
    Ok(spec)
}

/// Paths present (and not null) in `raw` but gone from `parsed`.
fn unknown_fields(
    raw: &serde_json::Value,
    parsed: &serde_json::Value,
    at: &str,
    out: &mut Vec<String>,
) {
    use serde_json::Value as V;
    match (raw, parsed) {
        (V::Object(r), V::Object(p)) => {
            for (k, v) in r {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match p.get(k) {
                    Some(pv) => unknown_fields(v, pv, &path, out),
                    None if v.is_null() => {}
                    None => out.push(path),
                }
            }
        }
        (V::Array(r), V::Array(p)) if r.len() == p.len() => {
            for (i, (rv, pv)) in r.iter().zip(p).enumerate() {
                unknown_fields(rv, pv, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Resolve `p` against the bundle, or refuse a relative one naming `field`.
pub(crate) fn resolve(p: &Path, bundle: Option<&Path>, field: &str) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    match bundle {
        Some(b) => Ok(b.join(p)),
        None => Err(Error::invalid(
            field,
            format!(
                "{}: relative, and there is no bundle to resolve it against (use Config::from_oci_bundle)",
                p.display()
            ),
        )),
    }
}

fn convert(spec: &Spec, bundle: Option<&Path>) -> Result<Config> {
    if !spec.version().starts_with("1.") {
        return Err(Error::invalid(
            "ociVersion",
            format!("{:?}: vpsos reads runtime-spec 1.x configs", spec.version()),
        ));
    }
    refuse(spec.solaris().is_some(), "solaris", "not a Linux field")?;
    refuse(spec.windows().is_some(), "windows", "not a Linux field")?;
    refuse(
        spec.vm().is_some(),
        "vm",
        "vpsos runs containers, not virtual machines",
    )?;
    refuse(spec.zos().is_some(), "zos", "not a Linux field")?;
    for (set, field) in [
        (spec.uid_mappings().is_some(), "uidMappings"),
        (spec.gid_mappings().is_some(), "gidMappings"),
    ] {
        refuse(
            set,
            field,
            "per-mount id mappings are not supported (the container's own are \
             linux.uidMappings and linux.gidMappings)",
        )?;
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::invalid("root", "missing"))?;
    let rootfs = resolve(root.path(), bundle, "root.path")?;
    let oci_process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::invalid("process", "missing: the container's process"))?;
    let (process, apparmor_profile) = process::convert(oci_process)?;
    let linux = spec.linux().as_ref().ok_or_else(|| {
        Error::invalid("linux", "missing: a Linux container needs its namespaces")
    })?;
    let l = linux::convert(linux)?;
    let (mounts, cgroup_mount) = mounts::convert(spec.mounts().as_deref().unwrap_or(&[]), bundle)?;
    let mut cgroup = l.cgroup.clone();
    cgroup.mount = false;
    cgroup.delegate = Some(false);
    // a new cgroup namespace: cgroupfs mounted in it; none: the
    // container's own cgroup directories bound (as runc does on v1)
    if let Some((_, readonly)) = cgroup_mount {
        cgroup.mount = true;
        cgroup.delegate = Some(!readonly);
    }
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    // the uts parameters are what hostname and domainname set
    let mut sysctl = l.sysctl;
    let mut uts = |key: &str, field: &Option<String>| -> Result<Option<String>> {
        let given = nonempty(field);
        match sysctl.remove(key) {
            Some(v) if given.as_ref().is_some_and(|g| *g != v) => Err(Error::invalid(
                format!("linux.sysctl.{key}"),
                format!("{v:?} differs from the config's own {given:?}"),
            )),
            Some(v) => Ok(Some(v)),
            None => Ok(given),
        }
    };
    let hostname = uts("kernel.hostname", spec.hostname())?;
    let domainname = uts("kernel.domainname", spec.domainname())?;
    let apparmor = match apparmor_profile {
        Some(p) => crate::security::apparmor::AppArmor::existing(p),
        None => crate::security::apparmor::AppArmor::off(),
    };
    let config = Config {
        rootfs,
        readonly_rootfs: root.readonly().unwrap_or(false),
        idmapped_rootfs: false,
        hostname,
        domainname,
        namespaces: l.namespaces,
        uid_map: l.uid_map,
        gid_map: l.gid_map,
        default_mounts: false,
        mounts,
        masked_paths: l.masked_paths,
        readonly_paths: l.readonly_paths,
        root_propagation: l.propagation,
        process,
        cgroup,
        resources: l.resources,
        devices: l.devices,
        halt: Halt::default(),
        container_env: None,
        privileged: l.privileged,
        writable_proc_sys: false,
        seccomp: l.seccomp,
        seccomp_listener: l.seccomp_listener,
        apparmor,
        interfaces: vec![],
        console: Console::none(),
        sysctl,
        personality: l.personality,
        hooks: hooks(spec)?,
        annotations: spec
            .annotations()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        bundle: bundle.map(Path::to_path_buf),
    };
    config.validate().map_err(|e| {
        oci_field(e, cgroup_mount.map(|(i, _)| i)).context("checking the config imported from OCI")
    })?;
    Ok(config)
}

/// An error of vpsos's validation, its field renamed to OCI's where the
/// two differ (`sysctl.x` → `linux.sysctl.x`; `mounts[i]` counted again
/// with the cgroup mount at `cgroup_mount`, which vpsos's list leaves out).
fn oci_field(e: Error, cgroup_mount: Option<usize>) -> Error {
    let Some(f) = e.field() else { return e };
    // the reason without vpsos's "invalid <field>: "
    let why = e.message();
    let why = why.strip_prefix(&format!("invalid {f}: ")).unwrap_or(why);
    if let Some((n, rest)) = f
        .strip_prefix("mounts[")
        .and_then(|r| r.split_once(']'))
        .and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, rest)))
    {
        let n = if cgroup_mount.is_some_and(|c| c <= n) {
            n + 1
        } else {
            n
        };
        return Error::invalid(format!("mounts[{n}]{rest}"), why);
    }
    const RENAMES: [(&str, &str); 13] = [
        ("hooks.create_runtime", "hooks.createRuntime"),
        ("hooks.create_container", "hooks.createContainer"),
        ("hooks.start_container", "hooks.startContainer"),
        ("rootfs", "root.path"),
        ("seccomp_listener", "linux.seccomp.listenerPath"),
        ("sysctl", "linux.sysctl"),
        ("uid_map", "linux.uidMappings"),
        ("gid_map", "linux.gidMappings"),
        ("namespaces", "linux.namespaces"),
        ("masked_paths", "linux.maskedPaths"),
        ("readonly_paths", "linux.readonlyPaths"),
        ("personality", "linux.personality"),
        ("cgroup.path", "linux.cgroupsPath"),
    ];
    for (from, to) in RENAMES {
        if let Some(rest) = f.strip_prefix(from) {
            if rest.is_empty() || rest.starts_with(['.', '[']) {
                return Error::invalid(format!("{to}{rest}"), why);
            }
        }
    }
    e
}

/// The OCI hooks; `prestart` (deprecated) runs first among `create_runtime`.
fn hooks(spec: &Spec) -> Result<Hooks> {
    let Some(h) = spec.hooks() else {
        return Ok(Hooks::default());
    };
    let list = |name: &str, l: &Option<Vec<oci_spec::runtime::Hook>>| -> Result<Vec<Hook>> {
        let mut out = Vec::new();
        for (i, oh) in l.iter().flatten().enumerate() {
            let at = format!("hooks.{name}[{i}]");
            let timeout = match oh.timeout() {
                None => None,
                Some(t) if t > 0 && t <= u32::MAX as i64 => Some(t as u32),
                Some(t) => {
                    return Err(Error::invalid(
                        format!("{at}.timeout"),
                        format!("{t}: must be positive"),
                    ))
                }
            };
            if !oh.path().is_absolute() {
                return Err(Error::invalid(format!("{at}.path"), "must be absolute"));
            }
            out.push(Hook {
                path: oh.path().clone(),
                args: oh.args().clone().unwrap_or_default(),
                env: oh.env().clone().unwrap_or_default(),
                timeout,
            });
        }
        Ok(out)
    };
    #[allow(deprecated)]
    let mut create_runtime = list("prestart", h.prestart())?;
    create_runtime.extend(list("createRuntime", h.create_runtime())?);
    Ok(Hooks {
        create_runtime,
        create_container: list("createContainer", h.create_container())?,
        start_container: list("startContainer", h.start_container())?,
        poststart: list("poststart", h.poststart())?,
        poststop: list("poststop", h.poststop())?,
    })
}

/// What `linux` maps to.
pub(crate) struct LinuxParts {
    pub namespaces: Namespaces,
    pub uid_map: Option<crate::IdMap>,
    pub gid_map: Option<crate::IdMap>,
    pub privileged: bool,
    pub masked_paths: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    pub propagation: Propagation,
    pub cgroup: CgroupPlacement,
    pub resources: Resources,
    pub devices: Vec<super::DeviceRule>,
    pub seccomp: Option<crate::security::seccomp::Profile>,
    pub seccomp_listener: Option<crate::security::seccomp_socket::ListenerSocket>,
    pub sysctl: BTreeMap<String, String>,
    pub personality: Option<super::Personality>,
}
