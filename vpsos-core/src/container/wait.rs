//! Waiting for a container's init, and how it ended.

use super::state::StateFile;
use super::Container;
use crate::error::Result;
use crate::spawn::ExitStatus;
use crate::until::Until;
use std::fs;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// How a container's init ended, as its monitor recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitExit {
    /// Its exit status.
    Status(ExitStatus),
    /// It ended, but its monitor did not live to record how (it was
    /// killed, or the container predates monitors).
    Unknown,
}

/// What an init's end means for a system container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `reboot` inside (the kernel ends a PID namespace's init with SIGHUP).
    Reboot,
    /// `halt` or `poweroff` inside (SIGINT).
    Halt,
    /// The init exited with this code.
    Exit(i32),
    /// Killed by this signal (e.g. SIGKILL after a stop's timeout).
    Killed(i32),
    /// Not recorded.
    Unknown,
}

impl InitExit {
    /// The status if known.
    ///
    /// ```
    /// use vpsos_core::{ExitStatus, InitExit};
    /// assert_eq!(InitExit::Status(ExitStatus::Exited(0)).status(), Some(ExitStatus::Exited(0)));
    /// assert_eq!(InitExit::Unknown.status(), None);
    /// ```
    pub fn status(self) -> Option<ExitStatus> {
        match self {
            InitExit::Status(s) => Some(s),
            InitExit::Unknown => None,
        }
    }

    /// Reboot, halt, exit or kill.
    ///
    /// ```
    /// use vpsos_core::{EndReason, ExitStatus, InitExit};
    /// assert_eq!(InitExit::Status(ExitStatus::Signaled(libc::SIGHUP)).reason(), EndReason::Reboot);
    /// assert_eq!(InitExit::Status(ExitStatus::Signaled(libc::SIGINT)).reason(), EndReason::Halt);
    /// assert_eq!(InitExit::Status(ExitStatus::Exited(3)).reason(), EndReason::Exit(3));
    /// ```
    pub fn reason(self) -> EndReason {
        match self {
            InitExit::Status(ExitStatus::Signaled(libc::SIGHUP)) => EndReason::Reboot,
            InitExit::Status(ExitStatus::Signaled(libc::SIGINT)) => EndReason::Halt,
            InitExit::Status(ExitStatus::Signaled(s)) => EndReason::Killed(s),
            InitExit::Status(ExitStatus::Exited(c)) => EndReason::Exit(c),
            InitExit::Unknown => EndReason::Unknown,
        }
    }
}

impl Container {
    /// How the init ended, if it has: `None` while it runs. Any handle in
    /// any process gets the same answer (the monitor records it in the
    /// state directory).
    pub fn try_wait(&self) -> Result<Option<InitExit>> {
        let st = self.current()?;
        Ok(self.ended(&st))
    }

    fn ended(&self, st: &StateFile) -> Option<InitExit> {
        if let Ok(s) = fs::read_to_string(self.dir.join("exit")) {
            if let Some(x) = s.lines().find_map(ExitStatus::parse) {
                return Some(InitExit::Status(x));
            }
        }
        let init_alive = st.init.is_some_and(|r| r.alive());
        let monitor_alive = st.monitor.is_some_and(|r| r.alive());
        match st.init {
            Some(_) if !init_alive && !monitor_alive => {
                // the monitor may have written just now
                let again = fs::read_to_string(self.dir.join("exit")).ok();
                Some(
                    again
                        .and_then(|s| s.lines().find_map(ExitStatus::parse))
                        .map_or(InitExit::Unknown, InitExit::Status),
                )
            }
            _ => None,
        }
    }

    /// Wait for the init to end.
    pub fn wait(&self) -> Result<InitExit> {
        loop {
            if let Some(x) = self.wait_until(&Until::forever())? {
                return Ok(x);
            }
        }
    }

    /// Wait at most `d`; `None` if the init still runs then (nothing is
    /// killed).
    pub fn wait_timeout(&self, d: Duration) -> Result<Option<InitExit>> {
        self.wait_until(&Until::after(d))
    }

    /// Wait as long as `until` allows: `None` at its deadline,
    /// `Cancelled` when its cancel token fires.
    ///
    /// ```no_run
    /// use vpsos_core::until::{Cancel, Until};
    /// # let ct = vpsos_core::Runtime::new().load("ct1")?;
    /// let ctrl_c = Cancel::new()?;          // fired by a signal handler
    /// match ct.wait_until(&Until::forever().or_cancel(&ctrl_c)) {
    ///     Ok(Some(how)) => println!("ended: {:?}", how.reason()),
    ///     Ok(None) => unreachable!(),
    ///     Err(e) => println!("interrupted: {e}"),
    /// }
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn wait_until(&self, until: &Until) -> Result<Option<InitExit>> {
        loop {
            let st = self.current()?;
            if let Some(x) = self.ended(&st) {
                return Ok(Some(x));
            }
            let mut fds = Vec::new();
            // the monitor exits right after it has recorded the end
            let mon = self.monitor_live(&st).filter(|m| m.r.alive());
            if let Some(m) = &mon {
                fds.push((m.pidfd.as_raw_fd(), libc::POLLIN));
            }
            let init = self.init_live(&st);
            if let Some(i) = init.as_ref().filter(|i| i.r.alive()) {
                if mon.is_none() {
                    fds.push((i.pidfd.as_raw_fd(), libc::POLLIN));
                }
            }
            if fds.is_empty() {
                // being created: the pids come soon
                if !until.sleep(Duration::from_millis(5))? {
                    return Ok(None);
                }
                continue;
            }
            if until.wait_any(&fds)?.is_none() {
                return Ok(None);
            }
        }
    }
}
