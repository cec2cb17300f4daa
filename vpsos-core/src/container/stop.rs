//! Signalling and stopping a container.

use super::wait::InitExit;
use super::Container;
use crate::config::Halt;
use crate::error::{Error, ErrorKind, Result};
use crate::spawn::pidfd_signal;
use crate::until::Until;
use std::time::Duration;

/// How [`Container::stop`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopOutcome {
    /// How the init ended.
    pub exit: InitExit,
    /// Whether it had to be killed after the timeout (`false`: it halted
    /// by its signal in time, or had ended before).
    pub killed: bool,
}

impl Container {
    /// Send `signal` to the init (through its pidfd).
    pub fn kill(&self, signal: i32) -> Result<()> {
        let st = self.current()?;
        let init = self.running_init(&st, "signalling")?;
        pidfd_signal(&init.pidfd, signal)
            .map_err(|e| e.context(format!("signalling container {}", self.id)))
    }

    /// Ask the init to halt with the config's halt signal; after `timeout`
    /// kill everything in the container. Says how it ended and whether it
    /// had to be killed. A container that is not running just reports how
    /// it ended.
    pub fn stop(&self, timeout: Duration) -> Result<StopOutcome> {
        let st = self.current()?;
        if let Some(x) = self.try_wait()? {
            return Ok(StopOutcome {
                exit: x,
                killed: false,
            });
        }
        if let Some(init) = self.init_live(&st).filter(|l| l.r.alive()) {
            let kind = st.init_kind.unwrap_or(crate::config::InitKind::Other);
            match super::state::read_config(&self.dir)?.halt.resolve(kind) {
                Halt::Signal(sig) => {
                    let _ = pidfd_signal(&init.pidfd, sig);
                }
                Halt::Command(argv) => {
                    // the command ends with the container; nobody waits for it
                    let _ = self.exec(&crate::Process::new(argv), Default::default());
                }
                _ => unreachable!("resolve gives a signal or a command"),
            }
        }
        if let Some(x) = self.wait_until(&Until::after(timeout))? {
            return Ok(StopOutcome {
                exit: x,
                killed: false,
            });
        }
        self.kill_everything()?;
        match self.wait_until(&Until::after(self.kill_bound()))? {
            Some(x) => Ok(StopOutcome {
                exit: x,
                killed: true,
            }),
            None => Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "stopping container {}: still running {:?} after SIGKILL",
                    self.id,
                    self.kill_bound()
                ),
            )),
        }
    }

    /// SIGKILL the init and everything else in its cgroup.
    pub(crate) fn kill_everything(&self) -> Result<()> {
        let st = self.current()?;
        if let Some(init) = self.init_live(&st) {
            let _ = pidfd_signal(&init.pidfd, libc::SIGKILL);
        }
        if let Some(cg) = st.cgroup.as_deref().map(crate::cgroup::Cgroup::open) {
            cg.kill_all(self.kill_bound())?;
        }
        Ok(())
    }
}
