//! A minimal busybox rootfs built from the host's static busybox
//! (Debian's `busybox-static`), for examples, tests and benchmarks.

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian's busybox-static installs the binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Build a busybox rootfs at `dir`, owned by `uid`:`gid` on the host (the
/// container's mapped root). Existing content is replaced.
///
/// ```no_run
/// vpsos::busybox::build_rootfs("/tmp/ct-rootfs", 100000, 100000).unwrap();
/// assert!(std::path::Path::new("/tmp/ct-rootfs/bin/sh").exists());
/// ```
pub fn build_rootfs(dir: impl AsRef<Path>, uid: u32, gid: u32) -> io::Result<PathBuf> {
    let dir = dir.as_ref();
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "run",
        "var/log", "home",
    ] {
        fs::create_dir_all(dir.join(d))?;
    }
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    let bb = dir.join("bin/busybox");
    fs::copy(BUSYBOX, &bb).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("copying {BUSYBOX} (install Debian's busybox-static): {e}"),
        )
    })?;
    fs::set_permissions(&bb, fs::Permissions::from_mode(0o755))?;
    let out = Command::new(BUSYBOX).arg("--list-full").output()?;
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let link = dir.join(applet);
        if applet == "bin/busybox" || link.exists() {
            continue;
        }
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent)?;
        }
        symlink("/bin/busybox", &link)?;
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )?;
    fs::write(
        dir.join("etc/group"),
        "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
    )?;
    fs::write(dir.join("etc/hostname"), "busybox\n")?;
    chown_tree(dir, uid, gid)?;
    Ok(dir.to_path_buf())
}

/// `lchown -R uid:gid dir`.
pub fn chown_tree(dir: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid))?;
    if fs::symlink_metadata(dir)?.is_dir() {
        for e in fs::read_dir(dir)? {
            chown_tree(&e?.path(), uid, gid)?;
        }
    }
    Ok(())
}
