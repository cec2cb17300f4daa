//! Running a container's OCI hooks: each hook gets the container's OCI
//! state on stdin, runs with exactly its own argv and environment, and
//! is killed at its timeout. Hooks of the container's namespaces join
//! them through the init's pidfd in the forked child (raw `setns` and
//! `execveat` of the program opened beforehand on the host, so its path
//! resolves in the runtime's mount namespace, as OCI asks).

use crate::config::{Config, Hook};
use crate::error::{Error, ErrorKind, Result};
use crate::until::Until;
use std::ffi::CString;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The OCI state document a hook reads on stdin.
///
/// ```ignore
/// {"ociVersion":"1.0.2","id":"ct1","status":"created","pid":4242,"bundle":"/b","annotations":{}}
/// ```
pub(crate) fn state_json(id: &str, status: &str, pid: Option<i32>, config: &Config) -> String {
    state_value(id, status, pid, config).to_string()
}

/// The OCI state document as a JSON value.
pub(crate) fn state_value(
    id: &str,
    status: &str,
    pid: Option<i32>,
    config: &Config,
) -> serde_json::Value {
    let mut v = serde_json::json!({
        "ociVersion": "1.0.2",
        "id": id,
        "status": status,
        "bundle": config.bundle.as_ref().map(|b| b.to_string_lossy().into_owned()).unwrap_or_default(),
        "annotations": config.annotations,
    });
    if let Some(pid) = pid {
        v["pid"] = pid.into();
    }
    v
}

/// Hand `listener` (of process `pid`) to the config's seccomp agent, if
/// it names one: `None` then (the caller gets nothing), else `listener`.
pub(crate) fn route_listener(
    id: &str,
    config: &Config,
    pid: i32,
    status: &str,
    listener: Option<OwnedFd>,
) -> Result<Option<OwnedFd>> {
    match (&config.seccomp_listener, listener) {
        (Some(agent), Some(fd)) => {
            use std::os::fd::AsFd;
            let state = state_value(id, status, Some(pid), config);
            agent.send(fd.as_fd(), pid, state)?;
            Ok(None)
        }
        (_, l) => Ok(l),
    }
}

/// Where a hook runs.
pub(crate) enum Place<'a> {
    /// The runtime's (our) namespaces.
    Runtime,
    /// The namespaces of the container whose init is behind this pidfd
    /// (`flags`: the CLONE_NEW* set to join), the program found on the
    /// host: `create_container`, which runs before the init's
    /// pivot_root, so its mount namespace still has the host's root
    /// (the container's mounts under the rootfs path), as runc does it.
    PrePivot(&'a OwnedFd, libc::c_int),
    /// The container's namespaces and root, the program found in the
    /// container (`start_container`).
    Container(&'a OwnedFd, libc::c_int),
}

/// Run `hooks` (field `field` of the config, for messages) in order; the
/// first failure is the error.
pub(crate) fn run(field: &str, hooks: &[Hook], state: &str, place: &Place) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, state, place)
            .map_err(|e| e.context(format!("hook hooks.{field}[{i}] ({})", h.path.display())))?;
    }
    Ok(())
}

fn run_one(h: &Hook, state: &str, place: &Place) -> Result<()> {
    let cstr =
        |s: &str| CString::new(s).map_err(|_| Error::invalid("hooks", "an argument contains NUL"));
    let path = h.path.to_string_lossy();
    let argv: Vec<CString> = if h.args.is_empty() {
        vec![cstr(&path)?]
    } else {
        h.args.iter().map(|a| cstr(a)).collect::<Result<_>>()?
    };
    let envp: Vec<CString> = h.env.iter().map(|e| cstr(e)).collect::<Result<_>>()?;
    let ptrs = |v: &[CString]| {
        let mut p: Vec<*const libc::c_char> = v.iter().map(|s| s.as_ptr()).collect();
        p.push(std::ptr::null());
        p
    };
    let (argv_p, envp_p) = (ptrs(&argv), ptrs(&envp));
    // found on the host (by fd), or by path in the container
    let in_container = matches!(place, Place::Container(..));
    let exe: Option<OwnedFd> = if in_container {
        None
    } else {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
            .open(&h.path)
            .map_err(|e| Error::from_errno(e.raw_os_error().unwrap_or(libc::EIO), "opening it"))?;
        Some(f.into())
    };
    let path_c = cstr(&path)?;
    // stdout and stderr together, kept for the error message
    let out = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .open("/tmp")
        .map_err(|e| Error::from_errno(e.raw_os_error().unwrap_or(libc::EIO), "O_TMPFILE"))?;
    let mut cmd = Command::new(&*path);
    cmd.stdin(Stdio::piped())
        .stdout(out.try_clone().map_err(io_err)?)
        .stderr(out.try_clone().map_err(io_err)?);
    let join = match place {
        Place::Runtime => None,
        Place::PrePivot(fd, flags) | Place::Container(fd, flags) => Some((fd.as_raw_fd(), *flags)),
    };
    let exe_fd = exe.as_ref().map_or(-1, |f| f.as_raw_fd());
    let path_ptr = path_c.as_ptr() as usize;
    let (argv_ptr, envp_ptr) = (argv_p.as_ptr() as usize, envp_p.as_ptr() as usize);
    // SAFETY: between fork and exec only raw syscalls over data built
    // above (no allocation); on success execveat does not return.
    unsafe {
        cmd.pre_exec(move || {
            if let Some((pidfd, flags)) = join {
                if libc::setns(pidfd, flags) < 0 || libc::chdir(c"/".as_ptr()) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            let (argv, envp) = (
                argv_ptr as *const *const libc::c_char,
                envp_ptr as *const *const libc::c_char,
            );
            if exe_fd < 0 {
                libc::execve(path_ptr as *const libc::c_char, argv, envp);
            } else {
                libc::syscall(
                    libc::SYS_execveat,
                    exe_fd,
                    c"".as_ptr(),
                    argv,
                    envp,
                    libc::AT_EMPTY_PATH,
                );
            }
            Err(std::io::Error::last_os_error())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::from_errno(e.raw_os_error().unwrap_or(libc::EIO), "starting it"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // a hook that does not read its state is fine (EPIPE)
        let _ = stdin.write_all(state.as_bytes());
    }
    let until = match h.timeout {
        Some(s) => Until::after(Duration::from_secs(s.into())),
        None => Until::forever(),
    };
    let pidfd = crate::spawn::pidfd_open(child.id() as i32)?;
    let ended = until.wait_readable(pidfd.as_raw_fd())?;
    if !ended {
        let _ = child.kill();
    }
    let status = child.wait().map_err(io_err)?;
    let mut text = String::new();
    let mut f = out;
    let _ = f.rewind();
    let _ = f.take(4096).read_to_string(&mut text);
    let text = text.trim();
    let said = if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    };
    if !ended {
        return Err(Error::new(
            ErrorKind::Command,
            format!("timed out after {} s{said}", h.timeout.unwrap_or(0)),
        ));
    }
    if !status.success() {
        return Err(Error::new(ErrorKind::Command, format!("{status}{said}")));
    }
    Ok(())
}

fn io_err(e: std::io::Error) -> Error {
    Error::from_errno(e.raw_os_error().unwrap_or(libc::EIO), "running a hook")
}

/// At create, once the init's mounts are made and before its
/// pivot_root: `create_runtime`, then `create_container` in the
/// container's namespaces (with the host's root).
pub(crate) fn on_create(id: &str, config: &Config, pid: i32, pidfd: &OwnedFd) -> Result<()> {
    let h = &config.hooks;
    if h.create_runtime.is_empty() && h.create_container.is_empty() {
        return Ok(());
    }
    let state = state_json(id, "creating", Some(pid), config);
    run("create_runtime", &h.create_runtime, &state, &Place::Runtime)?;
    let flags = crate::plan::build::container_ns_flags(config);
    run(
        "create_container",
        &h.create_container,
        &state,
        &Place::PrePivot(pidfd, flags),
    )
}

/// At start, before the init's program runs: `start_container`.
pub(crate) fn on_start(id: &str, config: &Config, pid: i32, pidfd: &OwnedFd) -> Result<()> {
    let h = &config.hooks.start_container;
    if h.is_empty() {
        return Ok(());
    }
    let state = state_json(id, "created", Some(pid), config);
    let flags = crate::plan::build::container_ns_flags(config);
    run(
        "start_container",
        h,
        &state,
        &Place::Container(pidfd, flags),
    )
}

/// After the start: `poststart`.
pub(crate) fn after_start(id: &str, config: &Config, pid: i32) -> Result<()> {
    let h = &config.hooks.poststart;
    if h.is_empty() {
        return Ok(());
    }
    let state = state_json(id, "running", Some(pid), config);
    run("poststart", h, &state, &Place::Runtime)
}

/// After the container is removed: `poststop`.
pub(crate) fn after_delete(id: &str, config: &Config) -> Result<()> {
    let h = &config.hooks.poststop;
    if h.is_empty() {
        return Ok(());
    }
    let state = state_json(id, "stopped", None, config);
    run("poststop", h, &state, &Place::Runtime)
}
