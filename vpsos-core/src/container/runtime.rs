//! [`Runtime`]: a state root, and the calls that make, find, list and
//! recover the containers under it.

use super::create::{self, CreateOptions};
use super::lock::Lock;
use super::network;
use super::state::{self, Phase, ProcRef, StateFile, Status};
use super::Container;
use crate::cgroup::{Cgroup, Stats};
use crate::config::Config;
use crate::error::{Error, Result, ResultExt};
use crate::until::Until;
use serde::Serialize;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Makes, finds, lists and recovers containers under one state root.
///
/// ```no_run
/// use vpsos_core::{Config, CreateOptions, IdMap, Process, Runtime};
/// let rt = Runtime::new();
/// let cfg = Config::builder("/var/lib/vpsos/ct1/rootfs")
///     .id_maps(IdMap::single(0, 100000, 65536))
///     .hostname("ct1")
///     .init(Process::new(["/bin/sh", "-c", "echo hello from $(hostname)"]))
///     .build()?;
/// let ct = rt.run("ct1", &cfg, CreateOptions::default())?;
/// let status = ct.wait()?;
/// ct.delete()?;
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
    kill_timeout: Duration,
}

impl Default for Runtime {
    fn default() -> Runtime {
        Runtime::new()
    }
}

/// One line of [`Runtime::list`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerInfo {
    /// Container id.
    pub id: String,
    /// Status (`Frozen` included).
    pub status: Status,
    /// The init's host pid while it lives.
    pub pid: Option<i32>,
    /// When it was created (seconds since the epoch).
    pub created: u64,
    /// When it was started (seconds since the epoch).
    pub started: Option<u64>,
}

impl Runtime {
    /// A runtime with state under `/run/vpsos`.
    pub fn new() -> Runtime {
        Runtime::with_root("/run/vpsos")
    }

    /// A runtime with state under `root`.
    pub fn with_root(root: impl Into<PathBuf>) -> Runtime {
        Runtime {
            root: root.into(),
            kill_timeout: Duration::from_secs(60),
        }
    }

    /// How long killing a container's processes (stop after its timeout,
    /// delete_force, recover) may take before it reports `Busy`; the wait
    /// ends as soon as the kernel says the cgroup is empty, so a loaded
    /// host only makes it longer. Default 60 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = vpsos_core::Runtime::new().with_kill_timeout(Duration::from_secs(120));
    /// assert_eq!(rt.kill_timeout(), Duration::from_secs(120));
    /// ```
    pub fn with_kill_timeout(mut self, d: Duration) -> Runtime {
        self.kill_timeout = d;
        self
    }

    /// See [`with_kill_timeout`](Runtime::with_kill_timeout).
    pub fn kill_timeout(&self) -> Duration {
        self.kill_timeout
    }

    /// The state root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Set up container `id` with its init held before exec;
    /// [`Container::start`] (from this or any other process) lets it run.
    pub fn create(&self, id: &str, config: &Config, opts: CreateOptions) -> Result<Container> {
        create::make(self, id, config, opts, false).ctx(|| format!("creating container {id}"))
    }

    /// Create and start in one go (no exec fifo round trip).
    pub fn run(&self, id: &str, config: &Config, opts: CreateOptions) -> Result<Container> {
        create::make(self, id, config, opts, true).ctx(|| format!("starting container {id}"))
    }

    /// A handle on container `id`, made by this or another process. A
    /// container of an older vpsos (state schema 1) is brought up to date.
    pub fn load(&self, id: &str) -> Result<Container> {
        create::check_id(id)?;
        let dir = self.root.join(id);
        let (st, old_config) = StateFile::read(&dir, id)?;
        if let Some(cfg) = old_config {
            let _lock =
                Lock::acquire(&dir, id, &Until::forever()).or_else(|_| Lock::create(&dir))?;
            state::write_config(&dir, &cfg)?;
            st.write(&dir)?;
        }
        Ok(Container::new(self, id, &st))
    }

    /// The ids of every container under the root.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e).ctx(|| format!("listing {}", self.root.display())),
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| super::valid_id(n))
            .filter(|n| self.root.join(n).join("state.json").exists())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Every container with its status, init pid and times, from the
    /// state files and /proc (no lock, no process started).
    ///
    /// ```no_run
    /// for c in vpsos_core::Runtime::new().list()? {
    ///     println!("{} {:?} {:?}", c.id, c.status, c.pid);
    /// }
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn list(&self) -> Result<Vec<ContainerInfo>> {
        let mut out = Vec::new();
        for id in self.ids()? {
            let dir = self.root.join(&id);
            let Ok((st, _)) = StateFile::read(&dir, &id) else {
                continue;
            };
            let (status, pid) = status_of(&dir, &st);
            out.push(ContainerInfo {
                id,
                status,
                pid,
                created: st.created,
                started: st.started,
            });
        }
        Ok(out)
    }

    /// Stats of several containers in one call, in the order asked; a
    /// container that is gone or has no cgroup gives its error in place.
    pub fn stats(&self, ids: &[&str]) -> Vec<(String, Result<Stats>)> {
        ids.iter()
            .map(|id| {
                let dir = self.root.join(id);
                let r = StateFile::read(&dir, id).and_then(|(st, _)| {
                    st.cgroup
                        .as_deref()
                        .map(|p| Cgroup::open(p).stats())
                        .unwrap_or_else(|| {
                            Err(Error::invalid(
                                "cgroup",
                                format!("container {id} has no cgroup of its own"),
                            ))
                        })
                });
                (id.to_string(), r)
            })
            .collect()
    }

    /// Host interfaces vpsos made for containers under this root that no
    /// longer run: left by a crash of the runtime, of a creator half-way
    /// through a start, or of a container whose network namespace outlived
    /// it. Found by the alias vpsos gives every host end,
    /// `vpsos:<state dir>`. A container counts as running while its init
    /// lives or while a live process is making it. Routes via such a link
    /// go when it is deleted.
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
            match StateFile::read(&dir, id) {
                Ok((st, _)) => match st.phase {
                    Phase::Creating | Phase::Deleting => being_changed(&dir),
                    _ => st.init.is_some_and(|r| r.alive()),
                },
                // a creator between mkdir and its first state write
                Err(_) => dir.is_dir() && being_changed(&dir),
            }
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
}

/// Whether a live process holds the container's lock.
pub(crate) fn being_changed(dir: &Path) -> bool {
    matches!(Lock::try_acquire(dir), Ok(None)) && dir.exists()
}

/// The live status of a container and its init's pid.
pub(crate) fn status_of(dir: &Path, st: &StateFile) -> (Status, Option<i32>) {
    let alive = st.init.filter(ProcRef::alive).map(|r| r.pid);
    let status = match (st.phase, alive) {
        (Phase::Creating, _) => Status::Creating,
        (Phase::Deleting, _) => Status::Deleting,
        (_, None) => Status::Stopped,
        (Phase::Created, Some(_)) if waits_for_start(dir) => Status::Created,
        (_, Some(_)) => {
            let frozen = st
                .cgroup
                .as_deref()
                .is_some_and(|p| Cgroup::open(p).is_frozen().unwrap_or(false));
            if frozen {
                Status::Frozen
            } else {
                Status::Running
            }
        }
    };
    (status, alive)
}

/// Whether the init still blocks on the exec fifo: a writer can open it
/// without blocking only while a reader holds it.
pub(crate) fn waits_for_start(dir: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(dir.join("exec.fifo"))
        .is_ok()
}
