//! The command lines without ZFS: a shell script stands in for the `zfs`
//! binary and records its arguments.

use super::*;
use std::io::Write;

struct Stub {
    dir: tempfile::TempDir,
    zfs: Zfs,
}

/// A `zfs` that runs `script` (sh; `$D` is its directory).
fn stub(script: &str) -> Stub {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("zfs");
    let text = format!("#!/bin/sh\nD='{}'\n{script}\n", dir.path().display());
    // Written by another process: an fd of ours open for writing could
    // reach a child another test thread forks, and exec would fail ETXTBSY.
    let mut w = Command::new("/bin/sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(&bin)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    w.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    assert!(w.wait().unwrap().success());
    Stub {
        zfs: Zfs { bin },
        dir,
    }
}

impl Stub {
    /// The argument lists of the calls so far.
    fn calls(&self) -> Vec<Vec<String>> {
        let Ok(s) = std::fs::read_to_string(self.dir.path().join("args")) else {
            return vec![];
        };
        s.split_terminator("---\n")
            .map(|c| c.lines().map(String::from).collect())
            .collect()
    }
}

const RECORD: &str = r#"{ printf '%s\n' "$@"; echo ---; } >> "$D/args""#;

#[test]
fn says_what_is_missing() {
    if !Path::new("/sys/module/zfs").exists() {
        let e = Zfs::new().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().contains("ZFS"), "{e}");
    }
}

#[test]
fn options_end_before_the_names() {
    let s = stub(RECORD);
    let z = &s.zfs;
    z.create("tank/ct/1", &[("canmount", "noauto"), ("org.x:y", "a b")])
        .unwrap();
    z.destroy("tank/ct/1", true).unwrap();
    z.destroy("tank/ct/1#b", false).unwrap();
    z.rename("tank/a", "tank/b").unwrap();
    z.mount("tank/a").unwrap();
    z.unmount("tank/a").unwrap();
    z.set("tank/a", &[("quota", "1G"), ("org.x:y", "-v")])
        .unwrap();
    z.inherit("tank/a", "compression").unwrap();
    z.get(&["tank/a", "tank/a@s"], &["used", "org.x:y"])
        .unwrap();
    z.list("tank", "filesystem,volume", Some(1)).unwrap();
    z.list("tank", "snapshot", None).unwrap();
    z.snapshot("tank/a@s", true).unwrap();
    z.rollback("tank/a@s").unwrap();
    z.clone_snapshot("tank/a@s", "tank/c", &[("canmount", "noauto")])
        .unwrap();
    let all = SendOptions {
        from: Some("@s0".into()),
        intermediates: true,
        compressed: true,
        raw: true,
        large_blocks: true,
    };
    z.send("tank/a@s", &all, &mut Vec::new(), &mut |_| {})
        .unwrap();
    let from_bookmark = SendOptions {
        from: Some("tank/a#b".into()),
        ..Default::default()
    };
    z.send("tank/a@s", &from_bookmark, &mut Vec::new(), &mut |_| {})
        .unwrap();
    z.receive("tank/r", true, &mut &b""[..], &mut |_| {})
        .unwrap();
    z.receive("tank/r@s", false, &mut &b""[..], &mut |_| {})
        .unwrap();
    let want: Vec<Vec<&str>> = vec![
        vec![
            "create",
            "-p",
            "-o",
            "canmount=noauto",
            "-o",
            "org.x:y=a b",
            "--",
            "tank/ct/1",
        ],
        vec!["destroy", "-r", "--", "tank/ct/1"],
        vec!["destroy", "--", "tank/ct/1#b"],
        vec!["rename", "--", "tank/a", "tank/b"],
        vec!["mount", "--", "tank/a"],
        vec!["unmount", "--", "tank/a"],
        vec!["set", "quota=1G", "org.x:y=-v", "tank/a"],
        vec!["inherit", "--", "compression", "tank/a"],
        vec![
            "get",
            "-H",
            "-p",
            "-o",
            "name,property,value,source",
            "--",
            "used,org.x:y",
            "tank/a",
            "tank/a@s",
        ],
        vec![
            "list",
            "-H",
            "-p",
            "-o",
            "name",
            "-t",
            "filesystem,volume",
            "-d",
            "1",
            "--",
            "tank",
        ],
        vec![
            "list", "-H", "-p", "-o", "name", "-t", "snapshot", "-r", "--", "tank",
        ],
        vec!["snapshot", "-r", "--", "tank/a@s"],
        vec!["rollback", "-r", "--", "tank/a@s"],
        vec![
            "clone",
            "-p",
            "-o",
            "canmount=noauto",
            "--",
            "tank/a@s",
            "tank/c",
        ],
        vec!["send", "-c", "-w", "-L", "-I", "@s0", "--", "tank/a@s"],
        vec!["send", "-i", "tank/a#b", "--", "tank/a@s"],
        vec!["receive", "-F", "--", "tank/r"],
        vec!["receive", "--", "tank/r@s"],
    ];
    assert_eq!(s.calls(), want);
}

#[test]
fn hostile_names_and_properties_never_reach_the_command() {
    let s = stub(RECORD);
    let z = &s.zfs;
    let sink = &mut Vec::new();
    let opts = |from: &str| SendOptions {
        from: Some(from.into()),
        ..Default::default()
    };
    let results: Vec<(&str, Result<()>)> = vec![
        ("create -o", z.create("-o", &[])),
        ("create a/../b", z.create("tank/../b", &[])),
        ("create %", z.create("tank/%recv", &[])),
        ("create prop", z.create("tank/a", &[("-V", "1G")])),
        ("create value", z.create("tank/a", &[("org.x:y", "a\nb")])),
        ("destroy", z.destroy("-R", false)),
        ("destroy @@", z.destroy("tank/a@b@c", false)),
        ("rename to", z.rename("tank/a", "tank/b@c@d")),
        ("rename from", z.rename("--help", "tank/b")),
        ("mount", z.mount("-a")),
        ("unmount", z.unmount("/tank")),
        ("set name", z.set("-u", &[("quota", "1G")])),
        ("set prop", z.set("tank/a", &[("-u", "1G")])),
        ("set value", z.set("tank/a", &[("quota", "1G\0")])),
        ("set none", z.set("tank/a", &[])),
        ("inherit", z.inherit("tank/a", "-r")),
        ("get name", z.get(&["tank/a", "-o"], &["used"]).map(|_| ())),
        ("get prop", z.get(&["tank/a"], &["used,-x"]).map(|_| ())),
        (
            "list root",
            z.list("tank@s", "filesystem", None).map(|_| ()),
        ),
        ("list type", z.list("tank", "-o", None).map(|_| ())),
        ("snapshot", z.snapshot("tank/a", false)),
        ("rollback", z.rollback("-f")),
        ("clone", z.clone_snapshot("tank/a@s", "tank/b@s", &[])),
        (
            "send",
            z.send("tank/a", &SendOptions::default(), sink, &mut |_| {})
                .map(|_| ()),
        ),
        (
            "send from",
            z.send("tank/a@s", &opts("-D"), sink, &mut |_| {})
                .map(|_| ()),
        ),
        (
            "send from @",
            z.send("tank/a@s", &opts("@x/y"), sink, &mut |_| {})
                .map(|_| ()),
        ),
        (
            "send from ds",
            z.send("tank/a@s", &opts("tank/a"), sink, &mut |_| {})
                .map(|_| ()),
        ),
        (
            "receive",
            z.receive("-d", false, &mut &b""[..], &mut |_| {})
                .map(|_| ()),
        ),
    ];
    for (what, r) in results {
        let e = r.expect_err(what);
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{what}: {e}");
        assert!(e.field().unwrap().starts_with("ZFS "), "{what}: {e}");
    }
    assert_eq!(s.calls(), Vec::<Vec<String>>::new(), "nothing ran");
}
