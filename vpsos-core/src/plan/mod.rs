//! The start plan: everything one clone needs, precomputed by the parent
//! from a [`Config`](crate::Config) or an exec request. C strings, fds, the
//! mount list, masks and the compiled seccomp filter; the child (see
//! `spawn`) only reads it.
//!
//! Data flows one way: config → plan ([`build`], [`rootfs`]) → spawn →
//! container handle.

pub(crate) mod build;
pub(crate) mod rootfs;

use libc::{c_char, c_int, c_ulong};
use std::ffi::CString;

/// One mount the child performs, target relative to the rootfs.
#[derive(Debug)]
pub(crate) struct MountOp {
    pub source: Option<CString>,
    pub target: CString,
    pub fstype: Option<CString>,
    pub flags: c_ulong,
    pub data: Option<CString>,
    /// Create the destination as an empty file (file bind mounts).
    pub target_is_file: bool,
    /// For binds with options: remount with these MS_* flags after binding.
    pub remount_flags: c_ulong,
    /// MS_PRIVATE / MS_SLAVE / MS_SHARED (| MS_REC) to set once mounted; 0: keep.
    pub propagation: c_ulong,
    /// What the parent calls it in error messages (`/proc (proc)`).
    pub label: String,
}

/// A device node in the container's /dev.
#[derive(Debug)]
pub(crate) struct DevNode {
    /// Name under /dev (`null`).
    pub name: CString,
    /// Host node to bind from under a user namespace (`/dev/null`).
    pub host: CString,
    /// `S_IFCHR | 0666`.
    pub mode: u32,
    /// Device number.
    pub dev: u64,
}

/// The rootfs part of a plan.
#[derive(Debug, Default)]
pub(crate) struct RootfsPlan {
    pub rootfs: CString,
    /// MS_PRIVATE / MS_SLAVE / MS_SHARED, applied recursively to /.
    pub propagation: c_ulong,
    /// Mounts made before the device nodes (/proc, /sys, /dev, ...).
    pub base_mounts: Vec<MountOp>,
    pub devices: Vec<DevNode>,
    /// Bind host nodes instead of mknod (always under a user namespace).
    pub bind_devices: bool,
    /// (target, link name under /dev)
    pub dev_symlinks: Vec<(CString, CString)>,
    /// Host pty slaves: the first is bound at /dev/console, the others at
    /// /dev/tty1, /dev/tty2, ...
    pub terminals: Vec<CString>,
    /// The config's own mounts (granted device nodes first).
    pub mounts: Vec<MountOp>,
    /// The cgroup filesystem(s) at /sys/fs/cgroup, mounted once the child
    /// is in its cgroup namespace.
    pub cgroup_mounts: Vec<MountOp>,
    /// Paths relative to the new root.
    pub masked: Vec<CString>,
    /// Bound onto themselves before `readonly` is applied, so they stay
    /// writable below a read-only parent (/proc/sys/net under /proc/sys).
    pub writable: Vec<CString>,
    pub readonly: Vec<CString>,
    /// A host file to bind over /proc/sys/kernel/random/boot_id: a boot
    /// id of the container's own. A path, not an fd: a bind's source must
    /// be a mount of the child's own (copied) namespace.
    pub boot_id: Option<CString>,
    pub readonly_rootfs: bool,
}

impl RootfsPlan {
    /// The label of mount `index` in base_mounts ++ mounts.
    pub fn mount_label(&self, index: usize) -> &str {
        self.base_mounts
            .iter()
            .chain(&self.mounts)
            .chain(&self.cgroup_mounts)
            .nth(index)
            .map(|m| m.label.as_str())
            .unwrap_or("?")
    }
}

/// Whether the child is a container's init or a process exec'd into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Init,
    Tenant,
}

/// Time namespace handling for a new time namespace.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TimePlan {
    None,
    /// Unshare, write these offsets (None: zero uptime), enter.
    New(Option<(i64, i64)>),
}

/// The process part: identical for init and tenants.
#[derive(Debug, Default)]
pub(crate) struct ProcessPlan {
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    /// Candidate paths for argv[0] (PATH lookup done ahead).
    pub exec_paths: Vec<CString>,
    pub cwd: CString,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<libc::gid_t>,
    /// bounding, effective, permitted, inheritable, ambient
    pub caps: Option<[u64; 5]>,
    pub last_cap: u32,
    pub no_new_privs: bool,
    pub umask: Option<u32>,
    /// fds to become 0, 1, 2 (-1: keep the inherited one).
    pub stdio: [c_int; 3],
    /// A pty slave to make the controlling terminal and 0, 1, 2.
    pub tty: c_int,
    /// Make the terminal inside instead: a pty of the container's own
    /// devpts (/dev/ptmx), its master handed to the parent (`Phase::Pty`).
    pub pty_inside: bool,
    /// fds to become 3, 4, ... in the container.
    pub extra_fds: Vec<c_int>,
    /// The seccomp filter to load before exec: as the last step before
    /// the start handshake, so that a notified syscall of the setup can
    /// never wait for a listener nobody holds yet.
    pub seccomp: Option<crate::security::seccomp::CompiledFilter>,
    /// Load the filter before the user switch instead: the process keeps
    /// no capability set of its own to hold CAP_SYS_ADMIN for a late load
    /// and has no no_new_privs.
    pub seccomp_early: bool,
    /// Keep CAP_SYS_ADMIN (permitted and effective) past the user switch
    /// until the filter is loaded, then set the final capabilities: the
    /// final set lacks it and there is no no_new_privs.
    pub admin_until_seccomp: bool,
    /// `exec <label>`, written to the AppArmor exec attribute before exec.
    pub apparmor_exec: Option<std::ffi::CString>,
}

/// The whole plan for one clone.
#[derive(Debug)]
pub(crate) struct ChildPlan {
    pub role: Role,
    /// Namespaces clone3 creates directly (fast path).
    pub clone_flags: u64,
    /// (fd, nstype) to setns in order; nstype 0 for a pidfd with several.
    pub joins: Vec<(c_int, c_int)>,
    /// Namespaces unshare(2) creates after the joins (staged path).
    pub unshare_flags: c_int,
    /// The child unshares a user namespace and asks for its maps.
    pub wait_maps: bool,
    /// Fork after setup so the process enters its new/joined PID namespace.
    pub fork_after: bool,
    /// setresuid/gid(0) once the maps are written (new user namespace).
    pub become_root: bool,
    /// unshare a cgroup namespace once the parent placed us in the cgroup.
    pub cgroupns: bool,
    /// The parent makes and joins our cgroup while we set up the rootfs;
    /// wait for MSG_CGROUP before the cgroup namespace and exec.
    pub wait_cgroup: bool,
    pub time: TimePlan,
    pub hostname: Option<CString>,
    pub domainname: Option<CString>,
    /// Bring `lo` up (a new network namespace).
    pub lo_up: bool,
    pub rootfs: Option<RootfsPlan>,
    pub process: ProcessPlan,
    /// O_PATH fd of the exec fifo (reopened read-write by the init, which
    /// then blocks reading it until `start` writes); -1: wait for
    /// `Phase::Start` on the socket.
    pub fifo_fd: c_int,
    /// A file to write a failure report to (the init's start report, read
    /// by whoever starts it); -1 for none.
    pub report_fd: c_int,
    /// The session keyring to join (by name: one per container).
    pub keyring: Option<CString>,
    /// Once its mounts are made, ask the parent for a copy of the mount
    /// namespace the container's user namespace does not own, and move
    /// into it (`Phase::LockMounts`): the masks cannot be undone.
    pub lock_mounts: bool,
    /// Die with the parent (the monitor) until ready; off when the parent
    /// exits at once (`monitor::Mode::Detached`).
    pub die_with_parent: bool,
    /// (/proc/sys file, value) written after pivot_root, before /proc/sys
    /// turns read-only (init only).
    pub sysctl: Vec<(CString, CString)>,
    /// `personality(2)` before the exec.
    pub personality: Option<libc::c_ulong>,
    /// Stop before pivot_root for the create hooks (`Phase::Hooks`).
    pub create_hooks: bool,
}

impl ChildPlan {
    /// Every fd the child uses, sorted: the rest are closed at its start.
    pub fn fds_in_use(&self, sync_fd: c_int) -> Vec<c_int> {
        let p = &self.process;
        let mut v: Vec<c_int> = self
            .joins
            .iter()
            .map(|j| j.0)
            .chain(p.stdio.iter().copied())
            .chain(p.extra_fds.iter().copied())
            .chain([p.tty, self.fifo_fd, self.report_fd, sync_fd])
            .filter(|fd| *fd >= 0)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// A NULL-terminated pointer array over C strings (built in the parent).
pub(crate) fn ptr_array(v: &[CString]) -> Vec<*const c_char> {
    v.iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}
