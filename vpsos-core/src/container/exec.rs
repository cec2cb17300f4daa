//! Processes exec'd into a running container.

use super::console::Pty;
use super::plan::{exec_plan, host_id, PlanFds};
use super::{Container, CreateOptions};
use crate::config::Process;
use crate::error::Result;
use crate::spawn::{self, pidfd_signal, wait_exit, ExitStatus, HostSetup};
use std::os::fd::OwnedFd;

/// A process running inside a container, started by [`Container::exec`].
///
/// ```no_run
/// # let rt = vpsos_core::Runtime::new();
/// let ct = rt.load("ct1")?;
/// let mut p = ct.exec(&vpsos_core::Process::new(["hostname"]), Default::default())?;
/// assert!(p.wait()?.success());
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug)]
pub struct ExecProcess {
    pid: i32,
    pidfd: OwnedFd,
    console: Option<OwnedFd>,
    exit: Option<ExitStatus>,
    seccomp_listener: Option<OwnedFd>,
}

impl ExecProcess {
    /// Its host pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Take the pty master, if it was started with a terminal.
    pub fn take_console(&mut self) -> Option<OwnedFd> {
        self.console.take()
    }

    /// Take this process's seccomp notification listener (when the
    /// container's profile notifies): each exec'd process loads the filter
    /// anew, so it has a listener of its own.
    pub fn take_seccomp_listener(&mut self) -> Option<OwnedFd> {
        self.seccomp_listener.take()
    }

    /// Send it a signal.
    pub fn kill(&self, signal: i32) -> Result<()> {
        pidfd_signal(&self.pidfd, signal)
    }

    /// Wait for it to exit.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(s) = self.exit {
            return Ok(s);
        }
        let s = wait_exit(self.pid, &self.pidfd)?;
        self.exit = Some(s);
        Ok(s)
    }
}

pub(super) fn exec(
    ct: &Container,
    init_pidfd: &OwnedFd,
    process: &Process,
    opts: CreateOptions,
) -> Result<ExecProcess> {
    let config = &ct.state.config;
    let tty = if process.terminal {
        let uid = host_id(config.uid_map.as_ref(), process.user.uid);
        let gid = host_id(config.gid_map.as_ref(), process.user.gid);
        Some(Pty::open(uid, gid)?)
    } else {
        None
    };
    let mut fds = PlanFds::default();
    let mut plan = exec_plan(
        config,
        process,
        init_pidfd,
        [opts.stdin, opts.stdout, opts.stderr],
        opts.extra_fds,
        tty.as_ref(),
        &mut fds,
    )?;
    plan.process.apparmor_exec = super::plan::apparmor_exec(ct.state.apparmor.as_ref())?;
    let mut rlimits = Vec::new();
    for r in &process.rlimits {
        rlimits.push((r.resource_id()?, r.soft, r.hard));
    }
    let host = HostSetup {
        cgroup: ct.cgroup.as_ref(),
        rlimits,
        oom_score_adj: process.oom_score_adj,
        ..HostSetup::default()
    };
    let spawned = spawn::spawn(&plan, &host)?;
    Ok(ExecProcess {
        pid: spawned.pid,
        pidfd: spawned.pidfd,
        console: tty.map(|t| t.master),
        exit: None,
        seccomp_listener: spawned.listener,
    })
}
