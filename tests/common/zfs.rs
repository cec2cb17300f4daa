//! Test pools for the ZFS tests: file-backed, made and destroyed by the test.

use std::path::{Path, PathBuf};
use std::process::Command;
use vpsos::storage::zfs::Zfs;

/// The zfs API, loading the module if the host has it.
pub fn zfs() -> Option<Zfs> {
    if !Path::new("/sys/module/zfs").exists() {
        let _ = Command::new("modprobe").arg("zfs").status();
    }
    Zfs::new().ok()
}

/// A file-backed pool, destroyed when dropped.
pub struct Pool {
    pub name: String,
    file: PathBuf,
    mnt: PathBuf,
}

impl Pool {
    pub fn new(tag: &str) -> Pool {
        Pool::with_size(tag, 256 << 20)
    }

    /// A pool of `bytes` (sparse file).
    pub fn with_size(tag: &str, bytes: u64) -> Pool {
        let name = format!("vpt{tag}{}", std::process::id());
        let file = PathBuf::from(format!("/var/tmp/{name}.img"));
        let mnt = PathBuf::from(format!("/var/tmp/vpsos-tests/zfs-{name}"));
        std::fs::File::create(&file)
            .unwrap()
            .set_len(bytes)
            .unwrap();
        let ok = Command::new("zpool")
            .args([
                "create",
                "-f",
                "-O",
                &format!("mountpoint={}", mnt.display()),
                &name,
            ])
            .arg(&file)
            .status()
            .unwrap()
            .success();
        assert!(ok, "zpool create {name}");
        Pool { name, file, mnt }
    }

    pub fn ds(&self, rel: &str) -> String {
        format!("{}/{rel}", self.name)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // "pool is busy" while a mount namespace cloned by a parallel
        // test (a container's, before its pivot_root detaches the host's
        // mounts) still holds a dataset: retry for a while, then say so
        // (the leak checker reports the pool)
        for attempt in 1.. {
            let Ok(out) = Command::new("zpool")
                .args(["destroy", "-f", &self.name])
                .output()
            else {
                break;
            };
            let err = String::from_utf8_lossy(&out.stderr);
            if out.status.success() || !err.contains("busy") || attempt == 100 {
                if !out.status.success() {
                    eprintln!("zpool destroy {}: {}", self.name, err.trim());
                }
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = std::fs::remove_file(&self.file);
        let _ = std::fs::remove_dir_all(&self.mnt);
    }
}

/// A busybox image copied into a mounted dataset's directory (building in
/// place would remove the mountpoint).
pub fn fill(dir: &Path, owner: u32) {
    // parallel tests each build their own
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = PathBuf::from(format!(
        "/var/tmp/vpsos-tests/zfs-image-{}-{n}",
        std::process::id()
    ));
    vpsos::busybox::build_rootfs(&tmp, owner, owner).unwrap();
    let out = Command::new("cp")
        .arg("-a")
        .arg(tmp.join("."))
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "copying the image into {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A process: its pid and start time (a reused pid has another).
pub type Proc = (i32, u64);

fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // after "(comm) ": state is field 3, starttime field 22
    stat[stat.rfind(')')? + 2..]
        .split(' ')
        .nth(19)?
        .parse()
        .ok()
}

/// The running `zfs` processes one of whose arguments is `arg`.
pub fn zfs_procs(arg: &str) -> Vec<Proc> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let mut args = cmdline.split(|&b| b == 0);
        let is_zfs = args.next().is_some_and(|a0| a0.ends_with(b"zfs"));
        if is_zfs && args.any(|a| a == arg.as_bytes()) {
            found.extend(start_time(pid).map(|t| (pid, t)));
        }
    }
    found
}

/// Whether `p` is gone: reaped, not even a zombie.
pub fn gone(p: Proc) -> bool {
    start_time(p.0) != Some(p.1)
}

/// Whether `name` (a dataset, snapshot or bookmark) exists, as `zfs list`
/// sees it.
pub fn exists(name: &str) -> bool {
    Command::new("zfs")
        .args(["list", "-H", "-t", "all", "--", name])
        .output()
        .unwrap()
        .status
        .success()
}

/// `n` bytes from /dev/urandom (incompressible: pools compress by default).
pub fn random(n: usize) -> Vec<u8> {
    let mut data = vec![0u8; n];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut data)
        .unwrap();
    data
}
