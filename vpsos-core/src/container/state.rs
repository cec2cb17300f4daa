//! The on-disk state of a container and how its status is derived.
//!
//! `<root>/<id>/` (`flock`ed by whoever changes the container) holds:
//!
//! | file | written by | what |
//! |---|---|---|
//! | `state.json` | every change, under the lock | [`StateFile`]: phase, processes, what was made on the host |
//! | `config.json` | create, updates | the description ([`Config`]) |
//! | `exec.fifo` | create | the init blocks reading it until `start` |
//! | `start.err` | the init, on a failure after `Ready` | its failure report |
//! | `exit` | the monitor | how the init ended (`exited N` / `signaled N`, `at T`) |
//! | `console.log`, `.0` | the monitor | recent console output |
//! | `monitor.sock` | create | the monitor's attach socket |
//!
//! `state.json` is written ahead: before anything is made on the host it
//! names what will be made (cgroup, interfaces, mounts, AppArmor profile),
//! so a creator killed at any instant leaves a state that
//! `Runtime::recover` can undo. Every write replaces the file atomically
//! through a temp file of a unique name.

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::spawn::pidfd_open;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The state schema this vpsos writes; it reads every version up to it.
pub(crate) const STATE_VERSION: u32 = 2;

/// A container's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being made (or its maker died half-way: see `Runtime::recover`).
    Creating,
    /// Set up; the init waits for `start` before exec.
    Created,
    /// The init runs.
    Running,
    /// Running, with every process frozen.
    Frozen,
    /// The init has exited.
    Stopped,
    /// Being deleted (or its deleter died half-way: see `Runtime::recover`).
    Deleting,
}

/// A snapshot of a container's state.
///
/// ```no_run
/// # let rt = vpsos_core::Runtime::new();
/// let ct = rt.load("ct101")?;
/// let st = ct.state()?;
/// println!("{} is {:?}, pid {:?}", st.id, st.status, st.pid);
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct State {
    /// Container id.
    pub id: String,
    /// Status.
    pub status: Status,
    /// Host pid of the init while it lives.
    pub pid: Option<i32>,
    /// Host pid of its monitor while it lives.
    pub monitor_pid: Option<i32>,
    /// When it was created (seconds since the epoch).
    pub created: u64,
    /// When it was started (seconds since the epoch).
    pub started: Option<u64>,
    /// The cgroup path, if the container has one.
    pub cgroup: Option<String>,
    /// Syscall names its seccomp profile (an OCI import) names but this
    /// libseccomp does not know, so the filter has no rule for them
    /// ([`Profile::skipped_syscalls`](crate::security::seccomp::Profile::skipped_syscalls)).
    ///
    /// ```no_run
    /// # let ct = vpsos_core::Runtime::new().load("ct101")?;
    /// for name in ct.state()?.seccomp_skipped {
    ///     eprintln!("warning: the seccomp filter has no rule for {name}");
    /// }
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub seccomp_skipped: Vec<String>,
}

/// Where a container is in its life, as recorded (the live status adds
/// what the processes say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Phase {
    Creating,
    Created,
    Running,
    Deleting,
}

/// One process, named for ever by its pid and start time (field 22 of
/// /proc/<pid>/stat, in clock ticks since boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProcRef {
    pub pid: i32,
    pub start: u64,
}

impl ProcRef {
    /// The process `pid` is now (if it lives).
    pub fn of(pid: i32) -> Option<ProcRef> {
        proc_stat(pid).map(|(_, start)| ProcRef { pid, start })
    }

    /// This process.
    pub fn me() -> ProcRef {
        ProcRef::of(std::process::id() as i32).expect("this process lives")
    }

    /// A pidfd if it still is this very process and has not ended.
    pub fn open(&self) -> Option<OwnedFd> {
        let fd = pidfd_open(self.pid).ok()?;
        // opened first, checked second: if the start time still matches,
        // the pidfd names that very process
        self.alive().then_some(fd)
    }

    /// Whether it still runs (not a zombie).
    pub fn alive(&self) -> bool {
        matches!(proc_stat(self.pid), Some((s, t)) if t == self.start && s != 'Z' && s != 'X')
    }
}

/// What is persisted in `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateFile {
    pub version: u32,
    pub id: String,
    /// Random per create: a handle tells a container re-made under its id.
    pub instance: u64,
    pub phase: Phase,
    /// Who is making or deleting it (phases creating and deleting).
    pub owner: Option<ProcRef>,
    pub init: Option<ProcRef>,
    pub monitor: Option<ProcRef>,
    pub created: u64,
    #[serde(default)]
    pub started: Option<u64>,
    pub cgroup: Option<String>,
    /// The AppArmor profile and namespace loaded (or to load) for it, or why not.
    #[serde(default)]
    pub apparmor: Option<crate::security::apparmor::Applied>,
    /// Host ends of its interfaces (made or to make).
    #[serde(default)]
    pub host_links: Vec<String>,
    /// Where its idmapped rootfs is (or will be) mounted.
    #[serde(default)]
    pub rootfs_mount: Option<PathBuf>,
    /// Terminals its monitor holds (console first; 0: none).
    #[serde(default)]
    pub terminals: u32,
    /// The init found in the rootfs at create.
    #[serde(default)]
    pub init_kind: Option<crate::config::InitKind>,
    /// Syscall names the seccomp profile's OCI import skipped (unknown to
    /// libseccomp). Absent when there are none, so states without any
    /// stay readable by a vpsos that predates the field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seccomp_skipped: Vec<String>,
    /// Whether the config has poststop hooks: a delete reads the config
    /// for them only then. Absent when false, as above.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub poststop_hooks: bool,
}

/// Schema 1 (vpsos before the monitor): the description inside, the init
/// by pid and start time, no phase.
#[derive(Deserialize)]
struct StateV1 {
    id: String,
    pid: i32,
    pid_start_time: u64,
    created: u64,
    cgroup: Option<String>,
    config: Config,
    #[serde(default)]
    apparmor: Option<crate::security::apparmor::Applied>,
    #[serde(default)]
    host_links: Vec<String>,
    #[serde(default)]
    rootfs_mount: Option<PathBuf>,
}

/// A unique name for a temp file in `dir`.
pub(crate) fn temp_name(dir: &Path, base: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    dir.join(format!(
        ".{base}.{}.{tid}.{}.tmp",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// What [`temp_name`] made `name` of: its base and its maker's pid.
pub(crate) fn temp_name_parts(name: &str) -> Option<(&str, i32)> {
    let inner = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let mut parts = inner.rsplitn(4, '.');
    let numbers = [parts.next()?, parts.next()?, parts.next()?];
    let base = parts.next()?;
    let digits = |n: &&str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    if !numbers.iter().all(digits) {
        return None;
    }
    Some((base, numbers[2].parse().ok()?))
}

/// Replace `dir/name` with `bytes` atomically.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = temp_name(dir, name);
    let res = fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|_| fs::rename(&tmp, dir.join(name)));
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.ctx(|| format!("writing {}", dir.join(name).display()))
}

impl StateFile {
    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("state serializes");
        write_atomic(dir, "state.json", &json)
    }

    /// Read `state.json`; a schema-1 file comes with its description.
    pub fn read(dir: &Path, id: &str) -> Result<(StateFile, Option<Config>)> {
        let p = dir.join("state.json");
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("container {id} does not exist (no {})", p.display()),
                ))
            }
            Err(e) => return Err(e).ctx(|| format!("reading {}", p.display())),
        };
        let bad = |e: serde_json::Error| {
            Error::new(ErrorKind::Io, format!("parsing {}: {e}", p.display()))
        };
        #[derive(Deserialize)]
        struct Version {
            #[serde(default = "v1")]
            version: u32,
        }
        fn v1() -> u32 {
            1
        }
        let v: Version = serde_json::from_slice(&bytes).map_err(bad)?;
        match v.version {
            1 => {
                let old: StateV1 = serde_json::from_slice(&bytes).map_err(bad)?;
                let fifo = dir.join("exec.fifo").exists();
                let st = StateFile {
                    version: STATE_VERSION,
                    id: old.id,
                    instance: 0,
                    phase: if fifo { Phase::Created } else { Phase::Running },
                    owner: None,
                    init: Some(ProcRef {
                        pid: old.pid,
                        start: old.pid_start_time,
                    }),
                    monitor: None,
                    created: old.created,
                    started: None,
                    cgroup: old.cgroup,
                    apparmor: old.apparmor,
                    host_links: old.host_links,
                    rootfs_mount: old.rootfs_mount,
                    terminals: 0,
                    init_kind: None,
                    seccomp_skipped: vec![],
                    poststop_hooks: false,
                };
                Ok((st, Some(old.config)))
            }
            STATE_VERSION => Ok((serde_json::from_slice(&bytes).map_err(bad)?, None)),
            n => Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "container {id}: its state ({}) has schema {n}, written by a newer vpsos; \
                     this one reads schemas 1 to {STATE_VERSION}",
                    p.display()
                ),
            )),
        }
    }
}

/// Write the description.
pub(crate) fn write_config(dir: &Path, config: &Config) -> Result<()> {
    write_atomic(dir, "config.json", config.to_json().as_bytes())
}

/// Read the description.
pub(crate) fn read_config(dir: &Path) -> Result<Config> {
    let p = dir.join("config.json");
    let s = fs::read_to_string(&p).ctx(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&s)
        .map_err(|e| Error::new(ErrorKind::Io, format!("parsing {}: {e}", p.display())))
}

/// (state char, start time) of a live pid from /proc/<pid>/stat.
pub(crate) fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // rest starts at field 3 (state); start time is field 22
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Check a container id: 1–64 of `[A-Za-z0-9_.-]`, not starting with `.`.
///
/// ```
/// assert!(vpsos_core::container::valid_id("ct-101.a_b"));
/// assert!(!vpsos_core::container::valid_id("../x"));
/// assert!(!vpsos_core::container::valid_id(""));
/// ```
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_stat() {
        let (state, start) = proc_stat(std::process::id() as i32).unwrap();
        assert!(state == 'R' || state == 'S');
        assert!(start > 0);
        assert!(ProcRef::me().alive());
    }

    #[test]
    fn seccomp_skipped_is_optional_in_schema_two() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::builder("/srv/ct").build_unchecked();
        let v1 = serde_json::json!({
            "id": "ct1", "pid": 1, "pid_start_time": 7, "created": 5,
            "cgroup": null, "config": cfg
        });
        fs::write(dir.path().join("state.json"), v1.to_string()).unwrap();
        let (mut st, _) = StateFile::read(dir.path(), "ct1").unwrap();
        assert!(st.seccomp_skipped.is_empty());
        // none: not written, so a vpsos that predates the field reads it
        st.write(dir.path()).unwrap();
        let text = fs::read_to_string(dir.path().join("state.json")).unwrap();
        assert!(!text.contains("seccomp_skipped"), "{text}");
        st.seccomp_skipped = vec!["no_such_call".into()];
        st.write(dir.path()).unwrap();
        let (back, _) = StateFile::read(dir.path(), "ct1").unwrap();
        assert_eq!(back.seccomp_skipped, ["no_such_call"]);
    }

    #[test]
    fn schema_one_loads_and_newer_schemas_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::builder("/srv/ct").build_unchecked();
        let v1 = serde_json::json!({
            "id": "ct1", "pid": 1, "pid_start_time": 7, "created": 5,
            "cgroup": "vpsos/ct1", "config": cfg, "host_links": ["vps1"]
        });
        fs::write(dir.path().join("state.json"), v1.to_string()).unwrap();
        let (st, c) = StateFile::read(dir.path(), "ct1").unwrap();
        assert_eq!(st.init, Some(ProcRef { pid: 1, start: 7 }));
        assert_eq!(st.phase, Phase::Running);
        assert_eq!(st.host_links, ["vps1"]);
        assert_eq!(c.unwrap(), cfg);

        let mut v3 = serde_json::to_value(&st).unwrap();
        v3["version"] = 3.into();
        fs::write(dir.path().join("state.json"), v3.to_string()).unwrap();
        let e = StateFile::read(dir.path(), "ct1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().contains("schema 3"), "{e}");

        st.write(dir.path()).unwrap();
        let (back, none) = StateFile::read(dir.path(), "ct1").unwrap();
        assert_eq!(
            (back.version, back.cgroup.as_deref()),
            (2, Some("vpsos/ct1"))
        );
        assert!(none.is_none());
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
