//! ZFS through the `zfs` command line, as every peer does (libzfs has no
//! stable ABI): datasets, properties (one batched `zfs get` per call),
//! snapshots, clones, and send/receive streamed to or from any reader or
//! writer with byte progress. Output is read in `-H -p` form: tab-separated,
//! exact numbers.
//!
//! Nothing hostile reaches the command line: every dataset, snapshot and
//! bookmark name is checked as ZFS checks it ([`check_name`]) and every
//! property name and value too, before any command runs (an
//! [`InvalidConfig`](crate::ErrorKind::InvalidConfig) error naming the
//! value and why), and `--` ends the options before the names (but for
//! `zfs set`, whose ZFS 2.1 form parses no options and refuses `--`: there
//! the first argument is always a checked `name=value`).

mod child;
mod names;
mod props;
mod stream;
#[cfg(test)]
mod tests;

pub use names::{check_name, NameKind};
pub use props::{Properties, Property};
pub use stream::{RecvOptions, SendOptions};

use crate::error::{Error, ErrorKind, Result, ResultExt};
use names::check;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use NameKind::{Bookmark, Dataset, Snapshot};

/// How long a streaming `zfs` child gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

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
    /// Between SIGTERM and SIGKILL of a streaming child (tests shorten it).
    grace: Duration,
}

/// `cmd` in an absolute directory of `PATH`, or in /usr/sbin or /sbin (a
/// relative entry would run whatever the working directory holds).
fn find(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .filter(|d| d.starts_with('/'))
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file());
    found
}

/// Check a `zfs list -t` type list.
fn check_types(kind: &str) -> Result<()> {
    const TYPES: [&str; 7] = [
        "filesystem",
        "snapshot",
        "snap",
        "volume",
        "vol",
        "bookmark",
        "all",
    ];
    match kind.split(',').find(|t| !TYPES.contains(t)) {
        None => Ok(()),
        Some(t) => Err(Error::invalid(
            "ZFS dataset type",
            format!("{t:?} in {kind:?} is not one of {}", TYPES.join(", ")),
        )),
    }
}

impl Zfs {
    /// The host's zfs, or `Unsupported` saying what is missing.
    ///
    /// ```no_run
    /// match vpsos_core::storage::zfs::Zfs::new() {
    ///     Ok(zfs) => println!("{zfs:?}"),
    ///     Err(e) => eprintln!("{e}"), // not supported on this host: ZFS: ...
    /// }
    /// ```
    pub fn new() -> Result<Zfs> {
        let bin = find("zfs")
            .ok_or_else(|| Error::unsupported("ZFS: the zfs command is not installed"))?;
        if !Path::new("/sys/module/zfs").exists() {
            return Err(Error::unsupported(
                "ZFS: the zfs kernel module is not loaded",
            ));
        }
        Ok(Zfs {
            bin,
            grace: KILL_GRACE,
        })
    }

    fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args);
        c
    }

    /// Run `zfs args`; stdout, or a `Command` error with its stderr.
    fn run<S: AsRef<OsStr> + AsRef<str>>(&self, args: &[S]) -> Result<String> {
        let out =
            crate::command::output(&mut self.command(args)).ctx(|| "running zfs".to_string())?;
        check_output(args, &out)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `-o name=value` for each of `props`, checked.
    fn with_props(args: &mut Vec<String>, props: &[(&str, &str)]) -> Result<()> {
        props::check_pairs(props)?;
        for (k, v) in props {
            args.push("-o".into());
            args.push(format!("{k}={v}"));
        }
        Ok(())
    }

    /// Create a filesystem (parents as needed) with properties, user
    /// properties (`org.vpsadminos.osctl:id`) included.
    ///
    /// ```no_run
    /// let zfs = vpsos_core::storage::zfs::Zfs::new()?;
    /// zfs.create("tank/ct/101", &[("canmount", "noauto"), ("org.vpsadminos.osctl:id", "101")])?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn create(&self, name: &str, props: &[(&str, &str)]) -> Result<()> {
        check(name, &[Dataset], true)?;
        let mut a = vec!["create".to_string(), "-p".into()];
        Self::with_props(&mut a, props)?;
        a.extend(["--".into(), name.into()]);
        self.run(&a).map(|_| ())
    }

    /// Destroy a dataset, snapshot or bookmark (`recursive`: children and
    /// snapshots too), retrying for up to 5 s while it is busy.
    ///
    /// ```no_run
    /// let zfs = vpsos_core::storage::zfs::Zfs::new()?;
    /// zfs.destroy("tank/ct/101@s1", false)?;
    /// zfs.destroy("tank/ct/101", true)?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn destroy(&self, name: &str, recursive: bool) -> Result<()> {
        check(name, &[Dataset, Snapshot, Bookmark], false)?;
        let args: &[&str] = if recursive {
            &["destroy", "-r", "--", name]
        } else {
            &["destroy", "--", name]
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

    /// Rename a dataset or snapshot.
    ///
    /// ```no_run
    /// let zfs = vpsos_core::storage::zfs::Zfs::new()?;
    /// zfs.rename("tank/ct/101", "tank/ct/201")?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        check(from, &[Dataset, Snapshot], false)?;
        check(to, &[Dataset, Snapshot], true)?;
        self.run(&["rename", "--", from, to]).map(|_| ())
    }

    /// Mount a filesystem.
    ///
    /// ```no_run
    /// let zfs = vpsos_core::storage::zfs::Zfs::new()?;
    /// zfs.mount("tank/ct/101")?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn mount(&self, name: &str) -> Result<()> {
        check(name, &[Dataset], false)?;
        self.run(&["mount", "--", name]).map(|_| ())
    }

    /// Unmount a filesystem.
    ///
    /// ```no_run
    /// let zfs = vpsos_core::storage::zfs::Zfs::new()?;
    /// zfs.unmount("tank/ct/101")?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn unmount(&self, name: &str) -> Result<()> {
        check(name, &[Dataset], false)?;
        self.run(&["unmount", "--", name]).map(|_| ())
    }

    /// Set properties of a dataset or snapshot.
    ///
    /// ```no_run
    /// let zfs = vpsos_core::storage::zfs::Zfs::new()?;
    /// zfs.set("tank/ct/101", &[("refquota", "20G"), ("org.vpsadminos.osctl:note", "web")])?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn set(&self, name: &str, props: &[(&str, &str)]) -> Result<()> {
        check(name, &[Dataset, Snapshot], false)?;
        props::check_pairs(props)?;
        if props.is_empty() {
            return Err(Error::invalid("ZFS properties", "none to set"));
        }
        // no `--`: see the module's documentation
        let mut a = vec!["set".to_string()];
        a.extend(props.iter().map(|(k, v)| format!("{k}={v}")));
        a.push(name.into());
        self.run(&a).map(|_| ())
    }

    /// Inherit a property from the parent (or the default).
    ///
    /// ```no_run
    /// let zfs = vpsos_core::storage::zfs::Zfs::new()?;
    /// zfs.inherit("tank/ct/101", "compression")?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn inherit(&self, name: &str, prop: &str) -> Result<()> {
        check(name, &[Dataset, Snapshot], false)?;
        props::check_name(prop)?;
        self.run(&["inherit", "--", prop, name]).map(|_| ())
    }

    /// `props` of all `names` (datasets, snapshots, bookmarks), in one
    /// `zfs get`.
    ///
    /// ```no_run
    /// let zfs = vpsos_core::storage::zfs::Zfs::new()?;
    /// let p = zfs.get(&["tank/ct/101", "tank/ct/102"], &["used", "refquota"])?;
    /// println!("{:?}", p.u64("tank/ct/102", "used"));
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn get(&self, names: &[&str], props: &[&str]) -> Result<Properties> {
        for n in names {
            check(n, &[Dataset, Snapshot, Bookmark], false)?;
        }
        for p in props {
            props::check_name(p)?;
        }
        let joined = props.join(",");
        let mut a = vec![
            "get",
            "-H",
            "-p",
            "-o",
            "name,property,value,source",
            "--",
            &joined,
        ];
        a.extend_from_slice(names);
        Properties::parse(&self.run(&a)?)
    }

    /// Filesystems (or `kind`: `snapshot`, `volume`, `bookmark`, `all`, or
    /// several joined by `,`) at and below `root`, `depth` levels deep
    /// (`None`: all).
    ///
    /// ```no_run
    /// let zfs = vpsos_core::storage::zfs::Zfs::new()?;
    /// for ct in zfs.list("tank/ct", "filesystem", Some(1))? {
    ///     println!("{ct}");
    /// }
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn list(&self, root: &str, kind: &str, depth: Option<u32>) -> Result<Vec<String>> {
        check(root, &[Dataset], false)?;
        check_types(kind)?;
        let d = depth.map(|d| d.to_string());
        let mut a = vec!["list", "-H", "-p", "-o", "name", "-t", kind];
        match &d {
            Some(d) => a.extend(["-d", d.as_str()]),
            None => a.push("-r"),
        }
        a.extend(["--", root]);
        Ok(self.run(&a)?.lines().map(String::from).collect())
    }

    /// Snapshot `name@snap` (`recursive`: its children too).
    ///
    /// ```no_run
    /// let zfs = vpsos_core::storage::zfs::Zfs::new()?;
    /// zfs.snapshot("tank/ct/101@s1", false)?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn snapshot(&self, snapshot: &str, recursive: bool) -> Result<()> {
        check(snapshot, &[Snapshot], true)?;
        let args: &[&str] = if recursive {
            &["snapshot", "-r", "--", snapshot]
        } else {
            &["snapshot", "--", snapshot]
        };
        self.run(args).map(|_| ())
    }

    /// Roll `snapshot`'s dataset back to it (`-r`: destroying later snapshots).
    ///
    /// ```no_run
    /// let zfs = vpsos_core::storage::zfs::Zfs::new()?;
    /// zfs.rollback("tank/ct/101@s1")?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn rollback(&self, snapshot: &str) -> Result<()> {
        check(snapshot, &[Snapshot], false)?;
        self.run(&["rollback", "-r", "--", snapshot]).map(|_| ())
    }

    /// Clone `snapshot` to a new filesystem `target` (parents as needed)
    /// with properties.
    ///
    /// ```no_run
    /// let zfs = vpsos_core::storage::zfs::Zfs::new()?;
    /// zfs.clone_snapshot("tank/tpl/debian@base", "tank/ct/103", &[("canmount", "noauto")])?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn clone_snapshot(
        &self,
        snapshot: &str,
        target: &str,
        props: &[(&str, &str)],
    ) -> Result<()> {
        check(snapshot, &[Snapshot], false)?;
        check(target, &[Dataset], true)?;
        let mut a = vec!["clone".to_string(), "-p".into()];
        Self::with_props(&mut a, props)?;
        a.extend(["--".into(), snapshot.into(), target.into()]);
        self.run(&a).map(|_| ())
    }
}

/// A failed `zfs args` as a `Command` error carrying its stderr.
fn check_output<S: AsRef<str>>(args: &[S], out: &std::process::Output) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    Err(Error::new(
        ErrorKind::Command,
        format!(
            "zfs {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    ))
}
