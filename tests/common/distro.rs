//! Debian 12 trees for the distribution tests (tests/images/build-debian.sh
//! builds and caches them): found where the host keeps them, or, in the
//! test VM (which sees the cache over 9p, where nothing can be idmapped),
//! unpacked from their tarballs onto a local disk once; and a writable
//! root per test: an idmapped mount of the tree as the lower layer of an
//! overlay whose upper is the test's own, so the cached tree never changes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use vpsos::IdMap;

/// Where build-debian.sh caches the trees.
pub fn cache() -> PathBuf {
    PathBuf::from(
        std::env::var("VPSOS_IMAGE_CACHE").unwrap_or_else(|_| "/var/cache/vpsos-images".into()),
    )
}

/// The id map of the distribution tests' containers.
pub fn distro_map() -> IdMap {
    IdMap::single(0, 1_000_000, 65536)
}

/// Whether `p` lies on a 9p mount (the VM's share of the host's cache;
/// statfs there reports the host's filesystem, mountinfo does not).
fn on_9p(p: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut best: Option<(usize, String)> = None;
    for l in info.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let Some(dash) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        let (mnt, fstype) = (f[4], f.get(dash + 1).copied().unwrap_or(""));
        if p.starts_with(mnt) && best.as_ref().is_none_or(|(n, _)| mnt.len() >= *n) {
            best = Some((mnt.len(), fstype.to_string()));
        }
    }
    best.is_some_and(|(_, t)| t == "9p")
}

/// The tree of `init` (systemd, sysvinit, openrc, runit) on a filesystem
/// that can be idmapped; `None` (with the reason) when it was not built.
pub fn image(init: &str) -> Result<PathBuf, String> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = cache().join(format!("debian12-{init}"));
    if !dir.join("etc/os-release").exists() {
        return Err(format!(
            "{} is missing: run tests/images/build-debian.sh",
            dir.display()
        ));
    }
    if !on_9p(&dir) {
        return Ok(dir);
    }
    let tar = cache().join(format!("debian12-{init}.tar"));
    let stamp = std::fs::metadata(&tar)
        .map(|m| format!("{} {:?}", m.len(), m.modified().ok()))
        .map_err(|e| format!("{}: {e}", tar.display()))?;
    let local = PathBuf::from(format!("/var/tmp/vpsos-images/debian12-{init}"));
    let stamp_file = local.with_extension("stamp");
    if std::fs::read_to_string(&stamp_file).ok().as_deref() != Some(stamp.as_str()) {
        let _ = std::fs::remove_dir_all(&local);
        std::fs::create_dir_all(&local).unwrap();
        let ok = Command::new("tar")
            .args([
                "--xattrs",
                "--xattrs-include=*",
                "--acls",
                "--numeric-owner",
                "-C",
            ])
            .arg(&local)
            .arg("-xf")
            .arg(&tar)
            .status()
            .map_err(|e| e.to_string())?
            .success();
        if !ok {
            return Err(format!("unpacking {}", tar.display()));
        }
        std::fs::write(&stamp_file, &stamp).unwrap();
    }
    Ok(local)
}

/// A writable root for one container over a cached tree: the tree
/// idmapped (`lower`), an overlay with the test's own upper layer
/// (`merged`). Undone when dropped.
pub struct Layered {
    pub dir: PathBuf,
}

impl Layered {
    pub fn new(image: &Path, tag: &str) -> Layered {
        let dir = PathBuf::from(format!("/var/tmp/vpsos-tests/distros/{tag}"));
        let l = Layered { dir };
        l.undo();
        for d in ["upper", "work", "merged"] {
            std::fs::create_dir_all(l.dir.join(d)).unwrap();
        }
        let m = distro_map();
        vpsos::rootfs::mount_idmapped(image, &l.dir.join("lower"), &m, &m).unwrap();
        // the upper layer's root belongs to the container's root, as the
        // idmapped lower's root appears
        std::os::unix::fs::chown(l.dir.join("upper"), Some(1_000_000), Some(1_000_000)).unwrap();
        let opts = format!(
            "lowerdir={0}/lower,upperdir={0}/upper,workdir={0}/work",
            l.dir.display()
        );
        let ok = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(l.dir.join("merged"))
            .status()
            .unwrap()
            .success();
        assert!(ok, "overlay over {}", image.display());
        l
    }

    /// The root to give the container.
    pub fn root(&self) -> PathBuf {
        self.dir.join("merged")
    }

    fn undo(&self) {
        let merged = self.dir.join("merged");
        while Command::new("umount")
            .arg(&merged)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {}
        let _ = vpsos::rootfs::unmount_idmapped(&self.dir.join("lower"));
        // never a recursive removal that could reach a mount (the lower
        // layer is the cached tree itself): only the test's own layers
        for d in ["upper", "work"] {
            let _ = std::fs::remove_dir_all(self.dir.join(d));
        }
        let _ = std::fs::remove_dir(&merged);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

impl Drop for Layered {
    fn drop(&mut self) {
        self.undo();
    }
}
