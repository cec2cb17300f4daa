//! Making a container: `Runtime::create` and `Runtime::run`.
//!
//! Write-ahead: the state directory appears (atomically, by rename) only
//! with its lock held and a `state.json` that names everything the start
//! will make on the host. Then each thing is made; the state gains the
//! init's and the monitor's pids as soon as they exist. A failure undoes
//! it all through the one teardown path (`delete::teardown`), collecting
//! every cleanup error; a creator killed at any instant leaves a state
//! `Runtime::recover` finishes undoing.

use super::console::{self, Pty};
use super::delete;
use super::devnodes;
use super::lock::Lock;
use super::network;
use super::prepare::{idmap_rootfs, make_fifo, new_private_file, rename_noreplace, write_boot_id};
use super::state::{self, now, Phase, ProcRef, StateFile, STATE_VERSION};
use super::{Container, Live, Runtime};
use crate::cgroup::Cgroup;
use crate::config::{Config, InitKind, NamespaceKind};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::fault;
use crate::features::HostFeatures;
use crate::plan::build::{host_id, init_plan, new_userns, PlanFds};
use crate::spawn::{self, monitor, HostSetup, LateCgroup};
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where a standard stream of the container's process comes from.
#[derive(Debug, Default)]
pub enum Stdio {
    /// /dev/null (the default: a daemon's own log or journal stream must
    /// not become the container's).
    #[default]
    Null,
    /// The caller's own fd 0/1/2 (an explicit choice).
    Inherit,
    /// This fd (it is moved into the child and closed here).
    Fd(OwnedFd),
}

/// Per-start options that are not part of the (serializable) config.
///
/// ```
/// use vpsos_core::{CreateOptions, Stdio};
/// let opts = CreateOptions { stdout: Stdio::Inherit, ..Default::default() };
/// assert!(matches!(opts.stdin, Stdio::Null));
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
    /// Who becomes the process's parent and reaps it.
    pub reaper: Reaper,
}

/// Who becomes the parent of a container's process (its init, or an
/// exec'd one) and reaps it.
///
/// ```
/// use vpsos_core::{CreateOptions, Reaper};
/// let opts = CreateOptions { reaper: Reaper::Subreaper, ..Default::default() };
/// assert_ne!(opts.reaper, Reaper::default());
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Reaper {
    /// A vpsos monitor (the default): it holds the console and ttys,
    /// records how the init ended for every handle, and outlives the
    /// caller (see [`Container`]).
    #[default]
    Monitor,
    /// The caller's nearest child subreaper (`PR_SET_CHILD_SUBREAPER`),
    /// or PID 1: the process is re-parented there as soon as it is
    /// cloned, as runc's are, and whoever reaps it has its exit status
    /// (conmon, containerd's shim, a CLI's `run`). No console or ttys
    /// (`Console::none()`); a terminal for the process
    /// (`process.terminal`) is a pty of the container's devpts whose
    /// master [`Container::take_console`] returns; `wait` knows that the
    /// init ended, not how ([`EndReason::Unknown`](crate::EndReason)).
    Subreaper,
}

pub(crate) fn check_id(id: &str) -> Result<()> {
    if super::valid_id(id) {
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
    f.require_spawn()
}

/// How many terminals the monitor holds: the console and the ttys, where
/// the container has the default /dev to show them in.
fn terminal_count(config: &Config) -> u32 {
    if config.default_mounts && (config.console.enabled || config.process.terminal) {
        1 + config.console.ttys
    } else {
        0
    }
}

/// What the start will make on the host, named before any of it exists.
fn planned(rt: &Runtime, id: &str, config: &Config, detached: bool) -> Result<StateFile> {
    let mut instance = [0u8; 8];
    // SAFETY: getrandom into our buffer.
    unsafe { libc::getrandom(instance.as_mut_ptr() as *mut libc::c_void, 8, 0) };
    Ok(StateFile {
        version: STATE_VERSION,
        id: id.to_string(),
        instance: u64::from_ne_bytes(instance),
        phase: Phase::Creating,
        owner: Some(ProcRef::me()),
        init: None,
        monitor: None,
        created: now(),
        started: None,
        cgroup: config.cgroup.enabled.then(|| config.cgroup.resolve(id)),
        apparmor: crate::security::apparmor::plan(&config.apparmor, id)?,
        host_links: network::planned_host_links(id, &config.interfaces),
        rootfs_mount: config
            .idmapped_rootfs
            .then(|| rt.root().join(".rootfs").join(id)),
        terminals: if detached { 0 } else { terminal_count(config) },
        init_kind: Some(InitKind::detect(&config.rootfs, &config.process.args[0])),
        seccomp_skipped: config
            .seccomp
            .as_ref()
            .map(|p| p.skipped_syscalls().to_vec())
            .unwrap_or_default(),
        poststop_hooks: !config.hooks.poststop.is_empty(),
    })
}

/// What the init found in the rootfs cannot do without: systemd makes
/// its own cgroups (`init.scope`, slices) and exits at once when its
/// cgroup is read-only.
fn check_init(config: &Config, kind: InitKind) -> Result<()> {
    if kind == InitKind::Systemd && config.cgroup.enabled && config.cgroup.delegate == Some(false) {
        return Err(Error::invalid(
            "cgroup.delegate",
            "the init is systemd, which creates its own cgroups and fails on a read-only one: \
             leave it unset (delegated for systemd) or set it",
        ));
    }
    Ok(())
}

/// The description a start works from: what the config leaves to vpsos
/// decided by the init found in the rootfs (cgroup delegation for
/// systemd) and the init's `container=` added. The state keeps the
/// config as given.
fn resolved(config: &Config, kind: InitKind) -> Config {
    let mut c = config.clone();
    c.cgroup.delegate = Some(config.cgroup.delegate.unwrap_or(kind == InitKind::Systemd));
    if let Some(v) = &config.container_env {
        if !c.process.env.iter().any(|e| e.starts_with("container=")) {
            c.process.env.push(format!("container={v}"));
        }
    }
    c
}

/// Make the state directory of `id` with its lock held and `st` and the
/// description in it: a temp directory renamed into place, so the id
/// never names a directory without a state, and of two creators of one
/// id exactly one wins.
fn reserve(rt: &Runtime, id: &str, st: &StateFile, config: &Config) -> Result<(PathBuf, Lock)> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(rt.root())
        .ctx(|| format!("creating state root {}", rt.root().display()))?;
    let tmp = state::temp_name(rt.root(), &format!("new-{id}"));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&tmp)
        .ctx(|| format!("creating {}", tmp.display()))?;
    let dir = rt.root().join(id);
    let res = (|| {
        let lock = Lock::create(&tmp)?;
        state::write_config(&tmp, config)?;
        st.write(&tmp)?;
        rename_noreplace(&tmp, &dir)?;
        Ok(lock)
    })();
    match res {
        Ok(lock) => Ok((dir, lock)),
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

/// Create (`start_now` false: the init waits at the exec fifo) or run.
pub(super) fn make(
    rt: &Runtime,
    id: &str,
    config: &Config,
    opts: CreateOptions,
    start_now: bool,
) -> Result<Container> {
    check_id(id)?;
    config.validate()?;
    check_features(config)?;
    let detached = opts.reaper == Reaper::Subreaper;
    if detached && config.console.enabled && config.default_mounts {
        return Err(Error::invalid(
            "console.enabled",
            "without a monitor (Reaper::Subreaper) nothing holds a console: use Console::none() \
             (process.terminal gives the init a terminal of its own)",
        ));
    }
    if !detached && config.process.terminal && terminal_count(config) == 0 {
        return Err(Error::invalid(
            "process.terminal",
            "with a monitor the init's terminal is the console, which needs console.enabled \
             and the default /dev (default_mounts); Reaper::Subreaper gives it a pty of its own",
        ));
    }
    let mut st = planned(rt, id, config, detached)?;
    check_init(config, st.init_kind.unwrap_or(InitKind::Other))?;
    if let Some(p) = &st.cgroup {
        if Cgroup::open(p).exists() {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("cgroup {p} exists already (another container's?)"),
            ));
        }
    }
    let (dir, lock) = reserve(rt, id, &st, config)?;
    fault::point("create:reserved");
    let ct = Container::new(rt, id, &st);
    let config = &resolved(config, st.init_kind.unwrap_or(InitKind::Other));
    let res = build(&ct, config, opts, start_now, &dir, &mut st);
    if let Err(e) = res {
        let errors = delete::teardown(&dir, &st, rt.kill_timeout()).1;
        drop(lock);
        return Err(delete::with_cleanup_errors(e, errors));
    }
    drop(lock);
    // `run`'s poststart hooks, unlocked: they may drive the container.
    // A failure removes it: the caller gets no handle to do that with
    // (`start`, where the caller has one, only stops it, as runc)
    if let (true, Some(init)) = (start_now, st.init) {
        if let Err(e) = super::hooks::after_start(id, config, init.pid) {
            let e = match ct.delete_force() {
                Ok(()) => e,
                Err(d) => delete::with_cleanup_errors(e, vec![d]),
            };
            return Err(e.context(format!("running container {id}")));
        }
    }
    Ok(ct)
}

/// Everything after the reservation; `st` gains what is made, for the
/// teardown on failure.
fn build(
    ct: &Container,
    config: &Config,
    opts: CreateOptions,
    start_now: bool,
    dir: &Path,
    st: &mut StateFile,
) -> Result<()> {
    let id = ct.id();
    if let Some(a) = &st.apparmor {
        crate::security::apparmor::load_planned(&config.apparmor, a)?;
    }
    fault::point("create:apparmor");
    if let Some(target) = &st.rootfs_mount {
        idmap_rootfs(id, config, target)?;
    }
    // v1: the cgroup dirs (one per hierarchy), limits and device rules
    // are made on another thread while the plan is built, the child is
    // cloned and it mounts its rootfs; the spawn joins it to attach
    let late = config.cgroup.enabled && !cgroup_before_clone(config);
    let spawned = std::thread::scope(|sc| {
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
        let res = spawn_init(
            config,
            opts,
            start_now,
            dir,
            st,
            late.then_some(&take as LateCgroup),
        );
        // a cgroup made but never handed to the child: wait for its thread
        // (the teardown removes it by its planned path)
        let _ = take();
        res
    })?;
    let spawn::Spawned {
        process,
        monitor,
        sync,
        listener,
        pty,
    } = spawned;
    // not written yet: until the state says created (or running), a
    // creator's death is undone by recovery whatever the pids (the init
    // and its monitor end on their own once the creator's socket closes)
    st.init = ProcRef::of(process.pid);
    st.monitor = monitor.as_ref().and_then(|m| ProcRef::of(m.pid));
    let died = || Error::new(ErrorKind::Child, "the container process died during setup");
    let init_ref = st.init.ok_or_else(died)?;
    let monitor = match (monitor, st.monitor) {
        (Some(m), Some(r)) => Some(Live { r, pidfd: m.pidfd }),
        (None, _) => None,
        (Some(_), None) => return Err(died()),
    };
    let listener = super::hooks::route_listener(id, config, init_ref.pid, "creating", listener)?;
    ct.adopt(
        Live {
            r: init_ref,
            pidfd: process.pidfd,
        },
        monitor,
        listener,
        pty,
    );
    fault::point("create:spawned");
    let root = (
        host_id(config.uid_map.as_ref(), 0),
        host_id(config.gid_map.as_ref(), 0),
    );
    let owner = network::Owner {
        id,
        pid: init_ref.pid,
        state_dir: dir,
        root,
    };
    for iface in &config.interfaces {
        if let Err(e) = network::add(&owner, iface) {
            if e.kind() == ErrorKind::AlreadyExists {
                // somebody else's link of that name: not ours to remove
                let theirs = network::host_name(id, iface);
                st.host_links.retain(|h| *h != theirs);
            }
            return Err(e);
        }
    }
    fault::point("create:interfaces");
    if start_now && !config.hooks.start_container.is_empty() {
        if let Some(init) = ct.init_live(st) {
            super::hooks::on_start(id, config, init_ref.pid, &init.pidfd)?;
        }
    }
    if start_now {
        // `run`: from creating to running in one write
        let argv0 = config.process.args[0].clone();
        let confirm = !config.seccomp.as_ref().is_some_and(|p| p.uses_notify());
        spawn::start_and_confirm(&sync, true, confirm, &argv0)?;
        st.phase = Phase::Running;
        st.started = Some(now());
    } else {
        st.phase = Phase::Created;
    }
    st.owner = None;
    st.write(dir)?;
    fault::point("create:created");
    Ok(())
}

/// The terminals, fifo, report file, attach socket and plan; then the
/// clone under a new monitor.
fn spawn_init(
    config: &Config,
    opts: CreateOptions,
    start_now: bool,
    dir: &Path,
    st: &StateFile,
    late: Option<LateCgroup<'_>>,
) -> Result<spawn::Spawned> {
    let id = &st.id;
    let cgroup = if config.cgroup.enabled && cgroup_before_clone(config) {
        Some(make_cgroup(&config.cgroup.resolve(id), config)?)
    } else {
        None
    };
    let user = (
        host_id(config.uid_map.as_ref(), config.process.user.uid),
        host_id(config.gid_map.as_ref(), config.process.user.gid),
    );
    let root = (
        host_id(config.uid_map.as_ref(), 0),
        host_id(config.gid_map.as_ref(), 0),
    );
    let mut terminals = Vec::new();
    for i in 0..st.terminals {
        let owner = if i == 0 && config.process.terminal {
            user
        } else {
            root
        };
        terminals.push(Pty::open(owner.0, owner.1)?);
    }
    let fifo_fd = if start_now {
        None
    } else {
        Some(make_fifo(dir, user.0, user.1)?)
    };
    // the init's failure report after `Ready`, for whoever starts it (run
    // does not go past Ready without this process)
    let report = if start_now {
        None
    } else {
        Some(new_private_file(&dir.join("start.err"))?)
    };
    let detached = opts.reaper == Reaper::Subreaper;
    let listener = if detached {
        None
    } else {
        Some(console::listen(dir)?)
    };
    // the monitor writes how the init ended into it, in one write
    let exit = if detached {
        None
    } else {
        Some(new_private_file(&dir.join("exit"))?)
    };
    let dir_fd = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .ctx(|| format!("opening {}", dir.display()))?;

    let mut fds = PlanFds::default();
    // an idmapped rootfs: the plan mounts the idmapped copy; the state
    // keeps the description as given
    let idmapped;
    let planned = match &st.rootfs_mount {
        Some(m) => {
            idmapped = Config {
                rootfs: m.clone(),
                ..config.clone()
            };
            &idmapped
        }
        None => config,
    };
    let mut plan = init_plan(
        planned,
        [opts.stdin, opts.stdout, opts.stderr],
        opts.extra_fds,
        &terminals,
        fifo_fd.as_ref().map_or(-1, |f| f.as_raw_fd()),
        report.as_ref().map_or(-1, |f| f.as_raw_fd()),
        &mut fds,
    )?;
    if detached {
        // the init's terminal is made inside and its master handed to us
        plan.process.pty_inside = config.process.terminal;
        // its parent (M) exits at once: it must not take the child along
        plan.die_with_parent = false;
    }
    plan.process.apparmor_exec = crate::plan::build::apparmor_exec(st.apparmor.as_ref())?;
    plan.keyring = Some(crate::plan::build::keyring_name(id));
    // a boot id of its own per start (journalctl -b inside, systemd)
    if let Some(r) = plan.rootfs.as_mut().filter(|_| config.default_mounts) {
        r.boot_id = Some(write_boot_id(&devnodes::node_dir(dir))?);
    }
    let mut nodes = Vec::new();
    for rule in config.devices.iter().filter(|r| r.path.is_some()) {
        let host = devnodes::make(&devnodes::node_dir(dir), rule, root.0, root.1)?;
        let path = rule.path.clone().expect("filtered");
        nodes.push((path, host, rule.to_string()));
    }
    if let Some(r) = plan.rootfs.as_mut() {
        crate::plan::rootfs::add_device_nodes(r, &nodes)?;
        if crate::plan::rootfs::cgroup_binds(config) {
            let writable = config.cgroup.delegate == Some(true);
            crate::plan::rootfs::add_cgroup_binds(r, &config.cgroup.resolve(id), writable)?;
        }
    }
    plan.wait_cgroup = late.is_some();
    let mut rlimits = Vec::new();
    for r in &config.process.rlimits {
        rlimits.push((r.resource_id()?, r.soft, r.hard));
    }
    let h = &config.hooks;
    plan.create_hooks = !h.create_runtime.is_empty() || !h.create_container.is_empty();
    let create_hooks = |pid: i32, pidfd: &OwnedFd| super::hooks::on_create(id, config, pid, pidfd);
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
        create_hooks: Some(&create_hooks),
    };
    let pairs: Vec<(i32, i32)> = terminals
        .iter()
        .map(|t| (t.master.as_raw_fd(), t.slave.as_raw_fd()))
        .collect();
    let mode = match (&listener, &exit) {
        (Some(l), Some(e)) => monitor::Mode::Init {
            id,
            dir: dir_fd.as_raw_fd(),
            listener: l.as_raw_fd(),
            exit: e.as_raw_fd(),
            terminals: &pairs,
            log_bytes: config.console.log_bytes,
        },
        _ => monitor::Mode::Detached,
    };
    fault::point("create:planned");
    let spawned = spawn::spawn(&plan, &host, &mode)?;
    drop(fds);
    Ok(spawned)
}

/// Whether the container's cgroup must exist before clone: on v2 the init
/// is cloned straight into it (`CLONE_INTO_CGROUP`); its directories are
/// bound into a container without a cgroup namespace by the plan.
fn cgroup_before_clone(config: &Config) -> bool {
    HostFeatures::get().cgroup_mode == crate::features::CgroupMode::Unified
        || crate::plan::rootfs::cgroup_binds(config)
}

/// Create a cgroup and set its limits and device rules.
fn make_cgroup(path: &str, config: &Config) -> Result<Cgroup> {
    let cg = Cgroup::create(path)?;
    super::control::prepare_cgroup(&cg, config)?;
    Ok(cg)
}
