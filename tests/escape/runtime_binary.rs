//! Attacks on the runtime itself: its binary through /proc/<pid>/exe,
//! fds of the host's leaking in, a symlink planted where a mount goes.

use super::Suite;
use crate::common::*;
use std::fs;
use std::path::{Path, PathBuf};
use vpsos::{Container, Mount, Process};

fn sha(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap()
}

pub fn attacks(s: &mut Suite, ct: &Container) {
    let exe = std::env::current_exe().unwrap();
    let before = sha(&exe);
    let (r, w) = pipe();
    let attacker = ct
        .exec(
            &sh("echo RAN; end=$(($(date +%s) + 3)); while [ $(date +%s) -lt $end ]; do \
                 for p in /proc/[0-9]*; do (echo x >> $p/exe) 2>/dev/null && echo \"WROTE $p\"; done; \
                 (echo x >> /proc/self/exe) 2>/dev/null && echo WROTE-SELF; done"),
            capture(w),
        )
        .unwrap();
    // processes joining the container while the attacker watches /proc
    for _ in 0..20 {
        let (_, o) = exec_sh(ct, "true");
        assert!(o.is_empty(), "{o}");
    }
    let out = read_all(r);
    attacker.wait().unwrap();
    s.judge(
        "overwrite the runtime through /proc/<pid>/exe (CVE-2019-5736)",
        out.starts_with("RAN"),
        !out.contains("WROTE") && sha(&exe) == before,
        &out,
    );

    let secret = tempfile::NamedTempFile::new().unwrap();
    fs::write(secret.path(), "host-secret-4711").unwrap();
    let leaky = fs::File::open(secret.path()).unwrap();
    let dir = fs::File::open("/").unwrap();
    for f in [&leaky, &dir] {
        unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(f), libc::F_SETFD, 0) };
    }
    let (_, out) = exec_sh(
        ct,
        "echo RAN; for f in /proc/self/fd/*; do cat $f 2>/dev/null; ls $f/ 2>/dev/null; done; true",
    );
    let mut leaked = out.contains("host-secret-4711");
    let name = secret
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    for n in 3..12 {
        let (r, w) = pipe();
        if let Ok(p) = ct.exec(
            &Process::new(["/bin/sh", "-c", "pwd; ls"]).cwd(format!("/proc/self/fd/{n}")),
            capture(w),
        ) {
            let o = read_all(r);
            p.wait().unwrap();
            leaked |= o.contains(&name) || o.contains("vpsos-tests") && !o.contains("proc");
        }
    }
    s.judge(
        "use an fd leaked from the host (CVE-2024-21626)",
        out.starts_with("RAN"),
        !leaked,
        &out,
    );
    drop((leaky, dir));
}

/// A symlink planted at a mount destination (CVE-2021-30465-style).
pub fn symlinked_mount_destination(s: &mut Suite) {
    let id = id("escapelink");
    let root = private_rootfs(&id);
    let tag = format!("vpsos-escape-{}", std::process::id());
    std::os::unix::fs::symlink("/", root.join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../tmp", root.join("evil2")).unwrap();
    let cfg = config()
        .mount(Mount::tmpfs(format!("/evil/{tag}")))
        .mount(Mount::tmpfs(format!("/evil2/{tag}")))
        .init(sh(&format!("grep -c {tag} /proc/self/mountinfo")))
        .build()
        .unwrap();
    let mut c2 = cfg.clone();
    c2.rootfs = root.clone();
    let (r, w) = pipe();
    let res = runtime().run(&id, &c2, capture(w));
    let (ran, inside) = match res {
        Ok(ct) => {
            let o = read_all(r);
            ct.wait().unwrap();
            ct.delete().unwrap();
            // the control: the mounts were made, inside the rootfs
            (o.trim() == "2", o)
        }
        Err(e) => (true, e.to_string()),
    };
    let host_paths: Vec<PathBuf> = vec![
        PathBuf::from("/").join(&tag),
        PathBuf::from("/tmp").join(&tag),
    ];
    s.judge(
        "mount through a symlink planted in the rootfs (CVE-2021-30465)",
        ran,
        host_paths.iter().all(|p| !p.exists())
            && !fs::read_to_string("/proc/self/mountinfo")
                .unwrap()
                .contains(&tag),
        &inside,
    );
    assert_no_leaks(&id, &root);
    remove_rootfs(&root);
}
