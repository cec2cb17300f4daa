//! OCI `mounts` → [`Mount`]s.
//!
//! Options: `ro`/`rw`, `[no]suid`, `[no]dev`, `[no]exec`, `bind`/`rbind`,
//! the propagation options, the atime family and `sync`, `dirsync`,
//! `lazytime`, `nosymfollow`, `mand` map to [`Mount`]'s fields; any other
//! option of a filesystem mount is filesystem data (`mode=755`,
//! `size=65536k`, `newinstance`, `ptmxmode=0666`, `gid=5`), as runc passes
//! it. Refused: `unbindable`, id-mapped mounts, the recursive `r*`
//! attributes, `remount`/`move`, `x-*` and runtime-specific extensions,
//! and data options on a bind mount.
//!
//! The `cgroup` mount at /sys/fs/cgroup is not a mount of the list: vpsos
//! mounts the container's cgroupfs itself (per hierarchy on v1, cgroup2
//! on v2, inside the container's cgroup namespace), see
//! [`CgroupPlacement::mount`](crate::CgroupPlacement::mount).

use super::resolve;
use crate::config::{Mount, MountFlag, MountKind, Propagation};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Recursive mount attributes (runtime-spec 1.1), applied with
/// `mount_setattr(AT_RECURSIVE)`: vpsos has no such step.
const RECURSIVE_ATTRS: [&str; 18] = [
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnodiratime",
    "rdiratime",
    "rrelatime",
    "rnorelatime",
    "rnoatime",
    "ratime",
    "rstrictatime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
];

/// The cgroup mount of the list: its index and whether it is read-only.
pub(super) type CgroupMount = Option<(usize, bool)>;

/// The mounts, and the cgroup mount if there is one.
pub(super) fn convert(
    list: &[oci_spec::runtime::Mount],
    bundle: Option<&Path>,
) -> Result<(Vec<Mount>, CgroupMount)> {
    let mut out = Vec::new();
    let mut cgroup = None;
    for (i, m) in list.iter().enumerate() {
        let at = |f: &str| format!("mounts[{i}].{f}");
        let o = Options::parse(m.options().as_deref().unwrap_or(&[]), &at("options"))?;
        let typ = m.typ().as_deref().unwrap_or("");
        if matches!(typ, "cgroup" | "cgroup2") {
            if m.destination() != Path::new("/sys/fs/cgroup") {
                return Err(Error::invalid(
                    at("destination"),
                    "vpsos mounts the cgroupfs at /sys/fs/cgroup only",
                ));
            }
            if cgroup.is_some() {
                return Err(Error::invalid(at("type"), "a second cgroup mount"));
            }
            // vpsos mounts it nosuid, nodev, noexec, private: an option
            // asking for anything else would be dropped
            let private = o.propagation.is_none_or(|(p, _)| p == Propagation::Private);
            // (relatime is the kernel's default: what it gets anyway)
            let allows = o.allow.iter().any(|a| *a);
            let flags = o.flags.iter().any(|f| *f != MountFlag::Relatime);
            if o.bind.is_some() || !o.data.is_empty() || flags || !private || allows {
                return Err(Error::invalid(
                    at("options"),
                    "a cgroup mount takes only ro/rw, nosuid, nodev, noexec, relatime and \
                     private (it is always nosuid, nodev, noexec)",
                ));
            }
            cgroup = Some((i, o.readonly));
            continue;
        }
        let kind = if typ == "bind" || o.bind.is_some() {
            if !o.data.is_empty() {
                return Err(Error::invalid(
                    at("options"),
                    format!("{}: not an option of a bind mount", o.data.join(",")),
                ));
            }
            let source = m
                .source()
                .as_ref()
                .ok_or_else(|| Error::invalid(at("source"), "a bind mount needs a source"))?;
            MountKind::Bind {
                source: resolve(source, bundle, &at("source"))?,
            }
        } else if typ.is_empty() {
            return Err(Error::invalid(
                at("type"),
                "missing (and the options say no bind)",
            ));
        } else if typ == "tmpfs" {
            MountKind::Tmpfs
        } else {
            let source = m
                .source()
                .as_ref()
                .map_or_else(|| typ.to_string(), |s| s.to_string_lossy().into_owned());
            MountKind::Fs {
                fstype: typ.to_string(),
                source,
            }
        };
        let is_bind = matches!(kind, MountKind::Bind { .. });
        out.push(Mount {
            destination: PathBuf::from(m.destination()),
            kind,
            readonly: o.readonly,
            recursive: if is_bind {
                o.bind == Some(true)
            } else {
                o.propagation.is_none_or(|(_, rec)| rec)
            },
            nosuid: o.nosuid,
            nodev: o.nodev,
            noexec: o.noexec,
            data: (!o.data.is_empty()).then(|| o.data.join(",")),
            propagation: o.propagation.map(|(p, _)| p),
            flags: o.flags,
        });
    }
    Ok((out, cgroup))
}

/// The parsed options of one mount.
#[derive(Default)]
struct Options {
    readonly: bool,
    nosuid: bool,
    nodev: bool,
    noexec: bool,
    /// `Some(recursive)` for `bind` / `rbind`.
    bind: Option<bool>,
    /// The propagation and whether it is recursive (`rshared`).
    propagation: Option<(Propagation, bool)>,
    flags: Vec<MountFlag>,
    data: Vec<String>,
    /// Whether `suid`, `dev`, `exec` were asked for (last word wins).
    allow: [bool; 3],
}

impl Options {
    fn parse(opts: &[String], field: &str) -> Result<Options> {
        let mut o = Options::default();
        let refuse = |opt: &str, why: &str| Err(Error::invalid(field, format!("{opt:?}: {why}")));
        for opt in opts {
            let opt = opt.as_str();
            match opt {
                "ro" => o.readonly = true,
                "rw" => o.readonly = false,
                "nosuid" => (o.nosuid, o.allow[0]) = (true, false),
                "suid" => (o.nosuid, o.allow[0]) = (false, true),
                "nodev" => (o.nodev, o.allow[1]) = (true, false),
                "dev" => (o.nodev, o.allow[1]) = (false, true),
                "noexec" => (o.noexec, o.allow[2]) = (true, false),
                "exec" => (o.noexec, o.allow[2]) = (false, true),
                "bind" => o.bind = Some(false),
                "rbind" => o.bind = Some(true),
                "defaults" => {}
                "private" | "rprivate" => {
                    o.propagation = Some((Propagation::Private, opt.starts_with('r')))
                }
                "slave" | "rslave" => {
                    o.propagation = Some((Propagation::Slave, opt.starts_with('r')))
                }
                "shared" | "rshared" => {
                    o.propagation = Some((Propagation::Shared, opt.starts_with('r')))
                }
                "unbindable" | "runbindable" => {
                    return refuse(opt, "vpsos has no unbindable propagation")
                }
                "idmap" | "ridmap" => {
                    return refuse(
                        opt,
                        "id-mapped mounts of an OCI config are not supported (vpsos idmaps \
                         the rootfs only, with idmapped_rootfs)",
                    )
                }
                "remount" | "move" => return refuse(opt, "not a mount vpsos makes from a list"),
                _ if RECURSIVE_ATTRS.contains(&opt) => {
                    return refuse(opt, "recursive mount attributes are not supported")
                }
                "async" => o.flags.retain(|f| *f != MountFlag::Sync),
                "atime" => o.flags.retain(|f| *f != MountFlag::Noatime),
                "diratime" => o.flags.retain(|f| *f != MountFlag::Nodiratime),
                "norelatime" => o.flags.retain(|f| *f != MountFlag::Relatime),
                "nostrictatime" => o.flags.retain(|f| *f != MountFlag::Strictatime),
                "nolazytime" => o.flags.retain(|f| *f != MountFlag::Lazytime),
                "nomand" => o.flags.retain(|f| *f != MountFlag::Mand),
                "symfollow" => o.flags.retain(|f| *f != MountFlag::Nosymfollow),
                _ if opt.starts_with("x-") || opt.starts_with("X-") => {
                    return refuse(opt, "a user-space option vpsos does not know")
                }
                "tmpcopyup" | "notmpcopyup" | "copy-symlink" | "z" | "Z" | "U" => {
                    return refuse(opt, "a runtime-specific extension vpsos does not implement")
                }
                _ => match MountFlag::from_str(opt) {
                    Ok(f) => {
                        // one access-time mode at a time
                        if matches!(
                            f,
                            MountFlag::Noatime | MountFlag::Relatime | MountFlag::Strictatime
                        ) {
                            o.flags.retain(|x| {
                                !matches!(
                                    x,
                                    MountFlag::Noatime
                                        | MountFlag::Relatime
                                        | MountFlag::Strictatime
                                )
                            });
                        }
                        if !o.flags.contains(&f) {
                            o.flags.push(f);
                        }
                    }
                    Err(_) if opt.is_empty() || opt.contains(',') => {
                        return refuse(opt, "one option per list entry")
                    }
                    Err(_) => o.data.push(opt.to_string()),
                },
            }
        }
        Ok(o)
    }
}
