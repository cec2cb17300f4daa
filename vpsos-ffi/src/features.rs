//! Versions, the host's features and the API's extensions by name, and
//! the names of the stages a container's setup can fail in.

use crate::error::quiet;
use std::ffi::{c_char, CStr};
use vpsos_core::{HostFeatures, Stage};

/// The major version of this header (a new major is a new soname).
pub const VPSOS_VERSION_MAJOR: u32 = 0;
/// The minor version of this header.
pub const VPSOS_VERSION_MINOR: u32 = 1;
/// The patch version of this header.
pub const VPSOS_VERSION_PATCH: u32 = 0;

/// The library's version, `"MAJOR.MINOR.PATCH"` (static). Compare with
/// the `VPSOS_VERSION_*` macros to see what the header was built against.
///
/// ```c
/// printf("libvpsos %s\n", vpsos_version());
/// ```
#[no_mangle]
pub extern "C" fn vpsos_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

/// API additions since 0.1.0, by name: test for one with
/// `vpsos_has_api_extension` instead of comparing versions.
const API_EXTENSIONS: &[&str] = &[
    "runtime-recover",
    "container-console-attach",
    "container-tty-attach",
    "container-console-log",
    "container-exec-json",
    "container-seccomp-listener",
    "container-interfaces",
    "container-mounts",
    "container-devices",
    "idrange",
    "dir-storage",
    "zfs",
    "zfs-streams",
    "export-import",
];

/// Whether this host has a feature: `"user-ns"`, `"time-ns"`,
/// `"cgroup-ns"`, `"cgroup1"` (v1 controllers, legacy or hybrid),
/// `"cgroup2"` (unified only), `"apparmor"`, `"idmapped-mounts"`,
/// `"seccomp"`, `"zfs"` (module loaded and `zfs` installed), `"clone3"`,
/// `"openat2"`, `"close-range"`, `"close-range-cloexec"`, `"pidfd-setns"`,
/// `"spawn"` (everything starting a container needs). An unknown name is
/// false. `vpsos_features` lists the names.
///
/// ```c
/// if (!vpsos_has_feature("cgroup2")) puts("cgroup v1 host");
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_has_feature(name: *const c_char) -> bool {
    if name.is_null() {
        return false;
    }
    quiet(false, || {
        unsafe { CStr::from_ptr(name) }
            .to_str()
            .is_ok_and(|n| HostFeatures::get().has(n))
    })
}

/// Whether this library has an API extension, by name (as liblxc's
/// `lxc_has_api_extension`): `"runtime-recover"`, `"container-exec-json"`,
/// `"zfs-streams"`, … (`vpsos_api_extensions` lists them).
///
/// ```c
/// if (vpsos_has_api_extension("zfs-streams")) { /* vpsos_zfs_send exists */ }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_has_api_extension(name: *const c_char) -> bool {
    if name.is_null() {
        return false;
    }
    quiet(false, || {
        unsafe { CStr::from_ptr(name) }
            .to_str()
            .is_ok_and(|n| API_EXTENSIONS.contains(&n))
    })
}

/// The names `vpsos_has_feature` knows, NULL-terminated (static: do not free).
///
/// ```c
/// for (const char *const *f = vpsos_features(); *f; f++)
///     printf("%s: %d\n", *f, vpsos_has_feature(*f));
/// ```
#[no_mangle]
pub extern "C" fn vpsos_features() -> *const *const c_char {
    static NAMES: StaticStrv = StaticStrv::new();
    NAMES.get(|| HostFeatures::NAMES.iter().map(|n| n.to_string()).collect())
}

/// The API extensions of this library, NULL-terminated (static: do not free).
///
/// ```c
/// for (const char *const *x = vpsos_api_extensions(); *x; x++) puts(*x);
/// ```
#[no_mangle]
pub extern "C" fn vpsos_api_extensions() -> *const *const c_char {
    static NAMES: StaticStrv = StaticStrv::new();
    NAMES.get(|| API_EXTENSIONS.iter().map(|n| n.to_string()).collect())
}

/// A NULL-terminated array of C strings made once from a list of names.
struct StaticStrv(std::sync::OnceLock<Vec<Ptr>>);
#[repr(transparent)]
#[allow(dead_code)] // read through the array pointer
struct Ptr(*const c_char);
// SAFETY: the pointers are to leaked, never-freed, immutable strings
unsafe impl Send for Ptr {}
unsafe impl Sync for Ptr {}

impl StaticStrv {
    const fn new() -> StaticStrv {
        StaticStrv(std::sync::OnceLock::new())
    }

    /// The array, made from `names()` the first time.
    fn get(&self, names: impl FnOnce() -> Vec<String>) -> *const *const c_char {
        let v = self.0.get_or_init(|| {
            let mut v: Vec<Ptr> = names()
                .into_iter()
                .map(|n| {
                    let s = std::ffi::CString::new(n).expect("names have no NUL");
                    Ptr(Box::leak(s.into_boxed_c_str()).as_ptr())
                })
                .collect();
            v.push(Ptr(std::ptr::null()));
            v
        });
        v.as_ptr() as *const *const c_char
    }
}

/// Setting up the container's process failed at the sync with its parent.
pub const VPSOS_STAGE_SYNC: i32 = 0;
/// … joining a namespace.
pub const VPSOS_STAGE_JOIN_NAMESPACE: i32 = 1;
/// … unsharing namespaces.
pub const VPSOS_STAGE_UNSHARE: i32 = 2;
/// … forking into the new PID namespace.
pub const VPSOS_STAGE_FORK: i32 = 3;
/// … setting the time namespace's offsets.
pub const VPSOS_STAGE_TIME_NAMESPACE: i32 = 4;
/// … entering the cgroup namespace.
pub const VPSOS_STAGE_CGROUP_NAMESPACE: i32 = 5;
/// … preparing the root filesystem.
pub const VPSOS_STAGE_ROOTFS_PREPARE: i32 = 6;
/// … mounting (the error's field names the mount).
pub const VPSOS_STAGE_MOUNT: i32 = 7;
/// … making device nodes.
pub const VPSOS_STAGE_DEVICES: i32 = 8;
/// … setting up the console.
pub const VPSOS_STAGE_CONSOLE: i32 = 9;
/// … pivot_root.
pub const VPSOS_STAGE_PIVOT_ROOT: i32 = 10;
/// … masking paths or making them read-only.
pub const VPSOS_STAGE_MASK_PATHS: i32 = 11;
/// … setting the hostname.
pub const VPSOS_STAGE_HOSTNAME: i32 = 12;
/// … bringing up loopback.
pub const VPSOS_STAGE_LOOPBACK: i32 = 13;
/// … waiting on the exec fifo.
pub const VPSOS_STAGE_EXEC_FIFO: i32 = 14;
/// … switching to the process's user.
pub const VPSOS_STAGE_SET_USER: i32 = 15;
/// … setting capabilities.
pub const VPSOS_STAGE_CAPABILITIES: i32 = 16;
/// … setting rlimits, umask, oom_score_adj, no_new_privs.
pub const VPSOS_STAGE_PROCESS_ATTRS: i32 = 17;
/// … loading the seccomp filter.
pub const VPSOS_STAGE_SECCOMP: i32 = 18;
/// … changing to the AppArmor profile.
pub const VPSOS_STAGE_APPARMOR: i32 = 19;
/// … executing the program (not found, not executable).
pub const VPSOS_STAGE_EXEC: i32 = 20;
/// … joining a session keyring of its own.
pub const VPSOS_STAGE_KEYRING: i32 = 21;
/// … locking the mounts against the container.
pub const VPSOS_STAGE_LOCK_MOUNTS: i32 = 22;
/// … writing its sysctls or setting its personality.
pub const VPSOS_STAGE_SYSCTL: i32 = 23;

/// A stage's name (`"mount"`, `"pivot_root"`, …; `"unknown"` for -1 or a
/// number this version does not know). Static.
///
/// ```c
/// if (vpsos_error_stage(e) >= 0) fprintf(stderr, "failed at %s\n", vpsos_stage_name(vpsos_error_stage(e)));
/// ```
#[no_mangle]
pub extern "C" fn vpsos_stage_name(stage: i32) -> *const c_char {
    static NAMES: StaticStrv = StaticStrv::new();
    let table = NAMES.get(|| {
        (0..)
            .map_while(|n| Stage::from_code(n).map(|s| s.to_string()))
            .collect()
    });
    match u32::try_from(stage).ok().and_then(Stage::from_code) {
        Some(s) => unsafe { *table.add(s.code() as usize) },
        None => c"unknown".as_ptr(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_macros_are_the_crate_version() {
        let v = format!("{VPSOS_VERSION_MAJOR}.{VPSOS_VERSION_MINOR}.{VPSOS_VERSION_PATCH}");
        assert_eq!(v, env!("CARGO_PKG_VERSION"));
        let s = unsafe { CStr::from_ptr(vpsos_version()) };
        assert_eq!(s.to_str().unwrap(), v);
    }

    #[test]
    fn stage_constants_and_names() {
        assert_eq!(
            Stage::from_code(VPSOS_STAGE_LOCK_MOUNTS as u32),
            Some(Stage::LockMounts)
        );
        assert_eq!(
            Stage::from_code(VPSOS_STAGE_MOUNT as u32),
            Some(Stage::Mount)
        );
        assert_eq!(
            Stage::from_code(VPSOS_STAGE_SYSCTL as u32),
            Some(Stage::Sysctl)
        );
        assert!(Stage::from_code(VPSOS_STAGE_SYSCTL as u32 + 1).is_none());
        let n = unsafe { CStr::from_ptr(vpsos_stage_name(VPSOS_STAGE_PIVOT_ROOT)) };
        assert_eq!(n.to_str().unwrap(), "pivot_root");
        let n = unsafe { CStr::from_ptr(vpsos_stage_name(-1)) };
        assert_eq!(n.to_str().unwrap(), "unknown");
    }

    #[test]
    fn feature_names() {
        unsafe {
            assert!(vpsos_has_feature(c"seccomp".as_ptr()));
            assert!(!vpsos_has_feature(c"no-such-thing".as_ptr()));
            assert!(!vpsos_has_feature(std::ptr::null()));
            assert!(vpsos_has_api_extension(c"zfs-streams".as_ptr()));
            assert!(!vpsos_has_api_extension(c"time-travel".as_ptr()));
            let mut n = 0;
            let mut p = vpsos_features();
            while !(*p).is_null() {
                n += 1;
                p = p.add(1);
            }
            assert_eq!(n, HostFeatures::NAMES.len());
        }
    }
}
