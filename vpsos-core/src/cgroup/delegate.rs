//! Handing a cgroup to the container's root, as systemd inside needs.

use super::Cgroup;
use crate::error::{Result, ResultExt};
use std::os::unix::fs::chown;

/// Files the delegatee must be able to write (cgroup v2 `Delegate=`).
const V2_FILES: [&str; 3] = ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control"];
/// The same on v1.
const V1_FILES: [&str; 4] = [
    "cgroup.procs",
    "tasks",
    "cgroup.clone_children",
    "notify_on_release",
];

impl Cgroup {
    /// Chown the cgroup directory (every hierarchy) and its delegation
    /// files to host ids `uid:gid` (the container's root), so the
    /// container can create and populate sub-cgroups. Limit files stay
    /// root's: the container cannot raise its own limits. On v1 cpuset
    /// children inherit cpus and mems (`cgroup.clone_children`).
    ///
    /// ```no_run
    /// vpsos_core::Cgroup::open("vpsos/ct1").delegate(100000, 100000)?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn delegate(&self, uid: u32, gid: u32) -> Result<()> {
        for (dir, dir_v2) in &self.dirs {
            if !dir_v2 && dir.join("cpuset.cpus").exists() {
                let _ = std::fs::write(dir.join("cgroup.clone_children"), "1");
            }
            chown(dir, Some(uid), Some(gid)).ctx(|| format!("chown {}", dir.display()))?;
            let files: &[&str] = if *dir_v2 { &V2_FILES } else { &V1_FILES };
            for f in files {
                let p = dir.join(f);
                if p.exists() {
                    chown(&p, Some(uid), Some(gid)).ctx(|| format!("chown {}", p.display()))?;
                }
            }
        }
        Ok(())
    }
}
