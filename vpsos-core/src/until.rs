//! Bounds for blocking calls: a deadline, a [`Cancel`] another thread (or
//! a signal handler) can trigger, or both.
//!
//! Every call of vpsos that can block (waiting for a container to exit or
//! stop, for a lock another process holds, for a cgroup to empty, for an
//! exec'd process) waits in `poll(2)` on what it waits for *and* on the
//! cancel token of the [`Until`] in force, so an interpreter's Ctrl-C
//! handler or a binding's unblock function ends the wait at once with
//! [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled). The `Until` in
//! force is the one a call takes as an argument (e.g.
//! [`Container::wait_until`](crate::Container::wait_until)) combined with
//! the one set for the current thread by [`scoped`], which reaches every
//! call made inside it.
//!
//! ```no_run
//! use std::time::Duration;
//! use vpsos_core::until::{self, Cancel, Until};
//! let cancel = Cancel::new()?;
//! let c = cancel.clone();
//! std::thread::spawn(move || { std::thread::sleep(Duration::from_secs(1)); c.cancel() });
//! let ct = vpsos_core::Runtime::new().load("ct1")?;
//! // stop, delete, ... inside give up when `cancel` fires
//! let r = until::scoped(Until::forever().or_cancel(&cancel), || ct.stop(Duration::from_secs(30)));
//! # Ok::<(), vpsos_core::Error>(())
//! ```

use crate::error::{Error, ErrorKind, Result};
use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A token that cancels the blocking calls waiting on it. Cheap to clone
/// (clones share the token); [`cancel`](Cancel::cancel) only writes to an
/// eventfd, so it may be called from a signal handler.
///
/// ```
/// let c = vpsos_core::until::Cancel::new()?;
/// assert!(!c.is_cancelled());
/// c.cancel();
/// assert!(c.is_cancelled());
/// c.reset();
/// assert!(!c.is_cancelled());
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Cancel(Arc<OwnedFd>);

impl Cancel {
    /// A new, untriggered token.
    pub fn new() -> Result<Cancel> {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(Error::from_errno(crate::spawn::sys::errno(), "eventfd"));
        }
        // SAFETY: a new fd.
        Ok(Cancel(Arc::new(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    /// Trigger it: every call waiting on it returns `Cancelled`, and so do
    /// later ones until [`reset`](Cancel::reset).
    pub fn cancel(&self) {
        let one: u64 = 1;
        // SAFETY: an 8-byte write to our eventfd (async-signal-safe).
        unsafe {
            libc::write(
                self.0.as_raw_fd(),
                &one as *const u64 as *const libc::c_void,
                8,
            )
        };
    }

    /// Whether it was triggered (and not reset since).
    pub fn is_cancelled(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no wait.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    /// Make it untriggered again.
    pub fn reset(&self) {
        let mut v: u64 = 0;
        // SAFETY: an 8-byte read from our eventfd.
        unsafe {
            libc::read(
                self.0.as_raw_fd(),
                &mut v as *mut u64 as *mut libc::c_void,
                8,
            )
        };
    }

    /// The eventfd (readable while triggered), for an event loop.
    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// How long a blocking call may wait: until a deadline, until a
/// [`Cancel`] fires, both, or for ever.
///
/// ```
/// use std::time::Duration;
/// use vpsos_core::until::Until;
/// assert!(Until::forever().deadline().is_none());
/// assert!(Until::after(Duration::from_secs(1)).deadline().is_some());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Until {
    deadline: Option<Instant>,
    cancel: Option<Cancel>,
}

thread_local! {
    static SCOPED: RefCell<Vec<Until>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` with every blocking vpsos call it makes on this thread also
/// bounded by `until` (nested scopes all apply).
pub fn scoped<T>(until: Until, f: impl FnOnce() -> T) -> T {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            SCOPED.with(|s| s.borrow_mut().pop());
        }
    }
    SCOPED.with(|s| s.borrow_mut().push(until));
    let _pop = Pop;
    f()
}

impl Until {
    /// No bound (but those of [`scoped`]).
    pub fn forever() -> Until {
        Until::default()
    }

    /// At most `d` from now.
    pub fn after(d: Duration) -> Until {
        Until {
            deadline: Instant::now().checked_add(d),
            cancel: None,
        }
    }

    /// At most until `t`.
    pub fn at(t: Instant) -> Until {
        Until {
            deadline: Some(t),
            cancel: None,
        }
    }

    /// Also end when `c` fires.
    pub fn or_cancel(mut self, c: &Cancel) -> Until {
        self.cancel = Some(c.clone());
        self
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The earlier deadline of the two, and every cancel token of both and
    /// of the thread's scopes.
    fn bounds(&self) -> (Option<Instant>, Vec<RawFd>) {
        let mut deadline = self.deadline;
        let mut fds: Vec<RawFd> = self.cancel.iter().map(Cancel::fd).collect();
        SCOPED.with(|s| {
            for u in s.borrow().iter() {
                deadline = match (deadline, u.deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                fds.extend(u.cancel.iter().map(Cancel::fd));
            }
        });
        (deadline, fds)
    }

    /// Wait until one of `fds` polls ready for `events`: `Ok(Some(i))`
    /// for the first ready one, `Ok(None)` at the deadline, `Cancelled`
    /// when a cancel token fires.
    pub(crate) fn wait_any(&self, fds: &[(RawFd, i16)]) -> Result<Option<usize>> {
        let (deadline, cancels) = self.bounds();
        let mut pfds: Vec<libc::pollfd> = fds
            .iter()
            .map(|&(fd, events)| libc::pollfd {
                fd,
                events,
                revents: 0,
            })
            .chain(cancels.iter().map(|&fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            }))
            .collect();
        loop {
            let ms = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() && !pfds.is_empty() {
                        // one last look without waiting
                        0
                    } else {
                        left.as_millis().min(i32::MAX as u128 - 1) as i32 + 1
                    }
                }
            };
            // SAFETY: valid pollfds.
            let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
            if r < 0 {
                let e = crate::spawn::sys::errno();
                if e == libc::EINTR {
                    continue;
                }
                return Err(Error::from_errno(e, "poll"));
            }
            if let Some(i) = pfds[..fds.len()].iter().position(|p| p.revents != 0) {
                return Ok(Some(i));
            }
            if pfds[fds.len()..].iter().any(|p| p.revents != 0) {
                return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
            }
            if ms == 0 || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    /// Wait until `fd` is readable (a pidfd whose process ended, a pipe
    /// with data): `false` at the deadline.
    pub(crate) fn wait_readable(&self, fd: RawFd) -> Result<bool> {
        Ok(self.wait_any(&[(fd, libc::POLLIN)])?.is_some())
    }

    /// Sleep for `d` or until the bound: `false` once the deadline has
    /// passed, `Cancelled` when cancelled.
    pub(crate) fn sleep(&self, d: Duration) -> Result<bool> {
        let (deadline, _) = self.bounds();
        if deadline.is_some_and(|dl| Instant::now() >= dl) {
            return Ok(false);
        }
        let nap = Until {
            deadline: Some(deadline.map_or(Instant::now() + d, |dl| dl.min(Instant::now() + d))),
            cancel: self.cancel.clone(),
        };
        nap.wait_any(&[])?;
        Ok(deadline.is_none_or(|dl| Instant::now() < dl))
    }

    /// This bound, cut to `d` from now.
    pub(crate) fn within(&self, d: Duration) -> Until {
        let end = Instant::now() + d;
        Until {
            deadline: Some(self.deadline.map_or(end, |x| x.min(end))),
            cancel: self.cancel.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_cancel_and_scope() {
        let t = Instant::now();
        assert_eq!(
            Until::after(Duration::from_millis(20))
                .wait_any(&[])
                .unwrap(),
            None
        );
        assert!(t.elapsed() >= Duration::from_millis(20));

        let c = Cancel::new().unwrap();
        let c2 = c.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            c2.cancel()
        });
        let e = Until::forever().or_cancel(&c).wait_any(&[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Cancelled);
        h.join().unwrap();

        // a scoped cancel reaches a call that was given no bound
        let e = scoped(Until::forever().or_cancel(&c), || {
            Until::forever().sleep(Duration::from_secs(5))
        })
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Cancelled);
        c.reset();
        assert!(scoped(Until::after(Duration::from_millis(5)), || {
            Until::forever().sleep(Duration::from_secs(5))
        })
        .is_ok_and(|more| !more));
    }
}
