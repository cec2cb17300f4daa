//! Directory storage, the embedded default: a rootfs from a directory tree
//! or a tarball runs a container; sizes, listing, and delete that refuses
//! while anything is mounted inside. Run as root.

mod common;

use common::*;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use vpsos::storage::DirStorage;
use vpsos::ErrorKind;

fn scratch(what: &str) -> PathBuf {
    PathBuf::from(format!(
        "/var/tmp/vpsos-tests/{what}-{}",
        std::process::id()
    ))
}

/// A gzip tarball of `src`, symlinks kept as links.
fn tarball(src: &std::path::Path) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    b.follow_symlinks(false);
    b.append_dir_all(".", src).unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

#[test]
fn rootfs_from_a_tree_and_a_tarball_runs_and_goes() {
    require_root!();
    let src = scratch("store-src");
    vpsos::busybox::build_rootfs(&src, HOST_ROOT, HOST_ROOT).unwrap();
    let st = DirStorage::new(scratch("store"));

    let a = st.create_from_dir("a", &src).unwrap();
    let gz = tarball(&src);
    let b = st.create_from_tar("b", &gz[..]).unwrap();
    for root in [&a, &b] {
        let bb = std::fs::metadata(root.join("bin/busybox")).unwrap();
        assert_eq!(
            (bb.uid(), bb.gid()),
            (HOST_ROOT, HOST_ROOT),
            "{}",
            root.display()
        );
        assert_eq!(bb.mode() & 0o777, 0o755);
        assert_eq!(
            std::fs::read_link(root.join("bin/sh")).unwrap(),
            std::fs::read_link(src.join("bin/sh")).unwrap()
        );
        let mut cfg = config()
            .init(sh("echo hi from $(hostname)"))
            .build()
            .unwrap();
        cfg.rootfs = root.clone();
        let (status, out) = run_config(&cfg);
        assert!(status.success(), "{out}");
        assert_eq!(out.trim(), "hi from testct");
    }
    let (sa, sb) = (st.size("a").unwrap(), st.size("b").unwrap());
    let busybox = std::fs::metadata(src.join("bin/busybox")).unwrap().len();
    assert!(sa >= busybox && sb >= busybox, "{sa} {sb} {busybox}");
    assert_eq!(st.list().unwrap(), ["a", "b"]);

    // names are unique; a broken tarball leaves nothing
    assert_eq!(
        st.create_from_dir("a", &src).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    let mut bad = gz.clone();
    bad.truncate(bad.len() / 2);
    assert!(st.create_from_tar("c", &bad[..]).is_err());
    assert!(!st.path("c").exists());

    // no delete through a mount: a tmpfs inside makes it Busy
    let m = std::ffi::CString::new(a.join("tmp").to_str().unwrap()).unwrap();
    assert_eq!(
        unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                m.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        },
        0
    );
    std::fs::File::create(a.join("tmp/keep"))
        .unwrap()
        .write_all(b"x")
        .unwrap();
    let e = st.delete("a").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Busy, "{e}");
    unsafe { libc::umount2(m.as_ptr(), libc::MNT_DETACH) };
    st.delete("a").unwrap();
    st.delete("b").unwrap();
    assert_eq!(st.delete("b").unwrap_err().kind(), ErrorKind::NotFound);
    assert!(st.list().unwrap().is_empty());
    let _ = std::fs::remove_dir_all(scratch("store"));
    remove_rootfs(&src);
}

#[test]
fn export_and_import_a_directory_container() {
    require_root!();
    let src = scratch("export-src");
    vpsos::busybox::build_rootfs(&src, HOST_ROOT, HOST_ROOT).unwrap();
    let st = DirStorage::new(scratch("export-store"));
    let mut cfg = config()
        .hostname("exported")
        .init(sh("echo $(hostname) on $(stat -c %u /bin/busybox)"))
        .build()
        .unwrap();
    cfg.rootfs = src.clone();
    let mut stream = Vec::new();
    vpsos::storage::export::export_dir(&cfg, &src, &mut stream).unwrap();

    let back = vpsos::storage::export::import_dir(&st, "imported", &mut &stream[..]).unwrap();
    assert_eq!(back.rootfs, st.path("imported"));
    assert_eq!(back.hostname.as_deref(), Some("exported"));
    let (status, out) = run_config(&back);
    assert!(status.success(), "{out}");
    assert_eq!(
        out.trim(),
        "exported on 0",
        "the image keeps its owners: {out}"
    );
    // a stranger's stream is refused and leaves nothing
    assert!(vpsos::storage::export::import_dir(&st, "junk", &mut &b"not an export"[..]).is_err());
    assert!(!st.path("junk").exists());
    st.delete("imported").unwrap();
    let _ = std::fs::remove_dir_all(scratch("export-store"));
    remove_rootfs(&src);
}
