//! Extra mounts in the container's description.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What to mount.
///
/// In JSON: `{"type":"bind","source":"/srv/data"}`, `{"type":"tmpfs"}`,
/// `{"type":"fs","fstype":"proc","source":"proc"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
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

/// One mount in the container's description.
///
/// ```
/// use vpsos_core::Mount;
/// let m = Mount::bind("/srv/data", "/data").readonly();
/// assert!(m.readonly && m.recursive);
/// let t = Mount::tmpfs("/run").data("mode=755,size=64m");
/// assert_eq!(t.data.as_deref(), Some("mode=755,size=64m"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// Absolute path inside the container.
    pub destination: PathBuf,
    /// What to mount there.
    #[serde(flatten)]
    pub kind: MountKind,
    /// Mount read-only.
    #[serde(default)]
    pub readonly: bool,
    /// For binds: also bind the submounts (`rbind`). Default true.
    #[serde(default = "yes")]
    pub recursive: bool,
    /// `nosuid`.
    #[serde(default)]
    pub nosuid: bool,
    /// `nodev`.
    #[serde(default)]
    pub nodev: bool,
    /// `noexec`.
    #[serde(default)]
    pub noexec: bool,
    /// Filesystem data (e.g. `size=64m,mode=1777` for tmpfs).
    #[serde(default)]
    pub data: Option<String>,
}

fn yes() -> bool {
    true
}

impl Mount {
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
}
