//! `state` and `list`: the OCI state of containers, as runc prints it.

use crate::log::rfc3339;
use serde_json::{json, Value};
use vpsos_core::{Container, Runtime, Status};

/// The OCI status name: creating, created, running, paused or stopped.
pub fn status_name(s: Status) -> &'static str {
    match s {
        Status::Creating => "creating",
        Status::Created => "created",
        Status::Running => "running",
        Status::Frozen => "paused",
        Status::Stopped | Status::Deleting => "stopped",
    }
}

/// The state document of `ct` (runc's fields: ociVersion, id, pid,
/// status, bundle, rootfs, created, owner, annotations).
pub fn state_of(ct: &Container) -> vpsos_core::Result<Value> {
    let st = ct.state()?;
    let config = ct.config()?;
    let created = std::time::UNIX_EPOCH + std::time::Duration::from_secs(st.created);
    let running = !matches!(st.status, Status::Stopped | Status::Deleting);
    Ok(json!({
        "ociVersion": "1.0.2",
        "id": st.id,
        "pid": if running { st.pid.unwrap_or(0) } else { 0 },
        "status": status_name(st.status),
        "bundle": config.bundle.as_ref().map(|b| b.display().to_string()).unwrap_or_default(),
        "rootfs": config.rootfs.display().to_string(),
        "created": rfc3339(created),
        "owner": "",
        "annotations": config.annotations,
    }))
}

/// `vpsos state ID`.
pub fn print_state(rt: &Runtime, id: &str) -> Result<i32, String> {
    let ct = crate::manage::load(rt, id)?;
    let v = state_of(&ct).map_err(crate::describe)?;
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(0)
}

/// `vpsos list [--format table|json] [-q]`.
pub fn list(rt: &Runtime, format: &str, quiet: bool) -> Result<i32, String> {
    // (no state root yet: no ids)
    let ids = rt.ids().map_err(crate::describe)?;
    if quiet {
        for ct in ids.iter().filter_map(|id| rt.load(id).ok()) {
            println!("{}", ct.id());
        }
        return Ok(0);
    }
    let states: Vec<Value> = ids
        .iter()
        .filter_map(|id| rt.load(id).ok())
        .filter_map(|ct| state_of(&ct).ok())
        .collect();
    match format {
        "json" => println!("{}", Value::Array(states)),
        "table" => {
            println!(
                "{:<20} {:<10} {:<10} {:<40} {:<32} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for s in &states {
                println!(
                    "{:<20} {:<10} {:<10} {:<40} {:<32} {}",
                    s["id"].as_str().unwrap_or(""),
                    s["pid"],
                    s["status"].as_str().unwrap_or(""),
                    s["bundle"].as_str().unwrap_or(""),
                    s["created"].as_str().unwrap_or(""),
                    "root"
                );
            }
        }
        f => return Err(format!("invalid format {f:?}: use table or json")),
    }
    Ok(0)
}
