//! Kernel parameters (`sysctl`) and the execution domain (`personality`)
//! of a container, and which parameters a container may set.

use super::{Config, NamespaceKind};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// An execution domain for `personality(2)`.
///
/// ```
/// use vpsos_core::config::Personality;
/// assert_eq!(Personality::Linux32.domain(), 0x0008);
/// let p: Personality = serde_json::from_str("\"linux32\"").unwrap();
/// assert_eq!(p, Personality::Linux32);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Personality {
    /// The native domain (`PER_LINUX`).
    Linux,
    /// 32-bit: `uname -m` reports i686 on x86_64 (`PER_LINUX32`).
    Linux32,
}

impl Personality {
    /// The `personality(2)` value.
    pub fn domain(self) -> libc::c_ulong {
        match self {
            Personality::Linux => 0x0000,
            Personality::Linux32 => 0x0008,
        }
    }
}

/// The namespace that keeps parameter `key` (dotted or slashed form), or
/// `None` for a host-wide one a container must never set.
///
/// ```
/// use vpsos_core::config::{sysctl_namespace, NamespaceKind};
/// assert_eq!(sysctl_namespace("net.ipv4.ip_forward"), Some(NamespaceKind::Network));
/// assert_eq!(sysctl_namespace("kernel/shmmax"), Some(NamespaceKind::Ipc));
/// assert_eq!(sysctl_namespace("kernel.panic"), None);
/// ```
pub fn sysctl_namespace(key: &str) -> Option<NamespaceKind> {
    let k = key.replace('/', ".");
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if k.starts_with("net.") {
        Some(NamespaceKind::Network)
    } else if IPC.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
        Some(NamespaceKind::Ipc)
    } else if k == "kernel.hostname" || k == "kernel.domainname" {
        Some(NamespaceKind::Uts)
    } else {
        None
    }
}

/// The file under /proc/sys for `key`: `net.ipv4.ip_forward` →
/// `net/ipv4/ip_forward`. (A slashed key is taken as it is, so interface
/// names with dots can be given as `net/ipv4/conf/eth0.100/forwarding`.)
pub(crate) fn sysctl_file(key: &str) -> String {
    if key.contains('/') {
        key.to_string()
    } else {
        key.replace('.', "/")
    }
}

pub(super) fn validate(c: &Config) -> Result<()> {
    for (key, value) in &c.sysctl {
        let field = format!("sysctl.{key}");
        let plain = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-/:".contains(&b))
                && s.split(['.', '/']).all(|p| !p.is_empty() && p != "..")
        };
        if !plain(key) {
            return Err(Error::invalid(field, "not a parameter name"));
        }
        if value.contains('\0') || value.len() > 4096 {
            return Err(Error::invalid(
                field,
                "value must be under 4 KiB without NUL",
            ));
        }
        let Some(ns) = sysctl_namespace(key) else {
            return Err(Error::invalid(
                field,
                "the kernel keeps this parameter for the whole host, not per container",
            ));
        };
        if ns == NamespaceKind::Uts {
            // its /proc/sys files belong to the host's root, whatever the
            // namespace: sethostname/setdomainname do it
            return Err(Error::invalid(
                field,
                "set the config's hostname or domainname instead",
            ));
        }
        if !c.namespaces.is_new(ns) {
            return Err(Error::invalid(
                field,
                format!("needs a new {} namespace", ns.proc_name()),
            ));
        }
        if !c.default_mounts && !c.mounts.iter().any(|m| m.is_proc()) {
            return Err(Error::invalid(
                field,
                "needs /proc mounted in the container",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NamespaceMode;

    fn with(key: &str) -> Config {
        let mut c = Config::builder("/srv/ct")
            .id_maps(crate::IdMap::single(0, 100000, 65536))
            .build()
            .unwrap();
        c.sysctl.insert(key.into(), "1".into());
        c
    }

    #[test]
    fn host_wide_parameters_and_odd_names_are_refused() {
        for k in [
            "kernel.panic",
            "vm.overcommit_memory",
            "net..x",
            "net/../../x",
            "",
        ] {
            let e = validate(&with(k)).unwrap_err();
            assert_eq!(e.field(), Some(format!("sysctl.{k}").as_str()), "{k}");
        }
        assert!(validate(&with("kernel.hostname"))
            .unwrap_err()
            .message()
            .contains("hostname"));
        validate(&with("net.ipv4.ip_forward")).unwrap();
        validate(&with("kernel.shmmax")).unwrap();
    }

    #[test]
    fn a_shared_namespace_refuses_its_parameters() {
        let mut c = with("net.ipv4.ip_forward");
        c.namespaces.network = Some(NamespaceMode::Join("/run/netns/x".into()));
        assert!(validate(&c)
            .unwrap_err()
            .message()
            .contains("new net namespace"));
    }
}
