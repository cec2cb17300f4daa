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
        .privileged(true)
        .idmapped_rootfs(true)
        .build()
        .unwrap_err();
    assert_eq!(e.field(), Some("idmapped_rootfs"));
}

#[test]
fn chown_shift_is_the_fallback() {
    require_root!();
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
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
    let other = tempfile::tempdir_in("/var/tmp").unwrap();
    std::os::unix::fs::chown(other.path(), Some(70_000), None).unwrap();
    let e = vpsos::rootfs::chown_shift(other.path(), &m, &m).unwrap_err();
    assert!(e.to_string().contains("uid 70000"), "{e}");
}

/// Host id of container id 0 in the chown_shift tests below.
const SHIFT: u32 = 2_000_000;
/// The tag of an ACL entry whose id is unused (ACL_USER_OBJ and others).
const NO_ID: u32 = u32::MAX;
const ACL_USER: u16 = 0x02;
const ACL_GROUP: u16 = 0x08;
/// cap_net_raw, as a bit of the first permitted word.
const CAP_NET_RAW: u32 = 1 << 13;

fn cpath(p: &Path) -> std::ffi::CString {
    std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
}

fn get_xattr(p: &Path, name: &std::ffi::CStr) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 1024];
    let (p, n) = (cpath(p), name.as_ptr());
    let r = unsafe { libc::lgetxattr(p.as_ptr(), n, buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        assert_eq!(e.raw_os_error(), Some(libc::ENODATA), "{name:?}: {e}");
        return None;
    }
    buf.truncate(r as usize);
    Some(buf)
}

fn set_xattr(p: &Path, name: &std::ffi::CStr, v: &[u8]) {
    let c = cpath(p);
    let r = unsafe { libc::lsetxattr(c.as_ptr(), name.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
    assert_eq!(
        r,
        0,
        "{name:?} of {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

/// The bytes of an ACL xattr: header version 2, then (tag, perm, id).
fn acl_xattr(entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for &(tag, perm, id) in entries {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

/// The (tag, id) of each entry of an ACL xattr.
fn acl_ids(v: &[u8]) -> Vec<(u16, u32)> {
    assert_eq!(&v[..4], &2u32.to_le_bytes(), "ACL xattr version");
    v[4..]
        .chunks_exact(8)
        .map(|e| {
            (
                u16::from_le_bytes([e[0], e[1]]),
                u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            )
        })
        .collect()
}

/// The ids of an ACL's ACL_USER and ACL_GROUP entries; the others must
/// have none.
fn named_acl_ids(p: &Path, name: &std::ffi::CStr) -> Vec<(u16, u32)> {
    let v = get_xattr(p, name).unwrap_or_else(|| panic!("{} lost {name:?}", p.display()));
    let (named, rest): (Vec<_>, Vec<_>) = acl_ids(&v)
        .into_iter()
        .partition(|&(tag, _)| tag == ACL_USER || tag == ACL_GROUP);
    assert!(rest.iter().all(|&(_, id)| id == NO_ID), "{rest:?}");
    named
}

/// Give `p` an ACL for uid 1000 and gid 4 (the default ACL as well for a
/// directory): with setfacl where the host has it, else the xattr itself.
fn give_acl(p: &Path) {
    let mut kinds = vec![("-m", c"system.posix_acl_access")];
    if p.is_dir() {
        kinds.push(("-dm", c"system.posix_acl_default"));
    }
    for (flag, name) in kinds {
        let st = std::process::Command::new("setfacl")
            .args([flag, "u:1000:rwx,g:4:r-x"])
            .arg(p)
            .status();
        match st {
            Ok(st) => assert!(st.success(), "setfacl {flag} {}", p.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => set_xattr(
                p,
                name,
                &acl_xattr(&[
                    (0x01, 7, NO_ID),
                    (ACL_USER, 7, 1000),
                    (0x04, 5, NO_ID),
                    (ACL_GROUP, 5, 4),
                    (0x10, 7, NO_ID),
                    (0x20, 5, NO_ID),
                ]),
            ),
            Err(e) => panic!("setfacl: {e}"),
        }
    }
}

/// A v3 `security.capability` of root id `rootid`: cap_net_raw permitted.
fn cap_v3(rootid: u32) -> Vec<u8> {
    let mut v = 0x0300_0000u32.to_le_bytes().to_vec();
    for w in [CAP_NET_RAW, 0, 0, 0, rootid] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v
}

/// A small Debian-like tree under `r`, owned by container ids: a hard
/// linked perl, a setuid su, a ping with a file capability, a symlink,
/// a setgid /var/log/journal and a /var/log/syslog with POSIX ACLs.
fn debian_like(r: &Path) {
    use std::os::unix::fs::{lchown, symlink, PermissionsExt};
    let mode = |p: &str, m: u32| {
        std::fs::set_permissions(r.join(p), std::fs::Permissions::from_mode(m)).unwrap()
    };
    for d in ["bin", "var/log/journal", "home/user", "etc"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    for f in [
        "bin/perl",
        "bin/su",
        "bin/ping",
        "var/log/syslog",
        "home/user/notes",
        "etc/shadow",
    ] {
        std::fs::write(r.join(f), f).unwrap();
    }
    std::fs::hard_link(r.join("bin/perl"), r.join("bin/perl5.36.0")).unwrap();
    symlink("perl", r.join("bin/sh")).unwrap();
    for (p, uid, gid) in [
        ("var/log/journal", 0, 101),
        ("var/log/syslog", 0, 4),
        ("home/user", 1000, 1000),
        ("home/user/notes", 1000, 1000),
        ("etc/shadow", 0, 42),
    ] {
        lchown(r.join(p), Some(uid), Some(gid)).unwrap();
    }
    mode("bin/perl", 0o755);
    mode("bin/su", 0o4755);
    mode("bin/ping", 0o755);
    mode("var/log/journal", 0o2755);
    mode("var/log/syslog", 0o640);
    mode("etc/shadow", 0o640);
    give_acl(&r.join("var/log/journal"));
    give_acl(&r.join("var/log/syslog"));
    set_xattr(&r.join("bin/ping"), c"security.capability", &cap_v3(0));
}

/// path (relative) → (uid, gid, mode, inode) of every entry under `r`.
fn owners(r: &Path) -> std::collections::BTreeMap<PathBuf, (u32, u32, u32, u64)> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![r.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).unwrap();
        if md.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
        let rel = p.strip_prefix(r).unwrap().to_path_buf();
        out.insert(rel, (md.uid(), md.gid(), md.mode(), md.ino()));
    }
    out
}

/// Everything of `debian_like` shifted by SHIFT, once: owners, modes
/// (setuid, setgid), links, ACLs and the capability.
fn assert_shifted(r: &Path, before: &std::collections::BTreeMap<PathBuf, (u32, u32, u32, u64)>) {
    let after = owners(r);
    assert_eq!(after.len(), before.len());
    for (p, &(uid, gid, mode, ino)) in before {
        let want = (uid + SHIFT, gid + SHIFT, mode, ino);
        assert_eq!(after[p], want, "{}", p.display());
    }
    let perl = std::fs::metadata(r.join("bin/perl")).unwrap();
    let perl5 = std::fs::metadata(r.join("bin/perl5.36.0")).unwrap();
    assert_eq!(perl.ino(), perl5.ino());
    assert_eq!(
        (perl5.uid(), perl5.nlink()),
        (SHIFT, 2),
        "one inode, shifted once"
    );
    assert_eq!(
        std::fs::metadata(r.join("bin/su")).unwrap().mode() & 0o7777,
        0o4755
    );
    let named = [(ACL_USER, SHIFT + 1000), (ACL_GROUP, SHIFT + 4)];
    for (p, name) in [
        ("var/log/journal", c"system.posix_acl_access"),
        ("var/log/journal", c"system.posix_acl_default"),
        ("var/log/syslog", c"system.posix_acl_access"),
    ] {
        assert_eq!(named_acl_ids(&r.join(p), name), named, "{p} {name:?}");
    }
    let cap = get_xattr(&r.join("bin/ping"), c"security.capability").expect("ping kept its cap");
    assert_eq!(cap.len(), 24, "a v3 capability: {cap:?}");
    let word = |i: usize| u32::from_le_bytes(cap[i..i + 4].try_into().unwrap());
    assert_eq!(word(0) & 0xff00_0000, 0x0300_0000);
    assert_eq!(word(4), CAP_NET_RAW, "permitted");
    assert_eq!(word(20), SHIFT, "rootid: the container's root");
}

#[test]
fn chown_shift_keeps_links_acls_caps_and_setuid() {
    require_root!();
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let r = dir.path();
    debian_like(r);
    let before = owners(r);
    // the kernel shows a v3 capability of root id 0 as v2
    let cap = get_xattr(&r.join("bin/ping"), c"security.capability").unwrap();
    assert_eq!(cap[3], 2, "v2 before: {cap:?}");
    let inodes: std::collections::HashSet<u64> = before.values().map(|o| o.3).collect();
    let m = IdMap::single(0, SHIFT, 65536);
    let n = vpsos::rootfs::chown_shift(r, &m, &m).unwrap();
    assert_eq!(n, inodes.len() as u64, "every inode, once");
    assert_shifted(r, &before);
    assert_eq!(vpsos::rootfs::chown_shift(r, &m, &m).unwrap(), 0);
    assert_shifted(r, &before);
}

#[test]
fn chown_shift_resumes_after_an_interruption() {
    use std::os::unix::fs::{lchown, PermissionsExt};
    require_root!();
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let r = dir.path();
    debian_like(r);
    let before = owners(r);
    // what an interrupted run leaves: some entries shifted (one name of
    // the perl pair among them), one ACL half shifted
    for p in ["", "bin", "bin/perl5.36.0", "bin/su", "var/log/journal"] {
        let (uid, gid, mode, _) = before[Path::new(p)];
        lchown(r.join(p), Some(uid + SHIFT), Some(gid + SHIFT)).unwrap();
        // (its setuid bit put back)
        std::fs::set_permissions(r.join(p), std::fs::Permissions::from_mode(mode & 0o7777))
            .unwrap();
    }
    let syslog = r.join("var/log/syslog");
    let mut acl = get_xattr(&syslog, c"system.posix_acl_access").unwrap();
    for e in acl[4..].chunks_exact_mut(8) {
        if u16::from_le_bytes([e[0], e[1]]) == ACL_USER {
            e[4..].copy_from_slice(&(SHIFT + 1000).to_le_bytes());
        }
    }
    set_xattr(&syslog, c"system.posix_acl_access", &acl);
    // and an id the map does not cover stops this run
    let notes = r.join("home/user/notes");
    lchown(&notes, Some(70_000), None).unwrap();
    let m = IdMap::single(0, SHIFT, 65536);
    let e = vpsos::rootfs::chown_shift(r, &m, &m).unwrap_err();
    assert_eq!(e.kind(), vpsos::ErrorKind::InvalidConfig, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("home/user/notes has uid 70000"), "{msg}");
    assert_eq!(
        std::fs::metadata(&notes).unwrap().gid(),
        1000,
        "the entry in error is left untouched"
    );
    // fixed, a rerun finishes the job
    lchown(&notes, Some(1000), None).unwrap();
    let n = vpsos::rootfs::chown_shift(r, &m, &m).unwrap();
    let inodes: std::collections::HashSet<u64> = before.values().map(|o| o.3).collect();
    assert!(n >= 1 && n < inodes.len() as u64, "{n} of {}", inodes.len());
    assert_shifted(r, &before);
    assert_eq!(
        vpsos::rootfs::chown_shift(r, &m, &m).unwrap(),
        0,
        "all done"
    );
    assert_shifted(r, &before);
}

#[test]
fn chown_shift_refuses_overlapping_maps() {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let f = dir.path().join("file");
    std::fs::write(&f, "x").unwrap();
    let owner = std::fs::metadata(&f).unwrap().uid();
    let ok = IdMap::single(0, SHIFT, 65536);
    let overlapping = IdMap::single(0, 1000, 65536);
    let e = vpsos::rootfs::chown_shift(dir.path(), &overlapping, &ok).unwrap_err();
    assert_eq!(e.kind(), vpsos::ErrorKind::InvalidConfig, "{e}");
    assert_eq!(e.field(), Some("uid map"));
    assert!(e.to_string().contains("overlap"), "{e}");
    let two: IdMap = "0:100000:65536,100000:200000:10".parse().unwrap();
    let e = vpsos::rootfs::chown_shift(dir.path(), &ok, &two).unwrap_err();
    assert_eq!(e.kind(), vpsos::ErrorKind::InvalidConfig, "{e}");
    assert_eq!(e.field(), Some("gid map"));
    assert_eq!(
        std::fs::metadata(&f).unwrap().uid(),
        owner,
        "nothing changed"
    );
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
