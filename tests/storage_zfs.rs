//! ZFS through vpsos on real pools (file-backed, made and destroyed here):
//! batched properties, refquota, clones that start as containers,
//! send/receive full and incremental, and osctld's migration sequence.
//! Needs the zfs module (the test VM); elsewhere the API must say
//! Unsupported. Run as root.

mod common;

use common::zfs::{fill, zfs, Pool};
use common::*;
use std::path::Path;
use std::process::Command;
use vpsos::storage::zfs::{SendOptions, Zfs};
use vpsos::{CreateOptions, ErrorKind, Process};

fn sum(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn without_zfs_the_api_says_unsupported() {
    if Path::new("/sys/module/zfs").exists() || zfs().is_some() {
        assert!(Zfs::new().is_ok());
        return;
    }
    let e = Zfs::new().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("ZFS"), "{e}");
}

#[test]
fn datasets_clones_quotas_and_streams() {
    require_root!();
    let z = zfs();
    skip_unless!(
        z.is_some(),
        "datasets_clones_quotas_and_streams",
        "no ZFS on this host"
    );
    let z = z.unwrap();
    let pool = Pool::new("a");
    let tpl = pool.ds("tpl");
    z.create(
        &tpl,
        &[
            ("compression", "lz4"),
            ("org.vpsadminos.osctl:tag", "template one"),
        ],
    )
    .unwrap();
    fill(&pool.path("tpl"), HOST_ROOT);

    // one batched get equals what `zfs get` prints, property by property
    let props = [
        "compression",
        "org.vpsadminos.osctl:tag",
        "used",
        "mountpoint",
    ];
    let got = z.get(&[&tpl, &pool.name], &props).unwrap();
    for ds in [&tpl, &pool.name] {
        for p in props {
            let out = Command::new("zfs")
                .args(["get", "-H", "-p", "-o", "value", p, ds])
                .output()
                .unwrap();
            assert_eq!(
                got.get(ds, p),
                Some(String::from_utf8_lossy(&out.stdout).trim_end()),
                "{ds} {p}"
            );
        }
    }
    assert_eq!(
        got.get(&tpl, "org.vpsadminos.osctl:tag"),
        Some("template one")
    );

    // a clone of the template's snapshot starts as a container
    z.snapshot(&format!("{tpl}@base"), false).unwrap();
    z.clone_snapshot(&format!("{tpl}@base"), &pool.ds("ct1"), &[])
        .unwrap();
    let mut cfg = config().init(sh("echo from-the-clone")).build().unwrap();
    cfg.rootfs = pool.path("ct1");
    let (st, out) = run_config(&cfg);
    assert!(st.success() && out.trim() == "from-the-clone", "{out}");

    // a write beyond refquota fails with EDQUOT
    z.create(&pool.ds("q"), &[("refquota", "4M")]).unwrap();
    // incompressible: ZFS 2.2+ compresses by default
    let mut data = vec![0u8; 16 << 20];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut data)
        .unwrap();
    let e = std::fs::write(pool.path("q/big"), &data).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EDQUOT), "{e}");

    // full send/receive keeps the data
    let mut full = Vec::new();
    let mut seen = 0;
    let n = z
        .send(
            &format!("{tpl}@base"),
            &SendOptions::default(),
            &mut full,
            &mut |b| seen = b,
        )
        .unwrap();
    assert_eq!((n as usize, seen), (full.len(), n));
    z.receive(&pool.ds("copy"), false, &mut &full[..], &mut |_| {})
        .unwrap();
    assert_eq!(
        sum(&pool.path("copy/bin/busybox")),
        sum(&pool.path("tpl/bin/busybox"))
    );

    // an incremental carries only the change
    std::fs::write(pool.path("tpl/root/new"), vec![7u8; 1 << 20]).unwrap();
    z.snapshot(&format!("{tpl}@s2"), false).unwrap();
    let mut inc = Vec::new();
    let opts = SendOptions {
        from: Some(format!("{tpl}@base")),
        ..Default::default()
    };
    z.send(&format!("{tpl}@s2"), &opts, &mut inc, &mut |_| {})
        .unwrap();
    assert!(
        inc.len() > 1 << 20 && inc.len() < full.len(),
        "incremental {} full {}",
        inc.len(),
        full.len()
    );
    z.receive(&pool.ds("copy"), true, &mut &inc[..], &mut |_| {})
        .unwrap();
    assert_eq!(sum(&pool.path("copy/root/new")), vec![7u8; 1 << 20]);
    assert!(z
        .list(&pool.ds("copy"), "snapshot", None)
        .unwrap()
        .iter()
        .any(|s| s.ends_with("@s2")));

    // a container exported with its dataset comes back as a new one
    let mut cfg = config()
        .hostname("zexport")
        .init(sh("hostname; wc -c < /root/new"))
        .build()
        .unwrap();
    cfg.rootfs = pool.path("tpl");
    let mut stream = Vec::new();
    vpsos::storage::export::export_zfs(&cfg, &z, &format!("{tpl}@s2"), &mut stream).unwrap();
    let back =
        vpsos::storage::export::import_zfs(&z, &pool.ds("imported"), &mut &stream[..]).unwrap();
    assert_eq!(back.rootfs, pool.path("imported"));
    let (st, out) = run_config(&back);
    assert!(st.success(), "{out}");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["zexport", "1048576"]
    );
}

#[test]
fn migration_between_pools_in_osctlds_order() {
    require_root!();
    let z = zfs();
    skip_unless!(
        z.is_some(),
        "migration_between_pools_in_osctlds_order",
        "no ZFS on this host"
    );
    let z = z.unwrap();
    let (a, b) = (Pool::new("src"), Pool::new("dst"));
    let (src, dst) = (a.ds("ct/101"), b.ds("ct/101"));
    z.create(&src, &[]).unwrap();
    z.create(&b.ds("ct"), &[]).unwrap();
    fill(&a.path("ct/101"), HOST_ROOT);
    let mut cfg = config()
        .init(Process::new(["/bin/sleep", "1000"]))
        .build()
        .unwrap();
    cfg.rootfs = a.path("ct/101");
    let id = id("migrate");
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    let send = |from: Option<&str>, to: &str| {
        let mut s = Vec::new();
        let opts = SendOptions {
            from: from.map(String::from),
            ..Default::default()
        };
        z.send(to, &opts, &mut s, &mut |_| {}).unwrap();
        z.receive(&dst, true, &mut &s[..], &mut |_| {}).unwrap();
    };
    // 1. the base while it runs
    z.snapshot(&format!("{src}@m1"), false).unwrap();
    send(None, &format!("{src}@m1"));
    // 2. an incremental while it still runs
    assert!(exec_sh(&ct, "echo one > /root/data1").0.success());
    z.snapshot(&format!("{src}@m2"), false).unwrap();
    send(Some(&format!("{src}@m1")), &format!("{src}@m2"));
    // 3. stop it, then the final incremental
    assert!(exec_sh(&ct, "echo two > /root/data2").0.success());
    ct.stop(std::time::Duration::from_secs(5)).unwrap();
    ct.delete().unwrap();
    z.snapshot(&format!("{src}@m3"), false).unwrap();
    send(Some(&format!("{src}@m2")), &format!("{src}@m3"));
    // 4. it starts on the other side with its data
    let mut cfg = config()
        .init(sh("cat /root/data1 /root/data2"))
        .build()
        .unwrap();
    cfg.rootfs = b.path("ct/101");
    let (st, out) = run_config(&cfg);
    assert!(st.success(), "{out}");
    assert_eq!(out, "one\ntwo\n");
}

#[test]
fn osctlds_layout_needs_no_special_case() {
    require_root!();
    let z = zfs();
    skip_unless!(
        z.is_some(),
        "osctlds_layout_needs_no_special_case",
        "no ZFS on this host"
    );
    let z = z.unwrap();
    let pool = Pool::new("osctl");
    // <pool>/ct/<id>, canmount=noauto, user properties, rootfs in private/
    let ds = pool.ds("ct/102");
    z.create(
        &ds,
        &[("canmount", "noauto"), ("org.vpsadminos.osctl:id", "102")],
    )
    .unwrap();
    let p = z
        .get(&[&ds], &["canmount", "mounted", "org.vpsadminos.osctl:id"])
        .unwrap();
    assert_eq!(p.get(&ds, "canmount"), Some("noauto"));
    assert_eq!(p.get(&ds, "mounted"), Some("no"));
    assert_eq!(p.get(&ds, "org.vpsadminos.osctl:id"), Some("102"));
    z.mount(&ds).unwrap();
    std::fs::create_dir_all(pool.path("ct/102/private")).unwrap();
    fill(&pool.path("ct/102/private"), HOST_ROOT);
    let mut cfg = config().init(sh("echo in-private")).build().unwrap();
    cfg.rootfs = pool.path("ct/102/private");
    let (st, out) = run_config(&cfg);
    assert!(st.success() && out.trim() == "in-private", "{out}");
    assert_eq!(
        z.list(&pool.ds("ct"), "filesystem", Some(1)).unwrap(),
        [pool.ds("ct"), ds.clone()]
    );
    z.unmount(&ds).unwrap();
    z.destroy(&pool.ds("ct"), true).unwrap();
}
