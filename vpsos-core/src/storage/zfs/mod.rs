//! ZFS through the `zfs` command line, as every peer does (libzfs has no
//! stable ABI): datasets, properties (one batched `zfs get` per call),
//! snapshots, clones, and send/receive streamed to or from any reader or
//! writer with byte progress. Output is read in `-H -p` form: tab-separated,
//! exact numbers.

use crate::error::{Error, ErrorKind, Result};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One property value and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The value (`-p`: exact numbers, `-` for none).
    pub value: String,
    /// `local`, `default`, `inherited from <ds>`, `received`, `-`.
    pub source: String,
}

/// Properties of several datasets: dataset → property → value.
///
/// ```
/// let out = "tank/ct/101\tquota\t10737418240\tlocal\ntank/ct/101\tcompression\tlz4\tinherited from tank\n";
/// let p = vpsos_core::storage::zfs::Properties::parse(out)?;
/// assert_eq!(p.get("tank/ct/101", "quota"), Some("10737418240"));
/// assert_eq!(p.u64("tank/ct/101", "quota"), Some(10 << 30));
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties(pub BTreeMap<String, BTreeMap<String, Property>>);

impl Properties {
    /// Parse `zfs get -H -p -o name,property,value,source` output. Values
    /// may contain spaces (user properties); fields are tab-separated.
    pub fn parse(out: &str) -> Result<Properties> {
        let mut p = Properties::default();
        for (n, line) in out.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
            let f: Vec<&str> = line.splitn(4, '\t').collect();
            if f.len() != 4 {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "zfs get output line {}: {line:?} is not 4 tab-separated fields",
                        n + 1
                    ),
                ));
            }
            p.0.entry(f[0].to_string()).or_default().insert(
                f[1].to_string(),
                Property {
                    value: f[2].to_string(),
                    source: f[3].to_string(),
                },
            );
        }
        Ok(p)
    }

    /// The value of `prop` of `dataset`.
    pub fn get(&self, dataset: &str, prop: &str) -> Option<&str> {
        self.0.get(dataset)?.get(prop).map(|p| p.value.as_str())
    }

    /// The value as a number (`None` for `-`, `none` or text).
    pub fn u64(&self, dataset: &str, prop: &str) -> Option<u64> {
        self.get(dataset, prop)?.parse().ok()
    }
}

/// How to send a stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Incremental from this snapshot (`-i`), or with every snapshot in
    /// between (`-I`, when `intermediates`).
    pub from: Option<String>,
    /// Send intermediate snapshots too (`-I`).
    pub intermediates: bool,
    /// Keep blocks compressed as on disk (`-c`).
    pub compressed: bool,
    /// Raw, for encrypted datasets (`-w`).
    pub raw: bool,
    /// Large blocks as they are (`-L`).
    pub large_blocks: bool,
}

/// The `zfs` command.
///
/// ```no_run
/// use vpsos_core::storage::zfs::Zfs;
/// let zfs = Zfs::new()?;                       // Unsupported without zfs or its module
/// zfs.create("tank/ct/101", &[("canmount", "noauto"), ("refquota", "10G")])?;
/// let p = zfs.get(&["tank/ct/101"], &["refquota", "used"])?;
/// println!("{:?}", p.u64("tank/ct/101", "refquota"));
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Zfs {
    bin: PathBuf,
}

fn find(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file());
    found
}

impl Zfs {
    /// The host's zfs, or `Unsupported` saying what is missing.
    pub fn new() -> Result<Zfs> {
        let bin = find("zfs")
            .ok_or_else(|| Error::unsupported("ZFS: the zfs command is not installed"))?;
        if !Path::new("/sys/module/zfs").exists() {
            return Err(Error::unsupported(
                "ZFS: the zfs kernel module is not loaded",
            ));
        }
        Ok(Zfs { bin })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args);
        c
    }

    /// Run `zfs args`; stdout, or a `Command` error with its stderr.
    fn run(&self, args: &[&str]) -> Result<String> {
        let out = self
            .command(args)
            .output()
            .map_err(|e| Error::new(ErrorKind::Io, format!("running zfs: {e}")))?;
        check(args, &out)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn with_props<'a>(args: &mut Vec<String>, props: &[(&'a str, &'a str)]) {
        for (k, v) in props {
            args.push("-o".into());
            args.push(format!("{k}={v}"));
        }
    }

    fn run_owned(&self, args: Vec<String>) -> Result<String> {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&a)
    }

    /// Create a filesystem (parents as needed) with properties, user
    /// properties (`org.vpsadminos.osctl:id`) included.
    pub fn create(&self, name: &str, props: &[(&str, &str)]) -> Result<()> {
        let mut a = vec!["create".to_string(), "-p".into()];
        Self::with_props(&mut a, props);
        a.push(name.into());
        self.run_owned(a).map(|_| ())
    }

    /// Destroy a dataset or snapshot (`recursive`: children and snapshots
    /// too), retrying for up to 5 s while it is busy.
    pub fn destroy(&self, name: &str, recursive: bool) -> Result<()> {
        let args: &[&str] = if recursive {
            &["destroy", "-r", name]
        } else {
            &["destroy", name]
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.run(args) {
                Err(e) if e.message().contains("busy") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                r => return r.map(|_| ()),
            }
        }
    }

    /// Rename a dataset.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.run(&["rename", from, to]).map(|_| ())
    }

    /// Mount a filesystem.
    pub fn mount(&self, name: &str) -> Result<()> {
        self.run(&["mount", name]).map(|_| ())
    }

    /// Unmount a filesystem.
    pub fn unmount(&self, name: &str) -> Result<()> {
        self.run(&["unmount", name]).map(|_| ())
    }

    /// Set properties.
    pub fn set(&self, name: &str, props: &[(&str, &str)]) -> Result<()> {
        let mut a = vec!["set".to_string()];
        a.extend(props.iter().map(|(k, v)| format!("{k}={v}")));
        a.push(name.into());
        self.run_owned(a).map(|_| ())
    }

    /// Inherit a property from the parent (or the default).
    pub fn inherit(&self, name: &str, prop: &str) -> Result<()> {
        self.run(&["inherit", prop, name]).map(|_| ())
    }

    /// `props` of all `names`, in one `zfs get`.
    pub fn get(&self, names: &[&str], props: &[&str]) -> Result<Properties> {
        let joined = props.join(",");
        let mut a = vec![
            "get",
            "-H",
            "-p",
            "-o",
            "name,property,value,source",
            &joined,
        ];
        a.extend_from_slice(names);
        Properties::parse(&self.run(&a)?)
    }

    /// Filesystems (or `kind`: `snapshot`, `volume`, `all`) at and below
    /// `root`, `depth` levels deep (`None`: all).
    pub fn list(&self, root: &str, kind: &str, depth: Option<u32>) -> Result<Vec<String>> {
        let d = depth.map(|d| d.to_string());
        let mut a = vec!["list", "-H", "-p", "-o", "name", "-t", kind];
        match &d {
            Some(d) => a.extend(["-d", d.as_str()]),
            None => a.push("-r"),
        }
        a.push(root);
        Ok(self.run(&a)?.lines().map(String::from).collect())
    }

    /// Snapshot `name@snap` (`recursive`: its children too).
    pub fn snapshot(&self, snapshot: &str, recursive: bool) -> Result<()> {
        let args: &[&str] = if recursive {
            &["snapshot", "-r", snapshot]
        } else {
            &["snapshot", snapshot]
        };
        self.run(args).map(|_| ())
    }

    /// Roll `snapshot`'s dataset back to it (`-r`: destroying later snapshots).
    pub fn rollback(&self, snapshot: &str) -> Result<()> {
        self.run(&["rollback", "-r", snapshot]).map(|_| ())
    }

    /// Clone `snapshot` to a new filesystem `target`.
    pub fn clone_snapshot(
        &self,
        snapshot: &str,
        target: &str,
        props: &[(&str, &str)],
    ) -> Result<()> {
        let mut a = vec!["clone".to_string(), "-p".into()];
        Self::with_props(&mut a, props);
        a.push(snapshot.into());
        a.push(target.into());
        self.run_owned(a).map(|_| ())
    }

    /// Send `snapshot` to `out`; `progress` gets the bytes so far. Returns
    /// the stream's size.
    pub fn send(
        &self,
        snapshot: &str,
        opts: &SendOptions,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let mut a = vec!["send"];
        for (on, f) in [
            (opts.compressed, "-c"),
            (opts.raw, "-w"),
            (opts.large_blocks, "-L"),
        ] {
            if on {
                a.push(f);
            }
        }
        if let Some(from) = &opts.from {
            a.push(if opts.intermediates { "-I" } else { "-i" });
            a.push(from);
        }
        a.push(snapshot);
        let mut child = self
            .command(&a)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::new(ErrorKind::Io, format!("running zfs send: {e}")))?;
        let mut stdout = child.stdout.take().expect("piped");
        let n = pump(&mut stdout, out, progress);
        finish(child, &a, n)
    }

    /// Receive a stream from `input` into `target` (`force`: roll it back
    /// first, `-F`); `progress` gets the bytes so far. Returns the bytes.
    pub fn receive(
        &self,
        target: &str,
        force: bool,
        input: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let a: Vec<&str> = if force {
            vec!["receive", "-F", target]
        } else {
            vec!["receive", target]
        };
        let mut child = self
            .command(&a)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::new(ErrorKind::Io, format!("running zfs receive: {e}")))?;
        let mut stdin = child.stdin.take().expect("piped");
        let n = pump(input, &mut stdin, progress);
        drop(stdin);
        finish(child, &a, n)
    }
}

/// Copy with progress; the error, if any, after the command's own.
fn pump(
    from: &mut dyn Read,
    to: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
        progress(total);
    }
}

/// A failed `zfs args` as a `Command` error carrying its stderr.
fn check(args: &[&str], out: &std::process::Output) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Command,
        format!(
            "zfs {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    ))
}

fn finish(child: std::process::Child, args: &[&str], pumped: std::io::Result<u64>) -> Result<u64> {
    let out = child
        .wait_with_output()
        .map_err(|e| Error::new(ErrorKind::Io, format!("waiting for zfs: {e}")))?;
    check(args, &out)?;
    pumped.map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("zfs {}: streaming: {e}", args.join(" ")),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_get_output_with_spaces_and_dashes() {
        let out = "tank\tused\t1234\t-\ntank/ct/1\torg.vpsadminos.osctl:note\ta value with spaces\tlocal\n\
                   tank/ct/1\tquota\t0\tdefault\ntank/ct/1\tmountpoint\t-\t-\n";
        let p = Properties::parse(out).unwrap();
        assert_eq!(p.u64("tank", "used"), Some(1234));
        assert_eq!(
            p.get("tank/ct/1", "org.vpsadminos.osctl:note"),
            Some("a value with spaces")
        );
        assert_eq!(p.0["tank/ct/1"]["quota"].source, "default");
        assert_eq!(p.u64("tank/ct/1", "mountpoint"), None);
        assert!(Properties::parse("broken line\n").is_err());
    }

    #[test]
    fn says_what_is_missing() {
        if !Path::new("/sys/module/zfs").exists() {
            let e = Zfs::new().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unsupported);
            assert!(e.to_string().contains("ZFS"), "{e}");
        }
    }
}
