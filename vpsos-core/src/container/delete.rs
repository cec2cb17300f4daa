//! Removing a container, and the one teardown path that a failed start, a
//! delete and a recovery share.

use super::devnodes;
use super::network;
use super::recover::Recovered;
use super::state::{Phase, StateFile};
use super::Container;
use crate::cgroup::Cgroup;
use crate::error::{Error, ErrorKind, Result};
use crate::fault;
use crate::spawn::pidfd_signal;
use crate::until::Until;
use std::fs;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

impl Container {
    /// Remove a stopped container: its cgroup, interfaces, device nodes,
    /// mounts, AppArmor profile and state directory. A running one is
    /// `Busy`; see [`delete_force`](Container::delete_force). Afterwards
    /// every call on any handle of it returns `NotFound`.
    pub fn delete(&self) -> Result<()> {
        let _lock = self.lock()?;
        let st = self.current()?;
        if st.init.is_some_and(|r| r.alive()) {
            return Err(Error::new(
                ErrorKind::Busy,
                format!("deleting container {}: it is still running", self.id),
            ));
        }
        self.remove(st)
    }

    /// Kill whatever runs in the container, then delete it.
    pub fn delete_force(&self) -> Result<()> {
        let _lock = self.lock()?;
        let st = self.current()?;
        self.remove(st)
    }

    fn remove(&self, mut st: StateFile) -> Result<()> {
        // write-ahead, when something still runs: a deleter killed from
        // here on leaves a container that recover() finishes removing.
        // A stopped one needs no mark: whatever part of it a killed
        // deleter leaves is still a stopped container, deleted again.
        if st.init.is_some_and(|r| r.alive()) || st.monitor.is_some_and(|r| r.alive()) {
            st.phase = Phase::Deleting;
            st.owner = super::state::ProcRef::of(std::process::id() as i32);
            st.write(&self.dir)?;
        }
        fault::point("delete:marked");
        let config = st
            .poststop_hooks
            .then(|| super::state::read_config(&self.dir).ok())
            .flatten();
        let (_, errors) = teardown(&self.dir, &st, self.kill_bound());
        if let Some(e) = errors.into_iter().reduce(join_errors) {
            return Err(e.context(format!("deleting container {}", self.id)));
        }
        self.gone.store(true, Ordering::Relaxed);
        match config {
            Some(c) => super::hooks::after_delete(&self.id, &c)
                .map_err(|e| e.context(format!("container {} was deleted, but", self.id))),
            None => Ok(()),
        }
    }
}

/// Undo everything `st` says was (or was to be) made for the container in
/// `dir`, in order: its processes (killed, the monitor waited for), host
/// interfaces, cgroup, device nodes, idmapped rootfs, AppArmor profile,
/// and finally the state directory. Every step runs whatever failed
/// before it; the errors are returned, and with any error the state
/// directory stays, so a later recovery can try again.
pub(crate) fn teardown(dir: &Path, st: &StateFile, bound: Duration) -> (Recovered, Vec<Error>) {
    let mut done = Recovered {
        id: st.id.clone(),
        ..Recovered::default()
    };
    let mut errors = Vec::new();
    let cgroup = st.cgroup.as_deref().map(Cgroup::open);

    // processes: the init (and with it its PID namespace), whatever else
    // is in its cgroup, then its monitor, which ends once the init is reaped
    let until = Until::after(bound);
    if let Some(fd) = st.init.and_then(|r| r.open()) {
        done.processes.push(st.init.expect("opened").pid);
        let _ = pidfd_signal(&fd, libc::SIGKILL);
        // a frozen init dies of it only once thawed
        if let Some(cg) = cgroup.as_ref().filter(|cg| cg.is_frozen().unwrap_or(false)) {
            let _ = cg.thaw();
        }
        if let Err(e) = until.wait_readable(std::os::fd::AsRawFd::as_raw_fd(&fd)) {
            errors.push(e);
        }
    }
    if let Some(cg) = cgroup.as_ref().filter(|cg| cg.exists() && !cg.is_empty()) {
        done.processes.extend(cg.procs_recursive());
        if let Err(e) = cg.kill_all(bound) {
            errors.push(e);
        }
    }
    if let Some(m) = st.monitor {
        if let Some(fd) = m.open() {
            done.processes.push(m.pid);
            // it exits by itself once its children are gone; give it a moment
            let fd_raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
            if !until
                .within(Duration::from_secs(5))
                .wait_readable(fd_raw)
                .unwrap_or(false)
            {
                let _ = pidfd_signal(&fd, libc::SIGKILL);
            }
        }
    }
    done.processes.sort_unstable();
    done.processes.dedup();
    fault::point("teardown:killed");

    match network::remove_owned_links(dir, &st.host_links) {
        Ok(gone) => done.interfaces = gone,
        Err(e) => errors.push(e),
    }
    if let Some(cg) = &cgroup {
        if cg.exists() {
            match cg.remove() {
                Ok(()) => done.cgroup = Some(cg.path().to_string()),
                Err(e) => errors.push(e),
            }
        }
    }
    let nodes = devnodes::node_dir(dir);
    if nodes.exists() {
        match devnodes::remove_all(&nodes) {
            Ok(()) => done.device_nodes = true,
            Err(e) => errors.push(e),
        }
    }
    if let Some(m) = &st.rootfs_mount {
        if m.exists() {
            match crate::rootfs::idmapped::unmount(m) {
                Ok(()) => done.mounts.push(m.clone()),
                Err(e) => errors.push(e),
            }
        }
    }
    if let Some(a) = &st.apparmor {
        if a.label.is_some() {
            match crate::security::apparmor::unload(a) {
                Ok(()) => done.apparmor = Some(a.profile.clone()),
                Err(e) => errors.push(e),
            }
        }
    }
    if errors.is_empty() {
        match fs::remove_dir_all(dir) {
            Ok(()) => done.state_removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => errors.push(Error::from_errno(
                e.raw_os_error().unwrap_or(libc::EIO),
                format!("removing {}", dir.display()),
            )),
        }
    }
    (done, errors)
}

/// `a`, then `b`'s message after it (one error of `a`'s kind).
fn join_errors(a: Error, b: Error) -> Error {
    let more = b.to_string();
    a.context_after(format!("and {more}"))
}

/// The error of a failed start, with what its cleanup could not undo.
pub(crate) fn with_cleanup_errors(e: Error, errors: Vec<Error>) -> Error {
    match errors.into_iter().reduce(join_errors) {
        None => e,
        Some(c) => e.context_after(format!("cleaning up also failed: {c}")),
    }
}
