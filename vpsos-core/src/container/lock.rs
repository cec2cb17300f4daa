//! The per-container lock: `flock` on the state directory itself, held by
//! whoever changes the container (create, start, updates, delete,
//! recover), in any thread of any process. Reads (status, stats, list)
//! take no lock: `state.json` is always replaced whole.
//!
//! A delete removes the directory while holding it; whoever was waiting
//! then holds a lock on a directory that is gone, sees `st_nlink == 0`,
//! and reports the container gone.

use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::until::Until;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

/// How long an operation waits for another one on the same container
/// before it reports `Busy` (unless the `Until` in force says less).
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(300);

/// A held container lock (released on drop, or when the process dies).
#[derive(Debug)]
pub(crate) struct Lock {
    _file: File,
}

impl Lock {
    fn open(dir: &Path) -> std::io::Result<File> {
        File::options()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(dir)
    }

    /// Take the lock of a container being made (in its new directory).
    pub fn create(dir: &Path) -> Result<Lock> {
        let f = Self::open(dir).ctx(|| format!("opening {}", dir.display()))?;
        match flock(&f, true) {
            Ok(true) => Ok(Lock { _file: f }),
            Ok(false) => Err(Error::new(
                ErrorKind::Busy,
                format!("{} is locked", dir.display()),
            )),
            Err(e) => Err(Error::from_errno(e, format!("locking {}", dir.display()))),
        }
    }

    /// Take the lock of container `id` in `dir`, waiting for whoever holds
    /// it (up to [`LOCK_WAIT`] or `until`). `NotFound` when the container
    /// does not exist or is deleted meanwhile.
    pub fn acquire(dir: &Path, id: &str, until: &Until) -> Result<Lock> {
        let gone = || {
            Error::new(
                ErrorKind::NotFound,
                format!("container {id} does not exist"),
            )
        };
        let f = match Self::open(dir) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(gone()),
            Err(e) => return Err(e).ctx(|| format!("opening {}", dir.display())),
        };
        let until = until.within(LOCK_WAIT);
        let mut nap = Duration::from_micros(200);
        loop {
            match flock(&f, true) {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => return Err(Error::from_errno(e, format!("locking {}", dir.display()))),
            }
            if !until.sleep(nap)? {
                return Err(Error::new(
                    ErrorKind::Busy,
                    format!(
                        "container {id} is locked by another operation (waited for {})",
                        dir.display()
                    ),
                ));
            }
            nap = (nap * 2).min(Duration::from_millis(20));
        }
        let linked = f.metadata().map(|m| m.nlink() > 0).unwrap_or(false);
        if !linked {
            return Err(gone());
        }
        Ok(Lock { _file: f })
    }

    /// Take it only if nobody holds it (`None` also when `dir` is gone).
    pub fn try_acquire(dir: &Path) -> Result<Option<Lock>> {
        let f = match Self::open(dir) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).ctx(|| format!("opening {}", dir.display())),
        };
        match flock(&f, true) {
            Ok(true) if f.metadata().is_ok_and(|m| m.nlink() > 0) => Ok(Some(Lock { _file: f })),
            Ok(_) => Ok(None),
            Err(e) => Err(Error::from_errno(e, format!("locking {}", dir.display()))),
        }
    }
}

/// Non-blocking exclusive flock: `Ok(false)` when someone else holds it.
fn flock(f: &File, exclusive: bool) -> std::result::Result<bool, i32> {
    let op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    } | libc::LOCK_NB;
    loop {
        // SAFETY: flock on our open file.
        if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        match crate::spawn::sys::errno() {
            libc::EINTR => continue,
            libc::EWOULDBLOCK => return Ok(false),
            e => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_and_sees_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let held = Lock::create(dir.path()).unwrap();
        let e =
            Lock::acquire(dir.path(), "x", &Until::after(Duration::from_millis(30))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Busy);
        assert!(Lock::try_acquire(dir.path()).unwrap().is_none());
        let d = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || Lock::acquire(&d, "x", &Until::forever()));
        std::thread::sleep(Duration::from_millis(20));
        std::fs::remove_dir(dir.path()).unwrap();
        drop(held);
        assert_eq!(
            waiter.join().unwrap().unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}
