//! The command lines and the streaming without ZFS: a shell script stands
//! in for the `zfs` binary (it records its arguments, writes or reads
//! endlessly, fails, ignores SIGTERM).

use super::*;
use crate::until::{self, Cancel, Until};
use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

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
        zfs: Zfs {
            bin,
            grace: Duration::from_millis(200),
        },
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

    /// The pid the script wrote to `$D/pid`.
    fn pid(&self) -> i32 {
        let s = std::fs::read_to_string(self.dir.path().join("pid")).unwrap();
        s.trim().parse().unwrap()
    }
}

const RECORD: &str = r#"{ printf '%s\n' "$@"; echo ---; } >> "$D/args""#;

/// Whether our child `pid` was reaped (no zombie of ours left).
fn reaped(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => {
            // after "(comm) ": state, ppid
            let rest = &s[s.rfind(')').unwrap() + 2..];
            let ppid: u32 = rest.split(' ').nth(1).unwrap().parse().unwrap();
            ppid != std::process::id()
        }
    }
}

/// A writer that takes `left` bytes, then fails as a dead link does.
struct FailingWriter {
    left: usize,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.left == 0 {
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

/// A reader of `left` zero bytes that then fails (or never ends, without
/// a limit); counts what it gave.
struct Zeros {
    left: Option<usize>,
    given: usize,
}

impl Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = match &mut self.left {
            Some(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "the link died",
                ))
            }
            Some(left) => {
                let n = buf.len().min(*left);
                *left -= n;
                n
            }
            None => buf.len(),
        };
        buf[..n].fill(0);
        self.given += n;
        Ok(n)
    }
}

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
        properties: true,
    };
    z.send("tank/a@s", &all, &mut Vec::new(), &mut |_| {})
        .unwrap();
    let from_bookmark = SendOptions {
        from: Some("tank/a#b".into()),
        ..Default::default()
    };
    z.send("tank/a@s", &from_bookmark, &mut Vec::new(), &mut |_| {})
        .unwrap();
    let recv = RecvOptions {
        force: true,
        no_mount: true,
        resumable: true,
    };
    z.receive_with("tank/r", &recv, &mut &b""[..], &mut |_| {})
        .unwrap();
    z.receive("tank/r@s", false, &mut &b""[..], &mut |_| {})
        .unwrap();
    z.abort_receive("tank/r").unwrap();
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
        vec![
            "send", "-c", "-w", "-L", "-p", "-I", "@s0", "--", "tank/a@s",
        ],
        vec!["send", "-i", "tank/a#b", "--", "tank/a@s"],
        vec!["receive", "-F", "-u", "-s", "--", "tank/r"],
        vec!["receive", "--", "tank/r@s"],
        vec!["receive", "-A", "--", "tank/r"],
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
        ("abort", z.abort_receive("tank/a@s")),
    ];
    for (what, r) in results {
        let e = r.expect_err(what);
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{what}: {e}");
        assert!(e.field().unwrap().starts_with("ZFS "), "{what}: {e}");
    }
    assert_eq!(s.calls(), Vec::<Vec<String>>::new(), "nothing ran");
}

#[test]
fn a_failing_writer_ends_send_and_returns_its_error() {
    let s = stub(r#"echo $$ > "$D/pid"; exec cat /dev/zero"#);
    let mut out = FailingWriter { left: 1 << 20 };
    let mut seen = 0;
    let e = s
        .zfs
        .send("tank/a@s", &SendOptions::default(), &mut out, &mut |b| {
            seen = b
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(
        e.to_string()
            .starts_with("zfs send of tank/a@s: writing the stream: the link died"),
        "{e}"
    );
    assert!(std::error::Error::source(&e).is_some());
    assert!(seen <= 1 << 20, "{seen}");
    assert!(reaped(s.pid()));
}

#[test]
fn send_kills_a_child_that_ignores_sigterm() {
    let s = stub(r#"trap '' TERM; echo $$ > "$D/pid"; head -c 1048576 /dev/zero; exec sleep 600"#);
    let mut out = FailingWriter { left: 4096 };
    let e = s
        .zfs
        .send("tank/a@s", &SendOptions::default(), &mut out, &mut |_| {})
        .unwrap_err();
    assert!(e.to_string().contains("writing the stream"), "{e}");
    assert!(reaped(s.pid()));
}

#[test]
fn a_panicking_writer_leaves_no_child() {
    struct Panics;
    impl Write for Panics {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            panic!("writer panicked");
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let s = stub(r#"echo $$ > "$D/pid"; exec cat /dev/zero"#);
    let r = catch_unwind(AssertUnwindSafe(|| {
        s.zfs.send(
            "tank/a@s",
            &SendOptions::default(),
            &mut Panics,
            &mut |_| {},
        )
    }));
    assert!(r.is_err());
    assert!(reaped(s.pid()));
}

#[test]
fn a_cancelled_send_ends() {
    let s = stub(r#"echo $$ > "$D/pid"; exec cat /dev/zero"#);
    let c = Cancel::new().unwrap();
    let mut out = Vec::new();
    let e = until::scoped(Until::forever().or_cancel(&c), || {
        s.zfs
            .send("tank/a@s", &SendOptions::default(), &mut out, &mut |_| {
                c.cancel()
            })
    })
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    assert!(e.to_string().starts_with("zfs send of tank/a@s: "), "{e}");
    assert!(reaped(s.pid()));
}

#[test]
fn send_drains_stderr_and_reports_it() {
    // 200 KB of stderr before any output: a full stderr pipe would block it
    let s = stub("yes 'warning: lots' | head -c 200000 >&2; head -c 300000 /dev/zero");
    let mut out = Vec::new();
    let n = s
        .zfs
        .send("tank/a@s", &SendOptions::default(), &mut out, &mut |_| {})
        .unwrap();
    assert_eq!((n, out.len()), (300000, 300000));

    let s = stub("echo \"cannot open 'tank/a@s': dataset does not exist\" >&2; exit 1");
    let e = s
        .zfs
        .send("tank/a@s", &SendOptions::default(), &mut out, &mut |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Command, "{e}");
    assert_eq!(
        e.to_string(),
        "zfs send -- tank/a@s: cannot open 'tank/a@s': dataset does not exist"
    );
}

#[test]
fn a_failing_reader_ends_receive_and_returns_its_error() {
    let s = stub(r#"echo $$ > "$D/pid"; exec cat > /dev/null"#);
    let mut input = Zeros {
        left: Some(1 << 20),
        given: 0,
    };
    let mut seen = 0;
    let e = s
        .zfs
        .receive("tank/a", false, &mut input, &mut |b| seen = b)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(
        e.to_string()
            .starts_with("zfs receive into tank/a: reading the stream: the link died"),
        "{e}"
    );
    assert_eq!(seen, 1 << 20);
    assert!(reaped(s.pid()));
}

#[test]
fn receive_reads_no_further_once_zfs_ends() {
    let s = stub(
        r#"echo $$ > "$D/pid"; head -c 1000 > /dev/null
           echo 'cannot receive: invalid stream (bad magic number)' >&2; exit 1"#,
    );
    let mut endless = Zeros {
        left: None,
        given: 0,
    };
    let e = s
        .zfs
        .receive("tank/a", false, &mut endless, &mut |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Command, "{e}");
    assert_eq!(
        e.to_string(),
        "zfs receive -- tank/a: cannot receive: invalid stream (bad magic number)"
    );
    assert!(endless.given < 16 << 20, "{}", endless.given);
    assert!(reaped(s.pid()));

    // one that ends well but early: the rest of the stream was not taken
    let s = stub("head -c 1000 > /dev/null");
    let e = s
        .zfs
        .receive("tank/a", false, &mut endless, &mut |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().contains("before its end"), "{e}");
}

#[test]
fn receive_streams_everything_with_progress() {
    let s = stub(r#"exec cat > "$D/got""#);
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut last = 0;
    let n = s
        .zfs
        .receive("tank/a", true, &mut &data[..], &mut |b| last = b)
        .unwrap();
    assert_eq!((n, last), (data.len() as u64, data.len() as u64));
    assert_eq!(std::fs::read(s.dir.path().join("got")).unwrap(), data);
}
