//! The typed container description: a builder, a serde (JSON) form and
//! validation that names the offending field.
//!
//! `config` is pure data. [`Config::validate`] checks it against itself and
//! against [`HostFeatures`](crate::HostFeatures); starting a container
//! validates first.

mod console;
mod devices;
mod init;
mod mount;
mod namespaces;
mod network;
mod process;
mod resources;
pub(crate) mod validate;

pub use console::Console;
pub use devices::{DeviceAccess, DeviceKind, DeviceRule};
pub use init::{Halt, InitKind};
pub use resources::{
    BlockIoLimit, CpuLimits, CpusetLimits, MemoryLimits, PidsLimits, Resources, DEFAULT_PIDS_MAX,
    UNLIMITED,
};

pub use caps::Capability;
pub use mount::{Mount, MountKind};
pub use namespaces::{NamespaceKind, NamespaceMode, Namespaces, TimeOffsets, CLONE_NEWTIME};
pub use network::{Interface, InterfaceKind};
pub use process::{rlimit_name, Capabilities, Process, Rlimit, User, SYSTEM_CONTAINER_DROPPED};

use crate::error::{Error, Result};
use crate::idmap::IdMap;
use serde::{Deserialize, Serialize};
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
    /// With a cgroup namespace and the default mounts, mount the
    /// container's view of its cgroup at /sys/fs/cgroup (a distribution's
    /// init needs it; a single application may not).
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
                apparmor: Default::default(),
                interfaces: vec![],
                console: Console::default(),
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

/// Builds a [`Config`]; see [`Config::builder`].
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// Set the resource limits; a process limit left unset stays the
    /// default ([`DEFAULT_PIDS_MAX`]; `pids_max(UNLIMITED)` for none).
    ///
    /// ```
    /// use vpsos_core::config::{Resources, DEFAULT_PIDS_MAX, UNLIMITED};
    /// use vpsos_core::{Config, IdMap};
    /// let b = || Config::builder("/srv/ct").id_maps(IdMap::single(0, 100000, 65536));
    /// let c = b().resources(Resources::default().memory_max(1 << 30)).build()?;
    /// assert_eq!(c.resources.pids.max, Some(DEFAULT_PIDS_MAX));
    /// let c = b().resources(Resources::default().pids_max(UNLIMITED)).build()?;
    /// assert_eq!(c.resources.pids.max, Some(UNLIMITED));
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn resources(mut self, resources: Resources) -> Self {
        let pids = match resources.pids.max {
            Some(_) => resources.pids.clone(),
            None => PidsLimits::system_default(),
        };
        self.config.resources = Resources { pids, ..resources };
        self
    }

    /// Allow a device (after the default list); with a path it also gets
    /// a node.
    pub fn device(mut self, rule: DeviceRule) -> Self {
        self.config.devices.push(rule);
        self
    }

    /// Replace the whole device allow list.
    pub fn devices(mut self, rules: Vec<DeviceRule>) -> Self {
        self.config.devices = rules;
        self
    }

    /// Say that the container is meant to be privileged: no user
    /// namespace, or id maps that cover host uid or gid 0 (refused
    /// otherwise; see [`Config::privileged`]).
    ///
    /// ```
    /// use vpsos_core::{Config, IdMap};
    /// let map = IdMap::single(0, 0, 65536);
    /// let e = Config::builder("/srv/ct").id_maps(map.clone()).build().unwrap_err();
    /// assert_eq!(e.field(), Some("uid_map"));
    /// Config::builder("/srv/ct").id_maps(map).privileged(true).build()?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn privileged(mut self, on: bool) -> Self {
        self.config.privileged = on;
        self
    }

    /// Delegate the cgroup to the container, or not (by default: when
    /// the init is systemd).
    pub fn delegate_cgroup(mut self, delegate: bool) -> Self {
        self.config.cgroup.delegate = Some(delegate);
        self
    }

    /// Set the hostname.
    pub fn hostname(mut self, name: &str) -> Self {
        self.config.hostname = Some(name.into());
        self
    }

    /// Set the NIS domain name.
    pub fn domainname(mut self, name: &str) -> Self {
        self.config.domainname = Some(name.into());
        self
    }

    /// Use the same map for uids and gids.
    pub fn id_maps(mut self, map: IdMap) -> Self {
        self.config.uid_map = Some(map.clone());
        self.config.gid_map = Some(map);
        self
    }

    /// Set the uid map.
    pub fn uid_map(mut self, map: IdMap) -> Self {
        self.config.uid_map = Some(map);
        self
    }

    /// Set the gid map.
    pub fn gid_map(mut self, map: IdMap) -> Self {
        self.config.gid_map = Some(map);
        self
    }

    /// Create, join or share (`None`) a namespace.
    pub fn namespace(mut self, kind: NamespaceKind, mode: Option<NamespaceMode>) -> Self {
        self.config.namespaces.set(kind, mode);
        self
    }

    /// Set the time namespace offsets.
    pub fn time_offsets(mut self, offsets: TimeOffsets) -> Self {
        self.config.namespaces.time_offsets = offsets;
        self
    }

    /// Set the seccomp profile (`None`: no filter). The builder starts
    /// with [`Profile::system_container`](crate::security::seccomp::Profile::system_container).
    ///
    /// ```
    /// use vpsos_core::security::seccomp::{Action, Profile, SyscallRule};
    /// let p = Profile::system_container()
    ///     .rule(SyscallRule::new(["mkdir"], Action::Notify));
    /// let cfg = vpsos_core::Config::builder("/srv/ct").seccomp(Some(p)).build_unchecked();
    /// assert!(cfg.seccomp.unwrap().uses_notify());
    /// ```
    pub fn seccomp(mut self, profile: Option<crate::security::seccomp::Profile>) -> Self {
        self.config.seccomp = profile;
        self
    }

    /// Add a network interface.
    ///
    /// ```
    /// use vpsos_core::config::Interface;
    /// let cfg = vpsos_core::Config::builder("/srv/ct")
    ///     .interface(Interface::bridged("eth0", "br0").address("10.0.0.2/24".parse()?))
    ///     .build_unchecked();
    /// assert_eq!(cfg.interfaces[0].name, "eth0");
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn interface(mut self, i: Interface) -> Self {
        self.config.interfaces.push(i);
        self
    }

    /// Mount the rootfs idmapped (see [`Config::idmapped_rootfs`]).
    ///
    /// ```
    /// let cfg = vpsos_core::Config::builder("/srv/image")
    ///     .id_maps(vpsos_core::IdMap::single(0, 100000, 65536))
    ///     .idmapped_rootfs(true)
    ///     .build()?;
    /// assert!(cfg.idmapped_rootfs);
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn idmapped_rootfs(mut self, on: bool) -> Self {
        self.config.idmapped_rootfs = on;
        self
    }

    /// Set the AppArmor settings (the builder starts with mode auto).
    ///
    /// ```
    /// use vpsos_core::security::apparmor::{AppArmor, Mode};
    /// let cfg = vpsos_core::Config::builder("/srv/ct")
    ///     .apparmor(AppArmor { mode: Mode::On, nesting: true, ..AppArmor::default() })
    ///     .build_unchecked();
    /// assert!(cfg.apparmor.nesting);
    /// ```
    pub fn apparmor(mut self, a: crate::security::apparmor::AppArmor) -> Self {
        self.config.apparmor = a;
        self
    }

    /// Set the init's capability sets (an init set later without its own
    /// keeps these).
    ///
    /// ```
    /// use vpsos_core::{Capabilities, Capability, Config};
    /// let mut caps = Capabilities::system_container();
    /// caps.bounding.retain(|c| *c != Capability::CAP_NET_RAW);
    /// let cfg = Config::builder("/srv/ct").capabilities(caps).build_unchecked();
    /// let set = cfg.process.capabilities.unwrap();
    /// assert!(!set.bounding.contains(&Capability::CAP_NET_RAW));
    /// ```
    pub fn capabilities(mut self, caps: Capabilities) -> Self {
        self.config.process.capabilities = Some(caps);
        self
    }

    /// Set the init process. Capabilities it leaves unset keep the builder's
    /// system-container default.
    pub fn init(mut self, mut process: Process) -> Self {
        if process.capabilities.is_none() {
            process.capabilities = self.config.process.capabilities.take();
        }
        self.config.process = process;
        self
    }

    /// Add a mount after the defaults.
    pub fn mount(mut self, m: Mount) -> Self {
        self.config.mounts.push(m);
        self
    }

    /// Turn the default /proc, /sys, /dev mounts on or off.
    pub fn default_mounts(mut self, on: bool) -> Self {
        self.config.default_mounts = on;
        self
    }

    /// Replace the masked paths.
    pub fn masked_paths(mut self, paths: Vec<PathBuf>) -> Self {
        self.config.masked_paths = paths;
        self
    }

    /// Replace the read-only paths.
    pub fn readonly_paths(mut self, paths: Vec<PathBuf>) -> Self {
        self.config.readonly_paths = paths;
        self
    }

    /// Remount the root read-only.
    pub fn readonly_rootfs(mut self, on: bool) -> Self {
        self.config.readonly_rootfs = on;
        self
    }

    /// Set the cgroup path template (`{id}` is replaced), or disable the cgroup.
    pub fn cgroup(mut self, placement: CgroupPlacement) -> Self {
        self.config.cgroup = placement;
        self
    }

    /// Set the terminals and the console log.
    ///
    /// ```
    /// use vpsos_core::config::Console;
    /// let cfg = vpsos_core::Config::builder("/srv/ct")
    ///     .console(Console { ttys: 6, ..Console::default() })
    ///     .build_unchecked();
    /// assert_eq!(cfg.console.ttys, 6);
    /// ```
    pub fn console(mut self, c: Console) -> Self {
        self.config.console = c;
        self
    }

    /// Set how `stop` asks the init to halt.
    ///
    /// ```
    /// use vpsos_core::config::Halt;
    /// let cfg = vpsos_core::Config::builder("/srv/ct").halt(Halt::Signal(libc::SIGTERM)).build_unchecked();
    /// assert_eq!(cfg.halt.signal(), Some(libc::SIGTERM));
    /// ```
    pub fn halt(mut self, h: Halt) -> Self {
        self.config.halt = h;
        self
    }

    /// Set mount propagation.
    pub fn propagation(mut self, p: Propagation) -> Self {
        self.config.root_propagation = p;
        self
    }

    /// Validate and return the config.
    pub fn build(self) -> Result<Config> {
        self.config.validate()?;
        Ok(self.config)
    }

    /// Return the config without validating it (it is validated at start).
    pub fn build_unchecked(self) -> Config {
        self.config
    }
}
