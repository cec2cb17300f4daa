//! Recovering containers whose maker or deleter died half-way.
//!
//! A state in phase `creating` or `deleting` whose lock nobody holds was
//! left by a process that died in the middle (the lock goes with its
//! holder). Its `state.json` names everything that was or was to be made
//! (see `create`), so recovery undoes it with the same teardown a failed
//! start uses, and the id is free again.

use super::delete::teardown;
use super::lock::Lock;
use super::state::{Phase, StateFile};
use super::Runtime;
use crate::error::{Error, ErrorKind, Result};
use crate::spawn::sys::errno;
use crate::until::Until;
use serde::Serialize;
use std::fs;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

/// What a recovery removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recovered {
    /// The container id.
    pub id: String,
    /// Processes killed (the init, whatever else was in its cgroup, its monitor).
    pub processes: Vec<i32>,
    /// The cgroup removed.
    pub cgroup: Option<String>,
    /// Host interfaces deleted.
    pub interfaces: Vec<String>,
    /// Mounts undone (an idmapped rootfs).
    pub mounts: Vec<PathBuf>,
    /// Whether granted device nodes were removed.
    pub device_nodes: bool,
    /// The AppArmor profile unloaded (and its namespace removed).
    pub apparmor: Option<String>,
    /// Whether the state directory is gone (the id is free again).
    pub state_removed: bool,
}

impl Recovered {
    /// Whether anything was left to remove.
    pub fn is_empty(&self) -> bool {
        !self.state_removed
    }
}

impl Runtime {
    /// Finish what a dead process left half-way on container `id`: a
    /// create (the container was never complete) or a delete is undone,
    /// and what was removed is reported. A complete container is left as
    /// it is (`Ok` with nothing removed), running or stopped; one that a
    /// live process is changing is `Busy`.
    ///
    /// ```no_run
    /// let rt = vpsos_core::Runtime::new();
    /// let r = rt.recover("ct101")?;
    /// if r.state_removed {
    ///     println!("undid a half-made start: killed {:?}, removed cgroup {:?}, links {:?}",
    ///              r.processes, r.cgroup, r.interfaces);
    /// }
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn recover(&self, id: &str) -> Result<Recovered> {
        super::create::check_id(id)?;
        // a creator of this id killed before its directory got the name
        let mut temps_removed = false;
        for (name, path) in self.temp_dirs() {
            if let Some((of, maker)) = temp_dir_of(&name).filter(|(of, _)| *of == id) {
                temps_removed |= self.recover_dir(of, path, Some(maker)).is_ok();
            }
        }
        match self.recover_dir(id, self.root().join(id), None) {
            Err(e) if e.kind() == ErrorKind::NotFound && temps_removed => Ok(Recovered {
                id: id.to_string(),
                state_removed: true,
                ..Recovered::default()
            }),
            r => r,
        }
    }

    /// The creators' temporary directories under the root: (name, path).
    fn temp_dirs(&self) -> Vec<(String, PathBuf)> {
        fs::read_dir(self.root())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(n, _)| temp_dir_of(n).is_some())
            .collect()
    }

    /// [`recover`](Runtime::recover) every container under the root, and
    /// the temporary directories of creators that died before their
    /// container got its name. Returns what was removed, per container
    /// (only those where something was).
    pub fn recover_all(&self) -> Result<Vec<Recovered>> {
        let entries = match fs::read_dir(self.root()) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => {
                return Err(Error::from_errno(
                    e.raw_os_error().unwrap_or(libc::EIO),
                    format!("listing {}", self.root().display()),
                ))
            }
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let (id, maker) = match temp_dir_of(&name) {
                Some((id, maker)) => (id, Some(maker)),
                None if super::valid_id(&name) => (name.as_str(), None),
                None => continue,
            };
            match self.recover_dir(id, e.path(), maker) {
                Ok(r) if !r.is_empty() => out.push(r),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::Busy | ErrorKind::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// `maker`: the pid of the creator whose directory this is, not yet
    /// renamed to its id. Nothing is made on the host before that rename,
    /// and what its state plans may belong to whoever got the id instead:
    /// it is only removed, once that creator is gone (before it locks
    /// the directory, only its being alive says it is still at work).
    fn recover_dir(&self, id: &str, dir: PathBuf, maker: Option<i32>) -> Result<Recovered> {
        // SAFETY: signal 0 only checks that the process exists.
        if maker.is_some_and(|pid| unsafe { libc::kill(pid, 0) } == 0 || errno() == libc::EPERM) {
            return Err(Error::new(
                ErrorKind::Busy,
                format!("recovering container {id}: its creator is still making it"),
            ));
        }
        let temp = maker.is_some();
        let mut lock = Lock::try_acquire(&dir)?;
        if lock.is_none() && !temp && owner_dead(&dir, id) {
            // a dead maker's lock lingers a moment in the helpers it was
            // starting (they share or copy its fd table until they exec)
            lock = Lock::acquire(&dir, id, &Until::after(Duration::from_secs(5))).ok();
        }
        if lock.is_none() && !dir.exists() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("container {id} does not exist"),
            ));
        }
        if lock.is_none() {
            return Err(Error::new(
                ErrorKind::Busy,
                format!("recovering container {id}: a live process is changing it"),
            ));
        }
        if temp {
            fs::remove_dir_all(&dir).map_err(|e| {
                Error::from_errno(
                    e.raw_os_error().unwrap_or(libc::EIO),
                    format!("removing {}", dir.display()),
                )
            })?;
            return Ok(Recovered {
                id: id.to_string(),
                state_removed: true,
                ..Recovered::default()
            });
        }
        let (st, _) = StateFile::read(&dir, id)?;
        if matches!(st.phase, Phase::Created | Phase::Running) {
            return Ok(Recovered {
                id: id.to_string(),
                ..Recovered::default()
            });
        }
        let (mut done, errors) = teardown(&dir, &st, self.kill_timeout());
        done.id = st.id.clone();
        match errors.into_iter().next() {
            None => Ok(done),
            Some(e) => Err(e.context(format!("recovering container {id}"))),
        }
    }
}

/// Whether the state names a maker or deleter that no longer lives.
fn owner_dead(dir: &Path, id: &str) -> bool {
    match StateFile::read(dir, id) {
        Ok((st, _)) => {
            matches!(st.phase, Phase::Creating | Phase::Deleting)
                && st.owner.is_none_or(|o| !o.alive())
        }
        Err(_) => false,
    }
}

/// A creator's temporary directory (`.new-<id>.<pid>.<tid>.<n>.tmp`, ids
/// may hold dots themselves): the container id and the creator's pid.
fn temp_dir_of(name: &str) -> Option<(&str, i32)> {
    let (base, maker) = super::state::temp_name_parts(name)?;
    Some((base.strip_prefix("new-")?, maker))
}

#[cfg(test)]
mod temp_name_tests {
    #[test]
    fn the_id_of_a_temp_dir() {
        assert_eq!(
            super::temp_dir_of(".new-ct1.42.43.0.tmp"),
            Some(("ct1", 42))
        );
        assert_eq!(
            super::temp_dir_of(".new-a.b.42.43.7.tmp"),
            Some(("a.b", 42))
        );
        assert_eq!(super::temp_dir_of(".new-a.42.x.7.tmp"), None);
        assert_eq!(super::temp_dir_of(".state.json.42.43.7.tmp"), None);
        assert_eq!(super::temp_dir_of("ct1"), None);
    }
}
