//! Deterministic fault injection for the crash-consistency tests: with the
//! `fault-injection` feature, a process whose `VPSOS_FAULT` names a point
//! kills itself with SIGKILL when it gets there, as a crash would. Without
//! the feature every point compiles to nothing.
//!
//! Points: `create:reserved`, `create:apparmor`, `create:planned`,
//! `create:spawned`, `create:interfaces`, `create:created`,
//! `start:signalled`, `delete:marked`, `teardown:killed`.

/// Die here if `VPSOS_FAULT` says so.
#[cfg(feature = "fault-injection")]
pub(crate) fn point(name: &str) {
    static WANT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let want = WANT.get_or_init(|| std::env::var("VPSOS_FAULT").ok());
    if want.as_deref() == Some(name) {
        // SAFETY: kill(2) of ourselves.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

/// Die here if `VPSOS_FAULT` says so (built without fault injection: never).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn point(_name: &str) {}
