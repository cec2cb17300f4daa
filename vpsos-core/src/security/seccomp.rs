//! Seccomp profiles: the typed description, the default for system
//! containers, and import from an OCI `linux.seccomp` section.
//!
//! A profile is compiled to BPF in the parent (with libseccomp, once per
//! distinct profile: see [`compile`]) and the child loads the program with
//! a raw `seccomp(2)` just before it execs.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

pub use super::seccomp_bpf::{cache_stats, compile, CacheStats, CompiledFilter, CACHE_CAPACITY};
pub use super::seccomp_notify::Notification;

/// What the kernel does when a rule matches.
///
/// ```
/// use vpsos_core::security::seccomp::Action;
/// let a: Action = serde_json::from_str(r#"{"errno": 1}"#).unwrap();
/// assert_eq!(a, Action::Errno(libc::EPERM as u16));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Let the call through.
    Allow,
    /// Fail the call with this errno.
    Errno(u16),
    /// Kill the whole process.
    KillProcess,
    /// Kill the calling thread.
    KillThread,
    /// Send SIGSYS.
    Trap,
    /// Let the call through and log it.
    Log,
    /// Ask the supervisor holding the listener fd
    /// ([`Container::take_seccomp_listener`](crate::Container::take_seccomp_listener)).
    Notify,
    /// Notify a ptrace tracer with this value.
    Trace(u16),
}

/// How an argument is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmpOp {
    /// `arg != value`
    Ne,
    /// `arg < value`
    Lt,
    /// `arg <= value`
    Le,
    /// `arg == value`
    Eq,
    /// `arg >= value`
    Ge,
    /// `arg > value`
    Gt,
    /// `arg & value == value_two`
    MaskedEq,
}

/// A condition on one syscall argument.
///
/// ```
/// use vpsos_core::security::seccomp::{ArgCondition, CmpOp};
/// // umount2(target, flags) with MNT_FORCE set
/// let c = ArgCondition::masked_eq(1, libc::MNT_FORCE as u64, libc::MNT_FORCE as u64);
/// assert_eq!(c.op, CmpOp::MaskedEq);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgCondition {
    /// Argument index, 0 to 5.
    pub index: u8,
    /// Comparison.
    pub op: CmpOp,
    /// The value (the mask for `MaskedEq`).
    pub value: u64,
    /// For `MaskedEq`: what the masked argument must equal.
    #[serde(default)]
    pub value_two: u64,
}

impl ArgCondition {
    /// `arg[index] op value`.
    pub fn new(index: u8, op: CmpOp, value: u64) -> ArgCondition {
        ArgCondition {
            index,
            op,
            value,
            value_two: 0,
        }
    }

    /// `arg[index] & mask == expect`.
    pub fn masked_eq(index: u8, mask: u64, expect: u64) -> ArgCondition {
        ArgCondition {
            index,
            op: CmpOp::MaskedEq,
            value: mask,
            value_two: expect,
        }
    }
}

/// One rule: these syscalls, under these conditions (all must hold), get
/// this action.
///
/// ```
/// use vpsos_core::security::seccomp::{Action, SyscallRule};
/// let r = SyscallRule::new(["kexec_load", "kexec_file_load"], Action::Errno(1));
/// assert_eq!(r.names.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyscallRule {
    /// Syscall names as libseccomp knows them.
    pub names: Vec<String>,
    /// What happens.
    pub action: Action,
    /// Argument conditions, all of which must match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<ArgCondition>,
}

impl SyscallRule {
    /// A rule without conditions.
    pub fn new<I, S>(names: I, action: Action) -> SyscallRule
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SyscallRule {
            names: names.into_iter().map(Into::into).collect(),
            action,
            args: vec![],
        }
    }

    /// Add an argument condition.
    pub fn arg(mut self, c: ArgCondition) -> SyscallRule {
        self.args.push(c);
        self
    }
}

/// A whole seccomp profile.
///
/// ```
/// use vpsos_core::security::seccomp::{Action, Profile, SyscallRule};
/// let p = Profile::new(Action::Allow)
///     .rule(SyscallRule::new(["ptrace"], Action::Errno(libc::EPERM as u16)));
/// let f = vpsos_core::security::seccomp::compile(&p)?;
/// assert!(f.instructions() > 0);
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The action for syscalls no rule matches.
    pub default_action: Action,
    /// Architectures besides the native one whose syscalls the filter
    /// covers (libseccomp names: `x86`, `x32`, `x86_64`, `aarch64`, ...).
    /// Listing the compat ones matters: a filter without them lets a
    /// 32-bit call through whatever the rules say.
    #[serde(default)]
    pub architectures: Vec<String>,
    /// The rules, in order.
    #[serde(default)]
    pub syscalls: Vec<SyscallRule>,
    /// Log every action but allow (`SECCOMP_FILTER_FLAG_LOG`).
    #[serde(default)]
    pub log: bool,
    /// Syscall names [`Profile::from_oci`] left out because this
    /// libseccomp does not know them (as runc and crun skip them). A
    /// record for the user, shown in the container's state
    /// ([`State::seccomp_skipped`](crate::container::State::seccomp_skipped));
    /// the filter does not depend on it. In a profile of vpsos's own an
    /// unknown name is an error instead ([`Profile::validate`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_syscalls: Vec<String>,
}

/// Syscalls the system-container profile refuses with EPERM, and why.
/// The names cover every ABI the profile filters (x86_64, and on it the
/// x86 and x32 compat ABIs): libseccomp puts each name's number for each
/// ABI into the program, and the 32-bit-only names (`stime`,
/// `clock_settime64`, `clock_adjtime64`, `vm86`) get a rule on x86 alone.
///
/// | syscalls | why |
/// |---|---|
/// | `kexec_load`, `kexec_file_load` | boot another kernel on the host |
/// | `init_module`, `finit_module`, `delete_module`, `create_module`, `query_module`, `get_kernel_syms` | load or remove host kernel code |
/// | `open_by_handle_at` | opens files by handle, around mount boundaries (the 2014 "shocker" escape) |
/// | `iopl`, `ioperm` | raw port I/O |
/// | `swapon`, `swapoff` | host memory management |
/// | `acct` | host-wide process accounting |
/// | `settimeofday`, `stime`, `clock_settime`, `clock_settime64`, `clock_adjtime`, `clock_adjtime64`, `adjtimex` | the realtime clock is the host's: setting it is a host-wide operation. The `*64` calls are the x86 ABI's 64-bit-time variants, a way around `clock_settime` there. `adjtimex` and `clock_adjtime` also read the clock's state, but their argument is a pointer seccomp cannot look into; glibc (since 2.32) reads through `clock_adjtime`, which this list always refused, so reads already fail: systemd then takes the clock as not synchronised |
/// | `lookup_dcookie`, `uselib`, `_sysctl`, `nfsservctl`, `vm86`, `vm86old` | obsolete, and attack surface |
/// | `bpf`, `perf_event_open` | kernel attack surface and host information; systemd copes without them |
/// | `fanotify_init` | watches of host mounts |
/// | `io_uring_setup`, `io_uring_enter`, `io_uring_register` | a large kernel attack surface with a long record of privilege escalations, whose operations also bypass seccomp (they are not syscalls); Docker's default blocks it since 2023 (moby 25), ChromeOS and Android do too. EPERM is what a host with `kernel.io_uring_disabled` answers, so liburing users fall back to plain syscalls; systemd 252 does not use it |
///
/// ```
/// use vpsos_core::security::seccomp::SYSTEM_CONTAINER_DENIED;
/// assert!(SYSTEM_CONTAINER_DENIED.contains(&"clock_settime64"));
/// assert!(SYSTEM_CONTAINER_DENIED.contains(&"io_uring_setup"));
/// ```
pub const SYSTEM_CONTAINER_DENIED: [&str; 33] = [
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "query_module",
    "get_kernel_syms",
    "open_by_handle_at",
    "iopl",
    "ioperm",
    "swapon",
    "swapoff",
    "acct",
    "settimeofday",
    "stime",
    "clock_settime",
    "clock_settime64",
    "clock_adjtime",
    "clock_adjtime64",
    "adjtimex",
    "lookup_dcookie",
    "uselib",
    "_sysctl",
    "nfsservctl",
    "vm86",
    "vm86old",
    "bpf",
    "perf_event_open",
    "fanotify_init",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
];

/// `userfaultfd(2)`'s flag for a descriptor that handles faults of user
/// space only (Linux 5.11): the kind the system-container profile lets
/// through.
///
/// ```
/// use vpsos_core::security::seccomp::{ArgCondition, Profile, UFFD_USER_MODE_ONLY};
/// let p = Profile::system_container();
/// let r = p.syscalls.iter().find(|r| r.names == ["userfaultfd"]).unwrap();
/// // refused when the flag is clear
/// assert_eq!(r.args, [ArgCondition::masked_eq(0, UFFD_USER_MODE_ONLY, 0)]);
/// ```
pub const UFFD_USER_MODE_ONLY: u64 = 1;

/// Syscalls the system-container profile answers with ENOSYS, so that
/// callers fall back as on an older kernel: the kernel keyring is not
/// namespaced (LXC does the same; systemd copes).
pub const SYSTEM_CONTAINER_ENOSYS: [&str; 3] = ["keyctl", "add_key", "request_key"];

impl Profile {
    /// A profile with no rules.
    pub fn new(default_action: Action) -> Profile {
        Profile {
            default_action,
            architectures: vec![],
            syscalls: vec![],
            log: false,
            skipped_syscalls: vec![],
        }
    }

    /// The syscall names an OCI import skipped (unknown to this
    /// libseccomp); empty for a profile of vpsos's own.
    ///
    /// ```
    /// let json = r#"{"defaultAction": "SCMP_ACT_ALLOW",
    ///   "syscalls": [{"names": ["getcpu", "no_such_call"], "action": "SCMP_ACT_ERRNO"}]}"#;
    /// let oci: oci_spec::runtime::LinuxSeccomp = serde_json::from_str(json).unwrap();
    /// let p = vpsos_core::security::seccomp::Profile::from_oci(&oci)?;
    /// assert_eq!(p.skipped_syscalls(), ["no_such_call"]);
    /// assert_eq!(p.syscalls[0].names, ["getcpu"]);
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped_syscalls
    }

    /// Add a rule.
    pub fn rule(mut self, r: SyscallRule) -> Profile {
        self.syscalls.push(r);
        self
    }

    /// The default for system containers: everything a distribution's init
    /// needs (mount, pivot_root, unshare, setns, reboot of its PID
    /// namespace, ptrace inside) is allowed; [`SYSTEM_CONTAINER_DENIED`] fail
    /// with EPERM, [`SYSTEM_CONTAINER_ENOSYS`] with ENOSYS, and `umount2`
    /// with `MNT_FORCE` with EPERM (a forced unmount can pull a filesystem
    /// from under the host and other tenants: LXC refuses it too).
    /// `userfaultfd` without [`UFFD_USER_MODE_ONLY`] fails with EPERM: a
    /// descriptor that handles the kernel's own faults lets a process
    /// stall the kernel in the middle of a copy from user memory, the
    /// classic way to win a kernel race in an exploit. The kernel refuses
    /// it to a process without `CAP_SYS_PTRACE` in the host's namespace
    /// only while the host keeps `vm.unprivileged_userfaultfd` at 0 (and a
    /// container without a user namespace may hold that capability);
    /// Docker allows it only with `CAP_SYS_PTRACE`, which a system
    /// container holds for ptrace inside. User-mode-only descriptors
    /// (what the kernel allows anyone) stay. The x86 and x32 compat ABIs
    /// are covered on x86_64.
    ///
    /// ```
    /// let p = vpsos_core::security::seccomp::Profile::system_container();
    /// assert!(p.syscalls.iter().any(|r| r.names.iter().any(|n| n == "kexec_load")));
    /// assert!(p.syscalls.iter().any(|r| r.names == ["userfaultfd"] && !r.args.is_empty()));
    /// ```
    pub fn system_container() -> Profile {
        let eperm = Action::Errno(libc::EPERM as u16);
        let mut p = Profile::new(Action::Allow)
            .rule(SyscallRule::new(SYSTEM_CONTAINER_DENIED, eperm))
            .rule(SyscallRule::new(
                SYSTEM_CONTAINER_ENOSYS,
                Action::Errno(libc::ENOSYS as u16),
            ))
            .rule(
                SyscallRule::new(["umount2"], eperm).arg(ArgCondition::masked_eq(
                    1,
                    libc::MNT_FORCE as u64,
                    libc::MNT_FORCE as u64,
                )),
            )
            .rule(
                SyscallRule::new(["userfaultfd"], eperm).arg(ArgCondition::masked_eq(
                    0,
                    UFFD_USER_MODE_ONLY,
                    0,
                )),
            );
        if cfg!(target_arch = "x86_64") {
            p.architectures = vec!["x86".into(), "x32".into()];
        }
        p
    }

    /// Whether any rule notifies a supervisor.
    pub fn uses_notify(&self) -> bool {
        self.default_action == Action::Notify
            || self.syscalls.iter().any(|r| r.action == Action::Notify)
    }

    /// Check what can be checked without compiling: every rule has
    /// names, every name is a syscall this libseccomp knows (on some
    /// architecture: a mistyped `kexec_lod` must not make a deny rule
    /// vanish), argument indexes are 0 to 5.
    /// [`Config::validate`](crate::Config::validate) calls it.
    ///
    /// ```
    /// use vpsos_core::security::seccomp::{Action, Profile, SyscallRule};
    /// let p = Profile::new(Action::Allow).rule(SyscallRule::new(["kexec_lod"], Action::Errno(1)));
    /// let e = p.validate().unwrap_err();
    /// assert_eq!(e.field(), Some("seccomp.syscalls[0].names[0]"));
    /// assert!(e.to_string().contains("kexec_lod"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        for (i, r) in self.syscalls.iter().enumerate() {
            if r.names.is_empty() {
                return Err(Error::invalid(
                    format!("seccomp.syscalls[{i}].names"),
                    "empty",
                ));
            }
            if let Some((j, n)) = r.names.iter().enumerate().find(|(_, n)| !known_syscall(n)) {
                return Err(Error::invalid(
                    format!("seccomp.syscalls[{i}].names[{j}]"),
                    format!(
                        "{n:?} is not a syscall libseccomp {} knows on any architecture",
                        super::seccomp_bpf::libseccomp_version()
                    ),
                ));
            }
            if let Some(a) = r.args.iter().find(|a| a.index > 5) {
                return Err(Error::invalid(
                    format!("seccomp.syscalls[{i}].args"),
                    format!("argument index {} (syscalls have 6: 0 to 5)", a.index),
                ));
            }
        }
        Ok(())
    }

    /// Import an OCI runtime spec's `linux.seccomp`. OCI listener paths
    /// (`listenerPath`) are not used: vpsos hands the listener fd to the
    /// caller instead. Syscall names this libseccomp does not know are
    /// left out, as runc and crun do (OCI profiles such as Docker's list
    /// calls newer than the library), and recorded in
    /// [`skipped_syscalls`](Profile::skipped_syscalls); a rule left without
    /// names is dropped.
    ///
    /// ```
    /// let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
    ///   "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#;
    /// let oci: oci_spec::runtime::LinuxSeccomp = serde_json::from_str(json).unwrap();
    /// let p = vpsos_core::security::seccomp::Profile::from_oci(&oci)?;
    /// assert_eq!(p.syscalls[0].action, vpsos_core::security::seccomp::Action::Errno(13));
    /// assert_eq!(p.architectures, ["x86"]);
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn from_oci(s: &oci_spec::runtime::LinuxSeccomp) -> Result<Profile> {
        use oci_spec::runtime::{LinuxSeccompFilterFlag as F, LinuxSeccompOperator as O};
        let default_errno = s.default_errno_ret().unwrap_or(libc::EPERM as u32);
        let mut p = Profile::new(oci_action(s.default_action(), default_errno)?);
        for a in s.architectures().iter().flatten() {
            p.architectures.push(oci_arch(*a)?);
        }
        p.log = s
            .flags()
            .iter()
            .flatten()
            .any(|f| *f == F::SeccompFilterFlagLog);
        for (i, sc) in s.syscalls().iter().flatten().enumerate() {
            let action = oci_action(sc.action(), sc.errno_ret().unwrap_or(libc::EPERM as u32))
                .map_err(|e| e.context(format!("seccomp.syscalls[{i}]")))?;
            let mut rule = SyscallRule::new(Vec::<String>::new(), action);
            for n in sc.names() {
                if known_syscall(n) {
                    rule.names.push(n.clone());
                } else if !p.skipped_syscalls.contains(n) {
                    p.skipped_syscalls.push(n.clone());
                }
            }
            for a in sc.args().iter().flatten() {
                if a.index() > 5 {
                    return Err(Error::invalid(
                        format!("seccomp.syscalls[{i}].args"),
                        format!("argument index {} (syscalls have 6: 0 to 5)", a.index()),
                    ));
                }
                let op = match a.op() {
                    O::ScmpCmpNe => CmpOp::Ne,
                    O::ScmpCmpLt => CmpOp::Lt,
                    O::ScmpCmpLe => CmpOp::Le,
                    O::ScmpCmpEq => CmpOp::Eq,
                    O::ScmpCmpGe => CmpOp::Ge,
                    O::ScmpCmpGt => CmpOp::Gt,
                    O::ScmpCmpMaskedEq => CmpOp::MaskedEq,
                };
                rule.args.push(ArgCondition {
                    index: a.index() as u8,
                    op,
                    value: a.value(),
                    value_two: a.value_two().unwrap_or(0),
                });
            }
            if !rule.names.is_empty() {
                p.syscalls.push(rule);
            }
        }
        p.validate()?;
        Ok(p)
    }
}

/// Whether libseccomp knows `name` as a syscall on some architecture
/// (names of other architectures' calls resolve too, to pseudo numbers
/// that rules for those architectures translate).
fn known_syscall(name: &str) -> bool {
    libseccomp::ScmpSyscall::from_name(name).is_ok()
}

fn oci_action(a: oci_spec::runtime::LinuxSeccompAction, errno: u32) -> Result<Action> {
    use oci_spec::runtime::LinuxSeccompAction as A;
    Ok(match a {
        A::ScmpActAllow => Action::Allow,
        A::ScmpActErrno => {
            Action::Errno(u16::try_from(errno).map_err(|_| {
                Error::invalid("seccomp.errnoRet", format!("{errno} is not an errno"))
            })?)
        }
        A::ScmpActKill | A::ScmpActKillThread => Action::KillThread,
        A::ScmpActKillProcess => Action::KillProcess,
        A::ScmpActTrap => Action::Trap,
        A::ScmpActLog => Action::Log,
        A::ScmpActNotify => Action::Notify,
        A::ScmpActTrace => Action::Trace(errno.min(u16::MAX as u32) as u16),
    })
}

fn oci_arch(a: oci_spec::runtime::Arch) -> Result<String> {
    use oci_spec::runtime::Arch as A;
    let name = match a {
        A::ScmpArchNative => "native",
        A::ScmpArchX86 => "x86",
        A::ScmpArchX86_64 => "x86_64",
        A::ScmpArchX32 => "x32",
        A::ScmpArchArm => "arm",
        A::ScmpArchAarch64 => "aarch64",
        A::ScmpArchMips => "mips",
        A::ScmpArchMips64 => "mips64",
        A::ScmpArchMips64n32 => "mips64n32",
        A::ScmpArchMipsel => "mipsel",
        A::ScmpArchMipsel64 => "mipsel64",
        A::ScmpArchMipsel64n32 => "mipsel64n32",
        A::ScmpArchPpc => "ppc",
        A::ScmpArchPpc64 => "ppc64",
        A::ScmpArchPpc64le => "ppc64le",
        A::ScmpArchS390 => "s390",
        A::ScmpArchS390x => "s390x",
        A::ScmpArchRiscv64 => "riscv64",
    };
    Ok(name.to_string())
}

#[cfg(test)]
#[path = "seccomp_tests.rs"]
mod tests;
