//! Mounting into (and unmounting from) a running container.

use super::state::read_config;
use super::Container;
use crate::config::Mount;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::build::host_id;
use crate::spawn::inject;
use std::path::Path;

impl Container {
    /// Mount `m` in the running container now, and keep it in its
    /// description. A bind comes from the host (read-only, nosuid, nodev,
    /// noexec and propagation set on it before it appears inside); a tmpfs
    /// or other filesystem is mounted by the container's root in its own
    /// namespaces, so the container owns it. The mount point is created
    /// (as the container's root) when missing; its path is resolved inside
    /// the container, so a symlink there cannot lead out.
    ///
    /// ```no_run
    /// use vpsos_core::{Mount, Propagation};
    /// # let ct = vpsos_core::Runtime::new().load("ct1")?;
    /// ct.mount(&Mount::bind("/srv/shared", "/mnt/shared").readonly().propagation(Propagation::Slave))?;
    /// ct.mount(&Mount::tmpfs("/run/scratch").data("size=16m"))?;
    /// ct.unmount("/run/scratch")?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn mount(&self, m: &Mount) -> Result<()> {
        let _lock = self.lock()?;
        let st = self.current()?;
        let mut cfg = read_config(&self.dir)?;
        let n = cfg.mounts.len();
        let mut probe = cfg.clone();
        probe.mounts.push(m.clone());
        probe
            .validate()
            .map_err(|e| e.context(format!("mounts[{n}]")))?;
        let init = self.running_init(&st, "mounting")?;
        let root = (
            host_id(cfg.uid_map.as_ref(), 0),
            host_id(cfg.gid_map.as_ref(), 0),
        );
        inject::mount_into(&init.pidfd, m, root)
            .map_err(|e| e.context(format!("container {}", self.id)))?;
        cfg.mounts.push(m.clone());
        super::state::write_config(&self.dir, &cfg)
    }

    /// Unmount `destination` in the running container and drop it from
    /// the description (the mount point stays).
    pub fn unmount(&self, destination: impl AsRef<Path>) -> Result<()> {
        let dest = destination.as_ref();
        let _lock = self.lock()?;
        let st = self.current()?;
        let mut cfg = read_config(&self.dir)?;
        let before = cfg.mounts.len();
        cfg.mounts.retain(|m| m.destination != dest);
        let init = self.running_init(&st, "unmounting")?;
        match inject::unmount_from(&init.pidfd, dest) {
            Ok(()) => {}
            Err(e) if e.errno() == Some(libc::EINVAL) && before == cfg.mounts.len() => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "container {}: nothing is mounted at {}",
                        self.id,
                        dest.display()
                    ),
                ))
            }
            Err(e) => return Err(e.context(format!("container {}", self.id))),
        }
        super::state::write_config(&self.dir, &cfg)
    }
}
