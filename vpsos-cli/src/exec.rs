//! `exec`: a process in a running container, from `--process` (an OCI
//! process JSON) or from the command line on top of the container's own
//! process settings (runc's way). Detached, it is re-parented to the
//! caller's subreaper; in the foreground this process waits for it.

use crate::cli::ExecArgs;
use crate::log::Log;
use std::path::Path;
use vpsos_core::{Capability, CreateOptions, Process, Reaper, Runtime, Stdio};

/// Read a file, or stdin for `-`.
pub fn read_file_or_stdin(p: &Path) -> Result<String, String> {
    if p == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| format!("reading stdin: {e}"))?;
        return Ok(s);
    }
    std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()))
}

/// `vpsos exec ID [--process FILE | CMD...] ...`.
pub fn exec(rt: &Runtime, a: &ExecArgs, _log: &Log) -> Result<i32, String> {
    if a.apparmor.is_some() {
        return Err("--apparmor: a process gets its container's AppArmor profile".into());
    }
    if a.process_label.is_some() {
        return Err("--process-label: SELinux is not supported".into());
    }
    let ct = crate::manage::load(rt, &a.id)?;
    let process = process(&ct, a)?;
    crate::create::check_terminal(a.detach, process.terminal, a.console_socket.is_some())?;
    if !a.detach {
        crate::reap::become_subreaper()?;
    }
    let signals = if a.detach {
        None
    } else {
        Some(crate::signals::block_forwarded()?)
    };
    let opts = CreateOptions {
        stdin: Stdio::Inherit,
        stdout: Stdio::Inherit,
        stderr: Stdio::Inherit,
        extra_fds: crate::create::preserved_fds(a.preserve_fds)?,
        reaper: Reaper::Subreaper,
    };
    let p = ct.exec(&process, opts).map_err(crate::describe)?;
    let console = match (&a.console_socket, p.take_console()) {
        (Some(sock), Some(m)) => {
            crate::console::send_to_socket(sock, &m)?;
            None
        }
        (_, m) => m,
    };
    if let Some(f) = &a.pid_file {
        crate::create::write_pid_file(f, p.pid())?;
    }
    let Some(signals) = signals else {
        return Ok(0);
    };
    let pidfd = p.pidfd().map_err(crate::describe)?;
    crate::reap::foreground(p.pid(), &pidfd, console, &signals)
}

/// The process to run: `--process`, or the container's process settings
/// with the command line's argv, env, cwd, user and capabilities.
fn process(ct: &vpsos_core::Container, a: &ExecArgs) -> Result<Process, String> {
    if let Some(path) = &a.process {
        let text = read_file_or_stdin(path)?;
        let oci: oci_spec::runtime::Process =
            serde_json::from_str(&text).map_err(|e| format!("--process: {e}"))?;
        let config = ct.config().map_err(crate::describe)?;
        let mut p = Process::from_oci_for(&oci, &config).map_err(crate::describe)?;
        if a.tty {
            p.terminal = true;
        }
        return Ok(p);
    }
    if a.command.is_empty() {
        return Err("exec needs a command or --process".into());
    }
    let mut p = ct.config().map_err(crate::describe)?.process;
    p.args = a.command.clone();
    p.terminal = a.tty;
    for e in &a.env {
        let Some((k, v)) = e.split_once('=') else {
            return Err(format!("--env {e:?}: not KEY=value"));
        };
        p = p.env(k, v);
    }
    if let Some(cwd) = &a.cwd {
        p.cwd = cwd.clone();
    }
    if let Some(u) = &a.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
        p.user.uid = uid
            .parse()
            .map_err(|_| format!("--user {u:?}: use uid[:gid]"))?;
        p.user.gid = gid
            .parse()
            .map_err(|_| format!("--user {u:?}: use uid[:gid]"))?;
    }
    p.user.additional_gids.extend(&a.additional_gids);
    if a.no_new_privs {
        p.no_new_privileges = true;
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities.take().unwrap_or_default();
        for c in &a.cap {
            let name = c.to_ascii_uppercase();
            let name = if name.starts_with("CAP_") {
                name
            } else {
                format!("CAP_{name}")
            };
            let cap: Capability = name
                .parse()
                .map_err(|_| format!("--cap {c:?}: unknown capability"))?;
            for set in [&mut caps.bounding, &mut caps.effective, &mut caps.permitted] {
                if !set.contains(&cap) {
                    set.push(cap);
                }
            }
            if !caps.inheritable.is_empty() && !caps.ambient.contains(&cap) {
                caps.ambient.push(cap);
            }
        }
        p.capabilities = Some(caps);
    }
    Ok(p)
}
