//! Bundles and a runner for the CLI tests: a busybox rootfs made once
//! with tests/busybox-rootfs.sh, runc-style config.json files, and the
//! `vpsos` binary run with a private --root.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// Host id of the container's root in the user-namespace bundles.
pub const HOST_ROOT: u32 = 320_000;
/// Where the tests' trees go (tests/check-leaks.sh removes it at the end).
pub const TREES: &str = "/var/tmp/vpsos-tests";
/// The tests' cgroup parent (tests/check-leaks.sh looks there).
pub const CGROUP_PARENT: &str = "vpsos-test";

/// Skip (print why, counted as skipped by scripts/test.sh) unless root.
#[macro_export]
macro_rules! require_root {
    () => {
        if unsafe { libc::geteuid() } != 0 {
            let name = std::thread::current().name().unwrap_or("?").to_string();
            println!("SKIPPED {name}: not root");
            return;
        }
    };
}

/// The shared busybox rootfs (owned by HOST_ROOT).
pub fn rootfs() -> &'static Path {
    static R: OnceLock<PathBuf> = OnceLock::new();
    R.get_or_init(|| {
        let dir = PathBuf::from(format!("{TREES}/cli-rootfs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/busybox-rootfs.sh");
        let ok = Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .arg(HOST_ROOT.to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "building the busybox rootfs");
        dir
    })
}

/// A private state root, bundle directory and unique ids for one test.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub name: String,
}

impl Env {
    pub fn new(name: &str) -> Env {
        std::fs::create_dir_all(TREES).unwrap();
        let dir = tempfile::Builder::new()
            .prefix("cli-")
            .tempdir_in(TREES)
            .unwrap();
        let root = dir.path().join("state");
        Env {
            root,
            dir,
            name: format!("{name}-{}", std::process::id()),
        }
    }

    /// A bundle `tag` with `config` (root.path is the shared rootfs).
    pub fn bundle(&self, tag: &str, config: &Value) -> PathBuf {
        let b = self.dir.path().join(tag);
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("config.json"), config.to_string()).unwrap();
        b
    }

    /// `vpsos --root ROOT args...` with stdin from /dev/null, stdout and
    /// stderr through files (a container keeps the CLI's stdio: pipes
    /// would stay open as long as it runs).
    pub fn vpsos(&self, args: &[&str]) -> Output {
        let out = tempfile::tempfile().unwrap();
        let err = tempfile::tempfile().unwrap();
        let status = self
            .cmd(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(err.try_clone().unwrap())
            .status()
            .unwrap();
        let read = |mut f: std::fs::File| {
            use std::io::{Read, Seek};
            let mut v = Vec::new();
            f.rewind().unwrap();
            f.read_to_end(&mut v).unwrap();
            v
        };
        Output {
            status,
            stdout: read(out),
            stderr: read(err),
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vpsos"));
        c.arg("--root").arg(&self.root).args(args);
        c
    }

    /// Run and assert success; stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.vpsos(args);
        assert!(
            o.status.success(),
            "vpsos {args:?}: {}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Run and assert failure; stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.vpsos(args);
        assert!(!o.status.success(), "vpsos {args:?} succeeded");
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// The OCI state of `id`.
    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    /// Wait until `id`'s status is `want`.
    pub fn wait_status(&self, id: &str, want: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let o = self.vpsos(&["state", id]);
            let s: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
            if s["status"] == want {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{id}: {s}");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // whatever a failed test left: delete --force every container
        if let Ok(rd) = std::fs::read_dir(&self.root) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                if !id.starts_with('.') {
                    let _ = self.vpsos(&["delete", "--force", &id]);
                }
            }
        }
    }
}

/// A runc-style config running `args`, with a user namespace (`userns`)
/// or without, its own cgroup under the tests' cgroup parent.
pub fn config(id: &str, args: &[&str], userns: bool) -> Value {
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    let mut linux = json!({
        "cgroupsPath": format!("/{CGROUP_PARENT}/{id}"),
        "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
        "readonlyPaths": ["/proc/bus", "/proc/sys", "/proc/sysrq-trigger"],
        "resources": {"devices": [{"allow": false, "access": "rwm"}]}
    });
    if userns {
        namespaces.push(json!({"type": "user"}));
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": HOST_ROOT, "size": 65536}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": HOST_ROOT, "size": 65536}]);
    }
    linux["namespaces"] = Value::from(namespaces);
    let caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE"
    ]);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": rootfs(), "readonly": false},
        "hostname": "clitest",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": linux
    })
}

/// The cgroup directory of `id` in hierarchy `controller` (v1) or the
/// unified one, if it exists.
pub fn cgroup_dir(id: &str, controller: &str) -> Option<PathBuf> {
    [
        format!("/sys/fs/cgroup/{controller}/{CGROUP_PARENT}/{id}"),
        format!("/sys/fs/cgroup/{CGROUP_PARENT}/{id}"),
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}
