//! Idmapped root filesystems on this host's filesystems (ext4, tmpfs): an
//! image owned by 0 on disk appears owned by the container's root, what the
//! container creates lands on disk as 0, and nothing is chowned; plus the
//! chown fallback. Run as root.

mod common;

use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use vpsos::{CgroupPlacement, Config, IdMap};

fn image(dir: &Path) -> PathBuf {
    vpsos::busybox::build_rootfs(dir, 0, 0).expect("building an image owned by 0")
}

fn idmapped(root: &Path, on: bool) -> vpsos::ConfigBuilder {
    Config::builder(root)
        .id_maps(map())
        .hostname("idmapped")
        .cgroup(CgroupPlacement::at(format!("{CGROUP_PARENT}/{{id}}")))
        .idmapped_rootfs(on)
}

const SCRIPT: &str =
    "stat -c '%u %g' /bin/busybox; touch /root/made-inside && stat -c '%u' /root/made-inside";

fn check(root: &Path) {
    // without idmapping, the image's root-owned files are nobody's inside
    let (st, out) = run_sh(idmapped(root, false), "stat -c '%u' /bin/busybox");
    assert!(st.success(), "{out}");
    assert_eq!(
        out.trim(),
        "65534",
        "unmapped owner shows as the overflow id"
    );

    let cfg = idmapped(root, true).init(sh(SCRIPT)).build().unwrap();
    let id = id("idmap");
    let (r, w) = pipe();
    let ct = runtime().run(&id, &cfg, capture(w)).unwrap();
    let out = read_all(r);
    let st = ct.wait().unwrap().status().unwrap();
    ct.delete().unwrap();
    assert!(st.success(), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["0 0", "0"], "inside: {out}");
    // on disk nothing moved: the image stays 0's, and so is the new file
    assert_eq!(
        std::fs::metadata(root.join("bin/busybox")).unwrap().uid(),
        0
    );
    let made = std::fs::metadata(root.join("root/made-inside")).unwrap();
    assert_eq!((made.uid(), made.gid()), (0, 0));
    // and no idmapped mount is left
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !info.contains(&format!("/.rootfs/{id} ")),
        "idmapped mount left behind"
    );
    assert!(!Path::new(STATE_ROOT).join(".rootfs").join(&id).exists());
    assert_no_leaks(&id, root);
}

#[test]
fn idmapped_rootfs_on_ext4() {
    require_root!();
    let dir = PathBuf::from(format!(
        "/var/tmp/vpsos-tests/idmap-ext4-{}",
        std::process::id()
    ));
    check(&image(&dir));
    remove_rootfs(&dir);
}

/// A tmpfs mounted for a test, unmounted even if the test panics.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let c = std::ffi::CString::new(self.0.to_str().unwrap()).unwrap();
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// tmpfs can be idmapped from Linux 6.3 on.
fn tmpfs_idmaps() -> bool {
    let k = &vpsos::HostFeatures::get().kernel;
    let mut it = k
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    (it.next().unwrap_or(0), it.next().unwrap_or(0)) >= (6, 3)
}

#[test]
fn idmapped_rootfs_on_tmpfs() {
    require_root!();
    let dir = PathBuf::from(format!(
        "/var/tmp/vpsos-tests/idmap-tmpfs-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let c = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    let r = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            c"size=64m".as_ptr().cast(),
        )
    };
    assert_eq!(r, 0, "mounting a tmpfs");
    let _guard = Tmpfs(dir.clone());
    let root = dir.join("root");
    image(&root);
    if tmpfs_idmaps() {
        check(&root);
    } else {
        // older kernels: a clear Unsupported that names the fallback
        let cfg = idmapped(&root, true).init(sh("true")).build().unwrap();
        let id = id("idmapold");
        let e = runtime()
            .run(&id, &cfg, vpsos::CreateOptions::default())
            .unwrap_err();
        assert_eq!(e.kind(), vpsos::ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("chown_shift"), "{e}");
        assert!(!Path::new(STATE_ROOT).join(".rootfs").join(&id).exists());
        assert_no_leaks(&id, &root);
    }
}

#[test]
fn idmapped_needs_a_user_namespace_with_maps() {
    let e = Config::builder("/srv/x")
        .namespace(vpsos::NamespaceKind::User, None)
        .idmapped_rootfs(true)
        .build()
        .unwrap_err();
    assert_eq!(e.field(), Some("idmapped_rootfs"));
}

#[test]
fn chown_shift_is_the_fallback() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("file");
    std::fs::write(&f, "x").unwrap();
    std::os::unix::fs::symlink("file", dir.path().join("link")).unwrap();
    std::os::unix::fs::chown(&f, Some(5), Some(6)).unwrap();
    let m = IdMap::single(0, 300_000, 65536);
    let n = vpsos::rootfs::chown_shift(dir.path(), &m, &m).unwrap();
    assert_eq!(n, 3, "dir, file and the symlink itself");
    let md = std::fs::metadata(&f).unwrap();
    assert_eq!((md.uid(), md.gid()), (300_005, 300_006));
    assert_eq!(
        std::fs::symlink_metadata(dir.path().join("link"))
            .unwrap()
            .uid(),
        300_000
    );
    // ids the map does not cover are refused
    let other = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(other.path(), Some(70_000), None).unwrap();
    let e = vpsos::rootfs::chown_shift(other.path(), &m, &m).unwrap_err();
    assert!(e.to_string().contains("uid 70000"), "{e}");
}

#[test]
fn idmapped_rootfs_on_zfs() {
    require_root!();
    let z = common::zfs::zfs();
    skip_unless!(z.is_some(), "idmapped_rootfs_on_zfs", "no ZFS on this host");
    let pool = common::zfs::Pool::new("idm");
    z.unwrap().create(&pool.ds("img"), &[]).unwrap();
    common::zfs::fill(&pool.path("img"), 0);
    check(&pool.path("img"));
}

/// A filesystem of `kind` in a loop-mounted image file, unmounted (and
/// the file removed) even if the test panics.
struct LoopFs {
    dir: PathBuf,
    file: PathBuf,
}

impl LoopFs {
    fn new(kind: &str) -> Option<LoopFs> {
        let base = format!("/var/tmp/vpsos-tests/idmap-{kind}-{}", std::process::id());
        let (dir, file) = (PathBuf::from(&base), PathBuf::from(format!("{base}.img")));
        std::fs::create_dir_all("/var/tmp/vpsos-tests").unwrap();
        std::fs::File::create(&file)
            .unwrap()
            .set_len(320 << 20)
            .unwrap();
        let mkfs = std::process::Command::new(format!("mkfs.{kind}"))
            .arg("-q")
            .arg(&file)
            .status();
        if !mkfs.is_ok_and(|s| s.success()) {
            let _ = std::fs::remove_file(&file);
            return None;
        }
        std::fs::create_dir_all(&dir).unwrap();
        if !std::path::Path::new("/dev/loop-control").exists() {
            let _ = std::process::Command::new("modprobe").arg("loop").status();
        }
        let ok = std::process::Command::new("mount")
            .args(["-o", "loop"])
            .arg(&file)
            .arg(&dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mounting the {kind} image");
        Some(LoopFs { dir, file })
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
        let _ = std::fs::remove_file(&self.file);
    }
}

fn on_loop_fs(kind: &str) {
    let fs = LoopFs::new(kind);
    skip_unless!(
        fs.is_some(),
        &format!("idmapped_rootfs_on_{kind}"),
        format!("no mkfs.{kind}")
    );
    let fs = fs.unwrap();
    let root = fs.dir.join("root");
    image(&root);
    check(&root);
}

#[test]
fn idmapped_rootfs_on_xfs() {
    require_root!();
    on_loop_fs("xfs");
}

#[test]
fn idmapped_rootfs_on_btrfs() {
    require_root!();
    on_loop_fs("btrfs");
}
