//! What the host offers, detected once per process.

use serde::Serialize;
use std::path::Path;
use std::sync::OnceLock;

/// How cgroups are mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupMode {
    /// Only cgroup v1 hierarchies.
    Legacy,
    /// v1 controllers plus an (empty) cgroup2 at /sys/fs/cgroup/unified.
    Hybrid,
    /// Pure cgroup v2 at /sys/fs/cgroup.
    Unified,
    /// No cgroup filesystem found.
    None,
}

/// Host features relevant to vpsos, detected once.
///
/// ```
/// let f = vpsos_core::HostFeatures::get();
/// println!("cgroups: {:?}, user namespaces: {}", f.cgroup_mode, f.user_namespaces);
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct HostFeatures {
    /// cgroup layout.
    pub cgroup_mode: CgroupMode,
    /// User namespaces can be created.
    pub user_namespaces: bool,
    /// Time namespaces exist (Linux 5.6+).
    pub time_namespaces: bool,
    /// Cgroup namespaces exist.
    pub cgroup_namespaces: bool,
    /// AppArmor is enabled in the kernel.
    pub apparmor: bool,
    /// `mount_setattr(MOUNT_ATTR_IDMAP)` exists (Linux 5.12+).
    pub idmapped_mounts: bool,
    /// `clone3` exists (Linux 5.3+).
    pub clone3: bool,
    /// `openat2` exists (Linux 5.6+).
    pub openat2: bool,
    /// `close_range` exists (Linux 5.9+): how a container's process drops
    /// every fd of the host's it was not given.
    pub close_range: bool,
    /// `close_range` takes `CLOSE_RANGE_CLOEXEC` (Linux 5.11+): how the
    /// last step before exec makes sure no fd but the process's own
    /// crosses it.
    pub close_range_cloexec: bool,
    /// `setns` takes a pidfd (Linux 5.8+): how an exec joins all of a
    /// running container's namespaces at once, race-free.
    pub pidfd_setns: bool,
    /// The kernel release (`uname -r`).
    pub kernel: String,
}

static FEATURES: OnceLock<HostFeatures> = OnceLock::new();

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

impl HostFeatures {
    /// The features of this host (detected on first call, then cached).
    pub fn get() -> &'static HostFeatures {
        FEATURES.get_or_init(HostFeatures::detect)
    }

    /// Look at the host now.
    pub fn detect() -> HostFeatures {
        let kernel = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        HostFeatures {
            cgroup_mode: cgroup_mode(),
            user_namespaces: Path::new("/proc/self/ns/user").exists()
                && read_u64("/proc/sys/user/max_user_namespaces").unwrap_or(1) > 0,
            time_namespaces: Path::new("/proc/self/ns/time").exists(),
            cgroup_namespaces: Path::new("/proc/self/ns/cgroup").exists(),
            apparmor: std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
                .map(|s| s.trim() == "Y")
                .unwrap_or(false),
            idmapped_mounts: syscall_exists(libc::SYS_mount_setattr),
            clone3: syscall_exists(libc::SYS_clone3),
            openat2: syscall_exists(libc::SYS_openat2),
            close_range: close_range_takes(0),
            close_range_cloexec: close_range_takes(libc::CLOSE_RANGE_CLOEXEC),
            pidfd_setns: kernel_at_least(&kernel, (5, 8)),
            kernel,
        }
    }

    /// `Unsupported` naming what this host lacks for starting containers
    /// and running processes in them safely; checked before anything is
    /// made, so an old kernel fails closed instead of, say, letting a
    /// host fd through to the container.
    ///
    /// ```
    /// vpsos_core::HostFeatures::get().require_spawn().unwrap(); // Linux 5.11+
    /// ```
    pub fn require_spawn(&self) -> crate::Result<()> {
        let missing = [
            (self.clone3, "clone3 (Linux 5.3+)"),
            (self.openat2, "openat2 (Linux 5.6+)"),
            (self.pidfd_setns, "setns on a pidfd (Linux 5.8+)"),
            (self.close_range, "close_range (Linux 5.9+)"),
            (
                self.close_range_cloexec,
                "close_range with CLOSE_RANGE_CLOEXEC (Linux 5.11+)",
            ),
        ];
        match missing.iter().find(|(have, _)| !have) {
            Some((_, what)) => Err(crate::Error::unsupported(format!(
                "{what}, on kernel {}",
                self.kernel
            ))),
            None => Ok(()),
        }
    }

    /// The names [`has`](HostFeatures::has) knows, as the C, Ruby and
    /// Python APIs give them.
    pub const NAMES: &'static [&'static str] = &[
        "user-ns",
        "time-ns",
        "cgroup-ns",
        "cgroup1",
        "cgroup2",
        "apparmor",
        "idmapped-mounts",
        "seccomp",
        "zfs",
        "clone3",
        "openat2",
        "close-range",
        "close-range-cloexec",
        "pidfd-setns",
        "spawn",
    ];

    /// Whether the host has the named feature: one of
    /// [`NAMES`](HostFeatures::NAMES) (`_` may stand for `-`; the field
    /// names `user_namespaces`, `time_namespaces`, `cgroup_namespaces`,
    /// `cgroup_v1`, `cgroup_v2` work too). `cgroup1` is v1 controllers
    /// (legacy or hybrid), `cgroup2` a unified host, `zfs` the module
    /// loaded and `zfs` installed, `spawn` everything starting a container
    /// needs. An unknown name is false.
    ///
    /// ```
    /// let f = vpsos_core::HostFeatures::get();
    /// assert!(f.has("seccomp"));
    /// assert_eq!(f.has("user-ns"), f.has("user_namespaces"));
    /// assert!(!f.has("warp-drive"));
    /// ```
    pub fn has(&self, name: &str) -> bool {
        match name.replace('_', "-").as_str() {
            "user-ns" | "user-namespaces" => self.user_namespaces,
            "time-ns" | "time-namespaces" => self.time_namespaces,
            "cgroup-ns" | "cgroup-namespaces" => self.cgroup_namespaces,
            "cgroup2" | "cgroup-v2" => self.cgroup_mode == CgroupMode::Unified,
            "cgroup1" | "cgroup-v1" => {
                matches!(self.cgroup_mode, CgroupMode::Legacy | CgroupMode::Hybrid)
            }
            "apparmor" => self.apparmor,
            "idmapped-mounts" => self.idmapped_mounts,
            "seccomp" => true, // libseccomp is linked in
            "zfs" => crate::storage::zfs::Zfs::new().is_ok(),
            "clone3" => self.clone3,
            "openat2" => self.openat2,
            "close-range" => self.close_range,
            "close-range-cloexec" => self.close_range_cloexec,
            "pidfd-setns" => self.pidfd_setns,
            "spawn" => self.require_spawn().is_ok(),
            _ => false,
        }
    }
}

fn cgroup_mode() -> CgroupMode {
    let magic = |p: &str| nix::sys::statfs::statfs(p).map(|s| s.filesystem_type().0);
    match magic("/sys/fs/cgroup") {
        Ok(CGROUP2_SUPER_MAGIC) => CgroupMode::Unified,
        Ok(_) => {
            if magic("/sys/fs/cgroup/unified") == Ok(CGROUP2_SUPER_MAGIC) {
                CgroupMode::Hybrid
            } else if Path::new("/sys/fs/cgroup/memory").exists()
                || Path::new("/sys/fs/cgroup/pids").exists()
            {
                CgroupMode::Legacy
            } else {
                CgroupMode::None
            }
        }
        Err(_) => CgroupMode::None,
    }
}

fn read_u64(p: &str) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// Whether `close_range` with `flags` works: on fd `u32::MAX` alone, which
/// no process has open, so nothing is closed or changed.
fn close_range_takes(flags: libc::c_uint) -> bool {
    // SAFETY: a range holding no open fd.
    unsafe { libc::syscall(libc::SYS_close_range, u32::MAX, u32::MAX, flags) == 0 }
}

/// Whether `release` (`uname -r`, "6.1.0-27-amd64") is at least `want`.
fn kernel_at_least(release: &str, want: (u32, u32)) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= want,
        _ => false,
    }
}

/// Call the syscall with arguments it must reject; ENOSYS means it is missing.
fn syscall_exists(nr: libc::c_long) -> bool {
    // SAFETY: every probed syscall fails on a -1 fd / null pointers without side effects.
    let r = unsafe { libc::syscall(nr, -1, 0, 0, 0, 0) };
    !(r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS))
}

#[cfg(test)]
mod tests {
    #[test]
    fn detects_this_host() {
        let f = super::HostFeatures::get();
        assert!(f.clone3, "the kernel has clone3");
        assert!(!f.kernel.is_empty());
        assert!(!f.has("nonsense"));
        for n in super::HostFeatures::NAMES {
            assert_eq!(f.has(n), f.has(&n.replace('-', "_")), "{n}");
        }
        assert!(f.has("spawn") && f.has("clone3") && f.has("close-range"));
        assert!(f.close_range && f.close_range_cloexec && f.pidfd_setns);
        f.require_spawn().unwrap();
    }

    #[test]
    fn kernel_versions_compare() {
        use super::kernel_at_least as k;
        assert!(k("6.1.0-27-amd64", (5, 8)));
        assert!(k("5.8.0", (5, 8)));
        assert!(!k("5.7.19", (5, 8)));
        assert!(!k("4.19.0-21-amd64", (5, 8)));
        assert!(!k("", (5, 8)));
    }
}
