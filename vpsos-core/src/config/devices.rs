//! Device access rules: which device numbers the container may read, write
//! or mknod, and which granted devices get a node in its /dev.
//!
//! A container's list is an allow list over "deny everything": enforced on
//! cgroup v1 through `devices.deny`/`devices.allow` and on v2 through a
//! cgroup device eBPF program (see `cgroup::devices`).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The kind of device a rule covers.
///
/// ```
/// use vpsos_core::config::DeviceKind;
/// assert_eq!(DeviceKind::Char.letter(), 'c');
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// Character devices.
    Char,
    /// Block devices.
    Block,
    /// Both.
    All,
}

impl DeviceKind {
    /// `c`, `b` or `a`, as in `devices.allow`.
    pub fn letter(self) -> char {
        match self {
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
            DeviceKind::All => 'a',
        }
    }
}

/// Read, write and mknod permission (`rwm`).
///
/// ```
/// use vpsos_core::config::DeviceAccess;
/// let a: DeviceAccess = "rw".parse().unwrap();
/// assert_eq!(a, DeviceAccess::RW);
/// assert_eq!(DeviceAccess::RWM.to_string(), "rwm");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DeviceAccess {
    /// Open for reading.
    pub read: bool,
    /// Open for writing.
    pub write: bool,
    /// Create a node with mknod.
    pub mknod: bool,
}

impl DeviceAccess {
    /// `rwm`.
    pub const RWM: DeviceAccess = DeviceAccess {
        read: true,
        write: true,
        mknod: true,
    };
    /// `rw`.
    pub const RW: DeviceAccess = DeviceAccess {
        read: true,
        write: true,
        mknod: false,
    };
    /// `m`.
    pub const MKNOD: DeviceAccess = DeviceAccess {
        read: false,
        write: false,
        mknod: true,
    };

    /// No permission at all.
    pub fn is_empty(self) -> bool {
        !(self.read || self.write || self.mknod)
    }
}

impl fmt::Display for DeviceAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (on, c) in [(self.read, 'r'), (self.write, 'w'), (self.mknod, 'm')] {
            if on {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for DeviceAccess {
    type Err = Error;
    fn from_str(s: &str) -> Result<DeviceAccess> {
        let mut a = DeviceAccess::default();
        for c in s.chars() {
            match c {
                'r' => a.read = true,
                'w' => a.write = true,
                'm' => a.mknod = true,
                _ => {
                    return Err(Error::invalid(
                        "devices.access",
                        format!("{s:?}: use the letters r, w and m"),
                    ))
                }
            }
        }
        // empty: no access, a rule that only makes a node (see DeviceRule)
        Ok(a)
    }
}

impl Serialize for DeviceAccess {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceAccess {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A node's mode when none is given: read and write for everyone (what
/// gets through is the device rules' business).
pub(crate) fn default_mode() -> u32 {
    0o666
}

/// One allow rule: a device (or all devices of a kind, or of a major) and
/// the access granted. With `path` the device also gets a node at that
/// path in the container (owned by the container's root, `mode`). A rule
/// with a path and empty access (`""`) only makes the node: the OCI
/// runtime spec keeps nodes (`linux.devices`) apart from the permission
/// to use them (`linux.resources.devices`).
///
/// ```
/// use vpsos_core::config::{DeviceAccess, DeviceRule};
/// let kvm = DeviceRule::kvm();
/// assert_eq!(kvm.to_string(), "c 10:232 rwm");
/// assert_eq!(kvm.path.as_deref(), Some(std::path::Path::new("/dev/kvm")));
/// let pts: DeviceRule = "c 136:* rwm".parse().unwrap();
/// assert_eq!(pts.minor, None);
/// let mine = DeviceRule::char(10, 200, DeviceAccess::RW).path("/dev/net/tun");
/// assert!(mine.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRule {
    /// Character, block or both.
    pub kind: DeviceKind,
    /// Major number; `None` for any.
    #[serde(default)]
    pub major: Option<u32>,
    /// Minor number; `None` for any.
    #[serde(default)]
    pub minor: Option<u32>,
    /// What is allowed.
    pub access: DeviceAccess,
    /// A node to create in the container (`/dev/kvm`).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Permission bits of that node.
    #[serde(default = "default_mode")]
    pub mode: u32,
}

impl DeviceRule {
    /// Access to character device `major:minor`.
    pub fn char(major: u32, minor: u32, access: DeviceAccess) -> DeviceRule {
        DeviceRule {
            kind: DeviceKind::Char,
            major: Some(major),
            minor: Some(minor),
            access,
            path: None,
            mode: default_mode(),
        }
    }

    /// Access to block device `major:minor`.
    pub fn block(major: u32, minor: u32, access: DeviceAccess) -> DeviceRule {
        DeviceRule {
            kind: DeviceKind::Block,
            ..DeviceRule::char(major, minor, access)
        }
    }

    /// Give the device a node at `path` in the container.
    pub fn path(mut self, path: impl Into<PathBuf>) -> DeviceRule {
        self.path = Some(path.into());
        self
    }

    /// Set the node's permission bits (default 0666).
    pub fn mode(mut self, mode: u32) -> DeviceRule {
        self.mode = mode;
        self
    }

    /// /dev/kvm (10:232), rwm, with its node.
    pub fn kvm() -> DeviceRule {
        DeviceRule::char(10, 232, DeviceAccess::RWM).path("/dev/kvm")
    }

    /// /dev/net/tun (10:200), rwm, with its node.
    pub fn tun() -> DeviceRule {
        DeviceRule::char(10, 200, DeviceAccess::RWM).path("/dev/net/tun")
    }

    /// /dev/fuse (10:229), rwm, with its node.
    pub fn fuse() -> DeviceRule {
        DeviceRule::char(10, 229, DeviceAccess::RWM).path("/dev/fuse")
    }

    /// The default list for system containers: mknod of any device (as
    /// osctld's root group allows), and rwm on null, zero, full, random,
    /// urandom, tty, console, ptmx and the pts.
    pub fn system_defaults() -> Vec<DeviceRule> {
        let any = |kind| DeviceRule {
            kind,
            major: None,
            minor: None,
            access: DeviceAccess::MKNOD,
            path: None,
            mode: default_mode(),
        };
        let mut v = vec![any(DeviceKind::Char), any(DeviceKind::Block)];
        for (major, minor) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 1),
            (5, 2),
        ] {
            v.push(DeviceRule::char(major, minor, DeviceAccess::RWM));
        }
        v.push(DeviceRule {
            minor: None,
            ..DeviceRule::char(136, 0, DeviceAccess::RWM)
        });
        v
    }

    /// Whether this rule covers `other`'s devices and access entirely.
    ///
    /// ```
    /// use vpsos_core::config::DeviceRule;
    /// let any: DeviceRule = "c *:* m".parse().unwrap();
    /// assert!(any.covers(&"c 10:232 m".parse().unwrap()));
    /// assert!(!any.covers(&"c 10:232 rw".parse().unwrap()));
    /// ```
    pub fn covers(&self, other: &DeviceRule) -> bool {
        let kind = self.kind == DeviceKind::All || self.kind == other.kind;
        let num = |a: Option<u32>, b: Option<u32>| a.is_none() || a == b;
        let acc = (!other.access.read || self.access.read)
            && (!other.access.write || self.access.write)
            && (!other.access.mknod || self.access.mknod);
        kind && num(self.major, other.major) && num(self.minor, other.minor) && acc
    }

    /// Check that a rule with a node names one device and an absolute,
    /// plain path.
    pub fn validate(&self) -> Result<()> {
        let Some(p) = &self.path else {
            if self.access.is_empty() {
                return Err(Error::invalid(
                    "devices.access",
                    "empty (only a rule with a path, which makes a node, may grant nothing)",
                ));
            }
            return Ok(());
        };
        if self.kind == DeviceKind::All || self.major.is_none() || self.minor.is_none() {
            return Err(Error::invalid(
                "devices.path",
                format!("{self}: a node needs one char or block device"),
            ));
        }
        let plain = p.is_absolute()
            && p.components()
                .all(|c| !matches!(c, std::path::Component::ParentDir));
        if !plain || p.parent().is_none() {
            return Err(Error::invalid(
                "devices.path",
                format!("{}: must be absolute, without ..", p.display()),
            ));
        }
        if self.mode & !0o7777 != 0 {
            return Err(Error::invalid(
                "devices.mode",
                format!("{:o}: permission bits only", self.mode),
            ));
        }
        Ok(())
    }
}

/// The `devices.allow` line: `c 10:232 rwm`, `a *:* m`.
impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |x: Option<u32>| x.map_or("*".to_string(), |v| v.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.kind.letter(),
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

impl FromStr for DeviceRule {
    type Err = Error;
    /// Parse `c 10:232 rwm` (also `a` alone for every device, rwm).
    fn from_str(s: &str) -> Result<DeviceRule> {
        let bad = || Error::invalid("devices", format!("{s:?}: expected e.g. \"c 10:232 rwm\""));
        let mut it = s.split_whitespace();
        let kind = match it.next() {
            Some("c") => DeviceKind::Char,
            Some("b") => DeviceKind::Block,
            Some("a") => DeviceKind::All,
            _ => return Err(bad()),
        };
        let (major, minor) = match it.next() {
            None if kind == DeviceKind::All => (None, None),
            None => return Err(bad()),
            Some(nums) => {
                let (a, b) = nums.split_once(':').ok_or_else(bad)?;
                let num = |x: &str| -> Result<Option<u32>> {
                    if x == "*" {
                        Ok(None)
                    } else {
                        x.parse().map(Some).map_err(|_| bad())
                    }
                };
                (num(a)?, num(b)?)
            }
        };
        let access = match it.next() {
            None => DeviceAccess::RWM,
            Some(a) => a.parse()?,
        };
        if it.next().is_some() {
            return Err(bad());
        }
        Ok(DeviceRule {
            kind,
            major,
            minor,
            access,
            path: None,
            mode: default_mode(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_round_trip() {
        for s in ["c 1:3 rwm", "b *:* m", "c 136:* rw", "a *:* rwm"] {
            assert_eq!(s.parse::<DeviceRule>().unwrap().to_string(), s);
        }
        assert_eq!("a".parse::<DeviceRule>().unwrap().to_string(), "a *:* rwm");
        assert!("x 1:2 r".parse::<DeviceRule>().is_err());
        assert!("c 1:2 q".parse::<DeviceRule>().is_err());
        assert!("c 1-2 r".parse::<DeviceRule>().is_err());
    }

    #[test]
    fn validation() {
        let e = DeviceRule::kvm().path("dev/kvm").validate().unwrap_err();
        assert_eq!(e.field(), Some("devices.path"));
        let any: DeviceRule = "c *:* rw".parse().unwrap();
        assert!(any.path("/dev/x").validate().is_err());
        // a node without access: fine with a path, refused without
        let node_only = DeviceRule::char(1, 3, DeviceAccess::default());
        assert_eq!(
            node_only.validate().unwrap_err().field(),
            Some("devices.access")
        );
        let node_only = node_only.path("/dev/null");
        assert!(node_only.validate().is_ok());
        let j = serde_json::to_string(&node_only).unwrap();
        assert_eq!(serde_json::from_str::<DeviceRule>(&j).unwrap(), node_only);
        assert!(DeviceRule::tun().validate().is_ok());
    }

    #[test]
    fn defaults_cover_the_standard_nodes() {
        let d = DeviceRule::system_defaults();
        for (ma, mi) in [(1, 3), (5, 2), (136, 7)] {
            let want = DeviceRule::char(ma, mi, DeviceAccess::RW);
            assert!(d.iter().any(|r| r.covers(&want)), "{want}");
        }
        assert!(!d
            .iter()
            .any(|r| r.covers(&DeviceRule::char(10, 232, DeviceAccess::RW))));
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Vec<DeviceRule>>(&json).unwrap(), d);
    }
}
