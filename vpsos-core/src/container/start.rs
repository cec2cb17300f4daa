//! `Container::start`: let a created container's init exec.

use super::delete::{teardown, with_cleanup_errors};
use super::runtime::waits_for_start;
use super::state::{now, Phase};
use super::Container;
use crate::error::{Error, ErrorKind, Result};
use crate::fault;
use crate::spawn::sync::Msg;
use crate::until::Until;
use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

impl Container {
    /// Let a created container's init exec. Works from any process, once:
    /// on a container that runs already (or is being made or deleted) it
    /// is `Busy` and changes nothing. If the init cannot exec, the error
    /// says why (stage and errno, from the init's own report) and the
    /// container is removed, as a failed `run` would be.
    ///
    /// With a seccomp profile that notifies, `start` does not wait for the
    /// exec itself (the init's execve may wait for whoever holds the
    /// listener); a failure then shows in [`wait`](Container::wait).
    pub fn start(&self) -> Result<()> {
        let lock = self.lock()?;
        let mut st = self.current()?;
        let busy = |why: &str| {
            Err(Error::new(
                ErrorKind::Busy,
                format!("starting container {}: {why}", self.id),
            ))
        };
        match st.phase {
            Phase::Creating => return busy("it is being created"),
            Phase::Deleting => return busy("it is being deleted"),
            Phase::Running => return busy("it was started already"),
            Phase::Created => {}
        }
        let init = match self.init_live(&st) {
            Some(l) if l.r.alive() => l,
            _ => return busy("its init has ended"),
        };
        if !waits_for_start(&self.dir) {
            return busy("it was started already");
        }
        let config = super::state::read_config(&self.dir)?;
        if let Err(e) = super::hooks::on_start(&self.id, &config, init.r.pid, &init.pidfd) {
            return Err(self.remove_failed(e, &st, lock));
        }
        let fifo_path = self.dir.join("exec.fifo");
        let mut fifo = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&fifo_path)
            .map_err(|_| {
                Error::new(
                    ErrorKind::Busy,
                    format!("starting container {}: it was started already", self.id),
                )
            })?;
        fifo.write_all(b"1").map_err(|e| {
            Error::from_errno(
                e.raw_os_error().unwrap_or(libc::EIO),
                format!("writing {}", fifo_path.display()),
            )
        })?;
        fault::point("start:signalled");
        let notify = config.seccomp.as_ref().is_some_and(|p| p.uses_notify());
        if !notify {
            // the init closes its end of the fifo at exec (close-on-exec):
            // no reader left → POLLERR here; or it dies trying
            let ready = Until::forever().wait_any(&[
                (fifo.as_raw_fd(), 0),
                (init.pidfd.as_raw_fd(), libc::POLLIN),
            ])?;
            // ended before or instead of its exec: its report says why
            let failed = ready.is_some()
                && fs::metadata(self.dir.join("start.err")).is_ok_and(|m| m.len() > 0);
            if failed {
                let e = self.start_report(&config.process.args[0]);
                return Err(self.remove_failed(e, &st, lock));
            }
        }
        let _ = fs::remove_file(&fifo_path);
        st.phase = Phase::Running;
        st.started = Some(now());
        st.write(&self.dir)?;
        // the hooks may drive the container themselves
        drop(lock);
        // as runc: a failed poststart hook stops the container
        if let Err(e) = super::hooks::after_start(&self.id, &config, init.r.pid) {
            let _ = crate::spawn::pidfd_signal(&init.pidfd, libc::SIGKILL);
            return Err(e.context(format!("starting container {}", self.id)));
        }
        Ok(())
    }

    /// A failed start removes the container, as a failed `run` would:
    /// `e`, with whatever the removal could not undo.
    fn remove_failed(
        &self,
        e: Error,
        st: &super::state::StateFile,
        lock: super::lock::Lock,
    ) -> Error {
        let (_, errors) = teardown(&self.dir, st, self.kill_bound());
        drop(lock);
        self.gone.store(true, std::sync::atomic::Ordering::Relaxed);
        with_cleanup_errors(e, errors).context(format!("starting container {}", self.id))
    }

    /// Why the init ended before its exec: its start report.
    fn start_report(&self, argv0: &str) -> Error {
        match fs::read(self.dir.join("start.err"))
            .ok()
            .and_then(|b| Msg::from_bytes(&b))
        {
            Some(m) => crate::spawn::report_error(&m, argv0),
            None => Error::new(ErrorKind::Child, "the init ended before it could start"),
        }
    }
}
