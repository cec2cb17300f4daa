//! What vpsos knows of a container's init: which one it is (found in the
//! rootfs), and how `stop` asks it to halt.

use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// The init a container runs, as far as vpsos needs to know: for the halt
/// it uses (`Halt::Auto`) and whether its cgroup is delegated by default
/// (systemd needs that).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitKind {
    /// systemd.
    Systemd,
    /// sysvinit's /sbin/init (Debian's sysvinit-core; OpenRC runs under it).
    Sysvinit,
    /// runit-init.
    Runit,
    /// busybox init.
    Busybox,
    /// Anything else (a shell, an application).
    Other,
}

impl InitKind {
    /// Find the init `argv0` names in `rootfs`: its symlinks followed
    /// inside the rootfs (absolute ones from the rootfs's root, never out
    /// of it), then the target's name, and an /etc/inittab for sysvinit.
    ///
    /// ```
    /// use vpsos_core::config::InitKind;
    /// let root = tempfile::tempdir().unwrap();
    /// std::fs::create_dir_all(root.path().join("lib/systemd")).unwrap();
    /// std::fs::create_dir_all(root.path().join("sbin")).unwrap();
    /// std::fs::write(root.path().join("lib/systemd/systemd"), "").unwrap();
    /// std::os::unix::fs::symlink("/lib/systemd/systemd", root.path().join("sbin/init")).unwrap();
    /// assert_eq!(InitKind::detect(root.path(), "/sbin/init"), InitKind::Systemd);
    /// assert_eq!(InitKind::detect(root.path(), "/bin/sh"), InitKind::Other);
    /// ```
    pub fn detect(rootfs: &Path, argv0: &str) -> InitKind {
        if !argv0.starts_with('/') {
            return InitKind::Other;
        }
        let Some(target) = resolve_in(rootfs, Path::new(argv0)) else {
            return InitKind::Other;
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = target.to_string_lossy();
        if name == "systemd" || path.contains("/systemd/") {
            InitKind::Systemd
        } else if name.starts_with("runit") {
            InitKind::Runit
        } else if name == "busybox" {
            InitKind::Busybox
        } else if name == "init" && rootfs.join("etc/inittab").is_file() {
            InitKind::Sysvinit
        } else {
            InitKind::Other
        }
    }
}

/// `path` (absolute, inside `root`) with every symlink followed inside
/// `root`, relative to it; `None` if it does not resolve.
fn resolve_in(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut parts: Vec<std::ffi::OsString> = Vec::new();
    let mut todo: Vec<std::ffi::OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            parts.pop();
            continue;
        }
        parts.push(c);
        let here: PathBuf = parts.iter().collect();
        let full = root.join(&here);
        let meta = std::fs::symlink_metadata(&full).ok()?;
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let link = std::fs::read_link(&full).ok()?;
            parts.pop();
            if link.is_absolute() {
                parts.clear();
            }
            for comp in link.components().rev() {
                match comp {
                    Component::Normal(n) => todo.push(n.to_os_string()),
                    Component::ParentDir => todo.push("..".into()),
                    _ => {}
                }
            }
        }
    }
    Some(parts.iter().collect())
}

/// How `stop` asks the init to halt, before it kills after the timeout.
///
/// The stock-Debian behaviour each preset relies on (and `Auto`, the
/// default, picks by the init found in the rootfs):
///
/// | init | halt | why |
/// |---|---|---|
/// | systemd | SIGRTMIN+4 | systemd's "poweroff" signal |
/// | sysvinit, OpenRC on it | exec `/sbin/telinit 0` | its SIGPWR runs inittab's `powerwait` entry, `/etc/init.d/powerfail`, which Debian no longer ships; SIGINT is ctrl-alt-del, a reboot |
/// | runit | SIGPWR | Debian's runit-init shuts down on it (#923924) |
/// | busybox | SIGUSR2 | busybox init's poweroff |
/// | anything else | SIGPWR | LXC's default |
///
/// ```
/// use vpsos_core::config::{Halt, InitKind};
/// assert_eq!(Halt::Auto.resolve(InitKind::Systemd), Halt::Signal(libc::SIGRTMIN() + 4));
/// assert_eq!(Halt::Auto.resolve(InitKind::Sysvinit).command().unwrap()[0], "/sbin/telinit");
/// assert_eq!(Halt::Busybox.signal(), Some(libc::SIGUSR2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Halt {
    /// By the init found in the rootfs at create (see the table).
    #[default]
    Auto,
    /// busybox init: SIGUSR2.
    Busybox,
    /// systemd: SIGRTMIN+4.
    Systemd,
    /// sysvinit (and OpenRC on it): exec `/sbin/telinit 0`.
    Sysvinit,
    /// runit: SIGPWR.
    Runit,
    /// Any signal number.
    Signal(i32),
    /// Run this command inside the container (it is not waited for).
    Command(Vec<String>),
}

impl Halt {
    /// A preset or `Auto` as what it does for an init of kind `kind`.
    pub fn resolve(&self, kind: InitKind) -> Halt {
        match self {
            Halt::Auto => match kind {
                InitKind::Systemd => Halt::Systemd.resolve(kind),
                InitKind::Sysvinit => Halt::Sysvinit.resolve(kind),
                InitKind::Busybox => Halt::Busybox.resolve(kind),
                InitKind::Runit | InitKind::Other => Halt::Signal(libc::SIGPWR),
            },
            Halt::Busybox => Halt::Signal(libc::SIGUSR2),
            Halt::Systemd => Halt::Signal(libc::SIGRTMIN() + 4),
            Halt::Runit => Halt::Signal(libc::SIGPWR),
            Halt::Sysvinit => Halt::Command(vec!["/sbin/telinit".into(), "0".into()]),
            other => other.clone(),
        }
    }

    /// The signal it sends, if it is one (presets resolved as for an
    /// unknown init).
    pub fn signal(&self) -> Option<i32> {
        match self.resolve(InitKind::Other) {
            Halt::Signal(n) => Some(n),
            _ => None,
        }
    }

    /// The command it runs, if it is one.
    pub fn command(&self) -> Option<Vec<String>> {
        match self.resolve(InitKind::Other) {
            Halt::Command(c) => Some(c),
            _ => None,
        }
    }
}
