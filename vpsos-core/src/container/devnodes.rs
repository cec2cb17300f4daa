//! Nodes of granted devices.
//!
//! A node made inside a container with a user namespace cannot be opened
//! (its /dev is a tmpfs owned by that namespace, which the kernel marks
//! nodev), and the host's own node belongs to host root, which the
//! container's root cannot open. So vpsos makes each granted device's node
//! on the host, in devtmpfs under `/dev/.vpsos/<container>/`, owned by the
//! container's root with the rule's mode, and bind-mounts it to the rule's
//! path: at start through the rootfs plan, live through `spawn::inject`.
//! The container's own boot_id file is made there too (the state dir is
//! closed to the container's root, which binds it during the setup). The
//! directory goes when the container is deleted.

use crate::config::{DeviceKind, DeviceRule};
use crate::error::{Error, Result, ResultExt};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Where the per-container node directories live.
pub(crate) const NODE_ROOT: &str = "/dev/.vpsos";

/// FNV-1a: a stable short name from a path.
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The node directory of the container whose state lives in `state_dir`
/// (unique across runtime roots).
pub(crate) fn node_dir(state_dir: &Path) -> PathBuf {
    let id = state_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Path::new(NODE_ROOT).join(format!(
        "{id}.{:08x}",
        fnv(state_dir.as_os_str().as_bytes()) as u32
    ))
}

fn node_name(path: &Path) -> String {
    let b = path.as_os_str().as_bytes();
    let clean: String = path
        .to_string_lossy()
        .trim_start_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{clean}.{:08x}", fnv(b) as u32)
}

/// Make (or remake) the host node for `rule` (which has a path) in `dir`,
/// owned by host `uid:gid`. Returns its path.
pub(crate) fn make(dir: &Path, rule: &DeviceRule, uid: u32, gid: u32) -> Result<PathBuf> {
    let (Some(path), Some(major), Some(minor)) = (&rule.path, rule.major, rule.minor) else {
        return Err(Error::invalid("devices.path", "a node needs one device"));
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(dir)
        .ctx(|| format!("creating {}", dir.display()))?;
    let node = dir.join(node_name(path));
    let _ = std::fs::remove_file(&node);
    let kind = match rule.kind {
        DeviceKind::Block => libc::S_IFBLK,
        _ => libc::S_IFCHR,
    };
    let c = CString::new(node.as_os_str().as_bytes()).expect("no NUL in our path");
    // SAFETY: plain syscall with a valid path.
    let r = unsafe { libc::mknod(c.as_ptr(), kind | 0o600, libc::makedev(major, minor)) };
    if r < 0 {
        return Err(Error::from_errno(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
            format!("mknod {} ({rule})", node.display()),
        ));
    }
    std::os::unix::fs::chown(&node, Some(uid), Some(gid))
        .ctx(|| format!("chown {}", node.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&node, std::fs::Permissions::from_mode(rule.mode))
        .ctx(|| format!("chmod {}", node.display()))?;
    Ok(node)
}

/// Remove the host node of a rule's path (missing is fine).
pub(crate) fn remove(dir: &Path, path: &Path) {
    let _ = std::fs::remove_file(dir.join(node_name(path)));
}

/// Remove the container's node directory.
pub(crate) fn remove_all(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).ctx(|| format!("removing {}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_distinct() {
        let a = node_name(Path::new("/dev/net/tun"));
        assert!(a.starts_with("dev_net_tun."));
        assert_ne!(a, node_name(Path::new("/dev/net_tun")));
        let d = node_dir(Path::new("/run/vpsos/ct1"));
        assert!(d.starts_with(NODE_ROOT));
        assert_ne!(d, node_dir(Path::new("/run/other/ct1")));
    }
}
