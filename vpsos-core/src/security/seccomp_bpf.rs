//! Compiling a seccomp [`Profile`] to a BPF program with libseccomp, and the
//! process-wide cache of compiled programs (as crun does): a repeat start
//! with the same profile does no libseccomp work at all.
//!
//! The cache is keyed by the profile itself, its canonical JSON form with
//! the libseccomp version in front, not by a hash of it: two profiles
//! that differ in anything can never share a program (a 64-bit hash
//! collision would hand one container another's filter). It keeps the
//! [`CACHE_CAPACITY`] most recently used programs.

use super::seccomp::{Action, CmpOp, Profile};
use crate::error::{Error, ErrorKind, Result};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use std::collections::HashMap;
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

/// How often [`compile`] found a program in the cache, and how many it
/// holds.
///
/// ```
/// let s = vpsos_core::security::seccomp::cache_stats();
/// println!("{} compiled, {} from the cache, {} kept", s.compiled, s.hits, s.entries);
/// assert!(s.entries <= vpsos_core::security::seccomp::CACHE_CAPACITY);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Profiles compiled with libseccomp.
    pub compiled: u64,
    /// Lookups served from the cache.
    pub hits: u64,
    /// Programs in the cache now (at most [`CACHE_CAPACITY`]).
    pub entries: usize,
}

/// How many compiled programs the process-wide cache keeps (the least
/// recently used goes first). A node runs few distinct profiles; a caller
/// that makes a new one per container does not grow the cache for ever.
///
/// ```
/// assert_eq!(vpsos_core::security::seccomp::CACHE_CAPACITY, 64);
/// ```
pub const CACHE_CAPACITY: usize = 64;

static COMPILED: AtomicU64 = AtomicU64::new(0);
static HITS: AtomicU64 = AtomicU64::new(0);

/// The cache counters of this process.
pub fn cache_stats() -> CacheStats {
    CacheStats {
        compiled: COMPILED.load(Ordering::Relaxed),
        hits: HITS.load(Ordering::Relaxed),
        entries: cache().lock().expect("seccomp cache").len(),
    }
}

/// The version of the libseccomp this process runs with, `2.5.4`.
pub(crate) fn libseccomp_version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| match libseccomp::ScmpVersion::current() {
        Ok(v) => format!("{}.{}.{}", v.major, v.minor, v.micro),
        Err(_) => "(unknown version)".into(),
    })
}

/// A bounded map from profile to program, least recently used out first.
struct FilterCache {
    capacity: usize,
    clock: u64,
    map: HashMap<String, (CompiledFilter, u64)>,
}

impl FilterCache {
    fn new(capacity: usize) -> FilterCache {
        FilterCache {
            capacity,
            clock: 0,
            map: HashMap::new(),
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn get(&mut self, key: &str) -> Option<CompiledFilter> {
        self.clock += 1;
        let now = self.clock;
        self.map.get_mut(key).map(|(f, used)| {
            *used = now;
            f.clone()
        })
    }

    fn insert(&mut self, key: String, f: CompiledFilter) {
        self.clock += 1;
        if !self.map.contains_key(&key) && self.map.len() >= self.capacity {
            // a linear look over at most `capacity` entries, once per
            // compile: nothing next to libseccomp's own work
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.map.remove(&k);
            }
        }
        self.map.insert(key, (f, self.clock));
    }
}

fn cache() -> &'static Mutex<FilterCache> {
    static C: OnceLock<Mutex<FilterCache>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(FilterCache::new(CACHE_CAPACITY)))
}

/// The cache key of `p`: the libseccomp version and the profile's
/// canonical JSON (fields in declaration order, rules and names in
/// order; what the program does not depend on left out).
fn cache_key(p: &Profile) -> String {
    let mut canonical = p.clone();
    canonical.skipped_syscalls.clear();
    format!(
        "libseccomp {}\n{}",
        libseccomp_version(),
        serde_json::to_string(&canonical).expect("a profile serializes")
    )
}

/// Compile `p` (or take it from the cache).
pub fn compile(p: &Profile) -> Result<CompiledFilter> {
    let key = cache_key(p);
    if let Some(f) = cache().lock().expect("seccomp cache").get(&key) {
        HITS.fetch_add(1, Ordering::Relaxed);
        return Ok(f);
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
        // libseccomp's EINVAL: it refuses the profile, a bad config
        Some(n) if n.saturating_abs() == libc::EINVAL => {
            Error::from_errno(libc::EINVAL, format!("{what}: {e}"))
                .with_kind(ErrorKind::InvalidConfig)
        }
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
            // validate() refused names libseccomp does not know
            let sc = ScmpSyscall::from_name(name)
                .map_err(|e| scmp_err(format!("seccomp.syscalls[{i}]: resolving {name}"), e))?;
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

    fn same(a: &CompiledFilter, b: &CompiledFilter) -> bool {
        a.program.len() == b.program.len()
            && a.program
                .iter()
                .zip(b.program.iter())
                .all(|(x, y)| (x.code, x.jt, x.jf, x.k) == (y.code, y.jt, y.jf, y.k))
    }

    #[test]
    fn compiles_once_per_profile() {
        let p = Profile::new(Action::Allow).rule(SyscallRule::new(["getcpu"], Action::Errno(1)));
        let before = cache_stats();
        let a = compile(&p).unwrap();
        let b = compile(&p).unwrap();
        let after = cache_stats();
        assert!(Arc::ptr_eq(&a.program, &b.program));
        assert!(after.compiled > before.compiled);
        assert!(after.hits > before.hits);
    }

    #[test]
    fn unknown_names_do_not_compile() {
        let p = Profile::new(Action::Allow).rule(SyscallRule::new(
            ["getcpu", "no_such_syscall_at_all"],
            Action::Errno(1),
        ));
        let e = compile(&p).unwrap_err();
        assert_eq!(e.field(), Some("seccomp.syscalls[0].names[1]"), "{e}");
    }

    /// Profiles that differ in one detail each: every one gets a key of
    /// its own and, from the cache, its own program (what a fresh
    /// compile of it gives), never a neighbour's.
    #[test]
    fn distinct_profiles_never_share_a_program() {
        let base =
            || {
                Profile::new(Action::Allow)
                    .rule(SyscallRule::new(["getcpu", "getpgid"], Action::Errno(1)))
                    .rule(
                        SyscallRule::new(["setpriority"], Action::Errno(13))
                            .arg(ArgCondition::new(2, CmpOp::Gt, 10)),
                    )
            };
        let mut variants = vec![base()];
        let mut v = base();
        v.default_action = Action::Log;
        variants.push(v);
        let mut v = base();
        v.syscalls[0].action = Action::Errno(2);
        variants.push(v);
        let mut v = base();
        v.syscalls[0].names.reverse();
        variants.push(v);
        let mut v = base();
        v.syscalls.reverse();
        variants.push(v);
        let mut v = base();
        v.syscalls[1].args[0].value = 11;
        variants.push(v);
        let mut v = base();
        v.syscalls[1].args[0].op = CmpOp::Ge;
        variants.push(v);
        let mut v = base();
        v.syscalls[1].args[0].index = 1;
        variants.push(v);
        let mut v = base();
        v.architectures = vec!["x86".into()];
        variants.push(v);
        let mut v = base();
        v.log = true;
        variants.push(v);
        let keys: Vec<String> = variants.iter().map(cache_key).collect();
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // twice round: the second time every program comes from the cache
        for _ in 0..2 {
            for p in &variants {
                let cached = compile(p).unwrap();
                let fresh = compile_uncached(p).unwrap();
                assert!(same(&cached, &fresh), "{p:?}");
                assert_eq!(cached.log, p.log);
            }
        }
        // what the program does not depend on does not split the cache
        let mut v = base();
        v.skipped_syscalls = vec!["no_such_call".into()];
        assert_eq!(cache_key(&v), keys[0]);
    }

    #[test]
    fn the_cache_keeps_the_most_recently_used() {
        let f = compile(&Profile::new(Action::Allow)).unwrap();
        let mut c = FilterCache::new(4);
        for k in ["a", "b", "c", "d"] {
            c.insert(k.into(), f.clone());
        }
        assert!(c.get("a").is_some()); // a used: b is now the oldest
        c.insert("e".into(), f.clone());
        assert_eq!(c.len(), 4);
        assert!(c.get("b").is_none());
        for k in ["a", "c", "d", "e"] {
            assert!(c.get(k).is_some(), "{k}");
        }
        c.insert("e".into(), f.clone()); // a replacement evicts nothing
        assert_eq!(c.len(), 4);
        for n in 0..100 {
            c.insert(format!("k{n}"), f.clone());
            assert!(c.len() <= 4);
        }
    }

    #[test]
    fn the_process_cache_is_bounded() {
        for n in 0..CACHE_CAPACITY as u64 + 8 {
            let p = Profile::new(Action::Allow).rule(
                SyscallRule::new(["getcpu"], Action::Errno(1)).arg(ArgCondition::new(
                    0,
                    CmpOp::Eq,
                    1_000_000 + n,
                )),
            );
            compile(&p).unwrap();
            assert!(cache_stats().entries <= CACHE_CAPACITY);
        }
        assert_eq!(cache_stats().entries, CACHE_CAPACITY);
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
