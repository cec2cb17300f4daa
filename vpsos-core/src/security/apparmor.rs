//! AppArmor for system containers: a generated per-container profile
//! (loaded with `apparmor_parser`, re-parsed only when its text changed), a
//! policy namespace per container, and the stacked label
//! `<profile>//&:<namespace>:` (as LXC and osctld use) that the init and
//! every exec'd process take on at exec. The container can then load
//! profiles of its own into its namespace. `delete` unloads both.

use crate::error::{Error, ErrorKind, Result, ResultExt};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the kernel exposes AppArmor policy.
const SECURITYFS: &str = "/sys/kernel/security/apparmor";

/// Whether to confine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No AppArmor.
    Off,
    /// Confine where the host has AppArmor; elsewhere go on, with the
    /// reason in the state ([`Container::apparmor`](crate::Container::apparmor)).
    #[default]
    Auto,
    /// Confine, or fail with `Unsupported` on a host without AppArmor.
    On,
}

/// A container's AppArmor settings.
///
/// ```
/// use vpsos_core::security::apparmor::{AppArmor, Mode};
/// let a = AppArmor { mode: Mode::On, rules: vec!["deny /etc/shadow r,".into()], ..AppArmor::default() };
/// let text = a.profile_text("vpsos-ct1");
/// assert!(text.contains("profile vpsos-ct1 flags=(attach_disconnected,mediate_deleted)"));
/// assert!(text.contains("deny /etc/shadow r,"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppArmor {
    /// Off, auto or on.
    pub mode: Mode,
    /// Profile (and policy namespace) name; `{id}` is replaced by the
    /// container id. Default `vpsos-{id}`; osctld's is `ct-<pool>-{id}`.
    pub name: String,
    /// Allow what a container runtime inside needs (proc and sysfs mounts
    /// anywhere, binds, `change_profile`).
    pub nesting: bool,
    /// Extra rules, appended verbatim (`deny /srv/** w,`).
    pub rules: Vec<String>,
    /// Confine with this profile, already loaded on the host, instead of a
    /// generated one (OCI's `process.apparmorProfile`): vpsos then loads,
    /// stacks and unloads nothing, and `name`, `nesting` and `rules` are
    /// unused.
    ///
    /// ```
    /// use vpsos_core::security::apparmor::{AppArmor, Mode};
    /// let a = AppArmor::existing("docker-default");
    /// assert_eq!((a.mode, a.profile.as_deref()), (Mode::On, Some("docker-default")));
    /// ```
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

impl Default for AppArmor {
    fn default() -> AppArmor {
        AppArmor {
            mode: Mode::Auto,
            name: "vpsos-{id}".into(),
            nesting: false,
            rules: vec![],
            profile: None,
        }
    }
}

impl AppArmor {
    /// Confine with the loaded profile `profile` (mode on).
    ///
    /// ```
    /// let a = vpsos_core::security::apparmor::AppArmor::existing("unconfined");
    /// assert!(a.validate().is_ok());
    /// ```
    pub fn existing(profile: impl Into<String>) -> AppArmor {
        AppArmor {
            mode: Mode::On,
            profile: Some(profile.into()),
            ..AppArmor::default()
        }
    }

    /// No AppArmor (mode off).
    ///
    /// ```
    /// use vpsos_core::security::apparmor::{AppArmor, Mode};
    /// assert_eq!(AppArmor::off().mode, Mode::Off);
    /// ```
    pub fn off() -> AppArmor {
        AppArmor {
            mode: Mode::Off,
            ..AppArmor::default()
        }
    }
}

/// The rules every system-container profile has: what a distribution's
/// init needs, and no writes to the kernel's own knobs.
const BASE: &str = "\
  network,
  capability,
  file,
  umount,
  signal,
  ptrace,
  unix,
  dbus,
  pivot_root,

  # the mounts a distribution's init makes
  mount fstype=proc -> /proc/,
  mount fstype=sysfs -> /sys/,
  mount fstype=tmpfs,
  mount fstype=devpts,
  mount fstype=mqueue,
  mount fstype=hugetlbfs,
  mount fstype=fuse,
  mount fstype=fuse.*,
  mount fstype=fusectl -> /sys/fs/fuse/connections/,
  mount fstype=cgroup -> /sys/fs/cgroup/**,
  mount fstype=cgroup2 -> /sys/fs/cgroup/**,
  mount fstype=binfmt_misc -> /proc/sys/fs/binfmt_misc/,
  mount options=(rw,bind),
  # read-only bind remounts with any of nosuid, nodev, noexec
  mount options=(ro,remount,bind),
  mount options=(ro,remount,bind,nosuid),
  mount options=(ro,remount,bind,nodev),
  mount options=(ro,remount,bind,noexec),
  mount options=(ro,remount,bind,nosuid,nodev),
  mount options=(ro,remount,bind,nosuid,noexec),
  mount options=(ro,remount,bind,nodev,noexec),
  mount options=(ro,remount,bind,nosuid,nodev,noexec),
  mount options=(rw,remount,bind),
  mount options=(rw,remount,bind,nosuid),
  mount options=(rw,remount,bind,nodev),
  mount options=(rw,remount,bind,noexec),
  mount options=(rw,remount,bind,nosuid,nodev),
  mount options=(rw,remount,bind,nosuid,noexec),
  mount options=(rw,remount,bind,nodev,noexec),
  mount options=(rw,remount,bind,nosuid,nodev,noexec),
  mount options=(rw,remount),
  mount options=(ro,remount),
  mount options=(rw,make-slave) -> **,
  mount options=(rw,make-rslave) -> **,
  mount options=(rw,make-private) -> **,
  mount options=(rw,make-rprivate) -> **,
  mount options=(rw,make-shared) -> **,
  mount options=(rw,make-rshared) -> **,
  # systemd: service credentials (a ramfs made on /dev/shm/, moved to
  # /run/credentials/<unit>/) and services' own mount namespaces (the root
  # rbound onto /run/systemd/unit-root/, then narrowed inside it)
  mount fstype=ramfs,
  mount options=(rw,move) /dev/shm/ -> /run/credentials/{,**},
  mount options=(rw,rbind) -> /run/systemd/unit-root/{,**},
  mount options=(rw,move) /run/systemd/unit-root/ -> /,
  mount fstype=proc -> /run/systemd/unit-root/proc/,

  deny mount fstype=debugfs,
  deny mount fstype=securityfs,
  deny mount fstype=tracefs,
  deny mount fstype=bpf,

  # the kernel's knobs: read, never written (the container's own network
  # sysctls excepted)
  deny /proc/sys/[^n]*{,/**} wklx,
  deny /proc/sys/n[^e]*{,/**} wklx,
  deny /proc/sysrq-trigger rwklx,
  deny /proc/kcore rwklx,
  deny /proc/kmem rwklx,
  deny /proc/mem rwklx,
  deny /proc/acpi/** wklx,
  deny /proc/irq/** wklx,
  deny /proc/bus/** wklx,
  deny /proc/fs/** wklx,
  deny /proc/timer_list rwklx,
  deny /proc/sched_debug rwklx,
  deny /sys/[^fdc]*{,/**} wklx,
  deny /sys/c[^l]*{,/**} wklx,
  deny /sys/d[^e]*{,/**} wklx,
  deny /sys/devices/virtual/powercap/** rwklx,
  deny /sys/f[^s]*{,/**} wklx,
  deny /sys/fs/[^cf]*{,/**} wklx,
  deny /sys/kernel/security/** rwklx,
  deny /sys/firmware/efi/efivars/** rwklx,
";

const NESTING: &str = "\
  # nesting: a runtime inside mounts proc and sysfs for its containers
  mount fstype=proc,
  mount fstype=sysfs,
  mount options=(rw,rbind),
  change_profile -> **,
";

impl AppArmor {
    /// The profile name for container `id`.
    pub fn profile_name(&self, id: &str) -> String {
        self.name.replace("{id}", id)
    }

    /// The whole profile text, named `name`.
    pub fn profile_text(&self, name: &str) -> String {
        let mut t = format!(
            "# generated by vpsos; changes are overwritten\nabi <abi/3.0>,\n\n\
             profile {name} flags=(attach_disconnected,mediate_deleted) {{\n"
        );
        t.push_str(BASE);
        if self.nesting {
            t.push('\n');
            t.push_str(NESTING);
        }
        if !self.rules.is_empty() {
            t.push_str("\n  # the container's own rules\n");
            for r in &self.rules {
                t.push_str("  ");
                t.push_str(r.trim());
                t.push('\n');
            }
        }
        t.push_str("}\n");
        t
    }

    /// Check the name and the rules' shape.
    pub fn validate(&self) -> Result<()> {
        let ok = |c: char| c.is_ascii_alphanumeric() || "-_.{}".contains(c);
        if self.name.is_empty() || !self.name.chars().all(ok) {
            return Err(Error::invalid(
                "apparmor.name",
                format!(
                    "{:?}: letters, digits, '-', '_', '.' and {{id}} only",
                    self.name
                ),
            ));
        }
        if let Some(p) = &self.profile {
            if p.is_empty() || p.contains(['\0', '\n']) {
                return Err(Error::invalid(
                    "apparmor.profile",
                    format!("{p:?}: not a profile name"),
                ));
            }
            if self.nesting || !self.rules.is_empty() {
                return Err(Error::invalid(
                    "apparmor.rules",
                    "nesting and rules belong to a generated profile, not an existing one",
                ));
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            let r = r.trim();
            if !r.ends_with(',') || r.contains('{') && !r.contains('}') || r.contains('\n') {
                return Err(Error::invalid(
                    format!("apparmor.rules[{i}]"),
                    format!("{r:?}: one rule, ending in ','"),
                ));
            }
        }
        Ok(())
    }
}

/// What a container got: the profile and namespace loaded for it, or why
/// it runs without.
///
/// ```no_run
/// # let ct = vpsos_core::Runtime::new().load("ct1")?;
/// match ct.apparmor()? {
///     Some(a) if a.label.is_some() => println!("confined as {}", a.label.as_deref().unwrap()),
///     Some(a) => println!("not confined: {}", a.skipped.as_deref().unwrap_or("")),
///     None => println!("AppArmor off"),
/// }
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The profile name (in the root policy namespace).
    pub profile: String,
    /// The container's policy namespace.
    pub namespace: String,
    /// The label its processes exec into; `None` when skipped.
    pub label: Option<String>,
    /// Why the container is not confined (mode auto on a host without
    /// AppArmor).
    pub skipped: Option<String>,
    /// The profile file (for unloading).
    pub file: PathBuf,
}

/// Whether `apparmor_parser` ran, or the loaded profile was current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// The text changed (or the profile was not loaded): parsed and loaded.
    Parsed,
    /// Same text, still loaded: nothing to do.
    Unchanged,
}

/// Where generated profiles and apparmor_parser's cache live.
pub fn policy_dir() -> PathBuf {
    PathBuf::from("/var/lib/vpsos/apparmor")
}

/// Whether the kernel has a profile of this name loaded.
pub fn is_loaded(profile: &str) -> bool {
    fs::read_to_string(format!("{SECURITYFS}/profiles"))
        .map(|s| {
            s.lines()
                .any(|l| l.rsplit_once(" (").map(|(n, _)| n) == Some(profile))
        })
        .unwrap_or(false)
}

/// Whether a policy namespace exists.
pub fn namespace_exists(ns: &str) -> bool {
    Path::new(SECURITYFS)
        .join("policy/namespaces")
        .join(ns)
        .is_dir()
}

/// Write `text` to `dir`/`name` and load it, unless the same text is
/// already loaded. `apparmor_parser -r -W -L <dir>/cache`: its binary
/// cache serves a profile it has compiled before.
///
/// ```no_run
/// use vpsos_core::security::apparmor::{load, AppArmor, Load};
/// let a = AppArmor::default();
/// let dir = vpsos_core::security::apparmor::policy_dir();
/// assert_eq!(load(&dir, "vpsos-ct1", &a.profile_text("vpsos-ct1"))?, Load::Parsed);
/// assert_eq!(load(&dir, "vpsos-ct1", &a.profile_text("vpsos-ct1"))?, Load::Unchanged);
/// # Ok::<(), vpsos_core::Error>(())
/// ```
pub fn load(dir: &Path, name: &str, text: &str) -> Result<Load> {
    let file = dir.join(name);
    if is_loaded(name) && fs::read_to_string(&file).is_ok_and(|t| t == text) {
        return Ok(Load::Unchanged);
    }
    fs::create_dir_all(dir.join("cache")).ctx(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    fs::write(&tmp, text).ctx(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &file).ctx(|| format!("writing {}", file.display()))?;
    parser(&["-r", "-W", "-L"], Some(&dir.join("cache")), &file)?;
    Ok(Load::Parsed)
}

/// Run apparmor_parser; a failure is `Command` with its stderr.
fn parser(args: &[&str], cache: Option<&Path>, file: &Path) -> Result<()> {
    let mut c = Command::new("apparmor_parser");
    c.args(args);
    if let Some(d) = cache {
        c.arg(d);
    }
    let out = crate::command::output(c.arg(file)).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::unsupported("AppArmor: apparmor_parser is not installed")
        } else {
            match e.raw_os_error() {
                Some(n) => Error::from_errno(n, "running apparmor_parser"),
                None => Error::new(ErrorKind::Io, format!("running apparmor_parser: {e}")),
            }
        }
    })?;
    if !out.status.success() {
        return Err(Error::new(
            ErrorKind::Command,
            format!(
                "apparmor_parser {} {}: {}",
                args.join(" "),
                file.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(())
}

/// What applying `a` to container `id` will make: the profile and
/// namespace names and the label (or why it is skipped, for mode auto on a
/// host without AppArmor). `None` for mode off. Nothing is loaded yet: the
/// container's state records this before [`load_planned`] runs, so a
/// crash between the two leaves something recovery can unload.
pub(crate) fn plan(a: &AppArmor, id: &str) -> Result<Option<Applied>> {
    let name = a.profile_name(id);
    let file = policy_dir().join(&name);
    let mut applied = Applied {
        profile: name.clone(),
        namespace: name.clone(),
        label: None,
        skipped: None,
        file,
    };
    match (a.mode, crate::HostFeatures::get().apparmor) {
        (Mode::Off, _) => return Ok(None),
        (Mode::Auto, false) => {
            applied.skipped = Some("the host kernel has no AppArmor enabled".into());
            return Ok(Some(applied));
        }
        (Mode::On, false) => {
            return Err(Error::unsupported(
                "AppArmor (apparmor.mode on): the host kernel has no AppArmor enabled",
            ))
        }
        _ => {}
    }
    if let Some(p) = &a.profile {
        // not ours: no namespace, no file, nothing to load or unload
        return Ok(Some(Applied {
            profile: p.clone(),
            namespace: String::new(),
            label: Some(p.clone()),
            skipped: None,
            file: PathBuf::new(),
        }));
    }
    applied.label = Some(format!("{name}//&:{name}:"));
    Ok(Some(applied))
}

/// Load the profile and make the namespace [`plan`] named.
pub(crate) fn load_planned(a: &AppArmor, applied: &Applied) -> Result<()> {
    if applied.label.is_none() {
        return Ok(());
    }
    let name = &applied.profile;
    if applied.namespace.is_empty() {
        // an existing profile: the kernel refuses the exec label if it is
        // not there (ENOENT, named in the child's error). Not looked up in
        // the profile list here: a caller that replaces it (podman does,
        // before each container) can make the list miss it for a moment.
        return Ok(());
    }
    load(&policy_dir(), name, &a.profile_text(name))
        .map_err(|e| e.context(format!("loading AppArmor profile {name}")))?;
    let ns_dir = Path::new(SECURITYFS)
        .join("policy/namespaces")
        .join(&applied.namespace);
    match fs::create_dir(&ns_dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::from_errno(
            e.raw_os_error().unwrap_or(libc::EIO),
            format!("creating AppArmor namespace {}", ns_dir.display()),
        )),
    }
}

/// Remove the namespace and unload the profile (both may be gone).
pub(crate) fn unload(a: &Applied) -> Result<()> {
    if a.label.is_none() || a.namespace.is_empty() {
        return Ok(());
    }
    let ns_dir = Path::new(SECURITYFS)
        .join("policy/namespaces")
        .join(&a.namespace);
    match fs::remove_dir(&ns_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Error::from_errno(
                e.raw_os_error().unwrap_or(libc::EIO),
                format!("removing AppArmor namespace {}", ns_dir.display()),
            ))
        }
    }
    remove_loaded(&a.profile)?;
    let _ = fs::remove_file(&a.file);
    remove_cached(&a.file);
    Ok(())
}

/// Unload profile `name` loaded with [`load`] from `dir` and remove its
/// file and parser cache (all may be gone already).
///
/// ```no_run
/// let dir = vpsos_core::security::apparmor::policy_dir();
/// vpsos_core::security::apparmor::unload_profile(&dir, "vpsos-ct1")?;
/// # Ok::<(), vpsos_core::Error>(())
/// ```
pub fn unload_profile(dir: &Path, name: &str) -> Result<()> {
    remove_loaded(name)?;
    let file = dir.join(name);
    let _ = fs::remove_file(&file);
    remove_cached(&file);
    Ok(())
}

/// Unload `profile` through securityfs (no parser run, no file needed).
/// It is written to `.remove` whatever the profile list says: that list,
/// read while other profiles are being replaced, can miss a loaded one
/// (concurrent creates and deletes left profiles loaded), and the kernel
/// answers ENOENT for a profile that is not loaded.
fn remove_loaded(profile: &str) -> Result<()> {
    match fs::write(format!("{SECURITYFS}/.remove"), profile) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(Error::from_errno(
            e.raw_os_error().unwrap_or(libc::EIO),
            format!("unloading AppArmor profile {profile}"),
        )),
    }
}

/// Remove what `apparmor_parser -W -L <dir>/cache` cached for the profile
/// file `file` (`<dir>/cache/<features hash>/<file name>`): otherwise
/// every container id ever used leaves a compiled profile behind.
fn remove_cached(file: &Path) {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return;
    };
    for e in fs::read_dir(dir.join("cache"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = fs::remove_file(e.path().join(name));
    }
}

#[cfg(test)]
#[path = "apparmor_tests.rs"]
mod tests;
