//! `kill`, `delete`, `pause`, `resume`, `update`: driving an existing
//! container, with runc's error texts where clients match on them
//! ("container does not exist", "container not running").

use crate::cli::UpdateArgs;
use vpsos_core::{Container, ErrorKind, Runtime, Status};

/// Load `id`, or runc's "does not exist" error (containerd and podman
/// look for those words).
pub fn load(rt: &Runtime, id: &str) -> Result<Container, String> {
    rt.load(id).map_err(|e| match e.kind() {
        ErrorKind::NotFound => format!("container {id} does not exist"),
        _ => e.to_string(),
    })
}

fn status(ct: &Container) -> Result<Status, String> {
    ct.state().map(|s| s.status).map_err(|e| match e.kind() {
        ErrorKind::NotFound => format!("container {} does not exist", ct.id()),
        _ => e.to_string(),
    })
}

/// `vpsos kill [--all] ID [SIGNAL]`: the init, or with `--all` every
/// process of the container's cgroup.
pub fn kill(rt: &Runtime, id: &str, signal: &str, all: bool) -> Result<i32, String> {
    let sig = crate::signals::parse(signal)?;
    let ct = load(rt, id)?;
    // runc's words exactly: containerd's kill takes them for "gone"
    let not_running = || "container not running".to_string();
    if !matches!(
        status(&ct)?,
        Status::Created | Status::Running | Status::Frozen
    ) {
        return Err(not_running());
    }
    if all {
        let cg = ct
            .cgroup()
            .ok_or_else(|| format!("container {id} has no cgroup to signal"))?;
        cg.signal_all(sig, rt.kill_timeout())
            .map_err(crate::describe)?;
        return Ok(0);
    }
    ct.kill(sig).map_err(|e| match e.kind() {
        ErrorKind::NotFound => not_running(),
        _ => e.to_string(),
    })?;
    Ok(0)
}

/// `vpsos delete [--force] ID`: a created or stopped container is
/// removed; a running or paused one only with --force. `--force` on a
/// container that does not exist succeeds, as runc's does.
pub fn delete(rt: &Runtime, id: &str, force: bool) -> Result<i32, String> {
    let ct = match rt.load(id) {
        Ok(ct) => ct,
        Err(e) if e.kind() == ErrorKind::NotFound && force => return Ok(0),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(format!("container {id} does not exist"))
        }
        Err(e) => return Err(e.to_string()),
    };
    let r = match status(&ct)? {
        Status::Stopped => ct.delete(),
        // (deleting: a deleter died part-way)
        Status::Created | Status::Creating | Status::Deleting => ct.delete_force(),
        _ if force => ct.delete_force(),
        s => {
            return Err(format!(
                "cannot delete container {id} that is not stopped: {}",
                crate::state::status_name(s)
            ))
        }
    };
    r.map(|_| 0).map_err(crate::describe)
}

/// `vpsos pause ID`.
pub fn pause(ct: &Container) -> vpsos_core::Result<()> {
    match ct.state()?.status {
        Status::Running => ct.freeze(),
        Status::Frozen => Ok(()),
        _ => Err(vpsos_core::Error::new(
            ErrorKind::Busy,
            "container not running",
        )),
    }
}

/// `vpsos resume ID`.
pub fn resume(ct: &Container) -> vpsos_core::Result<()> {
    match ct.state()?.status {
        Status::Frozen => ct.thaw(),
        _ => Err(vpsos_core::Error::new(
            ErrorKind::Busy,
            "container not paused",
        )),
    }
}

/// `vpsos update ID [--resources FILE] [--memory ...]`.
pub fn update(rt: &Runtime, a: &UpdateArgs) -> Result<i32, String> {
    use oci_spec::runtime::LinuxResources;
    let mut v: serde_json::Value = match &a.resources {
        Some(p) => {
            let text = crate::exec::read_file_or_stdin(p)?;
            serde_json::from_str(&text).map_err(|e| format!("--resources: {e}"))?
        }
        None => serde_json::json!({}),
    };
    let size = |s: &str| parse_size(s).map_err(|e| format!("{s:?}: {e}"));
    let set = |v: &mut serde_json::Value, section: &str, key: &str, val: serde_json::Value| {
        if !v[section].is_object() {
            v[section] = serde_json::json!({});
        }
        v[section][key] = val;
    };
    if let Some(m) = &a.memory {
        set(&mut v, "memory", "limit", size(m)?.into());
    }
    if let Some(m) = &a.memory_swap {
        set(&mut v, "memory", "swap", size(m)?.into());
    }
    if let Some(m) = &a.memory_reservation {
        set(&mut v, "memory", "reservation", size(m)?.into());
    }
    if let Some(x) = a.cpu_shares {
        set(&mut v, "cpu", "shares", x.into());
    }
    if let Some(x) = a.cpu_quota {
        set(&mut v, "cpu", "quota", x.into());
    }
    if let Some(x) = a.cpu_period {
        set(&mut v, "cpu", "period", x.into());
    }
    if let Some(x) = &a.cpuset_cpus {
        set(&mut v, "cpu", "cpus", x.as_str().into());
    }
    if let Some(x) = &a.cpuset_mems {
        set(&mut v, "cpu", "mems", x.as_str().into());
    }
    if let Some(x) = a.pids_limit {
        set(&mut v, "pids", "limit", x.into());
    }
    if let Some(x) = a.blkio_weight {
        set(&mut v, "blockIO", "weight", x.into());
    }
    let oci: LinuxResources = serde_json::from_value(v).map_err(|e| format!("resources: {e}"))?;
    let r = vpsos_core::config::Resources::from_oci(&oci).map_err(crate::describe)?;
    let ct = load(rt, &a.id)?;
    ct.update_resources(&r).map_err(crate::describe)?;
    Ok(0)
}

/// `512`, `64k`, `64m`, `1g` (binary units), `-1` (unlimited).
pub fn parse_size(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.to_ascii_lowercase();
    let t = lower.trim_end_matches('b');
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .filter(|n| *n >= 0)
        .ok_or_else(|| "not a size (e.g. 512, 64k, 64m, 1g, -1)".to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("64m"), Ok(64 << 20));
        assert_eq!(super::parse_size("1G"), Ok(1 << 30));
        assert_eq!(super::parse_size("512"), Ok(512));
        assert_eq!(super::parse_size("-1"), Ok(-1));
        assert!(super::parse_size("lots").is_err());
    }
}
