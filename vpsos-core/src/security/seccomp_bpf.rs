//! Compiling a seccomp [`Profile`] to a BPF program with libseccomp, and the
//! process-wide cache of compiled programs keyed by a hash of the profile
//! (as crun does): a repeat start with the same profile does no libseccomp
//! work at all.

use super::seccomp::{Action, CmpOp, Profile};
use crate::error::{Error, ErrorKind, Result};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::{Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// A compiled filter, ready for `seccomp(SECCOMP_SET_MODE_FILTER)`.
///
/// ```
/// use vpsos_core::security::seccomp::{compile, Profile};
/// let a = compile(&Profile::system_container())?;
/// let b = compile(&Profile::system_container())?;   // from the cache
/// assert_eq!(a.instructions(), b.instructions());
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    program: Arc<Vec<libc::sock_filter>>,
    notify: bool,
    log: bool,
    /// Syscall names libseccomp does not know (skipped, as runc and crun do).
    pub unknown_syscalls: Arc<Vec<String>>,
}

impl CompiledFilter {
    /// Number of BPF instructions.
    pub fn instructions(&self) -> usize {
        self.program.len()
    }

    /// Whether loading it creates a notification listener.
    pub fn notify(&self) -> bool {
        self.notify
    }

    /// The `seccomp(2)` filter flags to load it with.
    pub(crate) fn flags(&self) -> libc::c_ulong {
        const NEW_LISTENER: libc::c_ulong = 1 << 3;
        const LOG: libc::c_ulong = 1 << 1;
        (if self.notify { NEW_LISTENER } else { 0 }) | (if self.log { LOG } else { 0 })
    }

    /// The program (for the child's plan).
    pub(crate) fn program(&self) -> &[libc::sock_filter] {
        &self.program
    }
}

/// How often [`compile`] found a program in the cache.
///
/// ```
/// let s = vpsos_core::security::seccomp::cache_stats();
/// println!("{} compiled, {} from the cache", s.compiled, s.hits);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Profiles compiled with libseccomp.
    pub compiled: u64,
    /// Lookups served from the cache.
    pub hits: u64,
}

static COMPILED: AtomicU64 = AtomicU64::new(0);
static HITS: AtomicU64 = AtomicU64::new(0);

/// The cache counters of this process.
pub fn cache_stats() -> CacheStats {
    CacheStats {
        compiled: COMPILED.load(Ordering::Relaxed),
        hits: HITS.load(Ordering::Relaxed),
    }
}

fn cache() -> &'static Mutex<HashMap<u64, CompiledFilter>> {
    static C: OnceLock<Mutex<HashMap<u64, CompiledFilter>>> = OnceLock::new();
    C.get_or_init(Default::default)
}

/// Compile `p` (or take it from the cache).
pub fn compile(p: &Profile) -> Result<CompiledFilter> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    p.hash(&mut h);
    let key = h.finish();
    if let Some(f) = cache().lock().expect("seccomp cache").get(&key) {
        HITS.fetch_add(1, Ordering::Relaxed);
        return Ok(f.clone());
    }
    let f = compile_uncached(p).map_err(|e| e.context("compiling the seccomp profile"))?;
    COMPILED.fetch_add(1, Ordering::Relaxed);
    cache()
        .lock()
        .expect("seccomp cache")
        .insert(key, f.clone());
    Ok(f)
}

fn scmp_err(what: impl std::fmt::Display, e: libseccomp::error::SeccompError) -> Error {
    // the errno itself (negative), not `errno()`'s enum: its discriminant
    // is an index (EINVAL's is 5, which read as an errno is EIO)
    match e.sysrawrc() {
        Some(n) => Error::from_errno(n.saturating_abs(), format!("{what}: {e}")),
        None => Error::new(ErrorKind::InvalidConfig, format!("{what}: {e}")),
    }
}

fn action(a: Action) -> ScmpAction {
    match a {
        Action::Allow => ScmpAction::Allow,
        Action::Errno(e) => ScmpAction::Errno(e as i32),
        Action::KillProcess => ScmpAction::KillProcess,
        Action::KillThread => ScmpAction::KillThread,
        Action::Trap => ScmpAction::Trap,
        Action::Log => ScmpAction::Log,
        Action::Notify => ScmpAction::Notify,
        Action::Trace(v) => ScmpAction::Trace(v),
    }
}

pub(crate) fn compile_uncached(p: &Profile) -> Result<CompiledFilter> {
    p.validate()?;
    let mut ctx = ScmpFilterContext::new(action(p.default_action))
        .map_err(|e| scmp_err("creating the filter", e))?;
    // the child sets no_new_privs itself when asked to; loading needs
    // CAP_SYS_ADMIN otherwise, which the child has at that point
    ctx.set_ctl_nnp(false)
        .map_err(|e| scmp_err("clearing the NNP attribute", e))?;
    for (i, name) in p.architectures.iter().enumerate() {
        let arch: ScmpArch = if name == "native" {
            ScmpArch::native()
        } else {
            format!("SCMP_ARCH_{}", name.to_uppercase())
                .parse()
                .map_err(|_| {
                    Error::invalid(
                        format!("seccomp.architectures[{i}]"),
                        format!("{name:?} is not an architecture libseccomp knows"),
                    )
                })?
        };
        if arch == ScmpArch::native() {
            continue; // every filter has it
        }
        ctx.add_arch(arch)
            .map_err(|e| scmp_err(format!("adding architecture {name}"), e))?;
    }
    let mut unknown = Vec::new();
    for (i, rule) in p.syscalls.iter().enumerate() {
        if rule.action == p.default_action {
            continue; // libseccomp refuses a rule that changes nothing
        }
        let conds: Vec<ScmpArgCompare> = rule
            .args
            .iter()
            .map(|a| {
                let op = match a.op {
                    CmpOp::Ne => ScmpCompareOp::NotEqual,
                    CmpOp::Lt => ScmpCompareOp::Less,
                    CmpOp::Le => ScmpCompareOp::LessOrEqual,
                    CmpOp::Eq => ScmpCompareOp::Equal,
                    CmpOp::Ge => ScmpCompareOp::GreaterEqual,
                    CmpOp::Gt => ScmpCompareOp::Greater,
                    CmpOp::MaskedEq => ScmpCompareOp::MaskedEqual(a.value),
                };
                let datum = if a.op == CmpOp::MaskedEq {
                    a.value_two
                } else {
                    a.value
                };
                ScmpArgCompare::new(a.index as u32, op, datum)
            })
            .collect();
        for name in &rule.names {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                unknown.push(name.clone());
                continue;
            };
            ctx.add_rule_conditional(action(rule.action), sc, &conds)
                .map_err(|e| scmp_err(format!("seccomp.syscalls[{i}]: adding {name}"), e))?;
        }
    }
    let bytes = export(&ctx)?;
    let program: Vec<libc::sock_filter> = bytes
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    if program.is_empty() || program.len() > u16::MAX as usize {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            format!("seccomp program of {} instructions", program.len()),
        ));
    }
    Ok(CompiledFilter {
        program: Arc::new(program),
        notify: p.uses_notify(),
        log: p.log,
        unknown_syscalls: Arc::new(unknown),
    })
}

/// libseccomp 2.5 exports to an fd only: a memfd.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>> {
    // SAFETY: plain syscall with a static name.
    let fd = unsafe { libc::memfd_create(c"vpsos-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::from_errno(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
            "memfd_create for the seccomp program",
        ));
    }
    // SAFETY: a new fd we own.
    let mut f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&f)
        .map_err(|e| scmp_err("exporting the BPF program", e))?;
    let mut out = Vec::new();
    f.rewind()
        .and_then(|_| f.read_to_end(&mut out))
        .map_err(|e| Error::new(ErrorKind::Io, format!("reading the BPF program: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::seccomp::{ArgCondition, SyscallRule};

    #[test]
    fn compiles_once_per_profile() {
        let p = Profile::new(Action::Allow).rule(SyscallRule::new(
            ["getcpu", "no_such_syscall_at_all"],
            Action::Errno(1),
        ));
        let before = cache_stats();
        let a = compile(&p).unwrap();
        let b = compile(&p).unwrap();
        let after = cache_stats();
        assert!(Arc::ptr_eq(&a.program, &b.program));
        assert!(after.compiled > before.compiled);
        assert!(after.hits > before.hits);
        assert_eq!(*a.unknown_syscalls, ["no_such_syscall_at_all"]);
    }

    #[test]
    fn libseccomp_refusal_keeps_its_errno() {
        // libseccomp takes one comparison per argument in a rule: EINVAL,
        // an invalid profile (it was reported as EIO, an I/O failure)
        let p = Profile::new(Action::Allow).rule(
            SyscallRule::new(["personality"], Action::Errno(1))
                .arg(ArgCondition::new(0, CmpOp::Eq, 0))
                .arg(ArgCondition::new(0, CmpOp::Ne, 8)),
        );
        let e = compile_uncached(&p).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    }

    #[test]
    fn unknown_architecture_names_the_field() {
        let mut p = Profile::new(Action::Allow);
        p.architectures = vec!["x86".into(), "vax".into()];
        let e = compile(&p).unwrap_err();
        assert_eq!(e.field(), Some("seccomp.architectures[1]"), "{e}");
    }
}
