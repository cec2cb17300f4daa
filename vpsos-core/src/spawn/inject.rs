//! Changing a running container's mounts from the host: bind a host file
//! (a granted device's node) into it, or take one out.
//!
//! A short-lived child joins the container's mount namespace and does the
//! work with raw syscalls only (the caller may be multi-threaded). The
//! node is cloned with `open_tree(OPEN_TREE_CLONE)` before the child
//! switches namespaces and attached with `move_mount`, because a bind
//! mount cannot take its source from another mount namespace.

use super::rootfs_child::ensure;
use super::sys::{self, errno};
use super::{block_signals, restore_signals};
use crate::error::{Error, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const SYS_OPEN_TREE: libc::c_long = 428;
const SYS_MOVE_MOUNT: libc::c_long = 429;
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// What the child does once inside.
enum Job<'a> {
    /// Attach the detached mount `fd` at `target`, creating an empty file
    /// (and missing directories) as host `owner` (uid, gid).
    Attach {
        fd: libc::c_int,
        target: &'a CString,
        owner: (u32, u32),
    },
    /// Detach whatever is mounted at `target` and unlink it.
    Remove { target: &'a CString },
}

/// The container path without its leading `/`, as a C string.
fn rel(target: &Path) -> Result<CString> {
    let b = target.as_os_str().as_bytes();
    CString::new(b.strip_prefix(b"/").unwrap_or(b))
        .map_err(|_| Error::invalid("path", "contains a NUL byte"))
}

/// Bind-mount host file `source` at `target` in the mount namespace of
/// the process behind `pidfd`. A missing mount point is created as host
/// `owner` (the container's root): under a user namespace the container's
/// /dev is a tmpfs of that namespace, which refuses inodes owned by an id
/// it does not map (EOVERFLOW), host root included.
pub(crate) fn bind_into(
    pidfd: &OwnedFd,
    source: &Path,
    target: &Path,
    owner: (u32, u32),
) -> Result<()> {
    let src = CString::new(source.as_os_str().as_bytes())
        .map_err(|_| Error::invalid("path", "contains a NUL byte"))?;
    // SAFETY: plain syscall with a valid path.
    let fd = unsafe {
        libc::syscall(
            SYS_OPEN_TREE,
            libc::AT_FDCWD,
            src.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(Error::from_errno(
            errno(),
            format!("open_tree {}", source.display()),
        ));
    }
    // SAFETY: open_tree returned a new fd.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let target_c = rel(target)?;
    run(
        pidfd,
        Job::Attach {
            fd: tree.as_raw_fd(),
            target: &target_c,
            owner,
        },
    )
    .map_err(|e| e.context(format!("mounting {} into the container", target.display())))
}

/// Unmount and remove `target` in the container behind `pidfd`; a missing
/// target is fine.
pub(crate) fn remove_from(pidfd: &OwnedFd, target: &Path) -> Result<()> {
    let target_c = rel(target)?;
    run(pidfd, Job::Remove { target: &target_c })
        .map_err(|e| e.context(format!("removing {} from the container", target.display())))
}

fn run(pidfd: &OwnedFd, job: Job) -> Result<()> {
    let ns = pidfd.as_raw_fd();
    let old = block_signals();
    // SAFETY: the child runs only async-signal-safe syscalls and _exits.
    let pid = unsafe { sys::raw_fork(0) };
    if pid == 0 {
        // SAFETY: we are the fresh child.
        unsafe { child(ns, &job) }
    }
    let fork_errno = errno();
    restore_signals(&old);
    if pid < 0 {
        return Err(Error::from_errno(fork_errno, "fork"));
    }
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid as i32, &mut status, libc::__WALL) };
        if r >= 0 {
            break;
        }
        if errno() != libc::EINTR {
            return Err(Error::from_errno(errno(), "waiting for the mount helper"));
        }
    }
    match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
        (true, 0) => Ok(()),
        (true, code) => Err(Error::from_errno(
            code,
            "in the container's mount namespace",
        )),
        _ => Err(Error::from_errno(libc::EINTR, "mount helper killed")),
    }
}

/// The helper: join the mount namespace (root and cwd become the
/// container's), then do the job. Exit code 0 or the errno.
unsafe fn child(pidfd: libc::c_int, job: &Job) -> ! {
    let out = |e: libc::c_int| -> ! { libc::_exit(e) };
    if libc::setns(pidfd, libc::CLONE_NEWNS) < 0 {
        out(errno());
    }
    let root = libc::open(
        c"/".as_ptr(),
        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
    );
    if root < 0 {
        out(errno());
    }
    match job {
        Job::Attach { fd, target, owner } => {
            // fs ids only: this process keeps CAP_SYS_ADMIN for move_mount
            libc::syscall(libc::SYS_setfsgid, owner.1);
            libc::syscall(libc::SYS_setfsuid, owner.0);
            let t = match ensure(root, target, true) {
                Ok(t) => t,
                Err(e) => out(e),
            };
            let r = libc::syscall(
                SYS_MOVE_MOUNT,
                *fd,
                c"".as_ptr(),
                t,
                c"".as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
            );
            if r < 0 {
                out(errno());
            }
        }
        Job::Remove { target } => {
            // the path is resolved inside the container's root: it
            // cannot lead out of it
            // (several binds may be stacked there)
            while libc::umount2(target.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) == 0 {}
            let e = errno();
            if e != libc::EINVAL && e != libc::ENOENT {
                out(e);
            }
            if libc::unlinkat(root, target.as_ptr(), 0) < 0 && errno() != libc::ENOENT {
                out(errno());
            }
        }
    }
    out(0)
}
