//! OCI lifecycle hooks: programs the runtime runs at named points of a
//! container's life, each given the container's OCI state on stdin.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One hook: a program, its argv and environment, and how long it may run.
///
/// ```
/// use vpsos_core::config::Hook;
/// let h = Hook::new("/usr/bin/logger").args(["logger", "-t", "vpsos", "started"]).timeout(5);
/// assert_eq!(h.args[0], "logger");
/// assert_eq!(h.timeout, Some(5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// Absolute path of the program, in the host's (the runtime's) mount
    /// namespace, also for hooks that run in the container's namespaces.
    pub path: PathBuf,
    /// argv (its first element is argv\[0\]); empty: just the path.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment, `KEY=value` (nothing else is passed).
    #[serde(default)]
    pub env: Vec<String>,
    /// Seconds after which the hook is killed and counts as failed.
    #[serde(default)]
    pub timeout: Option<u32>,
}

impl Hook {
    /// A hook running `path` with no arguments and an empty environment.
    pub fn new(path: impl Into<PathBuf>) -> Hook {
        Hook {
            path: path.into(),
            args: vec![],
            env: vec![],
            timeout: None,
        }
    }

    /// Set argv.
    pub fn args<I, S>(mut self, args: I) -> Hook
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Set the timeout in seconds.
    pub fn timeout(mut self, secs: u32) -> Hook {
        self.timeout = Some(secs);
        self
    }

    pub(crate) fn validate(&self, at: &str) -> Result<()> {
        if !self.path.is_absolute() {
            return Err(Error::invalid(
                format!("{at}.path"),
                format!("{}: must be absolute", self.path.display()),
            ));
        }
        if self.timeout == Some(0) {
            return Err(Error::invalid(
                format!("{at}.timeout"),
                "must be at least 1 second",
            ));
        }
        let nul = |s: &String| s.contains('\0');
        if self.args.iter().any(nul) || self.env.iter().any(nul) {
            return Err(Error::invalid(at, "contains a NUL byte"));
        }
        if let Some(bad) = self.env.iter().find(|e| !e.contains('=')) {
            return Err(Error::invalid(
                format!("{at}.env"),
                format!("{bad:?} is not KEY=value"),
            ));
        }
        Ok(())
    }
}

/// The hooks of a container, by when they run (the OCI runtime spec's
/// points; its deprecated `prestart` hooks belong at the front of
/// `create_runtime`).
///
/// | field | when | where |
/// |---|---|---|
/// | `create_runtime` | the container is made, its init waits to start | runtime's namespaces |
/// | `create_container` | right after `create_runtime` | container's namespaces |
/// | `start_container` | at `start`, before the init's program runs | container's namespaces |
/// | `poststart` | after the init's program runs | runtime's namespaces |
/// | `poststop` | after the container is deleted | runtime's namespaces |
///
/// A failing hook of the first three fails the create or start (and
/// the container is removed); one of the last two is reported and
/// the operation goes on.
///
/// ```
/// use vpsos_core::config::{Hook, Hooks};
/// let mut h = Hooks::default();
/// assert!(h.is_empty());
/// h.poststop.push(Hook::new("/usr/local/bin/cleanup"));
/// assert!(!h.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hooks {
    /// Run once the container exists, in the runtime's namespaces.
    pub create_runtime: Vec<Hook>,
    /// Run after `create_runtime`, in the container's namespaces.
    pub create_container: Vec<Hook>,
    /// Run at start, in the container's namespaces, before the program.
    pub start_container: Vec<Hook>,
    /// Run after the start, in the runtime's namespaces.
    pub poststart: Vec<Hook>,
    /// Run after deletion, in the runtime's namespaces.
    pub poststop: Vec<Hook>,
}

impl Hooks {
    /// No hook at all.
    pub fn is_empty(&self) -> bool {
        self.lists().iter().all(|(_, l)| l.is_empty())
    }

    /// Each list with its field name.
    pub(crate) fn lists(&self) -> [(&'static str, &Vec<Hook>); 5] {
        [
            ("create_runtime", &self.create_runtime),
            ("create_container", &self.create_container),
            ("start_container", &self.start_container),
            ("poststart", &self.poststart),
            ("poststop", &self.poststop),
        ]
    }

    pub(crate) fn validate(&self) -> Result<()> {
        for (name, list) in self.lists() {
            for (i, h) in list.iter().enumerate() {
                h.validate(&format!("hooks.{name}[{i}]"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_zero_timeouts_and_bad_env_are_refused() {
        let mut h = Hooks::default();
        h.poststart.push(Hook::new("hook"));
        assert_eq!(
            h.validate().unwrap_err().field(),
            Some("hooks.poststart[0].path")
        );
        h.poststart[0] = Hook::new("/bin/true").timeout(0);
        assert_eq!(
            h.validate().unwrap_err().field(),
            Some("hooks.poststart[0].timeout")
        );
        h.poststart[0] = Hook::new("/bin/true");
        h.poststart[0].env = vec!["NOEQUALS".into()];
        assert_eq!(
            h.validate().unwrap_err().field(),
            Some("hooks.poststart[0].env")
        );
        h.poststart[0].env = vec!["A=b".into()];
        h.validate().unwrap();
    }
}
