//! cgroup v1 and v2 behind one API: create, place a process, list, kill,
//! remove.
//!
//! On a v1 (or hybrid) host a container's cgroup is one directory per
//! mounted hierarchy (every controller, `name=systemd`, and the hybrid
//! `unified` cgroup2); on a pure v2 host it is one directory, and the init
//! is cloned straight into it with `CLONE_INTO_CGROUP`.

mod bpf;
mod delegate;
pub mod devices;
mod freezer;
mod limits;
mod limits_more;
mod stats;

pub(crate) use limits_more::host_page_sizes;
pub use stats::Stats;

use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::features::{CgroupMode, HostFeatures};
use crate::until::Until;
use std::fs;
use std::io::ErrorKind as IoKind;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted (`/sys/fs/cgroup/memory`).
    pub mountpoint: PathBuf,
    /// v2 (cgroup2) or v1.
    pub v2: bool,
    /// Its controllers (v1: from the mount options; v2: empty).
    pub controllers: Vec<String>,
}

/// The hierarchies of this host, read once from /proc/self/mountinfo.
///
/// ```
/// for h in vpsos_core::cgroup::hierarchies() {
///     println!("{} v2={} {:?}", h.mountpoint.display(), h.v2, h.controllers);
/// }
/// ```
pub fn hierarchies() -> &'static [Hierarchy] {
    static H: OnceLock<Vec<Hierarchy>> = OnceLock::new();
    H.get_or_init(|| {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        parse_mountinfo(&info, HostFeatures::get().cgroup_mode)
    })
}

fn parse_mountinfo(info: &str, mode: CgroupMode) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split_whitespace();
        let fstype = r.next().unwrap_or("");
        let _source = r.next();
        let super_opts = r.next().unwrap_or("");
        let mountpoint = left.split_whitespace().nth(4).unwrap_or("");
        if !mountpoint.starts_with("/sys/fs/cgroup") {
            continue;
        }
        match fstype {
            "cgroup2" => {
                if mode == CgroupMode::Unified && mountpoint != "/sys/fs/cgroup" {
                    continue;
                }
                out.push(Hierarchy {
                    mountpoint: mountpoint.into(),
                    v2: true,
                    controllers: vec![],
                })
            }
            "cgroup" if mode != CgroupMode::Unified => {
                let controllers = super_opts
                    .split(',')
                    .filter(|o| {
                        !matches!(
                            *o,
                            "rw" | "ro" | "relatime" | "noatime" | "nosuid" | "nodev" | "noexec"
                        ) && !o.starts_with("release_agent")
                            && *o != "clone_children"
                            && *o != "xattr"
                    })
                    .map(String::from)
                    .collect();
                out.push(Hierarchy {
                    mountpoint: mountpoint.into(),
                    v2: false,
                    controllers,
                })
            }
            _ => {}
        }
    }
    out
}

/// A container's cgroup: one directory per hierarchy.
///
/// ```no_run
/// let cg = vpsos_core::Cgroup::create("vpsos/demo")?;
/// cg.attach(std::process::id() as i32)?;
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Cgroup {
    path: String,
    dirs: Vec<(PathBuf, bool)>,
}

impl Cgroup {
    /// The cgroup at `path` (relative to each hierarchy root), without
    /// creating it.
    pub fn open(path: &str) -> Cgroup {
        let path = path.trim_matches('/').to_string();
        let dirs = hierarchies()
            .iter()
            .map(|h| (h.mountpoint.join(&path), h.v2))
            .collect();
        Cgroup { path, dirs }
    }

    /// Create the cgroup in every hierarchy (parents as needed). If it
    /// already exists, `AlreadyExists`.
    pub fn create(path: &str) -> Result<Cgroup> {
        let cg = Cgroup::open(path);
        if cg.dirs.is_empty() {
            return Err(Error::unsupported("no cgroup filesystem is mounted"));
        }
        let mut made: Vec<PathBuf> = Vec::new();
        let res = (|| -> Result<()> {
            for (i, h) in hierarchies().iter().enumerate() {
                let dir = &cg.dirs[i].0;
                mkdir_levels(&h.mountpoint, dir, h, &mut made)?;
            }
            Ok(())
        })();
        if let Err(e) = res {
            for d in made.iter().rev() {
                let _ = fs::remove_dir(d);
            }
            return Err(e.context(format!("creating cgroup {}", cg.path)));
        }
        Ok(cg)
    }

    /// The path relative to the hierarchy roots.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The directories, one per hierarchy.
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|(d, _)| d.as_path())
    }

    /// Whether it exists (in the first hierarchy).
    pub fn exists(&self) -> bool {
        self.dirs.first().is_some_and(|(d, _)| d.exists())
    }

    /// Whether this is a pure cgroup v2 host (one directory).
    pub fn is_v2(&self) -> bool {
        HostFeatures::get().cgroup_mode == CgroupMode::Unified
    }

    /// The directory where `controller`'s files live, if the host has it
    /// (v1: its hierarchy; v2: the cgroup, when the controller is enabled
    /// for it).
    pub(crate) fn controller_dir(&self, controller: &str) -> Option<&Path> {
        for (i, h) in hierarchies().iter().enumerate() {
            let dir = &self.dirs[i].0;
            if h.v2 {
                if self.is_v2() {
                    let list = fs::read_to_string(dir.join("cgroup.controllers")).ok()?;
                    return list
                        .split_whitespace()
                        .any(|c| c == controller)
                        .then_some(dir.as_path());
                }
            } else if h.controllers.iter().any(|c| c == controller) {
                return Some(dir);
            }
        }
        None
    }

    /// `controller`'s directory, or `Unsupported` naming `what` needs it.
    pub(crate) fn need(&self, controller: &str, what: &str) -> Result<&Path> {
        self.controller_dir(controller).ok_or_else(|| {
            Error::unsupported(format!(
                "{what}: the {controller} controller is not available to cgroup {} on this host",
                self.path
            ))
        })
    }

    /// Read `file` of `controller` (trimmed).
    pub(crate) fn read(&self, controller: &str, file: &str) -> Result<String> {
        let dir = self.need(controller, file)?;
        let p = dir.join(file);
        fs::read_to_string(&p)
            .map(|s| s.trim().to_string())
            .map_err(|e| io_error(e, &p, "reading"))
    }

    /// Whether `controller` has `file` here.
    pub(crate) fn has(&self, controller: &str, file: &str) -> bool {
        self.controller_dir(controller)
            .is_some_and(|d| d.join(file).exists())
    }

    /// Write `value` to `file` of `controller`; `what` names the setting
    /// in errors ("memory limit").
    pub(crate) fn write(
        &self,
        controller: &str,
        file: &str,
        value: &str,
        what: &str,
    ) -> Result<()> {
        let dir = self.need(controller, what)?;
        let p = dir.join(file);
        fs::write(&p, value).map_err(|e| {
            if e.kind() == IoKind::NotFound {
                Error::unsupported(format!(
                    "{what}: this host's kernel has no {file} in cgroup {}",
                    self.path
                ))
            } else {
                io_error(e, &p, &format!("writing {value:?} to"))
                    .context(format!("applying {what} to cgroup {}", self.path))
            }
        })
    }

    /// Write each of `values` to `file` of `controller` with its own
    /// write(2) through one open (files that take one entry per write,
    /// like `devices.allow`); `what` names the setting in errors.
    pub(crate) fn write_each(
        &self,
        controller: &str,
        file: &str,
        values: &[String],
        what: &str,
    ) -> Result<()> {
        use std::io::Write;
        if values.is_empty() {
            return Ok(());
        }
        let dir = self.need(controller, what)?;
        let p = dir.join(file);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .map_err(|e| io_error(e, &p, "opening"))?;
        for v in values {
            f.write_all(v.as_bytes()).map_err(|e| {
                io_error(e, &p, &format!("writing {v:?} to"))
                    .context(format!("applying {what} to cgroup {}", self.path))
            })?;
        }
        Ok(())
    }

    /// On a pure v2 host, an fd of the directory for `CLONE_INTO_CGROUP`.
    pub(crate) fn v2_fd(&self) -> Result<Option<OwnedFd>> {
        if HostFeatures::get().cgroup_mode != CgroupMode::Unified {
            return Ok(None);
        }
        let dir = &self.dirs[0].0;
        let f = fs::File::open(dir).ctx(|| format!("opening cgroup {}", dir.display()))?;
        Ok(Some(f.into()))
    }

    /// Move process `pid` into the cgroup in every hierarchy.
    pub fn attach(&self, pid: i32) -> Result<()> {
        let text = pid.to_string();
        for (dir, _) in &self.dirs {
            let f = dir.join("cgroup.procs");
            fs::write(&f, &text).ctx(|| format!("moving pid {pid} into {}", f.display()))?;
        }
        Ok(())
    }

    /// The pids in the cgroup.
    pub fn procs(&self) -> Result<Vec<i32>> {
        let Some((dir, _)) = self.dirs.first() else {
            return Ok(vec![]);
        };
        let f = dir.join("cgroup.procs");
        match fs::read_to_string(&f) {
            Ok(s) => Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect()),
            Err(e) if e.kind() == IoKind::NotFound => Ok(vec![]),
            Err(e) => Err(e).ctx(|| format!("reading {}", f.display())),
        }
    }

    /// The pids in the cgroup and every sub-cgroup, in any hierarchy (a
    /// delegated v1 cgroup may have moved processes below in one only).
    pub fn procs_recursive(&self) -> Vec<i32> {
        fn walk(dir: &Path, out: &mut Vec<i32>) {
            if let Ok(s) = fs::read_to_string(dir.join("cgroup.procs")) {
                out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
            if let Ok(entries) = fs::read_dir(dir) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        walk(&e.path(), out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (dir, _) in &self.dirs {
            walk(dir, &mut out);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// SIGKILL every process in the cgroup and its children, and return
    /// once they are gone: `cgroup.kill` on v2 (then wait for `populated
    /// 0`, woken by the kernel's notification on `cgroup.events`); on v1
    /// freeze, signal each pid, thaw, until empty. Waits as long as the
    /// processes take, up to `bound` (and the `Until` in force), then `Busy`.
    pub fn kill_all(&self, bound: Duration) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let until = Until::forever().within(bound);
        if let Some((dir, true)) = self.dirs.first() {
            let kill = dir.join("cgroup.kill");
            if kill.exists() {
                fs::write(&kill, "1").ctx(|| format!("writing {}", kill.display()))?;
                return self.wait_unpopulated(dir, &until);
            }
        }
        let freezer = self
            .dirs
            .iter()
            .find(|(d, v2)| !v2 && d.join("freezer.state").exists())
            .map(|(d, _)| d.join("freezer.state"));
        let mut nap = Duration::from_micros(500);
        loop {
            let pids = self.procs_recursive();
            if pids.is_empty() {
                return Ok(());
            }
            if let Some(f) = &freezer {
                let _ = fs::write(f, "FROZEN");
            }
            for pid in pids {
                // SAFETY: plain kill(2); frozen, so these pids cannot exit and be reused.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            if let Some(f) = &freezer {
                let _ = fs::write(f, "THAWED");
            }
            if !until.sleep(nap)? {
                return Err(Error::new(
                    ErrorKind::Busy,
                    format!(
                        "killing the processes of cgroup {}: still not empty after {bound:?}",
                        self.path
                    ),
                ));
            }
            nap = (nap * 2).min(Duration::from_millis(50));
        }
    }

    /// Whether the kernel says no process is left in the cgroup or below,
    /// with one read: `cgroup.events` on v2, the hierarchical
    /// `pids.current` on v1. `false` when it cannot tell.
    pub fn is_empty(&self) -> bool {
        let Some((dir, v2)) = self.dirs.first() else {
            return true;
        };
        if *v2 && self.is_v2() {
            return fs::read_to_string(dir.join("cgroup.events"))
                .is_ok_and(|s| s.lines().any(|l| l == "populated 0"));
        }
        self.controller_dir("pids")
            .and_then(|d| fs::read_to_string(d.join("pids.current")).ok())
            .is_some_and(|s| s.trim() == "0")
    }

    /// Wait until v2 cgroup `dir` has no process left in its subtree (the
    /// kernel delivers `cgroup.kill`'s signals, then the tasks exit): a
    /// change of `cgroup.events` wakes a poll for POLLPRI.
    fn wait_unpopulated(&self, dir: &Path, until: &Until) -> Result<()> {
        let events = dir.join("cgroup.events");
        let f = match fs::File::open(&events) {
            Ok(f) => f,
            Err(e) if e.kind() == IoKind::NotFound => return Ok(()),
            Err(e) => return Err(e).ctx(|| format!("opening {}", events.display())),
        };
        loop {
            let mut s = String::new();
            let mut r = &f;
            let _ = std::io::Seek::seek(&mut r, std::io::SeekFrom::Start(0));
            std::io::Read::read_to_string(&mut r, &mut s)
                .ctx(|| format!("reading {}", events.display()))?;
            if s.lines().any(|l| l == "populated 0") {
                return Ok(());
            }
            // woken by the change; the short bound covers a missed one
            let nap = until.within(Duration::from_millis(100));
            nap.wait_any(&[(std::os::fd::AsRawFd::as_raw_fd(&f), libc::POLLPRI)])?;
            if until
                .deadline()
                .is_some_and(|d| std::time::Instant::now() >= d)
            {
                return Err(Error::new(
                    ErrorKind::Busy,
                    format!(
                        "killing the processes of cgroup {}: still populated",
                        self.path
                    ),
                ));
            }
        }
    }

    /// Remove the cgroup in every hierarchy, depth-first, retrying while
    /// the kernel still reports it busy (for up to 2 s). Missing is fine.
    pub fn remove(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(2);
        for (dir, _) in &self.dirs {
            remove_tree(dir, deadline).ctx(|| format!("removing cgroup {}", dir.display()))?;
        }
        Ok(())
    }
}

fn io_error(e: std::io::Error, p: &Path, doing: &str) -> Error {
    Error::from_errno(
        e.raw_os_error().unwrap_or(libc::EIO),
        format!("{doing} {}", p.display()),
    )
}

fn remove_tree(dir: &Path, deadline: Instant) -> Result<()> {
    // the common case is a leaf: one rmdir, no directory walk
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == IoKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(()),
        Err(e) => return Err(e).ctx(|| format!("listing {}", dir.display())),
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&e.path(), deadline)?;
        }
    }
    let mut delay = Duration::from_micros(200);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == IoKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e).ctx(|| format!("rmdir {}", dir.display())),
        }
    }
}

/// Create each missing level from the hierarchy root down to `dir`.
fn mkdir_levels(root: &Path, dir: &Path, h: &Hierarchy, made: &mut Vec<PathBuf>) -> Result<()> {
    let rel = dir.strip_prefix(root).expect("dir is under its hierarchy");
    let mut cur = root.to_path_buf();
    let mut comps = rel.components().peekable();
    while let Some(c) = comps.next() {
        let parent = cur.clone();
        cur.push(c);
        let last = comps.peek().is_none();
        match fs::create_dir(&cur) {
            Ok(()) => {
                made.push(cur.clone());
                init_level(&parent, &cur, h)?;
                if h.v2 && !last {
                    enable_subtree(&cur)?;
                }
            }
            Err(e) if e.kind() == IoKind::AlreadyExists => {
                if last {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("cgroup {} already exists", cur.display()),
                    ));
                }
                // another creator may have made this level a moment ago
                // and not yet filled in its cpuset or enabled its controllers
                fill_cpuset(&parent, &cur, h, true)?;
                if h.v2 {
                    let have =
                        fs::read_to_string(cur.join("cgroup.subtree_control")).unwrap_or_default();
                    let avail =
                        fs::read_to_string(cur.join("cgroup.controllers")).unwrap_or_default();
                    if have.split_whitespace().count() < avail.split_whitespace().count() {
                        // best effort: a level with processes of its own refuses,
                        // and then a limit that needs a controller says so
                        let _ = enable_subtree(&cur);
                    }
                }
            }
            Err(e) => return Err(e).ctx(|| format!("mkdir {}", cur.display())),
        }
    }
    Ok(())
}

/// A new level: v1 cpuset needs cpus and mems before a task can join.
fn init_level(parent: &Path, dir: &Path, h: &Hierarchy) -> Result<()> {
    fill_cpuset(parent, dir, h, false)
}

/// Copy the parent's cpuset.cpus and cpuset.mems into `dir` (v1 cpuset
/// hierarchies only); with `only_if_empty`, leave values already set.
fn fill_cpuset(parent: &Path, dir: &Path, h: &Hierarchy, only_if_empty: bool) -> Result<()> {
    if h.v2 || !h.controllers.iter().any(|c| c == "cpuset") {
        return Ok(());
    }
    for f in ["cpuset.cpus", "cpuset.mems"] {
        if only_if_empty {
            let cur = fs::read_to_string(dir.join(f)).unwrap_or_default();
            if !cur.trim().is_empty() {
                continue;
            }
        }
        let v = fs::read_to_string(parent.join(f))
            .ctx(|| format!("reading {}", parent.join(f).display()))?;
        fs::write(dir.join(f), v.trim()).ctx(|| format!("writing {}", dir.join(f).display()))?;
    }
    Ok(())
}

/// Enable every available controller for the children of `dir` (v2).
pub(crate) fn enable_subtree(dir: &Path) -> Result<()> {
    let avail = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let want: Vec<String> = avail.split_whitespace().map(|c| format!("+{c}")).collect();
    if want.is_empty() {
        return Ok(());
    }
    fs::write(dir.join("cgroup.subtree_control"), want.join(" "))
        .ctx(|| format!("enabling controllers in {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hybrid_mountinfo() {
        let info = "\
35 25 0:30 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
37 35 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
38 35 0:33 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
39 35 0:34 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
";
        let h = parse_mountinfo(info, CgroupMode::Hybrid);
        assert_eq!(h.len(), 4);
        assert!(h[0].v2);
        assert_eq!(h[1].controllers, ["memory"]);
        assert_eq!(h[2].controllers, ["name=systemd"]);
        assert_eq!(h[3].controllers, ["cpu", "cpuacct"]);
        let v2 = "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = parse_mountinfo(v2, CgroupMode::Unified);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].mountpoint, Path::new("/sys/fs/cgroup"));
    }
}
