//! From a [`Config`] (or an exec request) to a [`ChildPlan`]: namespaces,
//! the process, stdio and console, all turned into C strings and fds.

use super::rootfs::{self, cstr};
use super::{ChildPlan, ProcessPlan, Role, TimePlan};
use crate::config::{validate, Config, NamespaceKind, NamespaceMode, Process, TimeOffsets};
use crate::container::{Pty, Stdio};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::idmap::IdMap;
use crate::security::seccomp::{Action, Profile};
use crate::spawn::sys::last_cap;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// Everything a plan borrows fds from; must outlive the spawn.
#[derive(Default)]
pub(crate) struct PlanFds {
    pub joins: Vec<OwnedFd>,
    pub stdio: Vec<OwnedFd>,
    pub extra: Vec<OwnedFd>,
}

/// The namespace part of the init's plan.
pub(crate) fn namespaces(config: &Config, plan: &mut ChildPlan, fds: &mut PlanFds) -> Result<()> {
    let ns = &config.namespaces;
    for (kind, path) in ns.joined() {
        let f = File::open(path).ctx(|| format!("opening namespace {} to join", path.display()))?;
        plan.joins.push((f.as_raw_fd(), kind.clone_flag()));
        fds.joins.push(f.into());
    }
    // cgroup and time namespaces are made by the child itself, once it is
    // in its cgroup and can set the clock offsets
    let late = libc::CLONE_NEWCGROUP | libc::CLONE_NEWTIME;
    let new = ns.new_flags() & !late;
    if plan.joins.is_empty() {
        plan.clone_flags = new as u64;
    } else {
        plan.unshare_flags = new;
        plan.wait_maps = ns.is_new(NamespaceKind::User);
        plan.fork_after = ns.get(NamespaceKind::Pid).is_some();
    }
    // in a new or joined user namespace, become its root before setup
    plan.become_root = ns.get(NamespaceKind::User).is_some();
    plan.cgroupns = ns.is_new(NamespaceKind::Cgroup);
    if ns.is_new(NamespaceKind::Time) {
        plan.time = TimePlan::New(match ns.time_offsets {
            TimeOffsets::ZeroUptime => None,
            TimeOffsets::Fixed {
                monotonic,
                boottime,
            } => Some((monotonic, boottime)),
        });
    }
    plan.lo_up = config.namespaces.is_new(NamespaceKind::Network);
    plan.hostname = config
        .hostname
        .as_deref()
        .map(|h| cstr(h, "hostname"))
        .transpose()?;
    plan.domainname = config
        .domainname
        .as_deref()
        .map(|h| cstr(h, "domainname"))
        .transpose()?;
    Ok(())
}

/// The clone flags of every namespace the container has (new or joined),
/// for setns(pidfd) when exec'ing into it.
pub(crate) fn container_ns_flags(config: &Config) -> libc::c_int {
    NamespaceKind::ALL
        .iter()
        .filter(|k| config.namespaces.get(**k).is_some())
        .fold(0, |f, k| f | k.clone_flag())
}

/// The process part of a plan: `p` in `config`'s container. Capabilities
/// `p` leaves unset are the init's; without a user namespace the container
/// can hold only what the runtime holds.
pub(crate) fn process(
    p: &Process,
    config: &Config,
    stdio: [Stdio; 3],
    extra: Vec<OwnedFd>,
    tty: Option<&Pty>,
    fds: &mut PlanFds,
) -> Result<ProcessPlan> {
    let argv = p
        .args
        .iter()
        .map(|a| cstr(a, "process.args"))
        .collect::<Result<Vec<_>>>()?;
    let envp = p
        .env
        .iter()
        .map(|e| cstr(e, "process.env"))
        .collect::<Result<Vec<_>>>()?;
    let exec_paths = exec_candidates(p)?;
    let caps = p
        .capabilities
        .as_ref()
        .or(config.process.capabilities.as_ref())
        .map(|c| c.masks());
    if let (Some(masks), false) = (&caps, has_userns(config)) {
        check_grantable(masks)?;
    }
    let (seccomp_early, admin_until_seccomp) = seccomp_timing(config, p, caps);
    if let Some(profile) = &config.seccomp {
        check_notify(profile, seccomp_early, admin_until_seccomp)?;
    }
    let mut out = ProcessPlan {
        argv,
        envp,
        exec_paths,
        cwd: cstr(p.cwd.as_os_str().as_bytes(), "process.cwd")?,
        uid: p.user.uid,
        gid: p.user.gid,
        groups: p.user.additional_gids.clone(),
        caps,
        last_cap: last_cap(),
        no_new_privs: p.no_new_privileges,
        umask: p.umask,
        stdio: [-1; 3],
        tty: tty.map_or(-1, |t| t.slave.as_raw_fd()),
        pty_inside: false,
        extra_fds: vec![],
        seccomp: config
            .seccomp
            .as_ref()
            .map(crate::security::seccomp::compile)
            .transpose()?,
        seccomp_early,
        admin_until_seccomp,
        apparmor_exec: None,
    };
    for (i, s) in stdio.into_iter().enumerate() {
        let fd = match s {
            Stdio::Inherit => continue,
            Stdio::Null => File::options()
                .read(true)
                .write(true)
                .open("/dev/null")
                .ctx(|| "opening /dev/null".into())?
                .into(),
            Stdio::Fd(fd) => fd,
        };
        out.stdio[i] = fd.as_raw_fd();
        fds.stdio.push(fd);
    }
    for fd in extra {
        out.extra_fds.push(fd.as_raw_fd());
        fds.extra.push(fd);
    }
    if out.extra_fds.len() > 64 {
        return Err(Error::invalid("extra_fds", "at most 64"));
    }
    Ok(out)
}

/// In the host's user namespace a process can be given only capabilities
/// the runtime holds: fail here, naming them, rather than with a bare EPERM
/// from capset in the child.
fn check_grantable(masks: &[u64; 5]) -> Result<()> {
    // only the permitted set bounds what can be granted
    let held = caps::read(None, caps::CapSet::Permitted)
        .map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("reading this thread's capabilities: {e}"),
            )
        })?
        .iter()
        .fold(0u64, |m, c| m | c.bitmask());
    let [_, effective, permitted, inheritable, ambient] = *masks;
    let missing = (effective | permitted | inheritable | ambient) & !held;
    if missing == 0 {
        return Ok(());
    }
    let names: Vec<String> = caps::all()
        .into_iter()
        .filter(|c| missing & c.bitmask() != 0)
        .map(|c| c.to_string())
        .collect();
    Err(Error::new(
        ErrorKind::PermissionDenied,
        format!(
            "process.capabilities: the runtime itself does not hold {}, so a container \
             without a user namespace cannot be given it; drop it from the sets or give \
             the container a user namespace",
            names.join(", ")
        ),
    ))
}

/// Whether the container has a user namespace (new or joined).
fn has_userns(config: &Config) -> bool {
    config.namespaces.get(NamespaceKind::User).is_some()
}

/// argv[0] as given if it has a `/`, else each `PATH` entry joined with it.
fn exec_candidates(p: &Process) -> Result<Vec<CString>> {
    let a0 = &p.args[0];
    if a0.contains('/') {
        return Ok(vec![cstr(a0, "process.args")?]);
    }
    let path = p
        .path_var()
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| cstr(format!("{}/{a0}", d.trim_end_matches('/')), "process.args"))
        .collect()
}

/// When `p` loads the seccomp filter: (before its user switch, keeping
/// CAP_SYS_ADMIN until the load). Late is the rule; loading needs
/// CAP_SYS_ADMIN or no_new_privs then.
fn seccomp_timing(config: &Config, p: &Process, caps: Option<[u64; 5]>) -> (bool, bool) {
    match (&config.seccomp, caps) {
        (None, _) => (false, false),
        _ if p.no_new_privileges => (false, false),
        (Some(_), Some([_, effective, ..])) => (
            false,
            effective & (1 << crate::spawn::sys::CAP_SYS_ADMIN) == 0,
        ),
        // no capability sets of its own: root keeps all of its namespace's
        (Some(_), None) => (p.user.uid != 0, false),
    }
}

/// Refuse Notify rules of `config`'s seccomp profile that would stall
/// the setup of process `p` (the init, or one to exec).
pub(crate) fn check_process_notify(config: &Config, p: &Process) -> Result<()> {
    let Some(profile) = &config.seccomp else {
        return Ok(());
    };
    let caps = p
        .capabilities
        .as_ref()
        .or(config.process.capabilities.as_ref())
        .map(|c| c.masks());
    let (early, admin) = seccomp_timing(config, p, caps);
    check_notify(profile, early, admin)
}

/// The syscalls a process makes after its seccomp filter is loaded and
/// before the listener is in the caller's hands: a Notify rule on one of
/// them would hold the setup for an answer nobody can give yet.
fn setup_syscalls(early: bool, admin_until_seccomp: bool) -> &'static [&'static str] {
    if early {
        &[
            "setgroups",
            "setresgid",
            "setresuid",
            "chdir",
            "capset",
            "prctl",
            "umask",
            "open",
            "openat",
            "openat2",
            "write",
            "close",
            "fcntl",
            "dup2",
            "dup3",
            "close_range",
            "access",
            "faccessat",
            "faccessat2",
            "ioctl",
            "sendmsg",
        ]
    } else if admin_until_seccomp {
        &["capset", "prctl", "sendmsg"]
    } else {
        &["sendmsg"]
    }
}

/// Refuse Notify rules that would stall vpsos's own setup of a process.
fn check_notify(profile: &Profile, early: bool, admin_until_seccomp: bool) -> Result<()> {
    let made = setup_syscalls(early, admin_until_seccomp);
    let why = if early {
        "this process has no capability sets of its own, no no_new_privileges and is not root, so the filter loads before its user switch"
    } else if admin_until_seccomp {
        "its capabilities are set after the filter loads (they lack CAP_SYS_ADMIN and there is no no_new_privileges)"
    } else {
        "vpsos hands the listener over with sendmsg"
    };
    if profile.default_action == Action::Notify {
        return Err(Error::invalid(
            "seccomp.default_action",
            format!("notify as the default would hold vpsos's own setup of the process at {} ({why}); notify chosen syscalls instead", made.join(", ")),
        ));
    }
    for (i, r) in profile.syscalls.iter().enumerate() {
        if r.action != Action::Notify {
            continue;
        }
        if let Some(n) = r.names.iter().find(|n| made.contains(&n.as_str())) {
            return Err(Error::invalid(
                format!("seccomp.syscalls[{i}]"),
                format!("a notify rule on {n} would hold vpsos's own setup of the process before anyone holds the listener ({why})"),
            ));
        }
    }
    Ok(())
}

/// The whole plan for a container's init: `terminals` are the console
/// (also its terminal with `process.terminal`) and the ttys.
pub(crate) fn init_plan(
    config: &Config,
    stdio: [Stdio; 3],
    extra: Vec<OwnedFd>,
    terminals: &[Pty],
    fifo_fd: libc::c_int,
    report_fd: libc::c_int,
    fds: &mut PlanFds,
) -> Result<ChildPlan> {
    // (without one, create decides: a pty made inside, or an error)
    let console = terminals.first().filter(|_| config.process.terminal);
    let mut plan = ChildPlan {
        role: Role::Init,
        clone_flags: 0,
        joins: vec![],
        unshare_flags: 0,
        wait_maps: false,
        fork_after: false,
        become_root: false,
        cgroupns: false,
        wait_cgroup: false,
        time: TimePlan::None,
        hostname: None,
        domainname: None,
        lo_up: false,
        rootfs: Some(rootfs::plan(
            config,
            terminals.iter().map(|t| t.slave_path.clone()).collect(),
        )?),
        process: process(&config.process, config, stdio, extra, console, fds)?,
        fifo_fd,
        report_fd,
        // the caller names it (keyring_name)
        keyring: None,
        lock_mounts: false,
        die_with_parent: true,
        sysctl: sysctl_plan(config)?,
        personality: config.personality.map(|p| p.domain()),
        create_hooks: false,
    };
    namespaces(config, &mut plan, fds)?;
    // under a new user namespace, the container's root could undo mounts
    // it owns: they go into a namespace it does not own (spawn::lock)
    plan.lock_mounts = plan.rootfs.is_some()
        && matches!(
            config.namespaces.get(NamespaceKind::User),
            Some(NamespaceMode::New)
        )
        && matches!(
            config.namespaces.get(NamespaceKind::Mount),
            Some(NamespaceMode::New)
        );
    Ok(plan)
}

/// The plan for a process exec'd into a running container whose init is
/// behind `init_pidfd`.
pub(crate) fn exec_plan(
    id: &str,
    config: &Config,
    p: &Process,
    init_pidfd: &OwnedFd,
    stdio: [Stdio; 3],
    extra: Vec<OwnedFd>,
    fds: &mut PlanFds,
) -> Result<ChildPlan> {
    validate::process(
        "process",
        p,
        config.uid_map.as_ref(),
        config.gid_map.as_ref(),
    )?;
    Ok(ChildPlan {
        role: Role::Tenant,
        clone_flags: 0,
        joins: vec![(init_pidfd.as_raw_fd(), container_ns_flags(config))],
        unshare_flags: 0,
        wait_maps: false,
        fork_after: config.namespaces.get(NamespaceKind::Pid).is_some(),
        become_root: false,
        cgroupns: false,
        wait_cgroup: false,
        time: TimePlan::None,
        hostname: None,
        domainname: None,
        lo_up: false,
        rootfs: None,
        process: ProcessPlan {
            // a terminal of the container's own devpts, made inside
            pty_inside: p.terminal,
            ..process(p, config, stdio, extra, None, fds)?
        },
        fifo_fd: -1,
        report_fd: -1,
        keyring: Some(keyring_name(id)),
        lock_mounts: false,
        die_with_parent: true,
        sysctl: vec![],
        personality: config.personality.map(|p| p.domain()),
        create_hooks: false,
    })
}

/// The container's kernel parameters as (/proc/sys file, value).
fn sysctl_plan(config: &Config) -> Result<Vec<(CString, CString)>> {
    config
        .sysctl
        .iter()
        .map(|(k, v)| {
            let path = format!("/proc/sys/{}", crate::config::sysctl_file(k));
            let field = || format!("sysctl.{k}");
            Ok((
                CString::new(path).map_err(|_| Error::invalid(field(), "contains NUL"))?,
                CString::new(v.as_str()).map_err(|_| Error::invalid(field(), "contains NUL"))?,
            ))
        })
        .collect()
}

/// The name of container `id`'s session keyring (`vpsos.<id>`), which its
/// init and every exec'd process join.
pub(crate) fn keyring_name(id: &str) -> CString {
    // ids are checked: no NUL
    CString::new(format!("vpsos.{id}")).unwrap_or_default()
}

/// `exec <label>` for the child to write before exec.
pub(crate) fn apparmor_exec(
    applied: Option<&crate::security::apparmor::Applied>,
) -> Result<Option<CString>> {
    applied
        .and_then(|a| a.label.as_deref())
        .map(|l| cstr(format!("exec {l}"), "apparmor.name"))
        .transpose()
}

/// The host uid/gid that container ids map to (identity without a map).
pub(crate) fn host_id(map: Option<&IdMap>, id: u32) -> u32 {
    map.map_or(Some(id), |m| m.to_host(id)).unwrap_or(id)
}

/// Whether the config creates a user namespace.
pub(crate) fn new_userns(config: &Config) -> bool {
    config.namespaces.get(NamespaceKind::User) == Some(&NamespaceMode::New)
}
