//! The main job: boot Debian 12 with systemd in a container with an id map,
//! on plain directory storage, and show it from outside through the API.
//!
//! Run as root, after `tests/images/build-debian.sh systemd` (which
//! `scripts/example.sh` runs): `cargo run --release --example debian`.
//! The image is copied into directory storage once (owned by 0 on disk,
//! mounted idmapped, so no chown) and reused by later runs.
use std::time::{Duration, Instant};
use vpsos::storage::DirStorage;
use vpsos::{Config, Container, CreateOptions, IdMap, Process, Runtime, Stdio};

/// Run `script` inside; its output.
fn sh(ct: &Container, script: &str) -> Result<String, Box<dyn std::error::Error>> {
    let mut fds = [0; 2];
    // SAFETY: a pipe into our fds.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: two new fds, ours.
    let (mut r, w) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    let opts = CreateOptions {
        stdout: Stdio::Fd(w),
        ..Default::default()
    };
    let p = ct.exec(
        &Process::new(["/bin/sh", "-c", &format!("exec 2>&1; {script}")]),
        opts,
    )?;
    let mut out = String::new();
    std::io::Read::read_to_string(&mut r, &mut out)?;
    p.wait()?;
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let image = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/var/cache/vpsos-images/debian12-systemd".into());
    let storage = DirStorage::new("/var/lib/vpsos-example/storage");
    let rootfs = match storage.path("debian12").join("etc/os-release").exists() {
        true => storage.path("debian12"),
        false => storage.create_from_dir("debian12", &image)?,
    };
    let cfg = Config::builder(&rootfs)
        .id_maps(IdMap::single(0, 1_000_000, 65536))
        .idmapped_rootfs(true) // the tree is owned by 0 on disk
        .build()?; // systemd found: cgroup delegated, halted with SIGRTMIN+4
    let rt = Runtime::with_root("/run/vpsos-example");
    if let Ok(old) = rt.load("debian") {
        old.delete_force()?;
    }
    let t = Instant::now();
    let ct = rt.run("debian", &cfg, CreateOptions::default())?;
    let mut state = String::new();
    while t.elapsed() < Duration::from_secs(120) {
        // (before systemd listens, systemctl says it cannot connect)
        state = sh(&ct, "systemctl is-system-running")?.trim().to_string();
        if ["running", "degraded", "maintenance"].contains(&state.as_str()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("{state} after {:.2} s", t.elapsed().as_secs_f64());
    print!(
        "{}",
        sh(
            &ct,
            "echo \"PID 1:       $(cat /proc/1/comm)\"; \
             echo \"uid_map:    $(tr -s ' ' < /proc/self/uid_map)\"; \
             echo \"hostname:    $(hostname)\"; \
             echo \"failed:      $(systemctl --failed --no-legend | wc -l) units\"; \
             ip -br a"
        )?
    );
    let t = Instant::now();
    let how = ct.stop(Duration::from_secs(30))?;
    println!(
        "stopped:     {:?} in {:.2} s (killed: {})",
        how.exit.reason(),
        t.elapsed().as_secs_f64(),
        how.killed
    );
    ct.delete()?;
    Ok(())
}
