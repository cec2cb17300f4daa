//! `ps`, `events`, `features`, `spec`: what runs in a container, its
//! usage, what this runtime supports, and a starter config.

use serde_json::{json, Value};
use std::path::Path;
use vpsos_core::{HostFeatures, Runtime, Status};

/// `vpsos ps [--format table|json] ID [PS_ARGS...]`.
pub fn ps(rt: &Runtime, id: &str, format: &str, ps_args: &[String]) -> Result<i32, String> {
    let ct = crate::manage::load(rt, id)?;
    let pids = ct
        .cgroup()
        .map(|cg| cg.procs_recursive())
        .unwrap_or_default();
    match format {
        "json" => {
            println!("{}", Value::from(pids));
            Ok(0)
        }
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| format!("running ps: {e}"))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let col = header
                .split_whitespace()
                .position(|c| c == "PID")
                .ok_or("couldn't find PID field in ps output")?;
            println!("{header}");
            for l in lines {
                let pid: Option<i32> = l.split_whitespace().nth(col).and_then(|p| p.parse().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{l}");
                }
            }
            Ok(0)
        }
        f => Err(format!("invalid format {f:?}: use table or json")),
    }
}

/// One stats event of `ct`, in runc's shape (the fields clients read).
fn stats_event(ct: &vpsos_core::Container) -> Result<Value, String> {
    let s = ct.stats().map_err(crate::describe)?;
    let r = ct.resources().ok();
    let limit = r.as_ref().and_then(|r| r.memory.max).unwrap_or(u64::MAX);
    let pids_limit = r.as_ref().and_then(|r| r.pids.max).unwrap_or(0);
    Ok(json!({
        "type": "stats",
        "id": ct.id(),
        "data": {
            "cpu": {"usage": {
                "total": s.cpu_usage_usec * 1000,
                "kernel": s.cpu_system_usec * 1000,
                "user": s.cpu_user_usec * 1000,
                "percpu": []
            }, "throttling": {}},
            "memory": {
                "usage": {"usage": s.memory_current, "limit": limit,
                          "max": s.memory_peak.unwrap_or(0), "failcnt": 0},
                "swap": {"usage": s.swap_current.unwrap_or(0)},
                "oom_kills": s.oom_kills
            },
            "pids": {"current": s.pids_current, "limit": pids_limit},
            "blkio": {
                "ioServiceBytesRecursive": [
                    {"op": "Read", "value": s.io_read_bytes},
                    {"op": "Write", "value": s.io_write_bytes}
                ],
                "ioServicedRecursive": [
                    {"op": "Read", "value": s.io_read_ops},
                    {"op": "Write", "value": s.io_write_ops}
                ]
            }
        }
    }))
}

/// `vpsos events [--stats] [--interval 5s] ID`: one stats event
/// (--stats), or a stats event each interval and an `oom` event for each
/// OOM kill, until the container stops.
pub fn events(rt: &Runtime, id: &str, stats: bool, interval: &str) -> Result<i32, String> {
    let ct = crate::manage::load(rt, id)?;
    if stats {
        println!("{}", stats_event(&ct)?);
        return Ok(0);
    }
    let every = parse_duration(interval)?;
    let mut ooms = ct.stats().map(|s| s.oom_kills).unwrap_or(0);
    loop {
        match ct.state().map(|s| s.status) {
            Ok(Status::Stopped | Status::Deleting) | Err(_) => return Ok(0),
            _ => {}
        }
        let ev = stats_event(&ct)?;
        let now = ev["data"]["memory"]["oom_kills"].as_u64().unwrap_or(ooms);
        if now > ooms {
            println!("{}", json!({"type": "oom", "id": id}));
            ooms = now;
        }
        println!("{ev}");
        std::thread::sleep(every);
    }
}

/// `5s`, `500ms`, `1m`.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    let bad = || format!("--interval {s:?}: use e.g. 5s, 500ms or 1m");
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| s.split_at(i))
        .ok_or_else(bad)?;
    let n: u64 = num.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(bad()),
    };
    if d.is_zero() {
        return Err(bad());
    }
    Ok(d)
}

/// `vpsos features`: the OCI features document.
pub fn features() -> Result<i32, String> {
    let f = HostFeatures::get();
    let caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    let mut caps = caps;
    caps.sort();
    let doc = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": ["bind", "rbind", "ro", "rw", "nosuid", "suid", "nodev", "dev",
                         "noexec", "exec", "private", "rprivate", "slave", "rslave",
                         "shared", "rshared"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false,
                       "rdma": false},
            "seccomp": {
                "enabled": f.has("seccomp"),
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                            "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                            "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                              "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]
            },
            "apparmor": {"enabled": f.apparmor},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "org.opencontainers.runtime-spec.features.runtime": "vpsos",
            "io.github.vpsos.version": env!("CARGO_PKG_VERSION")
        }
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    Ok(0)
}

/// `vpsos spec [--bundle DIR] [--rootless]`: runc's starter config.json.
pub fn spec(bundle: Option<&Path>, rootless: bool) -> Result<i32, String> {
    let dir = bundle.unwrap_or(Path::new("."));
    let path = dir.join("config.json");
    if path.exists() {
        return Err(format!("File {} exists. Remove it first", path.display()));
    }
    let spec = if rootless {
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        oci_spec::runtime::Spec::rootless(uid, gid)
    } else {
        oci_spec::runtime::Spec::default()
    };
    let text = serde_json::to_string_pretty(&spec).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(0)
}
