//! The on-disk state of a container (`<root>/<id>/state.json`) and how its
//! status is derived from the live process.

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::Path;

/// A container's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Set up; the init waits for `start` before exec.
    Created,
    /// The init runs.
    Running,
    /// The init has exited.
    Stopped,
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
    /// When the init was created (seconds since the epoch).
    pub created: u64,
    /// The cgroup path, if the container has one.
    pub cgroup: Option<String>,
}

/// What is persisted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StateFile {
    pub id: String,
    pub pid: i32,
    /// Start time of the init in clock ticks since boot (field 22 of
    /// /proc/<pid>/stat): pid plus this names one process forever.
    pub pid_start_time: u64,
    pub created: u64,
    pub cgroup: Option<String>,
    pub config: Config,
    /// The AppArmor profile and namespace loaded for it, or why not.
    #[serde(default)]
    pub apparmor: Option<crate::security::apparmor::Applied>,
    /// Host ends of its interfaces.
    #[serde(default)]
    pub host_links: Vec<String>,
    /// Where its idmapped rootfs is mounted.
    #[serde(default)]
    pub rootfs_mount: Option<std::path::PathBuf>,
}

impl StateFile {
    pub fn write(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join("state.json.tmp");
        let json = serde_json::to_vec_pretty(self).expect("state serializes");
        let mut f = fs::File::create(&tmp).ctx(|| format!("writing {}", tmp.display()))?;
        f.write_all(&json)
            .ctx(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, dir.join("state.json"))
            .ctx(|| format!("writing state in {}", dir.display()))
    }

    pub fn read(dir: &Path, id: &str) -> Result<StateFile> {
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
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::new(ErrorKind::Io, format!("parsing {}: {e}", p.display())))
    }
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
    #[test]
    fn reads_own_stat() {
        let (state, start) = super::proc_stat(std::process::id() as i32).unwrap();
        assert!(state == 'R' || state == 'S');
        assert!(start > 0);
    }
}
