//! The typed container description: a builder, a serde (JSON) form and
//! validation that names the offending field.
//!
//! `config` is pure data. [`Config::validate`] checks it against itself and
//! against [`HostFeatures`](crate::HostFeatures); starting a container
//! validates first.

mod builder;
mod console;
mod devices;
mod hooks;
mod init;
mod mount;
mod namespaces;
mod network;
pub(crate) mod oci;
mod process;
mod resources;
mod sysctl;
pub(crate) mod validate;

pub use console::Console;
pub use devices::{DeviceAccess, DeviceKind, DeviceRule};
pub use hooks::{Hook, Hooks};
pub use init::{Halt, InitKind};
pub use resources::{
    oci_shares_to_weight, page_size_bytes, BlockIoLimit, CpuLimits, CpusetLimits, MemoryLimits,
    NetworkLimits, PidsLimits, Resources, DEFAULT_PIDS_MAX, UNLIMITED,
};
pub(crate) use sysctl::sysctl_file;
pub use sysctl::{sysctl_namespace, Personality};

pub use builder::ConfigBuilder;
pub use caps::Capability;
pub use mount::{Mount, MountFlag, MountKind};
pub use namespaces::{NamespaceKind, NamespaceMode, Namespaces, TimeOffsets, CLONE_NEWTIME};
pub use network::{Interface, InterfaceKind};
pub use process::{rlimit_name, Capabilities, Process, Rlimit, User, SYSTEM_CONTAINER_DROPPED};

use crate::error::{Error, Result};
use crate::idmap::IdMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Mount propagation of the container's root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    /// No events either way (the default).
    #[default]
    Private,
    /// Host mounts propagate in, nothing out.
    Slave,
    /// Both ways.
    Shared,
}

impl Propagation {
    /// The `MS_*` flag for mount(2).
    ///
    /// ```
    /// assert_eq!(vpsos_core::Propagation::Slave.ms_flag(), libc::MS_SLAVE);
    /// ```
    pub fn ms_flag(self) -> libc::c_ulong {
        match self {
            Propagation::Private => libc::MS_PRIVATE,
            Propagation::Slave => libc::MS_SLAVE,
            Propagation::Shared => libc::MS_SHARED,
        }
    }
}

/// Where the container's cgroup goes.
///
/// `path` is relative to each hierarchy's root and may use `{id}`; osctld's
/// layout is `osctl/pool.tank/group.default/user.u/ct.{id}`.
///
/// ```
/// use vpsos_core::CgroupPlacement;
/// assert_eq!(CgroupPlacement::default().resolve("ct1"), "vpsos/ct1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CgroupPlacement {
    /// Put the container in its own cgroup.
    pub enabled: bool,
    /// Path template under each hierarchy's root.
    pub path: String,
    /// Delegate the cgroup to the container's root, as systemd inside
    /// needs: the directory and its `cgroup.procs`, `cgroup.threads` and
    /// `cgroup.subtree_control` (v1: `tasks`, `cgroup.clone_children`,
    /// `notify_on_release`) owned by the container's root, and the
    /// container's cgroupfs mounted read-write. Limit files stay the host's.
    /// `None` (the default): delegated when the init is systemd.
    pub delegate: Option<bool>,
    /// With a cgroup namespace and the default mounts (or, without them,
    /// a mount of the config's own at /sys, as an OCI config has), mount
    /// the container's view of its cgroup at /sys/fs/cgroup (a
    /// distribution's init needs it; a single application may not).
    pub mount: bool,
}

impl Default for CgroupPlacement {
    fn default() -> CgroupPlacement {
        CgroupPlacement {
            enabled: true,
            path: "vpsos/{id}".into(),
            delegate: None,
            mount: true,
        }
    }
}

impl CgroupPlacement {
    /// A cgroup at `path` (a template with `{id}`), not delegated.
    ///
    /// ```
    /// let p = vpsos_core::CgroupPlacement::at("osctl/pool.tank/group.default/user.1000/ct.{id}");
    /// assert_eq!(p.resolve("101"), "osctl/pool.tank/group.default/user.1000/ct.101");
    /// ```
    pub fn at(path: impl Into<String>) -> CgroupPlacement {
        CgroupPlacement {
            path: path.into(),
            ..CgroupPlacement::default()
        }
    }

    /// The path for container `id`.
    pub fn resolve(&self, id: &str) -> String {
        self.path.replace("{id}", id).trim_matches('/').to_string()
    }
}

/// A container's full description.
///
/// Build one with [`Config::builder`]:
///
/// ```
/// use vpsos_core::{Config, IdMap, Process};
/// let cfg = Config::builder("/var/lib/ct/101/rootfs")
///     .hostname("ct101")
///     .id_maps(IdMap::single(0, 100000, 65536))
///     .init(Process::new(["/sbin/init"]))
///     .build()
///     .unwrap();
/// let json = serde_json::to_string(&cfg).unwrap();
/// let back: Config = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, cfg);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The root filesystem directory (absolute).
    pub rootfs: PathBuf,
    /// Remount the root read-only after setup.
    #[serde(default)]
    pub readonly_rootfs: bool,
    /// Mount the rootfs idmapped through the container's id maps: an image
    /// owned by 0 on disk appears owned by the container's root, and what
    /// it creates lands on disk as 0, with no chown (Linux 5.12+, and a
    /// filesystem that supports it; `rootfs::chown_shift` otherwise).
    #[serde(default)]
    pub idmapped_rootfs: bool,
    /// Hostname (needs a new UTS namespace).
    #[serde(default)]
    pub hostname: Option<String>,
    /// NIS domain name (needs a new UTS namespace).
    #[serde(default)]
    pub domainname: Option<String>,
    /// Namespaces.
    #[serde(default)]
    pub namespaces: Namespaces,
    /// uid map (needs a new user namespace).
    #[serde(default)]
    pub uid_map: Option<IdMap>,
    /// gid map (needs a new user namespace).
    #[serde(default)]
    pub gid_map: Option<IdMap>,
    /// Mount /proc, /sys, /dev (tmpfs with the standard nodes), /dev/pts,
    /// /dev/shm and /dev/mqueue before [`mounts`](Config::mounts).
    #[serde(default = "yes")]
    pub default_mounts: bool,
    /// Extra mounts, in order, after the defaults.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Paths hidden from the container (`/dev/null` over files, an empty
    /// read-only tmpfs over directories).
    #[serde(default = "default_masked")]
    pub masked_paths: Vec<PathBuf>,
    /// Paths remounted read-only.
    #[serde(default = "default_readonly")]
    pub readonly_paths: Vec<PathBuf>,
    /// Propagation of the container's mounts.
    #[serde(default)]
    pub root_propagation: Propagation,
    /// The init process.
    pub process: Process,
    /// cgroup placement.
    #[serde(default)]
    pub cgroup: CgroupPlacement,
    /// Resource limits, applied before the init runs. A process limit of
    /// [`DEFAULT_PIDS_MAX`] unless set ([`UNLIMITED`] for none).
    #[serde(default = "Resources::system_default")]
    pub resources: Resources,
    /// Device allow list (everything else is denied); rules with a path
    /// also get a node in the container.
    #[serde(default = "DeviceRule::system_defaults")]
    pub devices: Vec<DeviceRule>,
    /// How `stop` asks the init to halt (by default: as the init found in
    /// the rootfs wants, see [`Halt`]).
    #[serde(default, alias = "halt_signal")]
    pub halt: Halt,
    /// `container=<this>` in the init's environment unless it sets one:
    /// how systemd and OpenRC learn they run in a container. Default
    /// `lxc`, which both recognise (systemd-detect-virt says `lxc`;
    /// OpenRC's `rc_sys` becomes `LXC` and it skips what a container
    /// cannot do: hwclock, sysctl, module loading). `None`: leave it.
    #[serde(default = "default_container_env")]
    pub container_env: Option<String>,
    /// The container's root is meant to be the host's root: it runs
    /// without a user namespace, or its id maps cover host uid or gid 0.
    /// Off by default, and then such a config is refused, so that no one
    /// makes a privileged container by mistake (with a map such as
    /// `0:0:1` the container writes the host's /proc/sys).
    #[serde(default)]
    pub privileged: bool,
    /// Leave /proc/sys writable. By default it is read-only but for
    /// /proc/sys/net (in a new network namespace), as LXC's `proc:mixed`.
    #[serde(default)]
    pub writable_proc_sys: bool,
    /// The seccomp filter of the init and every exec'd process; absent in
    /// JSON means the system-container default, `null` means none.
    #[serde(default = "default_seccomp")]
    pub seccomp: Option<crate::security::seccomp::Profile>,
    /// Send the seccomp notification listeners (the init's, each exec'd
    /// process's) to an agent's unix socket instead of handing them to
    /// the caller (OCI `listenerPath`); needs a profile that notifies.
    #[serde(default)]
    pub seccomp_listener: Option<crate::security::seccomp_socket::ListenerSocket>,
    /// AppArmor: by default, confined where the host has it.
    #[serde(default)]
    pub apparmor: crate::security::apparmor::AppArmor,
    /// Network interfaces, set up before the init runs (a new network
    /// namespace's loopback is always brought up).
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    /// Terminals and console log.
    #[serde(default)]
    pub console: Console,
    /// Kernel parameters set in the container's namespaces before the
    /// init runs, e.g. `net.ipv4.ip_forward` = `1`. Only parameters the
    /// kernel keeps per namespace, of a namespace the container has new:
    /// `net.*` (network), `kernel.shm*`, `kernel.msg*`, `kernel.sem`,
    /// `fs.mqueue.*` (ipc). (`kernel.hostname` and `kernel.domainname`
    /// are `hostname` and `domainname`.)
    #[serde(default)]
    pub sysctl: BTreeMap<String, String>,
    /// The execution domain of the init and exec'd processes
    /// (`personality(2)`): `linux32` makes `uname -m` say i686.
    #[serde(default)]
    pub personality: Option<Personality>,
    /// Programs run at points of the container's life (OCI hooks).
    #[serde(default)]
    pub hooks: Hooks,
    /// Free-form key/value data about the container (OCI annotations;
    /// given to hooks in the container's state).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The OCI bundle directory this config came from, if any (given to
    /// hooks in the container's state).
    #[serde(default)]
    pub bundle: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

fn default_container_env() -> Option<String> {
    Some("lxc".into())
}

/// Docker's and LXC's list of kernel interfaces a tenant must not read.
pub fn default_masked() -> Vec<PathBuf> {
    [
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect()
}

fn default_seccomp() -> Option<crate::security::seccomp::Profile> {
    Some(crate::security::seccomp::Profile::system_container())
}

/// Kernel interfaces a tenant may read but not write.
pub fn default_readonly() -> Vec<PathBuf> {
    ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sysrq-trigger"]
        .into_iter()
        .map(PathBuf::from)
        .collect()
}

impl Config {
    /// Start a builder with system-container defaults: every namespace new
    /// (time included, uptime starting near zero), the default mounts,
    /// masked and read-only paths, and the system-container capability set.
    pub fn builder(rootfs: impl Into<PathBuf>) -> ConfigBuilder {
        ConfigBuilder {
            config: Config {
                rootfs: rootfs.into(),
                readonly_rootfs: false,
                idmapped_rootfs: false,
                hostname: None,
                domainname: None,
                namespaces: Namespaces::all_new(),
                uid_map: None,
                gid_map: None,
                default_mounts: true,
                mounts: vec![],
                masked_paths: default_masked(),
                readonly_paths: default_readonly(),
                root_propagation: Propagation::Private,
                process: Process {
                    capabilities: Some(Capabilities::system_container()),
                    ..Process::new(["/sbin/init"])
                },
                cgroup: CgroupPlacement::default(),
                resources: Resources::system_default(),
                devices: DeviceRule::system_defaults(),
                halt: Halt::default(),
                container_env: default_container_env(),
                writable_proc_sys: false,
                privileged: false,
                seccomp: default_seccomp(),
                seccomp_listener: None,
                apparmor: Default::default(),
                interfaces: vec![],
                console: Console::default(),
                sysctl: BTreeMap::new(),
                personality: None,
                hooks: Hooks::default(),
                annotations: BTreeMap::new(),
                bundle: None,
            },
        }
    }

    /// Parse the JSON form (and validate it against itself).
    pub fn from_json(json: &str) -> Result<Config> {
        let c: Config = serde_json::from_str(json)
            .map_err(|e| Error::invalid("config", format!("JSON: {e}")))?;
        c.validate()?;
        Ok(c)
    }

    /// The JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("config serializes")
    }

    /// Check the description for consistency: every error names the field.
    ///
    /// ```
    /// use vpsos_core::{Config, IdMap, Process};
    /// let e = Config::builder("/srv/ct")
    ///     .id_maps(IdMap::single(0, 100000, 65536))
    ///     .init(Process::new(Vec::<String>::new()))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(e.field(), Some("process.args"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        validate::config(self)
    }
}
