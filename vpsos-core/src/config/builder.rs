//! [`ConfigBuilder`]: a [`Config`] from the system-container defaults,
//! one setting at a time, validated by `build`.

use super::*;

/// Builds a [`Config`]; see [`Config::builder`].
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    pub(super) config: Config,
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

    /// Set a kernel parameter of the container's own namespaces
    /// (`net.ipv4.ip_forward` or `net/ipv4/ip_forward`), written before
    /// its /proc/sys turns read-only.
    ///
    /// ```
    /// use vpsos_core::{Config, IdMap};
    /// let c = Config::builder("/srv/ct")
    ///     .id_maps(IdMap::single(0, 100000, 65536))
    ///     .sysctl("net.ipv4.ip_forward", "1")
    ///     .build()?;
    /// assert_eq!(c.sysctl["net.ipv4.ip_forward"], "1");
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn sysctl(mut self, key: &str, value: &str) -> Self {
        self.config.sysctl.insert(key.into(), value.into());
        self
    }

    /// Set the execution domain of the init and of exec'd processes.
    ///
    /// ```
    /// use vpsos_core::config::Personality;
    /// let c = vpsos_core::Config::builder("/srv/ct")
    ///     .personality(Personality::Linux32)
    ///     .build_unchecked();
    /// assert_eq!(c.personality, Some(Personality::Linux32));
    /// ```
    pub fn personality(mut self, p: Personality) -> Self {
        self.config.personality = Some(p);
        self
    }

    /// Set the OCI hooks.
    ///
    /// ```
    /// use vpsos_core::config::{Hook, Hooks};
    /// let mut hooks = Hooks::default();
    /// hooks.poststop.push(Hook::new("/usr/local/bin/cleanup"));
    /// let c = vpsos_core::Config::builder("/srv/ct").hooks(hooks).build_unchecked();
    /// assert_eq!(c.hooks.poststop.len(), 1);
    /// ```
    pub fn hooks(mut self, hooks: Hooks) -> Self {
        self.config.hooks = hooks;
        self
    }

    /// Add an annotation (OCI's: in the state hooks and agents read).
    ///
    /// ```
    /// let c = vpsos_core::Config::builder("/srv/ct")
    ///     .annotation("org.example/owner", "alice")
    ///     .build_unchecked();
    /// assert_eq!(c.annotations["org.example/owner"], "alice");
    /// ```
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.config.annotations.insert(key.into(), value.into());
        self
    }

    /// Send the seccomp listeners to an agent's socket instead of the
    /// creator (the profile needs a notify rule).
    ///
    /// ```
    /// use vpsos_core::security::seccomp_socket::ListenerSocket;
    /// let c = vpsos_core::Config::builder("/srv/ct")
    ///     .seccomp_listener(ListenerSocket { path: "/run/agent.sock".into(), metadata: String::new() })
    ///     .build_unchecked();
    /// assert!(c.seccomp_listener.is_some());
    /// ```
    pub fn seccomp_listener(
        mut self,
        socket: crate::security::seccomp_socket::ListenerSocket,
    ) -> Self {
        self.config.seccomp_listener = Some(socket);
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
