//! Extra mounts in the container's description.

use super::Propagation;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What to mount.
///
/// In JSON the kind is the mount's `type` field with its own fields beside
/// the others: `{"destination":"/data","type":"bind","source":"/srv/data"}`,
/// `{"destination":"/run","type":"tmpfs"}`,
/// `{"destination":"/proc2","type":"fs","fstype":"proc","source":"proc"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// Bind-mount a host path (file or directory).
    Bind {
        /// Host path.
        source: PathBuf,
    },
    /// A new tmpfs.
    Tmpfs,
    /// Any other filesystem type.
    Fs {
        /// Filesystem type (`proc`, `sysfs`, `mqueue`, ...).
        fstype: String,
        /// Mount source (device or a label for pseudo filesystems).
        source: String,
    },
}

/// A mount flag beyond read-only, `nosuid`, `nodev` and `noexec`: access
/// time handling and the like (`MS_*`).
///
/// ```
/// use vpsos_core::config::MountFlag;
/// assert_eq!(MountFlag::Strictatime.ms_flag(), libc::MS_STRICTATIME);
/// assert_eq!("noatime".parse::<MountFlag>().unwrap(), MountFlag::Noatime);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountFlag {
    /// Never update access times (`MS_NOATIME`).
    Noatime,
    /// Update access times only if older than the modification
    /// (`MS_RELATIME`, the kernel's default).
    Relatime,
    /// Always update access times (`MS_STRICTATIME`).
    Strictatime,
    /// Never update directories' access times (`MS_NODIRATIME`).
    Nodiratime,
    /// Keep access times in memory only (`MS_LAZYTIME`).
    Lazytime,
    /// Synchronous writes (`MS_SYNCHRONOUS`).
    Sync,
    /// Synchronous directory changes (`MS_DIRSYNC`).
    Dirsync,
    /// Do not follow symlinks on path resolution (`MS_NOSYMFOLLOW`).
    Nosymfollow,
    /// Allow mandatory locks (`MS_MANDLOCK`).
    Mand,
}

impl MountFlag {
    /// The `MS_*` flag.
    pub fn ms_flag(self) -> libc::c_ulong {
        match self {
            MountFlag::Noatime => libc::MS_NOATIME,
            MountFlag::Relatime => libc::MS_RELATIME,
            MountFlag::Strictatime => libc::MS_STRICTATIME,
            MountFlag::Nodiratime => libc::MS_NODIRATIME,
            MountFlag::Lazytime => libc::MS_LAZYTIME,
            MountFlag::Sync => libc::MS_SYNCHRONOUS,
            MountFlag::Dirsync => libc::MS_DIRSYNC,
            MountFlag::Nosymfollow => 256, // MS_NOSYMFOLLOW, Linux 5.10
            MountFlag::Mand => libc::MS_MANDLOCK,
        }
    }
}

impl std::str::FromStr for MountFlag {
    type Err = String;
    /// The option's name as mount(8) spells it.
    fn from_str(s: &str) -> Result<MountFlag, String> {
        Ok(match s {
            "noatime" => MountFlag::Noatime,
            "relatime" => MountFlag::Relatime,
            "strictatime" => MountFlag::Strictatime,
            "nodiratime" => MountFlag::Nodiratime,
            "lazytime" => MountFlag::Lazytime,
            "sync" => MountFlag::Sync,
            "dirsync" => MountFlag::Dirsync,
            "nosymfollow" => MountFlag::Nosymfollow,
            "mand" => MountFlag::Mand,
            _ => return Err(format!("{s:?} is not a mount flag")),
        })
    }
}

/// One mount in the container's description.
///
/// ```
/// use vpsos_core::Mount;
/// let m = Mount::bind("/srv/data", "/data").readonly();
/// assert!(m.readonly && m.recursive);
/// let t = Mount::tmpfs("/run").data("mode=755,size=64m");
/// assert_eq!(t.data.as_deref(), Some("mode=755,size=64m"));
/// // the JSON form is flat, and round-trips
/// let json = serde_json::to_string(&m).unwrap();
/// assert_eq!(serde_json::from_str::<Mount>(&json).unwrap(), m);
/// let d: Mount = serde_json::from_str(r#"{"destination":"/d","type":"bind","source":"/srv"}"#).unwrap();
/// assert_eq!(d, Mount::bind("/srv", "/d"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MountJson", into = "MountJson")]
pub struct Mount {
    /// Absolute path inside the container.
    pub destination: PathBuf,
    /// What to mount there.
    pub kind: MountKind,
    /// Mount read-only.
    pub readonly: bool,
    /// For binds: also bind the submounts (`rbind`). Default true.
    pub recursive: bool,
    /// `nosuid`.
    pub nosuid: bool,
    /// `nodev`.
    pub nodev: bool,
    /// `noexec`.
    pub noexec: bool,
    /// Filesystem data (e.g. `size=64m,mode=1777` for tmpfs).
    pub data: Option<String>,
    /// Propagation of this mount (default: that of the container's root).
    pub propagation: Option<Propagation>,
    /// Further `MS_*` flags (`strictatime`, `noatime`, ...).
    pub flags: Vec<MountFlag>,
}

/// The flat JSON form of a [`Mount`]: serde cannot combine a flattened,
/// internally tagged enum with `deny_unknown_fields`, so the kind's fields
/// live here beside the others and [`Mount`] converts.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MountJson {
    destination: PathBuf,
    #[serde(rename = "type")]
    kind: MountType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fstype: Option<String>,
    #[serde(default)]
    readonly: bool,
    #[serde(default = "yes")]
    recursive: bool,
    #[serde(default)]
    nosuid: bool,
    #[serde(default)]
    nodev: bool,
    #[serde(default)]
    noexec: bool,
    #[serde(default)]
    data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    propagation: Option<Propagation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    flags: Vec<MountFlag>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum MountType {
    Bind,
    Tmpfs,
    Fs,
}

fn yes() -> bool {
    true
}

impl TryFrom<MountJson> for Mount {
    type Error = String;

    fn try_from(j: MountJson) -> Result<Mount, String> {
        let kind = match (j.kind, j.source, j.fstype) {
            (MountType::Bind, Some(source), None) => MountKind::Bind { source },
            (MountType::Bind, None, _) => return Err("a bind mount needs `source`".into()),
            (MountType::Tmpfs, None, None) => MountKind::Tmpfs,
            (MountType::Fs, Some(source), Some(fstype)) => MountKind::Fs {
                fstype,
                source: source.to_string_lossy().into_owned(),
            },
            (MountType::Fs, _, _) => {
                return Err("a mount of type fs needs `fstype` and `source`".into())
            }
            (_, _, Some(_)) => return Err("`fstype` belongs to mounts of type fs".into()),
            (MountType::Tmpfs, Some(_), _) => {
                return Err("a tmpfs takes no `source` (its options go in `data`)".into())
            }
        };
        Ok(Mount {
            destination: j.destination,
            kind,
            readonly: j.readonly,
            recursive: j.recursive,
            nosuid: j.nosuid,
            nodev: j.nodev,
            noexec: j.noexec,
            data: j.data,
            propagation: j.propagation,
            flags: j.flags,
        })
    }
}

impl From<Mount> for MountJson {
    fn from(m: Mount) -> MountJson {
        let (kind, source, fstype) = match m.kind {
            MountKind::Bind { source } => (MountType::Bind, Some(source), None),
            MountKind::Tmpfs => (MountType::Tmpfs, None, None),
            MountKind::Fs { fstype, source } => {
                (MountType::Fs, Some(PathBuf::from(source)), Some(fstype))
            }
        };
        MountJson {
            destination: m.destination,
            kind,
            source,
            fstype,
            readonly: m.readonly,
            recursive: m.recursive,
            nosuid: m.nosuid,
            nodev: m.nodev,
            noexec: m.noexec,
            data: m.data,
            propagation: m.propagation,
            flags: m.flags,
        }
    }
}

impl Mount {
    /// A mount of procfs.
    ///
    /// ```
    /// use vpsos_core::{Mount, MountKind};
    /// let m = Mount { destination: "/proc".into(), ..Mount::tmpfs("/proc") };
    /// assert!(!m.is_proc());
    /// ```
    pub fn is_proc(&self) -> bool {
        matches!(&self.kind, MountKind::Fs { fstype, .. } if fstype == "proc")
    }

    fn with(destination: impl Into<PathBuf>, kind: MountKind) -> Mount {
        Mount {
            destination: destination.into(),
            kind,
            readonly: false,
            recursive: true,
            nosuid: false,
            nodev: false,
            noexec: false,
            data: None,
            propagation: None,
            flags: vec![],
        }
    }

    /// A recursive read-write bind mount of `source` at `destination`.
    pub fn bind(source: impl Into<PathBuf>, destination: impl Into<PathBuf>) -> Mount {
        Self::with(
            destination,
            MountKind::Bind {
                source: source.into(),
            },
        )
    }

    /// A tmpfs at `destination`.
    pub fn tmpfs(destination: impl Into<PathBuf>) -> Mount {
        let mut m = Self::with(destination, MountKind::Tmpfs);
        m.nosuid = true;
        m.nodev = true;
        m
    }

    /// A filesystem of type `fstype` at `destination`.
    pub fn fs(fstype: &str, source: &str, destination: impl Into<PathBuf>) -> Mount {
        Self::with(
            destination,
            MountKind::Fs {
                fstype: fstype.into(),
                source: source.into(),
            },
        )
    }

    /// Make it read-only.
    pub fn readonly(mut self) -> Mount {
        self.readonly = true;
        self
    }

    /// For binds: bind only the top mount, not its submounts.
    pub fn non_recursive(mut self) -> Mount {
        self.recursive = false;
        self
    }

    /// Set the filesystem data string.
    pub fn data(mut self, data: &str) -> Mount {
        self.data = Some(data.into());
        self
    }

    /// Set this mount's propagation.
    ///
    /// ```
    /// use vpsos_core::{Mount, Propagation};
    /// let m = Mount::bind("/srv/shared", "/shared").propagation(Propagation::Slave);
    /// assert_eq!(m.propagation, Some(Propagation::Slave));
    /// ```
    pub fn propagation(mut self, p: Propagation) -> Mount {
        self.propagation = Some(p);
        self
    }

    /// Add a flag.
    ///
    /// ```
    /// use vpsos_core::{config::MountFlag, Mount};
    /// let m = Mount::tmpfs("/dev").flag(MountFlag::Strictatime);
    /// assert_eq!(m.flags, [MountFlag::Strictatime]);
    /// ```
    pub fn flag(mut self, f: MountFlag) -> Mount {
        if !self.flags.contains(&f) {
            self.flags.push(f);
        }
        self
    }

    /// The `MS_*` bits of [`flags`](Mount::flags).
    pub(crate) fn extra_flags(&self) -> libc::c_ulong {
        self.flags.iter().fold(0, |f, x| f | x.ms_flag())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_json() {
        for m in [
            Mount::bind("/srv/a", "/a").readonly().non_recursive(),
            Mount::tmpfs("/run")
                .data("size=1m")
                .propagation(Propagation::Shared),
            Mount::fs("proc", "proc", "/proc2"),
            Mount::tmpfs("/dev")
                .flag(MountFlag::Strictatime)
                .flag(MountFlag::Nodiratime),
        ] {
            let j = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<Mount>(&j).unwrap(), m, "{j}");
        }
    }

    #[test]
    fn unknown_and_misplaced_fields_are_refused() {
        for (j, why) in [
            (
                r#"{"destination":"/a","type":"bind","source":"/b","bogus":1}"#,
                "unknown field",
            ),
            (r#"{"destination":"/a","type":"bind"}"#, "needs `source`"),
            (
                r#"{"destination":"/a","type":"tmpfs","source":"/x"}"#,
                "takes no `source`",
            ),
            (
                r#"{"destination":"/a","type":"fs","source":"x"}"#,
                "needs `fstype`",
            ),
            (r#"{"destination":"/a","type":"nfs"}"#, "unknown variant"),
        ] {
            let e = serde_json::from_str::<Mount>(j).unwrap_err().to_string();
            assert!(e.contains(why), "{j}: {e}");
        }
    }
}
