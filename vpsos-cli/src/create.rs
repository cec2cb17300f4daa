//! `create` and `run`: a container from an OCI bundle, its init
//! re-parented to the caller's subreaper (conmon, containerd's shim) or,
//! for a foreground `run`, to this process, which waits for it.

use crate::cli::{CreateArgs, RunArgs};
use crate::log::Log;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use vpsos_core::{Config, Container, CreateOptions, Reaper, Runtime, Stdio};

/// `vpsos create ID --bundle DIR ...`.
pub fn create(rt: &Runtime, a: &CreateArgs, log: &Log) -> Result<i32, String> {
    let (ct, console) = make(rt, a, Start::No, log)?;
    drop(console);
    drop(ct);
    Ok(0)
}

/// `vpsos run ID --bundle DIR [--detach] ...`: create and start in one
/// step (the library's `run`: no exec-fifo round trip); in the
/// foreground, wait for the init, delete the container (unless --keep)
/// and exit with the init's status.
pub fn run(rt: &Runtime, a: &RunArgs, log: &Log) -> Result<i32, String> {
    if a.detach {
        make(rt, &a.create, Start::Detached, log)?;
        return Ok(0);
    }
    crate::reap::become_subreaper()?;
    let signals = crate::signals::block_forwarded()?;
    let (ct, console) = make(rt, &a.create, Start::Foreground, log)?;
    // the handle's own: a quick init may have ended already (ours to reap)
    let (pid, pidfd) = ct
        .created_init()
        .ok_or("the container's init is not known to its creating handle")?;
    let code = crate::reap::foreground(pid, &pidfd, console, &signals)?;
    if !a.keep {
        ct.delete_force().map_err(crate::describe)?;
    }
    Ok(code)
}

/// Whether and how `make` starts the container.
#[derive(PartialEq)]
enum Start {
    /// `create`: the init waits for `start`.
    No,
    /// `run --detach`.
    Detached,
    /// `run` in the foreground: the pty master comes back to the caller.
    Foreground,
}

/// Create (or run) the container; the init's pty master goes to
/// --console-socket or, in the foreground, back to the caller.
fn make(
    rt: &Runtime,
    a: &CreateArgs,
    start: Start,
    log: &Log,
) -> Result<(Container, Option<OwnedFd>), String> {
    let relay = start == Start::Foreground;
    let bundle = absolute(&a.bundle)?;
    let config = Config::from_oci_bundle(&bundle).map_err(crate::describe)?;
    check_terminal(!relay, config.process.terminal, a.console_socket.is_some())?;
    let opts = CreateOptions {
        stdin: Stdio::Inherit,
        stdout: Stdio::Inherit,
        stderr: Stdio::Inherit,
        extra_fds: preserved_fds(a.preserve_fds)?,
        reaper: Reaper::Subreaper,
    };
    let ct = match start {
        Start::No => rt.create(&a.id, &config, opts),
        _ => rt.run(&a.id, &config, opts),
    }
    .map_err(crate::describe)?;
    let done = (|| {
        for name in config.seccomp.iter().flat_map(|p| p.skipped_syscalls()) {
            log.warn(&format!(
                "the seccomp profile names {name}, which this libseccomp does not know: no rule for it"
            ));
        }
        let console = ct.take_console();
        let console = match (&a.console_socket, console) {
            (Some(sock), Some(m)) => {
                crate::console::send_to_socket(sock, &m)?;
                None
            }
            (_, m) => m,
        };
        if let Some(p) = &a.pid_file {
            let (pid, _) = ct
                .created_init()
                .ok_or("the container's init is not known to its creating handle")?;
            write_pid_file(p, pid)?;
        }
        Ok(console)
    })();
    match done {
        Ok(console) => Ok((ct, console)),
        Err(e) => {
            let _ = ct.delete_force();
            Err(e)
        }
    }
}

/// runc's rule for a terminal and a console socket (its words too): a
/// detached terminal needs the socket, and only a detached terminal takes one.
pub fn check_terminal(detach: bool, terminal: bool, socket: bool) -> Result<(), String> {
    if detach && terminal && !socket {
        return Err(
            "cannot allocate tty if runc will detach without setting console socket".into(),
        );
    }
    if (!detach || !terminal) && socket {
        return Err("cannot use console socket if runc will not detach or allocate tty".into());
    }
    Ok(())
}

/// Our fds 3 .. 3+n, moved into the container.
pub fn preserved_fds(n: u32) -> Result<Vec<OwnedFd>, String> {
    (0..n as i32)
        .map(|i| {
            let fd = 3 + i;
            // SAFETY: F_GETFD only checks that the fd is open.
            if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
                return Err(format!("--preserve-fds: fd {fd} is not open"));
            }
            // SAFETY: the caller handed us these fds for the container.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })
        .collect()
}

/// Write `pid` to `path` atomically (a temp file renamed), no newline.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), String> {
    let path = absolute(path)?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let tmp = dir.join(format!(
        ".{}.{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("pid"),
        std::process::id()
    ));
    std::fs::write(&tmp, pid.to_string())
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("writing pid file {}: {e}", path.display()))
}

/// `p` made absolute against the working directory.
pub fn absolute(p: &Path) -> Result<PathBuf, String> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| format!("working directory: {e}"))?;
    Ok(cwd.join(p))
}
