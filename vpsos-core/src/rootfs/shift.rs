//! [`chown_shift`]: the fallback for filesystems that cannot be idmapped.
//! It moves the ids of a tree from the container range of the maps to
//! their host range: owners, the ids in POSIX ACLs and the root id of file
//! capabilities, each inode once, resumably.

use super::idmapped::{c, last_errno};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::idmap::IdMap;
use std::collections::HashSet;
use std::ffi::CStr;
use std::fs::Metadata;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

const ACL_ACCESS: &CStr = c"system.posix_acl_access";
const ACL_DEFAULT: &CStr = c"system.posix_acl_default";
const CAPABILITY: &CStr = c"security.capability";

/// `POSIX_ACL_XATTR_VERSION`: the 4-byte header of an ACL xattr.
const ACL_XATTR_VERSION: u32 = 2;
/// The tags whose entries carry an id (the others carry 0xffffffff).
const ACL_USER: u16 = 0x02;
const ACL_GROUP: u16 = 0x08;

const VFS_CAP_REVISION_MASK: u32 = 0xFF00_0000;
const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
const VFS_CAP_REVISION_3: u32 = 0x0300_0000;
const VFS_CAP_FLAGS_EFFECTIVE: u32 = 0x0000_0001;
const XATTR_CAPS_SZ_2: usize = 20;
const XATTR_CAPS_SZ_3: usize = 24;

/// Shift every id under `root` from the container range of the maps to
/// their host range: the fallback for filesystems that cannot be idmapped
/// (see [`Config::idmapped_rootfs`](crate::Config::idmapped_rootfs)).
/// Returns how many inodes changed.
///
/// What it shifts, uids through `uid_map` and gids through `gid_map`:
///
/// - the owner and group of every entry, with `lchown`: symlinks are not
///   followed, and mount points of other filesystems under `root` are
///   neither changed nor entered;
/// - the ids of the `ACL_USER` and `ACL_GROUP` entries of POSIX ACLs
///   (`system.posix_acl_access`, and `system.posix_acl_default` on
///   directories); the other entries are kept as they are;
/// - file capabilities (`security.capability`), which a chown drops: they
///   are read before it and written back after. A v3 capability has its
///   root id shifted. A v2 capability (which is also how the kernel shows
///   a v3 one whose root id is 0) is written back as v3 with the root id
///   of the container's root (`uid_map`'s host id of 0), what `setcap`
///   run by the container's root would have written: it then applies in
///   the container and no longer to every user of the host. Without a
///   host id for 0 it is written back unchanged.
///
/// Setuid and setgid bits, which a chown clears, are restored. A hard
/// linked inode is shifted (and counted) once.
///
/// It is resumable: an id already in the host range of its map counts as
/// shifted and is left alone, so running it again after an interruption
/// or an error finishes the job, and a run over a shifted tree changes
/// nothing and returns 0. Only a crash between the chown of a file and
/// putting back its setuid bits or capability loses them. For this the
/// two ranges of a map must not overlap: a map such as `0:1000:65536` is
/// refused with [`ErrorKind::InvalidConfig`] before anything changes, as
/// a shifted id could not be told from an unshifted one there.
///
/// An id in neither range of its map (an owner, an ACL entry or a
/// capability's root id) is an [`ErrorKind::InvalidConfig`] error naming
/// the path and the id; the inode it is found on is left untouched, and
/// the inodes shifted before stay shifted. Needs root (`CAP_CHOWN`,
/// `CAP_FOWNER`, and `CAP_SETFCAP` to write capabilities).
///
/// ```no_run
/// use vpsos_core::IdMap;
/// let m = IdMap::single(0, 100000, 65536);
/// let n = vpsos_core::rootfs::chown_shift("/var/lib/vpsos/ct1/rootfs".as_ref(), &m, &m)?;
/// println!("{n} entries shifted");
/// # Ok::<(), vpsos_core::Error>(())
/// ```
pub fn chown_shift(root: &Path, uid_map: &IdMap, gid_map: &IdMap) -> Result<u64> {
    let maps = Maps {
        uid: uid_map,
        gid: gid_map,
    };
    disjoint(uid_map, "uid map")?;
    disjoint(gid_map, "gid map")?;
    let dev = std::fs::symlink_metadata(root)
        .ctx(|| format!("reading {}", root.display()))?
        .dev();
    // (dev, ino) of the hard linked inodes seen, to visit each once
    let mut linked = HashSet::new();
    let mut changed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).ctx(|| format!("reading {}", p.display()))?;
        if md.dev() != dev {
            continue;
        }
        if !md.is_dir() && md.nlink() > 1 && !linked.insert((md.dev(), md.ino())) {
            continue;
        }
        if shift_one(&p, &md, &maps)? {
            changed += 1;
        }
        if md.is_dir() {
            for e in std::fs::read_dir(&p).ctx(|| format!("listing {}", p.display()))? {
                stack.push(e.ctx(|| format!("listing {}", p.display()))?.path());
            }
        }
    }
    Ok(changed)
}

/// Refuse a map whose container range overlaps its host range (and an
/// invalid one).
fn disjoint(map: &IdMap, which: &str) -> Result<()> {
    map.validate()
        .map_err(|e| Error::invalid(which, format!("{map}: {}", e.message())))?;
    for a in map.entries() {
        for b in map.entries() {
            let (a0, a1) = (a.inside as u64, a.inside as u64 + a.count as u64);
            let (b0, b1) = (b.outside as u64, b.outside as u64 + b.count as u64);
            if a0 < b1 && b0 < a1 {
                return Err(Error::invalid(
                    which,
                    format!(
                        "{map}: its container ids {a0}..{a1} overlap its host ids \
                         {b0}..{b1}, so chown_shift could not tell a shifted id from \
                         an unshifted one"
                    ),
                ));
            }
        }
    }
    Ok(())
}

struct Maps<'a> {
    uid: &'a IdMap,
    gid: &'a IdMap,
}

/// An id neither range of its map covers, or an xattr that does not parse.
#[derive(Debug, PartialEq)]
enum Bad {
    Uid(u32),
    Gid(u32),
    Malformed,
}

/// `Some(host id)` for a container id, `None` for an id already in the
/// host range.
fn shift(map: &IdMap, id: u32) -> Option<Option<u32>> {
    match map.to_host(id) {
        Some(h) => Some(Some(h)),
        None => map.to_container(id).map(|_| None),
    }
}

impl Maps<'_> {
    fn uid(&self, id: u32) -> std::result::Result<Option<u32>, Bad> {
        shift(self.uid, id).ok_or(Bad::Uid(id))
    }

    fn gid(&self, id: u32) -> std::result::Result<Option<u32>, Bad> {
        shift(self.gid, id).ok_or(Bad::Gid(id))
    }

    /// The error for `bad` found at `p`, `place` saying where ("" for the
    /// owner).
    fn error(&self, p: &Path, bad: Bad, place: &str) -> Error {
        let (what, id, map) = match bad {
            Bad::Uid(id) => ("uid", id, self.uid),
            Bad::Gid(id) => ("gid", id, self.gid),
            Bad::Malformed => {
                return Error::new(
                    ErrorKind::Io,
                    format!("{}: the value{place} is malformed", p.display()),
                )
            }
        };
        Error::new(
            ErrorKind::InvalidConfig,
            format!(
                "{} has {what} {id}{place}, which the {what} map {map} covers neither as a \
                 container id (to shift) nor as a host id (already shifted)",
                p.display()
            ),
        )
    }
}

/// Shift one inode; whether anything changed. Everything is read and
/// checked before anything is written, so an id the maps do not cover
/// leaves the inode as it was.
fn shift_one(p: &Path, md: &Metadata, maps: &Maps) -> Result<bool> {
    let uid = maps.uid(md.uid()).map_err(|b| maps.error(p, b, ""))?;
    let gid = maps.gid(md.gid()).map_err(|b| maps.error(p, b, ""))?;
    let chown = uid.is_some() || gid.is_some();
    // symlinks carry neither ACLs nor capabilities
    let xattrs = !md.file_type().is_symlink();
    let cp = c(p)?;
    let mut acls = Vec::new();
    // the capability to write after the chown (which drops it)
    let mut cap = None;
    if xattrs {
        let names: &[&CStr] = if md.is_dir() {
            &[ACL_ACCESS, ACL_DEFAULT]
        } else {
            &[ACL_ACCESS]
        };
        for &name in names {
            let place = format!(" in its ACL ({})", name.to_string_lossy());
            if let Some(v) =
                get_xattr(&cp, name).ctx(|| format!("reading{place} of {}", p.display()))?
            {
                if let Some(v) = shift_acl(&v, maps).map_err(|b| maps.error(p, b, &place))? {
                    acls.push((name, v));
                }
            }
        }
        if let Some(v) = get_xattr(&cp, CAPABILITY)
            .ctx(|| format!("reading the file capability of {}", p.display()))?
        {
            let place = " as the root id of its file capability (security.capability)";
            cap = match shift_cap(&v, maps.uid).map_err(|b| maps.error(p, b, place))? {
                Some(v) => Some(v),
                None if chown => Some(v),
                None => None,
            };
        }
    }
    if !chown && acls.is_empty() && cap.is_none() {
        return Ok(false);
    }
    for (name, v) in &acls {
        set_xattr(&cp, name, v)
            .ctx(|| format!("writing {} of {}", name.to_string_lossy(), p.display()))?;
    }
    if chown {
        std::os::unix::fs::lchown(p, uid, gid).ctx(|| format!("chown {}", p.display()))?;
        // chown clears setuid/setgid bits: put them back
        if md.is_file() && md.mode() & 0o6000 != 0 {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(md.mode() & 0o7777))
                .ctx(|| format!("restoring the setuid/setgid bits of {}", p.display()))?;
        }
    }
    if let Some(v) = cap {
        set_xattr(&cp, CAPABILITY, &v).ctx(|| {
            let hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "writing the file capability of {} (to put it back: setfattr -n \
                 security.capability -v 0x{hex})",
                p.display()
            )
        })?;
    }
    Ok(true)
}

/// The ACL xattr `v` with the ids of its `ACL_USER` and `ACL_GROUP`
/// entries shifted; `None` if none needs it.
fn shift_acl(v: &[u8], maps: &Maps) -> std::result::Result<Option<Vec<u8>>, Bad> {
    let le32 = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    if v.len() < 4 || (v.len() - 4) % 8 != 0 || le32(v) != ACL_XATTR_VERSION {
        return Err(Bad::Malformed);
    }
    let mut out = v.to_vec();
    let mut changed = false;
    for e in out[4..].chunks_exact_mut(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let id = le32(&e[4..]);
        let new = match tag {
            ACL_USER => maps.uid(id)?,
            ACL_GROUP => maps.gid(id)?,
            _ => None,
        };
        if let Some(new) = new {
            e[4..].copy_from_slice(&new.to_le_bytes());
            changed = true;
        }
    }
    Ok(changed.then_some(out))
}

/// The capability xattr `v` with its root id shifted (v3), or made a v3
/// one of the container's root (v2); `None` if it stays as it is.
fn shift_cap(v: &[u8], uid_map: &IdMap) -> std::result::Result<Option<Vec<u8>>, Bad> {
    if v.len() < 4 {
        return Ok(None);
    }
    let magic = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
    let (data, rootid) = match (magic & VFS_CAP_REVISION_MASK, v.len()) {
        (VFS_CAP_REVISION_3, XATTR_CAPS_SZ_3) => {
            let rootid = u32::from_le_bytes([v[20], v[21], v[22], v[23]]);
            match shift(uid_map, rootid).ok_or(Bad::Uid(rootid))? {
                Some(host) => (&v[4..20], host),
                None => return Ok(None),
            }
        }
        (VFS_CAP_REVISION_2, XATTR_CAPS_SZ_2) => match uid_map.to_host(0) {
            Some(host) => (&v[4..20], host),
            None => return Ok(None),
        },
        // v1 or unknown: the kernel does not honour it; keep it
        _ => return Ok(None),
    };
    let mut out = Vec::with_capacity(XATTR_CAPS_SZ_3);
    out.extend_from_slice(&(VFS_CAP_REVISION_3 | (magic & VFS_CAP_FLAGS_EFFECTIVE)).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&rootid.to_le_bytes());
    Ok(Some(out))
}

/// The value of xattr `name` of `path` (not following a symlink); `None`
/// if it has none or its filesystem has no xattrs.
fn get_xattr(path: &CStr, name: &CStr) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: valid C strings and a buffer of buf.len() bytes.
        let n = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(Some(buf));
        }
        match last_errno() {
            libc::ENODATA | libc::EOPNOTSUPP => return Ok(None),
            // grown since: up to XATTR_SIZE_MAX (64 KiB)
            libc::ERANGE if buf.len() <= 1 << 16 => buf.resize(buf.len() * 2, 0),
            e => return Err(std::io::Error::from_raw_os_error(e)),
        }
    }
}

fn set_xattr(path: &CStr, name: &CStr, v: &[u8]) -> std::io::Result<()> {
    // SAFETY: valid C strings and a value of v.len() bytes.
    let r = unsafe { libc::lsetxattr(path.as_ptr(), name.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut v = ACL_XATTR_VERSION.to_le_bytes().to_vec();
        for &(tag, perm, id) in entries {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&perm.to_le_bytes());
            v.extend_from_slice(&id.to_le_bytes());
        }
        v
    }

    fn cap(magic: u32, permitted: u32, rootid: Option<u32>) -> Vec<u8> {
        let mut v = magic.to_le_bytes().to_vec();
        for w in [permitted, 0, 0, 0] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        if let Some(r) = rootid {
            v.extend_from_slice(&r.to_le_bytes());
        }
        v
    }

    const U: u32 = u32::MAX;

    #[test]
    fn acl_ids_shift_once() {
        let uid = IdMap::single(0, 2_000_000, 65536);
        let gid = IdMap::single(0, 3_000_000, 65536);
        let maps = Maps {
            uid: &uid,
            gid: &gid,
        };
        let before = acl(&[
            (0x01, 7, U),
            (ACL_USER, 6, 1000),
            (ACL_USER, 4, 2_000_033),
            (0x04, 5, U),
            (ACL_GROUP, 5, 4),
            (0x10, 7, U),
            (0x20, 0, U),
        ]);
        let after = shift_acl(&before, &maps).unwrap().unwrap();
        assert_eq!(
            after,
            acl(&[
                (0x01, 7, U),
                (ACL_USER, 6, 2_001_000),
                (ACL_USER, 4, 2_000_033),
                (0x04, 5, U),
                (ACL_GROUP, 5, 3_000_004),
                (0x10, 7, U),
                (0x20, 0, U),
            ])
        );
        assert_eq!(shift_acl(&after, &maps), Ok(None), "shifted already");
        let bad = acl(&[(0x01, 7, U), (ACL_GROUP, 5, 70_000)]);
        assert_eq!(shift_acl(&bad, &maps), Err(Bad::Gid(70_000)));
        assert_eq!(shift_acl(&[2, 0, 0, 0, 1], &maps), Err(Bad::Malformed));
        assert_eq!(shift_acl(&acl(&[])[..3], &maps), Err(Bad::Malformed));
    }

    #[test]
    fn cap_root_ids_shift_once() {
        let m = IdMap::single(0, 2_000_000, 65536);
        let v3 = cap(VFS_CAP_REVISION_3 | 1, 1 << 13, Some(0));
        assert_eq!(
            shift_cap(&v3, &m),
            Ok(Some(cap(VFS_CAP_REVISION_3 | 1, 1 << 13, Some(2_000_000))))
        );
        let v3 = cap(VFS_CAP_REVISION_3, 1 << 13, Some(1000));
        assert_eq!(
            shift_cap(&v3, &m),
            Ok(Some(cap(VFS_CAP_REVISION_3, 1 << 13, Some(2_001_000))))
        );
        let done = cap(VFS_CAP_REVISION_3, 1 << 13, Some(2_000_000));
        assert_eq!(shift_cap(&done, &m), Ok(None));
        let bad = cap(VFS_CAP_REVISION_3, 1 << 13, Some(70_000));
        assert_eq!(shift_cap(&bad, &m), Err(Bad::Uid(70_000)));
        // v2 (how the kernel shows a v3 of root id 0) becomes the
        // container root's v3, effective flag kept
        let v2 = cap(VFS_CAP_REVISION_2 | 1, 1 << 13, None);
        assert_eq!(
            shift_cap(&v2, &m),
            Ok(Some(cap(VFS_CAP_REVISION_3 | 1, 1 << 13, Some(2_000_000))))
        );
        assert_eq!(shift_cap(&v2, &IdMap::single(1, 2_000_000, 10)), Ok(None));
        assert_eq!(shift_cap(&[1, 0, 0, 1, 0, 0, 0, 0], &m), Ok(None));
    }

    #[test]
    fn overlapping_ranges_are_refused() {
        let e = disjoint(&IdMap::single(0, 1000, 65536), "uid map").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(
            e.to_string()
                .contains("0..65536 overlap its host ids 1000..66536"),
            "{e}"
        );
        let m: IdMap = "0:100000:65536,100000:200000:10".parse().unwrap();
        assert!(disjoint(&m, "gid map").is_err());
        assert!(disjoint(&IdMap::single(0, 1000, 0), "gid map").is_err());
        assert!(disjoint(&IdMap::single(0, 65536, 65536), "uid map").is_ok());
        assert!(disjoint(
            &"0:100000:65536,65536:300000:10".parse().unwrap(),
            "uid map"
        )
        .is_ok());
    }
}
