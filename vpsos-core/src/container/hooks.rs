//! Running a container's OCI hooks: each hook gets the container's OCI
//! state on stdin, runs with exactly its own argv and environment, and
//! is killed at its timeout. Hooks of the container's namespaces join
//! them through the init's pidfd in the forked child (raw `setns` and
//! `execveat` of the program opened beforehand on the host, so its path
//! resolves in the runtime's mount namespace, as OCI asks); the process
//! itself is [`crate::spawn::hook`]'s.

use crate::config::{Config, Hook};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::spawn::hook::{self, HookEnd, HookExec};
use crate::until::Until;
use std::ffi::CString;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
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
    let (argv_p, envp_p) = (crate::plan::ptr_array(&argv), crate::plan::ptr_array(&envp));
    let path_c = cstr(&path)?;
    // found on the host (by fd), or by path in the container
    let exe: Option<OwnedFd> = match place {
        Place::Container(..) => None,
        _ => Some(open(&h.path, libc::O_PATH).ctx(|| "opening it".into())?),
    };
    // the state on stdin; stdout and stderr together, kept for the error
    let stdin = temp_file()?;
    (&stdin)
        .write_all(state.as_bytes())
        .ctx(|| "writing its state".into())?;
    (&stdin).rewind().ctx(|| "writing its state".into())?;
    let out = temp_file()?;
    let x = HookExec {
        exe,
        path: path_c.as_ptr(),
        argv: argv_p.as_ptr(),
        envp: envp_p.as_ptr(),
        stdin: stdin.as_raw_fd(),
        output: out.as_raw_fd(),
        join: match place {
            Place::Runtime => None,
            Place::PrePivot(fd, flags) | Place::Container(fd, flags) => {
                Some((fd.as_raw_fd(), *flags))
            }
        },
    };
    let until = match h.timeout {
        Some(s) => Until::after(Duration::from_secs(s.into())),
        None => Until::forever(),
    };
    let end = hook::run(&x, &until).map_err(|e| e.context("starting it"))?;
    let mut text = String::new();
    let _ = (&out).rewind();
    let _ = (&out).take(4096).read_to_string(&mut text);
    let text = text.trim();
    let said = if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    };
    let what = match end {
        HookEnd::Exited(0) => return Ok(()),
        HookEnd::Exited(c) => format!("exit status: {c}"),
        HookEnd::Signaled(s) => format!("signal: {s}"),
        HookEnd::TimedOut => format!("timed out after {} s", h.timeout.unwrap_or(0)),
    };
    Err(Error::new(ErrorKind::Command, format!("{what}{said}")))
}

/// `path` opened close-on-exec with `flags`.
fn open(path: &std::path::Path, flags: libc::c_int) -> std::io::Result<OwnedFd> {
    Ok(std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags | libc::O_CLOEXEC)
        .open(path)?
        .into())
}

/// An unnamed, close-on-exec file in /tmp.
fn temp_file() -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .open("/tmp")
        .ctx(|| "an O_TMPFILE in /tmp".into())
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
