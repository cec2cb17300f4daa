//! The [`Container`] handle and the [`Runtime`] that makes and finds them.
//!
//! A container's state lives under the runtime root (default `/run/vpsos`)
//! in `<root>/<id>/`, so any process can [`Runtime::load`] it by id, read its
//! state, exec into it, stop and delete it. The init is identified by pid
//! *and* start time, and every signal goes through a pidfd, so PID reuse
//! cannot make vpsos signal the wrong process.

mod console;
mod control;
mod devnodes;
mod exec;
mod network;
mod plan;
mod state;

pub use exec::ExecProcess;
pub use state::{valid_id, State, Status};

use crate::cgroup::Cgroup;
use crate::config::{Config, NamespaceKind, Process};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::features::HostFeatures;
use crate::spawn::{self, pidfd_open, pidfd_signal, wait_exit, ExitStatus, HostSetup, LateCgroup};
use console::Pty;
use plan::{host_id, new_userns, PlanFds};
use state::{proc_stat, StateFile};
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Where a standard stream of the container's process comes from.
#[derive(Debug, Default)]
pub enum Stdio {
    /// The caller's own fd 0/1/2.
    #[default]
    Inherit,
    /// /dev/null.
    Null,
    /// This fd (it is moved into the child and closed here).
    Fd(OwnedFd),
}

/// Per-start options that are not part of the (serializable) config.
///
/// ```
/// use vpsos_core::{CreateOptions, Stdio};
/// let opts = CreateOptions { stdin: Stdio::Null, ..Default::default() };
/// assert!(opts.extra_fds.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct CreateOptions {
    /// fd 0 of the process (ignored with a terminal).
    pub stdin: Stdio,
    /// fd 1.
    pub stdout: Stdio,
    /// fd 2.
    pub stderr: Stdio,
    /// fds that become 3, 4, ... inside (socket activation). Nothing else
    /// of the caller's reaches the container.
    pub extra_fds: Vec<OwnedFd>,
}

/// Makes, finds and lists containers under one state root.
///
/// ```no_run
/// use vpsos_core::{Config, CreateOptions, IdMap, Process, Runtime};
/// let rt = Runtime::new();
/// let cfg = Config::builder("/var/lib/vpsos/ct1/rootfs")
///     .id_maps(IdMap::single(0, 100000, 65536))
///     .hostname("ct1")
///     .init(Process::new(["/bin/sh", "-c", "echo hello from $(hostname)"]))
///     .build()?;
/// let mut ct = rt.run("ct1", &cfg, CreateOptions::default())?;
/// let status = ct.wait()?;
/// ct.delete()?;
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
}

impl Default for Runtime {
    fn default() -> Runtime {
        Runtime::new()
    }
}

impl Runtime {
    /// A runtime with state under `/run/vpsos`.
    pub fn new() -> Runtime {
        Runtime::with_root("/run/vpsos")
    }

    /// A runtime with state under `root`.
    pub fn with_root(root: impl Into<PathBuf>) -> Runtime {
        Runtime { root: root.into() }
    }

    /// The state root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Set up container `id` with its init held before exec; [`Container::start`]
    /// (from this or any other process) lets it run.
    pub fn create(&self, id: &str, config: &Config, opts: CreateOptions) -> Result<Container> {
        self.make(id, config, opts, true)
            .ctx(|| format!("creating container {id}"))
    }

    /// Create and start in one go (no exec fifo round trip).
    pub fn run(&self, id: &str, config: &Config, opts: CreateOptions) -> Result<Container> {
        let mut ct = self
            .make(id, config, opts, false)
            .ctx(|| format!("starting container {id}"))?;
        let argv0 = config.process.args[0].clone();
        let sync = ct.sync.take().expect("a new container has its sync socket");
        if let Err(e) = spawn::start_and_confirm(&sync, true, &argv0) {
            ct.destroy();
            return Err(e.context(format!("starting container {id}")));
        }
        Ok(ct)
    }

    /// Load a container made by this or another process.
    pub fn load(&self, id: &str) -> Result<Container> {
        check_id(id)?;
        let dir = self.root.join(id);
        let st = StateFile::read(&dir, id)?;
        let pidfd = live_pidfd(st.pid, st.pid_start_time);
        Ok(Container {
            cgroup: st.cgroup.as_deref().map(Cgroup::open),
            dir,
            state: st,
            pidfd,
            is_child: false,
            sync: None,
            console: None,
            exit: None,
            seccomp_listener: None,
        })
    }

    /// Host interfaces vpsos made for containers under this root that no
    /// longer run (left by a crash of the runtime or of a container whose
    /// network namespace outlived it), found by the alias vpsos gives every
    /// host end, `vpsos:<state dir>`. A container counts as running while
    /// its state dir exists and its init lives, or while it is being
    /// created. Routes via such a link go when it is deleted.
    ///
    /// ```no_run
    /// let rt = vpsos_core::Runtime::new();
    /// for l in rt.orphaned_interfaces()? {
    ///     println!("orphan: {} ({})", l.name, l.alias.unwrap_or_default());
    /// }
    /// rt.remove_orphaned_interfaces()?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn orphaned_interfaces(&self) -> Result<Vec<crate::net::Link>> {
        network::orphans(&self.root, |id| {
            let dir = self.root.join(id);
            // no state file yet: a start in progress owns the link
            dir.is_dir()
                && (!dir.join("state.json").exists()
                    || self.load(id).is_ok_and(|ct| ct.pidfd.is_some()))
        })
    }

    /// Delete [`orphaned_interfaces`](Runtime::orphaned_interfaces); returns
    /// their names.
    pub fn remove_orphaned_interfaces(&self) -> Result<Vec<String>> {
        let names: Vec<String> = self
            .orphaned_interfaces()?
            .into_iter()
            .map(|l| l.name)
            .collect();
        network::remove_host_links(&names)?;
        Ok(names)
    }

    /// The ids of every container with state under the root.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(e).ctx(|| format!("listing {}", self.root.display())),
        };
        for e in entries.flatten() {
            if e.path().join("state.json").exists() {
                ids.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        ids.sort();
        Ok(ids)
    }

    fn make(
        &self,
        id: &str,
        config: &Config,
        opts: CreateOptions,
        fifo: bool,
    ) -> Result<Container> {
        check_id(id)?;
        config.validate()?;
        check_features(config)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.root)
            .ctx(|| format!("creating state root {}", self.root.display()))?;
        let dir = self.root.join(id);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("container {id} already exists ({})", dir.display()),
                ))
            }
            Err(e) => return Err(e).ctx(|| format!("creating {}", dir.display())),
        }
        let mut made = Made {
            rootfs_mount: None,
            cgroup: None,
            apparmor: match crate::security::apparmor::apply(&config.apparmor, id) {
                Ok(a) => a,
                Err(e) => {
                    let _ = fs::remove_dir_all(&dir);
                    return Err(e);
                }
            },
        };
        // v1: the cgroup dirs (one per hierarchy), limits and device rules
        // are made on another thread while the plan is built, the child is
        // cloned and it mounts its rootfs; the spawn joins it to attach
        let late = config.cgroup.enabled && !cgroup_before_clone();
        let res = std::thread::scope(|sc| {
            let pending = late.then(|| {
                let path = config.cgroup.resolve(id);
                std::sync::Mutex::new(Some(sc.spawn(move || make_cgroup(&path, config))))
            });
            let take = || -> Result<Cgroup> {
                let handle = pending
                    .as_ref()
                    .and_then(|p| p.lock().expect("pending cgroup").take())
                    .ok_or_else(|| Error::new(ErrorKind::Io, "the cgroup was taken already"))?;
                handle
                    .join()
                    .map_err(|_| Error::new(ErrorKind::Io, "the cgroup thread panicked"))?
            };
            let start = Start {
                opts,
                fifo,
                late: late.then_some(&take as LateCgroup),
            };
            let res = match self.idmapped_rootfs(id, config) {
                Ok(m) => {
                    made.rootfs_mount = m;
                    self.make_in(id, config, start, &dir, &mut made)
                }
                Err(e) => Err(e),
            };
            if res.is_err() {
                // made but never handed to the child: undo it here
                if let Ok(cg) = take() {
                    let _ = cg.remove();
                }
            }
            res
        });
        if res.is_err() {
            if let Some(cg) = &made.cgroup {
                let _ = cg.remove();
            }
            if let Some(a) = &made.apparmor {
                let _ = crate::security::apparmor::unload(a);
            }
            if let Some(m) = &made.rootfs_mount {
                let _ = crate::rootfs::idmapped::unmount(m);
            }
            let _ = devnodes::remove_all(&devnodes::node_dir(&dir));
            let _ = fs::remove_dir_all(&dir);
        }
        res
    }

    fn make_in(
        &self,
        id: &str,
        config: &Config,
        start: Start<'_>,
        dir: &Path,
        made: &mut Made,
    ) -> Result<Container> {
        let Start { opts, fifo, late } = start;
        // v2: the cgroup must exist before clone (CLONE_INTO_CGROUP); v1:
        // another thread makes it meanwhile (made.late)
        let cgroup = if config.cgroup.enabled && cgroup_before_clone() {
            let cg = Cgroup::create(&config.cgroup.resolve(id))?;
            made.cgroup = Some(cg.clone());
            control::prepare_cgroup(&cg, config)?;
            Some(cg)
        } else {
            None
        };
        let console = if config.process.terminal {
            let uid = host_id(config.uid_map.as_ref(), config.process.user.uid);
            let gid = host_id(config.gid_map.as_ref(), config.process.user.gid);
            Some(Pty::open(uid, gid)?)
        } else {
            None
        };
        let fifo_fd = if fifo {
            let uid = host_id(config.uid_map.as_ref(), config.process.user.uid);
            let gid = host_id(config.gid_map.as_ref(), config.process.user.gid);
            Some(make_fifo(dir, uid, gid)?)
        } else {
            None
        };
        let mut fds = PlanFds::default();
        // an idmapped rootfs: the plan mounts the idmapped copy; the state
        // keeps the description as given
        let idmapped;
        let planned = match &made.rootfs_mount {
            Some(m) => {
                idmapped = Config {
                    rootfs: m.clone(),
                    ..config.clone()
                };
                &idmapped
            }
            None => config,
        };
        let mut plan = plan::init_plan(
            planned,
            [opts.stdin, opts.stdout, opts.stderr],
            opts.extra_fds,
            console.as_ref(),
            fifo_fd.as_ref().map_or(-1, |f| f.as_raw_fd()),
            &mut fds,
        )?;
        plan.process.apparmor_exec = plan::apparmor_exec(made.apparmor.as_ref())?;
        let mut nodes = Vec::new();
        for rule in config.devices.iter().filter(|r| r.path.is_some()) {
            let uid = host_id(config.uid_map.as_ref(), 0);
            let gid = host_id(config.gid_map.as_ref(), 0);
            let host = devnodes::make(&devnodes::node_dir(dir), rule, uid, gid)?;
            let path = rule.path.clone().expect("filtered");
            nodes.push((path, host, rule.to_string()));
        }
        if let Some(r) = plan.rootfs.as_mut() {
            crate::rootfs::add_device_nodes(r, &nodes)?;
        }
        plan.wait_cgroup = late.is_some();
        let mut rlimits = Vec::new();
        for r in &config.process.rlimits {
            rlimits.push((r.resource_id()?, r.soft, r.hard));
        }
        let host = HostSetup {
            late_cgroup: late,
            uid_map: new_userns(config)
                .then(|| config.uid_map.as_ref().map(|m| m.proc_format()))
                .flatten(),
            gid_map: new_userns(config)
                .then(|| config.gid_map.as_ref().map(|m| m.proc_format()))
                .flatten(),
            cgroup: cgroup.as_ref(),
            rlimits,
            oom_score_adj: config.process.oom_score_adj,
        };
        let spawned = spawn::spawn(&plan, &host)?;
        drop(fds);
        let cgroup = cgroup.or(spawned.cgroup);
        made.cgroup.clone_from(&cgroup);
        let created = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let start_time = proc_stat(spawned.pid).map_or(0, |(_, t)| t);
        let st = StateFile {
            id: id.to_string(),
            pid: spawned.pid,
            pid_start_time: start_time,
            created,
            cgroup: cgroup.as_ref().map(|c| c.path().to_string()),
            config: config.clone(),
            apparmor: made.apparmor.clone(),
            host_links: vec![],
            rootfs_mount: made.rootfs_mount.clone(),
        };
        let mut ct = Container {
            dir: dir.to_path_buf(),
            state: st,
            pidfd: Some(spawned.pidfd),
            is_child: true,
            sync: Some(spawned.sync),
            console: console.map(|c| c.master),
            exit: None,
            cgroup,
            seccomp_listener: spawned.listener,
        };
        if let Err(e) = ct.setup_interfaces().and_then(|_| ct.state.write(dir)) {
            ct.destroy();
            return Err(e);
        }
        Ok(ct)
    }
}

impl Runtime {
    /// With `idmapped_rootfs`: mount the rootfs through the container's id
    /// maps at `<root>/.rootfs/<id>` (outside the state dir, which is
    /// removed recursively) and return that path.
    fn idmapped_rootfs(&self, id: &str, config: &Config) -> Result<Option<PathBuf>> {
        let (true, Some(u), Some(g)) = (config.idmapped_rootfs, &config.uid_map, &config.gid_map)
        else {
            return Ok(None);
        };
        let target = self.root.join(".rootfs").join(id);
        fs::create_dir_all(&target).ctx(|| format!("creating {}", target.display()))?;
        let res = spawn::userns::with_maps(u, g).and_then(|ns| {
            crate::rootfs::idmapped::mount(&config.rootfs, &target, std::os::fd::AsFd::as_fd(&ns))
        });
        if let Err(e) = res {
            let _ = fs::remove_dir(&target);
            return Err(e.context(format!("idmapping the rootfs of container {id}")));
        }
        Ok(Some(target))
    }
}

/// Whether the container's cgroup must exist before clone: on v2 the init
/// is cloned straight into it (`CLONE_INTO_CGROUP`).
fn cgroup_before_clone() -> bool {
    HostFeatures::get().cgroup_mode == crate::features::CgroupMode::Unified
}

/// Create a cgroup and set its limits and device rules (removed again if
/// that fails).
fn make_cgroup(path: &str, config: &Config) -> Result<Cgroup> {
    let cg = Cgroup::create(path)?;
    if let Err(e) = control::prepare_cgroup(&cg, config) {
        let _ = cg.remove();
        return Err(e);
    }
    Ok(cg)
}

/// The inputs of one start besides the config.
struct Start<'a> {
    opts: CreateOptions,
    /// Hold the init at an exec fifo (create) or not (run).
    fifo: bool,
    /// The cgroup another thread is making (v1), to wait for.
    late: Option<LateCgroup<'a>>,
}

/// What a start has made on the host so far, for undoing a failed one.
struct Made {
    /// The idmapped rootfs mount.
    rootfs_mount: Option<PathBuf>,
    cgroup: Option<Cgroup>,
    apparmor: Option<crate::security::apparmor::Applied>,
}

fn check_id(id: &str) -> Result<()> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(Error::invalid(
            "id",
            format!("{id:?}: use 1 to 64 of A-Z a-z 0-9 _ . - (not starting with .)"),
        ))
    }
}

fn check_features(config: &Config) -> Result<()> {
    let f = HostFeatures::get();
    if config.namespaces.get(NamespaceKind::User).is_some() && !f.user_namespaces {
        return Err(Error::unsupported("user namespaces"));
    }
    if config.namespaces.get(NamespaceKind::Time).is_some() && !f.time_namespaces {
        return Err(Error::unsupported("time namespaces (Linux 5.6+)"));
    }
    if config.namespaces.get(NamespaceKind::Cgroup).is_some() && !f.cgroup_namespaces {
        return Err(Error::unsupported("cgroup namespaces"));
    }
    if config.idmapped_rootfs && !f.idmapped_mounts {
        return Err(Error::unsupported("idmapped mounts (Linux 5.12+)"));
    }
    if !f.clone3 || !f.openat2 {
        return Err(Error::unsupported("clone3 and openat2 (Linux 5.6+)"));
    }
    Ok(())
}

/// The exec fifo, owned by the init's user so it can open it for writing.
fn make_fifo(dir: &Path, uid: u32, gid: u32) -> Result<OwnedFd> {
    let p = dir.join("exec.fifo");
    nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .ctx(|| format!("mkfifo {}", p.display()))?;
    std::os::unix::fs::chown(&p, Some(uid), Some(gid)).ctx(|| format!("chown {}", p.display()))?;
    let fd = nix::fcntl::open(
        &p,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("opening {}", p.display()))?;
    Ok(fd)
}

/// A pidfd for `pid` if it is still the process that started at `start`.
fn live_pidfd(pid: i32, start: u64) -> Option<OwnedFd> {
    let fd = pidfd_open(pid).ok()?;
    // opened first, checked second: if the start time still matches, the
    // pidfd names that very process (see the module docs)
    match proc_stat(pid) {
        Some((state, t)) if t == start && state != 'Z' && state != 'X' => Some(fd),
        _ => None,
    }
}

/// A container: its init, cgroup and state directory.
///
/// Dropping the handle leaves the container running; [`delete`](Container::delete)
/// removes it.
#[derive(Debug)]
pub struct Container {
    dir: PathBuf,
    state: StateFile,
    pidfd: Option<OwnedFd>,
    /// Whether the init is this process's child (so `wait` gets its status).
    is_child: bool,
    sync: Option<OwnedFd>,
    console: Option<OwnedFd>,
    exit: Option<ExitStatus>,
    cgroup: Option<Cgroup>,
    seccomp_listener: Option<OwnedFd>,
}

/// How a container's init ended, as far as this process can know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitExit {
    /// Its exit status (this process started it).
    Status(ExitStatus),
    /// It ended, but it was another process's child, so the kernel gave
    /// its exit status to that process.
    Unknown,
}

impl InitExit {
    /// The status if known.
    ///
    /// ```
    /// use vpsos_core::{ExitStatus, InitExit};
    /// assert_eq!(InitExit::Status(ExitStatus::Exited(0)).status(), Some(ExitStatus::Exited(0)));
    /// assert_eq!(InitExit::Unknown.status(), None);
    /// ```
    pub fn status(self) -> Option<ExitStatus> {
        match self {
            InitExit::Status(s) => Some(s),
            InitExit::Unknown => None,
        }
    }
}

impl Container {
    /// The container id.
    pub fn id(&self) -> &str {
        &self.state.id
    }

    /// The init's host pid while it lives.
    pub fn pid(&self) -> Option<i32> {
        self.alive().then_some(self.state.pid)
    }

    /// The description it was made from.
    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// Its cgroup, if it has one.
    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.cgroup.as_ref()
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.dir
    }

    /// The AppArmor profile and namespace loaded for the container, or
    /// why it runs without (`None`: AppArmor off).
    pub fn apparmor(&self) -> Option<&crate::security::apparmor::Applied> {
        self.state.apparmor.as_ref()
    }

    /// Take the console's pty master (only the creating handle has it, once).
    pub fn take_console(&mut self) -> Option<OwnedFd> {
        self.console.take()
    }

    /// Take the init's seccomp notification listener: present when the
    /// profile has a [`Notify`](crate::security::seccomp::Action::Notify)
    /// rule, on the creating handle, once. Whoever holds it answers the
    /// notified syscalls of the init and its children (`SECCOMP_IOCTL_NOTIF_RECV`
    /// and `_SEND`; see `examples/seccomp_notify.rs`).
    ///
    /// ```no_run
    /// # let (rt, cfg) = (vpsos_core::Runtime::new(), vpsos_core::Config::builder("/srv/ct").build()?);
    /// let mut ct = rt.create("ct1", &cfg, Default::default())?;
    /// if let Some(listener) = ct.take_seccomp_listener() {
    ///     std::thread::spawn(move || { /* answer notifications on `listener` */ drop(listener) });
    /// }
    /// ct.start()?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn take_seccomp_listener(&mut self) -> Option<OwnedFd> {
        self.seccomp_listener.take()
    }

    fn alive(&self) -> bool {
        self.exit.is_none()
            && self.pidfd.is_some()
            && matches!(proc_stat(self.state.pid), Some((s, t)) if t == self.state.pid_start_time && s != 'Z' && s != 'X')
    }

    /// Current state.
    pub fn state(&self) -> Result<State> {
        let alive = self.alive();
        let status = if !alive {
            Status::Stopped
        } else if self.dir.join("exec.fifo").exists() {
            // the fifo goes when anyone starts it, this process or another
            Status::Created
        } else {
            Status::Running
        };
        Ok(State {
            id: self.state.id.clone(),
            status,
            pid: alive.then_some(self.state.pid),
            created: self.state.created,
            cgroup: self.state.cgroup.clone(),
        })
    }

    /// Let a created container's init exec. Works from any process; if it
    /// fails (e.g. the init binary cannot be executed) the container is
    /// removed and the error says why.
    pub fn start(&mut self) -> Result<()> {
        let id = self.state.id.clone();
        self.start_inner().map_err(|e| {
            self.destroy();
            e.context(format!("starting container {id}"))
        })
    }

    fn start_inner(&mut self) -> Result<()> {
        let fifo = self.dir.join("exec.fifo");
        if !fifo.exists() {
            return Err(Error::new(
                ErrorKind::Busy,
                format!("container {} is not in the created state", self.state.id),
            ));
        }
        if !self.alive() {
            return Err(Error::new(
                ErrorKind::Child,
                "the init exited before start".to_string(),
            ));
        }
        // non-blocking, and watched together with the pidfd: an init that
        // died meanwhile must not leave us waiting for a writer forever
        let mut f = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .ctx(|| format!("opening {}", fifo.display()))?;
        let pidfd = self.pidfd.as_ref().expect("alive");
        let mut fds = [
            libc::pollfd {
                fd: f.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        loop {
            // SAFETY: two valid pollfds.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if r >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break;
            }
        }
        let mut b = [0u8; 1];
        let got = std::io::Read::read(&mut f, &mut b).unwrap_or(0);
        let _ = fs::remove_file(&fifo);
        if got == 0 {
            if let Some(sync) = self.sync.take() {
                let argv0 = self.state.config.process.args[0].clone();
                spawn::start_and_confirm(&sync, false, &argv0)?;
            }
            return Err(Error::new(
                ErrorKind::Child,
                "the init exited before it could start",
            ));
        }
        if let Some(sync) = self.sync.take() {
            let argv0 = self.state.config.process.args[0].clone();
            spawn::start_and_confirm(&sync, false, &argv0)?;
        }
        Ok(())
    }

    /// Wait for the init to exit. The creating process gets its status;
    /// another process (after [`Runtime::load`]) can only learn that it
    /// ended.
    pub fn wait(&mut self) -> Result<InitExit> {
        if let Some(s) = self.exit {
            return Ok(InitExit::Status(s));
        }
        let Some(pidfd) = &self.pidfd else {
            return Ok(InitExit::Unknown);
        };
        if self.is_child {
            let s = wait_exit(self.state.pid, pidfd)?;
            self.exit = Some(s);
            return Ok(InitExit::Status(s));
        }
        poll_exit(pidfd, None)?;
        Ok(InitExit::Unknown)
    }

    /// Send `signal` to the init.
    pub fn kill(&self, signal: i32) -> Result<()> {
        match &self.pidfd {
            Some(fd) if self.alive() => {
                pidfd_signal(fd, signal).ctx(|| format!("signalling container {}", self.state.id))
            }
            _ => Err(Error::new(
                ErrorKind::NotFound,
                format!("signalling container {}: it is not running", self.state.id),
            )),
        }
    }

    /// Ask the init to halt with the config's halt signal; after `timeout`
    /// kill everything in the container.
    pub fn stop(&mut self, timeout: Duration) -> Result<InitExit> {
        if self.alive() {
            let sig = self.state.config.halt_signal.number();
            let _ = self.kill(sig);
            let pidfd = self.pidfd.as_ref().expect("alive");
            if !poll_exit(pidfd, Some(timeout))? {
                self.kill_everything()?;
            }
        }
        self.wait()
    }

    /// SIGKILL the init and everything else in its cgroup.
    fn kill_everything(&self) -> Result<()> {
        if let Some(fd) = &self.pidfd {
            let _ = pidfd_signal(fd, libc::SIGKILL);
        }
        if let Some(cg) = &self.cgroup {
            cg.kill_all()?;
        }
        Ok(())
    }

    /// Remove a stopped container: its cgroup and state directory. A
    /// running one is `Busy`; see [`delete_force`](Container::delete_force).
    pub fn delete(mut self) -> Result<()> {
        if self.alive() {
            return Err(Error::new(
                ErrorKind::Busy,
                format!("deleting container {}: it is still running", self.state.id),
            ));
        }
        self.cleanup()
    }

    /// Kill whatever runs in the container, then delete it.
    pub fn delete_force(mut self) -> Result<()> {
        self.kill_everything()?;
        self.cleanup()
    }

    fn cleanup(&mut self) -> Result<()> {
        if let (true, Some(fd), None) = (self.is_child, &self.pidfd, self.exit) {
            if poll_exit(fd, Some(Duration::from_secs(5)))? {
                self.exit = Some(wait_exit(self.state.pid, fd)?);
            }
        }
        if let Some(cg) = &self.cgroup {
            cg.kill_all()?;
            cg.remove()
                .ctx(|| format!("deleting container {}", self.state.id))?;
        }
        devnodes::remove_all(&devnodes::node_dir(&self.dir))?;
        network::remove_host_links(&self.state.host_links)
            .map_err(|e| e.context(format!("deleting container {}", self.state.id)))?;
        if let Some(m) = &self.state.rootfs_mount {
            crate::rootfs::idmapped::unmount(m)
                .map_err(|e| e.context(format!("deleting container {}", self.state.id)))?;
        }
        if let Some(a) = &self.state.apparmor {
            crate::security::apparmor::unload(a)
                .map_err(|e| e.context(format!("deleting container {}", self.state.id)))?;
        }
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).ctx(|| format!("removing {}", self.dir.display())),
        }
    }

    /// Best-effort teardown after a failed start.
    fn destroy(&mut self) {
        let _ = self.kill_everything();
        let _ = self.cleanup();
    }

    /// Run a process in the running container: same namespaces, cgroup
    /// and confinement; its own exit status. With `process.terminal` it
    /// gets a pty whose master [`ExecProcess::take_console`] returns.
    pub fn exec(&self, process: &Process, opts: CreateOptions) -> Result<ExecProcess> {
        let id = &self.state.id;
        let pidfd = match &self.pidfd {
            Some(fd) if self.alive() => fd,
            _ => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("exec in container {id}: it is not running"),
                ))
            }
        };
        exec::exec(self, pidfd, process, opts).ctx(|| format!("exec in container {id}"))
    }
}

/// Wait until the process behind `pidfd` exits; `false` on timeout.
fn poll_exit(pidfd: &OwnedFd, timeout: Option<Duration>) -> Result<bool> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                left.as_millis().min(i32::MAX as u128) as i32 + 1
            }
        };
        let mut pfd = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e).ctx(|| "waiting for the init to exit".into());
        }
        if r > 0 {
            return Ok(true);
        }
    }
}
