//! ZFS through vpsos on real pools (file-backed, made and destroyed here):
//! batched properties, refquota, clones that start as containers,
//! send/receive full and incremental, and osctld's migration sequence;
//! names that look like options, and streams whose other end fails.
//! Needs the zfs module (the test VM); elsewhere the API must say
//! Unsupported. Run as root.

mod common;

use common::zfs::{exists, fill, gone, random, zfs, zfs_procs, Pool, Proc};
use common::*;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use vpsos::storage::zfs::{RecvOptions, SendOptions, Zfs};
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

#[test]
fn names_that_look_like_options_stay_names() {
    require_root!();
    let z = zfs();
    skip_unless!(
        z.is_some(),
        "names_that_look_like_options_stay_names",
        "no ZFS on this host"
    );
    let z = z.unwrap();
    let pool = Pool::new("opt");
    // valid ZFS names whose components begin with '-': `--` keeps them names
    let (x, y) = (pool.ds("-x"), pool.ds("-y"));
    z.create(&x, &[("org.vpsos:note", "-v")]).unwrap();
    z.set(&x, &[("org.vpsos:other", "--")]).unwrap();
    let p = z
        .get(&[&x], &["org.vpsos:note", "org.vpsos:other"])
        .unwrap();
    assert_eq!(p.get(&x, "org.vpsos:note"), Some("-v"));
    assert_eq!(p.get(&x, "org.vpsos:other"), Some("--"));
    z.inherit(&x, "org.vpsos:other").unwrap();
    z.rename(&x, &y).unwrap();
    std::fs::write(pool.path("-y/file"), b"one").unwrap();
    let snap = format!("{y}@-s");
    z.snapshot(&snap, false).unwrap();
    std::fs::write(pool.path("-y/file"), b"two").unwrap();
    z.rollback(&snap).unwrap();
    assert_eq!(std::fs::read(pool.path("-y/file")).unwrap(), b"one");
    z.clone_snapshot(&snap, &pool.ds("-c"), &[]).unwrap();
    z.unmount(&pool.ds("-c")).unwrap();
    z.mount(&pool.ds("-c")).unwrap();
    let mut listed = z.list(&pool.name, "filesystem", Some(1)).unwrap();
    listed.sort();
    assert_eq!(listed, [pool.name.clone(), pool.ds("-c"), y.clone()]);
    let mut stream = Vec::new();
    z.send(&snap, &SendOptions::default(), &mut stream, &mut |_| {})
        .unwrap();
    z.receive(&pool.ds("-r"), false, &mut &stream[..], &mut |_| {})
        .unwrap();
    assert_eq!(std::fs::read(pool.path("-r/file")).unwrap(), b"one");
    z.destroy(&pool.ds("-c"), false).unwrap();
    z.destroy(&y, true).unwrap();
    assert!(!exists(&y));

    // what ZFS refuses, vpsos refuses before running it: nothing made
    for bad in [
        "-o",
        "--help",
        &format!("{}/a/../b", pool.name),
        &format!("{}/a\nb", pool.name),
    ] {
        let e = z.create(bad, &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    }
    let e = z.create(&pool.ds("p"), &[("-V", "1G")]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    let e = z
        .create(&pool.ds("v"), &[("org.vpsos:x", "a\nb")])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(!exists(&pool.ds("p")) && !exists(&pool.ds("v")));
}

/// A dataset with the busybox image and 8 MiB of random data, snapshotted
/// as `@s`: a stream of some 10 MiB.
fn filled(pool: &Pool, z: &Zfs, name: &str) -> String {
    z.create(&pool.ds(name), &[]).unwrap();
    fill(&pool.path(name), HOST_ROOT);
    std::fs::write(pool.path(name).join("root/random"), random(8 << 20)).unwrap();
    let snap = format!("{}@s", pool.ds(name));
    z.snapshot(&snap, false).unwrap();
    snap
}

/// Takes `left` bytes, then fails as a dead link does, noting the `zfs`
/// processes working on `arg` at that moment.
struct DyingLink {
    left: usize,
    arg: String,
    seen: Vec<Proc>,
}

impl Write for DyingLink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            self.seen = zfs_procs(&self.arg);
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the link died",
            ));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_writer_ends_send_and_leaves_no_zfs() {
    require_root!();
    let z = zfs();
    skip_unless!(
        z.is_some(),
        "a_failing_writer_ends_send_and_leaves_no_zfs",
        "no ZFS on this host"
    );
    let z = z.unwrap();
    let pool = Pool::new("wr");
    let snap = filled(&pool, &z, "src");
    let mut link = DyingLink {
        left: 1 << 20,
        arg: snap.clone(),
        seen: vec![],
    };
    // the old send waited here for ever: zfs send blocked on the full pipe
    let e = z
        .send(&snap, &SendOptions::default(), &mut link, &mut |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(
        e.to_string().starts_with(&format!(
            "zfs send of {snap}: writing the stream: the link died"
        )),
        "{e}"
    );
    assert_eq!(link.seen.len(), 1, "the zfs send while the link died");
    assert!(
        link.seen.iter().all(|&p| gone(p)),
        "reaped: {:?}",
        link.seen
    );
    assert_eq!(zfs_procs(&snap), []);
    // and the dataset is as before: a later send works
    let mut out = Vec::new();
    z.send(&snap, &SendOptions::default(), &mut out, &mut |_| {})
        .unwrap();
    assert!(out.len() > 8 << 20);
}

/// The first `cut` bytes of `data`, then the failure of a dead link,
/// noting the `zfs` processes working on `arg` at that moment.
struct CutStream<'a> {
    data: &'a [u8],
    cut: usize,
    arg: String,
    seen: Vec<Proc>,
}

impl Read for CutStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cut == 0 {
            self.seen = zfs_procs(&self.arg);
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the link died",
            ));
        }
        let n = buf.len().min(self.cut);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.cut -= n;
        Ok(n)
    }
}

#[test]
fn a_failing_reader_ends_receive_and_zfs_cleans_up() {
    require_root!();
    let z = zfs();
    skip_unless!(
        z.is_some(),
        "a_failing_reader_ends_receive_and_zfs_cleans_up",
        "no ZFS on this host"
    );
    let z = z.unwrap();
    let pool = Pool::with_size("rd", 512 << 20);
    let snap = filled(&pool, &z, "src");
    let mut stream = Vec::new();
    z.send(&snap, &SendOptions::default(), &mut stream, &mut |_| {})
        .unwrap();
    for resumable in [false, true] {
        let target = pool.ds(if resumable { "resumable" } else { "plain" });
        let mut input = CutStream {
            data: &stream,
            cut: stream.len() * 3 / 4,
            arg: target.clone(),
            seen: vec![],
        };
        let opts = RecvOptions {
            resumable,
            ..Default::default()
        };
        let e = z
            .receive_with(&target, &opts, &mut input, &mut |_| {})
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
        assert!(
            e.to_string().starts_with(&format!(
                "zfs receive into {target}: reading the stream: the link died"
            )),
            "{e}"
        );
        assert_eq!(input.seen.len(), 1, "the zfs receive while the link died");
        assert!(input.seen.iter().all(|&p| gone(p)), "{:?}", input.seen);
        assert_eq!(zfs_procs(&target), []);
        if resumable {
            // -s: ZFS keeps the partial state and says where to resume
            let p = z.get(&[&target], &["receive_resume_token"]).unwrap();
            let token = p.get(&target, "receive_resume_token").unwrap();
            assert!(token != "-" && !token.is_empty(), "{token:?}");
            z.abort_receive(&target).unwrap();
        }
        // without: ZFS discarded the partial dataset; with: after -A
        assert!(!exists(&target), "{target} left behind");
    }
    let all = z.list(&pool.name, "all", None).unwrap();
    assert!(all.iter().all(|n| !n.contains('%')), "{all:?}");
}

#[test]
fn a_bad_stream_stops_receive_with_zfs_error() {
    require_root!();
    let z = zfs();
    skip_unless!(
        z.is_some(),
        "a_bad_stream_stops_receive_with_zfs_error",
        "no ZFS on this host"
    );
    let z = z.unwrap();
    let pool = Pool::new("bad");
    let target = pool.ds("target");
    // an endless stream of garbage: zfs receive gives up at the header
    let mut given = 0usize;
    let mut garbage = std::iter::repeat_with(|| random(64 << 10)).flatten();
    let mut endless = ReadFn(|buf: &mut [u8]| {
        for b in buf.iter_mut() {
            *b = garbage.next().unwrap();
        }
        given += buf.len();
        Ok(buf.len())
    });
    let e = z
        .receive(&target, false, &mut endless, &mut |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Command, "{e}");
    let prefix = format!("zfs receive -- {target}: ");
    assert!(
        e.to_string().starts_with(&prefix) && e.to_string().len() > prefix.len(),
        "{e}"
    );
    assert!(given < 64 << 20, "read on after zfs ended: {given} bytes");
    assert_eq!(zfs_procs(&target), []);
    assert!(!exists(&target));
}

/// A reader from a closure.
struct ReadFn<F>(F);

impl<F: FnMut(&mut [u8]) -> std::io::Result<usize>> Read for ReadFn<F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (self.0)(buf)
    }
}

#[test]
fn received_unmounted_with_its_properties() {
    require_root!();
    let z = zfs();
    skip_unless!(
        z.is_some(),
        "received_unmounted_with_its_properties",
        "no ZFS on this host"
    );
    let z = z.unwrap();
    let pool = Pool::new("opts");
    let src = pool.ds("src");
    z.create(
        &src,
        &[("org.vpsadminos.osctl:id", "101"), ("compression", "off")],
    )
    .unwrap();
    std::fs::write(pool.path("src/file"), b"data").unwrap();
    z.snapshot(&format!("{src}@s1"), false).unwrap();
    let send = |properties: bool| {
        let mut s = Vec::new();
        let opts = SendOptions {
            properties,
            ..Default::default()
        };
        z.send(&format!("{src}@s1"), &opts, &mut s, &mut |_| {})
            .unwrap();
        s
    };
    let opts = RecvOptions {
        no_mount: true,
        ..Default::default()
    };
    // osctld's migration: with its properties, not mounted
    let with = pool.ds("with");
    z.receive_with(&with, &opts, &mut &send(true)[..], &mut |_| {})
        .unwrap();
    let p = z
        .get(
            &[&with],
            &["mounted", "org.vpsadminos.osctl:id", "compression"],
        )
        .unwrap();
    assert_eq!(p.get(&with, "mounted"), Some("no"));
    assert_eq!(p.get(&with, "org.vpsadminos.osctl:id"), Some("101"));
    assert_eq!(p.0[&with]["org.vpsadminos.osctl:id"].source, "received");
    assert_eq!(p.get(&with, "compression"), Some("off"));
    z.mount(&with).unwrap();
    assert_eq!(std::fs::read(pool.path("with/file")).unwrap(), b"data");
    // without -p the properties stay behind; without -u it is mounted
    let without = pool.ds("without");
    z.receive(&without, false, &mut &send(false)[..], &mut |_| {})
        .unwrap();
    let p = z
        .get(&[&without], &["mounted", "org.vpsadminos.osctl:id"])
        .unwrap();
    assert_eq!(p.get(&without, "mounted"), Some("yes"));
    assert_eq!(p.get(&without, "org.vpsadminos.osctl:id"), Some("-"));
}
