//! Which namespaces a container gets, and the time-namespace offsets.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A Linux namespace type.
///
/// ```
/// use vpsos_core::NamespaceKind;
/// assert_eq!(NamespaceKind::Network.proc_name(), "net");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NamespaceKind {
    /// User namespace (uid/gid mapping).
    User,
    /// PID namespace (the init is PID 1).
    Pid,
    /// Mount namespace.
    Mount,
    /// Network namespace.
    Network,
    /// UTS namespace (hostname, domain name).
    Uts,
    /// IPC namespace (SysV IPC, POSIX message queues).
    Ipc,
    /// Cgroup namespace (the container's cgroup is its `/`).
    Cgroup,
    /// Time namespace (boot and monotonic clock offsets).
    Time,
}

impl NamespaceKind {
    /// Every kind, in the order vpsos joins existing namespaces (user first).
    pub const ALL: [NamespaceKind; 8] = [
        NamespaceKind::User,
        NamespaceKind::Pid,
        NamespaceKind::Mount,
        NamespaceKind::Network,
        NamespaceKind::Uts,
        NamespaceKind::Ipc,
        NamespaceKind::Cgroup,
        NamespaceKind::Time,
    ];

    /// The `CLONE_NEW*` flag.
    pub fn clone_flag(self) -> libc::c_int {
        match self {
            NamespaceKind::User => libc::CLONE_NEWUSER,
            NamespaceKind::Pid => libc::CLONE_NEWPID,
            NamespaceKind::Mount => libc::CLONE_NEWNS,
            NamespaceKind::Network => libc::CLONE_NEWNET,
            NamespaceKind::Uts => libc::CLONE_NEWUTS,
            NamespaceKind::Ipc => libc::CLONE_NEWIPC,
            NamespaceKind::Cgroup => libc::CLONE_NEWCGROUP,
            NamespaceKind::Time => CLONE_NEWTIME,
        }
    }

    /// The file name under `/proc/<pid>/ns/`.
    pub fn proc_name(self) -> &'static str {
        match self {
            NamespaceKind::User => "user",
            NamespaceKind::Pid => "pid",
            NamespaceKind::Mount => "mnt",
            NamespaceKind::Network => "net",
            NamespaceKind::Uts => "uts",
            NamespaceKind::Ipc => "ipc",
            NamespaceKind::Cgroup => "cgroup",
            NamespaceKind::Time => "time",
        }
    }
}

/// `CLONE_NEWTIME` (not in every libc version).
pub const CLONE_NEWTIME: libc::c_int = 0x80;

/// Whether to create a namespace or join an existing one.
///
/// In JSON: `"new"` or `{"join": "/proc/1234/ns/net"}`.
///
/// ```
/// use vpsos_core::NamespaceMode;
/// let j: NamespaceMode = serde_json::from_str(r#"{"join":"/run/netns/a"}"#).unwrap();
/// assert_eq!(j, NamespaceMode::Join("/run/netns/a".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NamespaceMode {
    /// Create a new namespace.
    New,
    /// Join the namespace behind this path (e.g. `/proc/<pid>/ns/net`).
    Join(PathBuf),
}

/// Clock offsets of a new time namespace.
///
/// ```
/// use vpsos_core::TimeOffsets;
/// assert_eq!(TimeOffsets::default(), TimeOffsets::ZeroUptime);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TimeOffsets {
    /// Shift boottime and monotonic back so the container's uptime starts
    /// near zero (what osctld does).
    #[default]
    ZeroUptime,
    /// Fixed offsets in seconds (may be negative).
    Fixed {
        /// Offset added to CLOCK_MONOTONIC.
        monotonic: i64,
        /// Offset added to CLOCK_BOOTTIME.
        boottime: i64,
    },
}

/// The namespaces of a container; `None` shares the host's.
///
/// ```
/// use vpsos_core::{Namespaces, NamespaceMode};
/// let ns = Namespaces::all_new();
/// assert_eq!(ns.network, Some(NamespaceMode::New));
/// assert!(Namespaces::default().user.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Namespaces {
    /// User namespace.
    pub user: Option<NamespaceMode>,
    /// PID namespace.
    pub pid: Option<NamespaceMode>,
    /// Mount namespace.
    pub mount: Option<NamespaceMode>,
    /// Network namespace.
    pub network: Option<NamespaceMode>,
    /// UTS namespace.
    pub uts: Option<NamespaceMode>,
    /// IPC namespace.
    pub ipc: Option<NamespaceMode>,
    /// Cgroup namespace.
    pub cgroup: Option<NamespaceMode>,
    /// Time namespace.
    pub time: Option<NamespaceMode>,
    /// Offsets of a new time namespace.
    pub time_offsets: TimeOffsets,
}

impl Namespaces {
    /// Every namespace new, time included: a system container.
    pub fn all_new() -> Namespaces {
        let mut ns = Namespaces::default();
        for k in NamespaceKind::ALL {
            ns.set(k, Some(NamespaceMode::New));
        }
        ns
    }

    /// The mode for `kind`.
    pub fn get(&self, kind: NamespaceKind) -> Option<&NamespaceMode> {
        match kind {
            NamespaceKind::User => self.user.as_ref(),
            NamespaceKind::Pid => self.pid.as_ref(),
            NamespaceKind::Mount => self.mount.as_ref(),
            NamespaceKind::Network => self.network.as_ref(),
            NamespaceKind::Uts => self.uts.as_ref(),
            NamespaceKind::Ipc => self.ipc.as_ref(),
            NamespaceKind::Cgroup => self.cgroup.as_ref(),
            NamespaceKind::Time => self.time.as_ref(),
        }
    }

    /// Set the mode for `kind`.
    pub fn set(&mut self, kind: NamespaceKind, mode: Option<NamespaceMode>) {
        let slot = match kind {
            NamespaceKind::User => &mut self.user,
            NamespaceKind::Pid => &mut self.pid,
            NamespaceKind::Mount => &mut self.mount,
            NamespaceKind::Network => &mut self.network,
            NamespaceKind::Uts => &mut self.uts,
            NamespaceKind::Ipc => &mut self.ipc,
            NamespaceKind::Cgroup => &mut self.cgroup,
            NamespaceKind::Time => &mut self.time,
        };
        *slot = mode;
    }

    /// Whether `kind` is a new namespace.
    pub fn is_new(&self, kind: NamespaceKind) -> bool {
        self.get(kind) == Some(&NamespaceMode::New)
    }

    /// The `CLONE_NEW*` flags of every new namespace.
    pub fn new_flags(&self) -> libc::c_int {
        NamespaceKind::ALL
            .iter()
            .filter(|k| self.is_new(**k))
            .fold(0, |f, k| f | k.clone_flag())
    }

    /// The namespaces to join, user first.
    pub fn joined(&self) -> impl Iterator<Item = (NamespaceKind, &PathBuf)> {
        NamespaceKind::ALL
            .into_iter()
            .filter_map(|k| match self.get(k) {
                Some(NamespaceMode::Join(p)) => Some((k, p)),
                _ => None,
            })
    }
}
