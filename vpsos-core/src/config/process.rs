//! The init process (and exec'd processes): argv, env, user, limits, capabilities.

use crate::error::{Error, Result};
use caps::Capability;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// User and groups inside the container.
///
/// ```
/// use vpsos_core::User;
/// assert_eq!(User::default(), User { uid: 0, gid: 0, additional_gids: vec![] });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct User {
    /// uid inside the container.
    pub uid: u32,
    /// gid inside the container.
    pub gid: u32,
    /// Supplementary groups inside the container.
    pub additional_gids: Vec<u32>,
}

/// A resource limit: `resource` is a name such as `RLIMIT_NOFILE` or `nofile`.
///
/// ```
/// use vpsos_core::Rlimit;
/// let r = Rlimit::new("nofile", 1024, 4096);
/// assert_eq!(r.resource_id().unwrap(), libc::RLIMIT_NOFILE as i32);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rlimit {
    /// `RLIMIT_*` name, with or without the prefix, any case.
    pub resource: String,
    /// Soft limit (`u64::MAX` = unlimited).
    pub soft: u64,
    /// Hard limit (`u64::MAX` = unlimited).
    pub hard: u64,
}

const RLIMITS: [(&str, libc::__rlimit_resource_t); 16] = [
    ("as", libc::RLIMIT_AS),
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

impl Rlimit {
    /// A new limit.
    pub fn new(resource: &str, soft: u64, hard: u64) -> Rlimit {
        Rlimit {
            resource: resource.into(),
            soft,
            hard,
        }
    }

    /// The `RLIMIT_*` number, or an `InvalidConfig` error.
    pub fn resource_id(&self) -> Result<i32> {
        let name = self.resource.to_ascii_lowercase();
        let name = name.strip_prefix("rlimit_").unwrap_or(&name);
        RLIMITS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| *id as i32)
            .ok_or_else(|| {
                Error::invalid(
                    "process.rlimits",
                    format!("unknown resource {:?}", self.resource),
                )
            })
    }
}

/// The name (`nofile`) of the resource with `RLIMIT_*` number `id`.
///
/// ```
/// assert_eq!(vpsos_core::config::rlimit_name(libc::RLIMIT_NOFILE as i32), Some("nofile"));
/// assert_eq!(vpsos_core::config::rlimit_name(-1), None);
/// ```
pub fn rlimit_name(id: i32) -> Option<&'static str> {
    RLIMITS
        .iter()
        .find(|(_, r)| *r as i32 == id)
        .map(|(n, _)| *n)
}

/// The five capability sets of a process.
///
/// ```
/// use vpsos_core::Capabilities;
/// let c = Capabilities::system_container();
/// assert!(!c.bounding.contains(&caps::Capability::CAP_SYS_MODULE));
/// assert!(c.bounding.contains(&caps::Capability::CAP_SYS_ADMIN));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Capabilities {
    /// Bounding set: the most the process and its children can ever hold.
    pub bounding: Vec<Capability>,
    /// Effective set.
    pub effective: Vec<Capability>,
    /// Permitted set.
    pub permitted: Vec<Capability>,
    /// Inheritable set.
    pub inheritable: Vec<Capability>,
    /// Ambient set (kept across execve of non-setuid programs by non-root).
    pub ambient: Vec<Capability>,
}

/// Capabilities no tenant of a system container should hold, with why:
///
/// - `CAP_SYS_MODULE`: loading kernel modules is loading code into the host kernel.
/// - `CAP_SYS_RAWIO`: raw port and memory I/O (`iopl`, `/dev/mem`) bypasses every boundary.
/// - `CAP_SYS_TIME`: the realtime clock is global; setting it changes the host's time.
/// - `CAP_MAC_ADMIN`, `CAP_MAC_OVERRIDE`: AppArmor/SMACK policy is the host's to set.
/// - `CAP_AUDIT_CONTROL`, `CAP_AUDIT_READ`: the audit subsystem is not namespaced.
/// - `CAP_SYSLOG`: the kernel log leaks host addresses and other tenants' messages.
/// - `CAP_WAKE_ALARM`, `CAP_BLOCK_SUSPEND`: host power management.
/// - `CAP_SYS_PACCT`: process accounting is host-wide.
pub const SYSTEM_CONTAINER_DROPPED: [Capability; 11] = [
    Capability::CAP_SYS_MODULE,
    Capability::CAP_SYS_RAWIO,
    Capability::CAP_SYS_TIME,
    Capability::CAP_MAC_ADMIN,
    Capability::CAP_MAC_OVERRIDE,
    Capability::CAP_AUDIT_CONTROL,
    Capability::CAP_AUDIT_READ,
    Capability::CAP_SYSLOG,
    Capability::CAP_WAKE_ALARM,
    Capability::CAP_BLOCK_SUSPEND,
    Capability::CAP_SYS_PACCT,
];

impl Capabilities {
    /// Every capability the kernel knows, minus [`SYSTEM_CONTAINER_DROPPED`],
    /// in the bounding, effective and permitted sets (root inside a system
    /// container); inheritable and ambient empty.
    pub fn system_container() -> Capabilities {
        let mut set: Vec<Capability> = caps::all()
            .into_iter()
            .filter(|c| !SYSTEM_CONTAINER_DROPPED.contains(c))
            .collect();
        set.sort_by_key(|c| c.index());
        Capabilities {
            bounding: set.clone(),
            effective: set.clone(),
            permitted: set,
            inheritable: vec![],
            ambient: vec![],
        }
    }

    /// The sets the calling thread holds now.
    ///
    /// ```
    /// let held = vpsos_core::Capabilities::held()?;
    /// println!("this thread may grant {} capabilities", held.permitted.len());
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn held() -> crate::Result<Capabilities> {
        let read = |set| -> crate::Result<Vec<Capability>> {
            let mut v: Vec<Capability> = caps::read(None, set)
                .map_err(|e| {
                    crate::Error::new(
                        crate::ErrorKind::Io,
                        format!("reading this thread's {set:?} capabilities: {e}"),
                    )
                })?
                .into_iter()
                .collect();
            v.sort_by_key(|c| c.index());
            Ok(v)
        };
        use caps::CapSet;
        Ok(Capabilities {
            bounding: read(CapSet::Bounding)?,
            effective: read(CapSet::Effective)?,
            permitted: read(CapSet::Permitted)?,
            inheritable: read(CapSet::Inheritable)?,
            ambient: read(CapSet::Ambient)?,
        })
    }

    /// The sets as bit masks: bounding, effective, permitted, inheritable, ambient.
    pub(crate) fn masks(&self) -> [u64; 5] {
        let m = |v: &[Capability]| v.iter().fold(0u64, |m, c| m | c.bitmask());
        [
            m(&self.bounding),
            m(&self.effective),
            m(&self.permitted),
            m(&self.inheritable),
            m(&self.ambient),
        ]
    }
}

/// A process to run in the container: the init, or one exec'd into it.
///
/// ```
/// use vpsos_core::Process;
/// let p = Process::new(["/bin/sh", "-c", "echo hi"]).env("LANG", "C.UTF-8").cwd("/root");
/// assert_eq!(p.args[0], "/bin/sh");
/// assert!(p.env.iter().any(|e| e == "LANG=C.UTF-8"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Process {
    /// argv; a first element without `/` is looked up in the container's `PATH`.
    pub args: Vec<String>,
    /// Environment, `KEY=value`.
    pub env: Vec<String>,
    /// Working directory inside the container.
    pub cwd: PathBuf,
    /// uid, gid and groups inside.
    pub user: User,
    /// umask.
    pub umask: Option<u32>,
    /// Resource limits.
    pub rlimits: Vec<Rlimit>,
    /// `/proc/<pid>/oom_score_adj`.
    pub oom_score_adj: Option<i32>,
    /// Set `no_new_privs`.
    pub no_new_privileges: bool,
    /// Capability sets; `None` keeps every capability root has in its namespace.
    pub capabilities: Option<Capabilities>,
    /// Give the process a pty; its master is handed to the caller.
    pub terminal: bool,
}

impl Default for Process {
    fn default() -> Process {
        Process {
            args: vec![],
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                "TERM=linux".into(),
            ],
            cwd: "/".into(),
            user: User::default(),
            umask: None,
            rlimits: vec![],
            oom_score_adj: None,
            no_new_privileges: false,
            capabilities: None,
            terminal: false,
        }
    }
}

impl Process {
    /// A process running `args` with the default environment.
    pub fn new<I, S>(args: I) -> Process
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Process {
            args: args.into_iter().map(Into::into).collect(),
            ..Process::default()
        }
    }

    /// Set (or replace) an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Process {
        let prefix = format!("{key}=");
        self.env.retain(|e| !e.starts_with(&prefix));
        self.env.push(format!("{key}={value}"));
        self
    }

    /// Set the working directory.
    pub fn cwd(mut self, cwd: impl Into<PathBuf>) -> Process {
        self.cwd = cwd.into();
        self
    }

    /// Set uid and gid inside.
    pub fn user(mut self, uid: u32, gid: u32) -> Process {
        self.user.uid = uid;
        self.user.gid = gid;
        self
    }

    /// Ask for a pty.
    pub fn terminal(mut self, on: bool) -> Process {
        self.terminal = on;
        self
    }

    /// The value of `PATH` in the environment.
    pub(crate) fn path_var(&self) -> Option<&str> {
        self.env.iter().find_map(|e| e.strip_prefix("PATH="))
    }
}
