//! Freezing and thawing every process of a cgroup (`cgroup.freeze` on v2,
//! the v1 `freezer` controller).

use super::Cgroup;
use crate::error::{Error, ErrorKind, Result};
use std::time::{Duration, Instant};

const SETTLE: Duration = Duration::from_secs(5);

impl Cgroup {
    /// Stop every process in the cgroup; returns once the kernel reports
    /// the whole group frozen.
    ///
    /// ```no_run
    /// let cg = vpsos_core::Cgroup::open("vpsos/ct1");
    /// cg.freeze()?;
    /// assert!(cg.is_frozen()?);
    /// cg.thaw()?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    /// Let the processes run again.
    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    /// Send `signal` to every process in the cgroup and its children (a
    /// container's `kill --all`). They are frozen meanwhile, so none forks
    /// away unsignalled, then thawed unless they were frozen before; a
    /// cgroup without a freezer is signalled running. SIGKILL is
    /// [`kill_all`](Cgroup::kill_all): it returns once they are gone (up
    /// to `bound`).
    ///
    /// ```no_run
    /// let cg = vpsos_core::Cgroup::open("vpsos/ct1");
    /// cg.signal_all(libc::SIGTERM, std::time::Duration::from_secs(10))?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn signal_all(&self, signal: i32, bound: Duration) -> Result<()> {
        if signal == libc::SIGKILL {
            return self.kill_all(bound);
        }
        let froze = !self.is_frozen().unwrap_or(false) && self.freeze().is_ok();
        for pid in self.procs_recursive() {
            // SAFETY: plain kill(2); frozen, so these pids cannot exit and
            // be reused (without a freezer, as racy as any kill by pid)
            unsafe { libc::kill(pid, signal) };
        }
        if froze {
            self.thaw()?;
        }
        Ok(())
    }

    /// Whether the whole group is frozen.
    pub fn is_frozen(&self) -> Result<bool> {
        if self.is_v2() {
            let ev = std::fs::read_to_string(self.dirs[0].0.join("cgroup.events"))
                .map_err(|e| super::io_error(e, &self.dirs[0].0, "reading cgroup.events of"))?;
            return Ok(ev.lines().any(|l| l.trim() == "frozen 1"));
        }
        Ok(self.read("freezer", "freezer.state")? == "FROZEN")
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let what = if frozen { "freezing" } else { "thawing" };
        if self.is_v2() {
            let dir = &self.dirs[0].0;
            std::fs::write(dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })
                .map_err(|e| super::io_error(e, dir, "writing cgroup.freeze of"))?;
        } else {
            let state = if frozen { "FROZEN" } else { "THAWED" };
            self.write("freezer", "freezer.state", state, what)?;
        }
        let deadline = Instant::now() + SETTLE;
        let mut delay = Duration::from_micros(100);
        while self.is_frozen()? != frozen {
            if Instant::now() > deadline {
                return Err(Error::new(
                    ErrorKind::Busy,
                    format!("{what} cgroup {}: not settled after 5 s", self.path),
                ));
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(20));
        }
        Ok(())
    }
}
