//! Dataset, snapshot and bookmark names, checked as OpenZFS checks them
//! (`zfs_namecheck.c`: `entity_namecheck`, `pool_namecheck`; libzfs's
//! `zfs_validate_name`) before any `zfs` command runs, so that a hostile
//! name is refused with the reason instead of reaching the command line.

use crate::error::{Error, Result};

/// ZFS_MAX_DATASET_NAME_LEN (256) counts the terminating NUL.
const MAX_NAME: usize = 255;
/// `pool_namecheck`: room for `<pool>/$ORIGIN@$ORIGIN`.
const MAX_POOL: usize = 256 - 2 - 2 * "$ORIGIN".len() - 1;
/// Pool names `pool_namecheck` reserves (vdev types).
const RESERVED_POOLS: [&str; 3] = ["mirror", "raidz", "draid"];

/// The kind of ZFS name a call expects.
///
/// ```
/// use vpsos_core::storage::zfs::{check_name, NameKind};
/// assert!(check_name("tank/ct/101", NameKind::Dataset).is_ok());
/// assert!(check_name("tank/ct/101@s1", NameKind::Snapshot).is_ok());
/// assert!(check_name("tank/ct/101#b1", NameKind::Bookmark).is_ok());
/// assert!(check_name("tank/ct/101", NameKind::Snapshot).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// A filesystem or volume: `pool/a/b`.
    Dataset,
    /// A snapshot: `pool/a@snap`.
    Snapshot,
    /// A bookmark: `pool/a#mark`.
    Bookmark,
}

impl NameKind {
    fn of(name: &str) -> NameKind {
        if name.contains('@') {
            NameKind::Snapshot
        } else if name.contains('#') {
            NameKind::Bookmark
        } else {
            NameKind::Dataset
        }
    }

    fn field(self) -> &'static str {
        match self {
            NameKind::Dataset => "ZFS dataset name",
            NameKind::Snapshot => "ZFS snapshot name",
            NameKind::Bookmark => "ZFS bookmark name",
        }
    }
}

/// Check `name` as a ZFS name of `kind`, as OpenZFS does: components of
/// `[A-Za-z0-9_.: -]` separated by `/`, none empty, `.` or `..`; the first
/// (the pool) beginning with a letter and not a vdev type (`mirror`,
/// `raidz`, `draid`); exactly one `@` before a snapshot's name, one `#`
/// before a bookmark's, none in a dataset's; at most 255 bytes. `%`,
/// which ZFS keeps for its own temporary clones, is refused too: this is
/// the check of a name to create. Every [`Zfs`](super::Zfs) call makes it
/// (or its read-only variant) before running a command; an invalid name
/// is an [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig)
/// error naming it and why.
///
/// ```
/// use vpsos_core::storage::zfs::{check_name, NameKind};
/// use vpsos_core::ErrorKind;
/// let e = check_name("-o", NameKind::Dataset).unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::InvalidConfig);
/// assert_eq!(
///     e.to_string(),
///     r#"invalid ZFS dataset name: "-o": the pool name must begin with a letter"#
/// );
/// assert!(check_name("tank/a b:c-d_e.f", NameKind::Dataset).is_ok());
/// ```
pub fn check_name(name: &str, kind: NameKind) -> Result<()> {
    check(name, &[kind], true)
}

/// Check `name` as one of the `allowed` kinds; `creating`: refuse `%` as
/// libzfs does for names it modifies.
pub(crate) fn check(name: &str, allowed: &[NameKind], creating: bool) -> Result<()> {
    let kind = NameKind::of(name);
    let field = if allowed.contains(&kind) {
        kind.field()
    } else {
        allowed[0].field()
    };
    why_invalid(name, kind, allowed, creating).map_or(Ok(()), |why| {
        Err(Error::invalid(field, format!("{name:?}: {why}")))
    })
}

fn valid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | ' ')
}

fn why_invalid(name: &str, kind: NameKind, allowed: &[NameKind], creating: bool) -> Option<String> {
    if name.is_empty() {
        return Some("empty".into());
    }
    if name.len() > MAX_NAME {
        return Some(format!("longer than {MAX_NAME} bytes"));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(valid_char(c) || matches!(c, '/' | '@' | '#') || (c == '%' && !creating)))
    {
        return Some(format!("invalid character {c:?}"));
    }
    if name.starts_with('/') {
        return Some("leading slash".into());
    }
    if name.matches(['@', '#']).count() > 1 {
        return Some("more than one '@' or '#' delimiter".into());
    }
    if !allowed.contains(&kind) {
        return Some(misplaced(kind, allowed));
    }
    let (dataset, tail) = match name.find(['@', '#']) {
        Some(i) => (&name[..i], Some(&name[i + 1..])),
        None => (name, None),
    };
    if dataset.ends_with('/') && dataset.len() > 1 {
        return Some("trailing slash".into());
    }
    for (i, c) in dataset.split('/').enumerate() {
        if let Some(why) = component(c) {
            return Some(why);
        }
        if i == 0 {
            if let Some(why) = pool(c) {
                return Some(why);
            }
        }
    }
    if let Some(tail) = tail {
        let what = if kind == NameKind::Snapshot {
            "snapshot"
        } else {
            "bookmark"
        };
        if tail.contains('/') {
            return Some(format!("'/' in the {what} part"));
        }
        if let Some(why) = component(tail) {
            return Some(format!("{why} as the {what} part"));
        }
    }
    None
}

/// Why a name of `kind` is not one of `allowed` (libzfs's wording).
fn misplaced(kind: NameKind, allowed: &[NameKind]) -> String {
    match kind {
        NameKind::Snapshot => "snapshot delimiter '@' is not expected here".into(),
        NameKind::Bookmark => "bookmark delimiter '#' is not expected here".into(),
        NameKind::Dataset => {
            let want: Vec<&str> = allowed
                .iter()
                .map(|k| match k {
                    NameKind::Snapshot => "'@' (a snapshot)",
                    NameKind::Bookmark => "'#' (a bookmark)",
                    NameKind::Dataset => "",
                })
                .collect();
            format!("missing {}", want.join(" or "))
        }
    }
}

fn component(c: &str) -> Option<String> {
    match c {
        "" => Some("empty component".into()),
        "." => Some("'.' component".into()),
        ".." => Some("'..' component".into()),
        _ => None,
    }
}

fn pool(p: &str) -> Option<String> {
    if !p.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Some("the pool name must begin with a letter".into());
    }
    if p.contains('%') {
        return Some("invalid character '%' in the pool name".into());
    }
    if RESERVED_POOLS.contains(&p) {
        return Some(format!("pool name {p:?} is reserved"));
    }
    if p.len() > MAX_POOL {
        return Some(format!("pool name longer than {MAX_POOL} bytes"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use NameKind::*;

    #[test]
    fn accepts_what_zfs_accepts() {
        let long_ok = format!("tank/{}", "a".repeat(MAX_NAME - 5));
        let long_pool = "p".repeat(MAX_POOL);
        for (name, kind) in [
            ("tank", Dataset),
            ("tank/ct/101", Dataset),
            ("Tank2/a b/c:d/e-f/g_h/i.j", Dataset),
            ("tank/-leading-dash-inside", Dataset),
            ("tank/...", Dataset),
            ("tank/.hidden", Dataset),
            ("tank/a..b", Dataset),
            ("mirrors", Dataset),
            ("raidz1x", Dataset),
            ("log", Dataset),
            ("spare", Dataset),
            ("tank@s", Snapshot),
            ("tank/ct/101@m1", Snapshot),
            ("tank/ct/101@-x", Snapshot),
            ("tank/ct/101@with space", Snapshot),
            ("tank/ct/101@2024-01-01T00:00", Snapshot),
            ("tank/ct/101#b1", Bookmark),
            (long_ok.as_str(), Dataset),
            (long_pool.as_str(), Dataset),
        ] {
            assert!(
                check_name(name, kind).is_ok(),
                "{name:?} as {kind:?}: {:?}",
                check_name(name, kind)
            );
        }
    }

    #[test]
    fn refuses_what_zfs_refuses_with_the_reason() {
        let too_long = format!("tank/{}", "a".repeat(MAX_NAME - 4));
        let pool_too_long = "p".repeat(MAX_POOL + 1);
        for (name, kind, why) in [
            ("", Dataset, "empty"),
            ("-o", Dataset, "pool name must begin with a letter"),
            ("--", Dataset, "pool name must begin with a letter"),
            ("-Rtank@s", Snapshot, "pool name must begin with a letter"),
            ("1tank", Dataset, "pool name must begin with a letter"),
            ("_tank", Dataset, "pool name must begin with a letter"),
            ("/tank", Dataset, "leading slash"),
            ("tank/", Dataset, "trailing slash"),
            ("tank//a", Dataset, "empty component"),
            ("tank/./a", Dataset, "'.' component"),
            ("tank/..", Dataset, "'..' component"),
            ("tank/../etc", Dataset, "'..' component"),
            ("mirror", Dataset, "reserved"),
            ("raidz/a", Dataset, "reserved"),
            ("draid@s", Snapshot, "reserved"),
            ("tank/a\nb", Dataset, "invalid character '\\n'"),
            ("tank/a\0b", Dataset, "invalid character '\\0'"),
            ("tank/a\tb", Dataset, "invalid character '\\t'"),
            ("tank/a=b", Dataset, "invalid character '='"),
            ("tank/a,b", Dataset, "invalid character ','"),
            ("tank/a*", Dataset, "invalid character '*'"),
            ("tank/a$(reboot)", Dataset, "invalid character '$'"),
            ("tank/ä", Dataset, "invalid character 'ä'"),
            ("tank/%recv", Dataset, "invalid character '%'"),
            ("tank/a@s", Dataset, "'@' is not expected"),
            ("tank/a#b", Dataset, "'#' is not expected"),
            ("tank/a", Snapshot, "missing '@'"),
            ("tank/a", Bookmark, "missing '#'"),
            ("tank/a#b", Snapshot, "'#' is not expected"),
            ("tank/a@s", Bookmark, "'@' is not expected"),
            ("tank/a@s@t", Snapshot, "more than one"),
            ("tank/a@s#t", Snapshot, "more than one"),
            ("tank@", Snapshot, "empty component as the snapshot part"),
            ("tank/a@.", Snapshot, "'.' component as the snapshot part"),
            ("tank/a@..", Snapshot, "'..' component as the snapshot part"),
            ("tank/a#", Bookmark, "empty component as the bookmark part"),
            ("tank/a@s/b", Snapshot, "'/' in the snapshot part"),
            ("@s", Snapshot, "empty component"),
            ("tank/@s", Snapshot, "trailing slash"),
            ("tank/.@s", Snapshot, "'.' component"),
            (too_long.as_str(), Dataset, "longer than 255 bytes"),
            (pool_too_long.as_str(), Dataset, "pool name longer than"),
        ] {
            let e = check_name(name, kind).expect_err(name);
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
            assert!(e.to_string().contains(why), "{name:?} as {kind:?}: {e}");
            assert!(e.to_string().contains(&format!("{name:?}")), "{e}");
            assert!(e.field().unwrap().starts_with("ZFS "), "{e}");
        }
    }

    #[test]
    fn read_only_calls_may_name_zfs_temporary_clones() {
        assert!(check("tank/ct/%recv", &[Dataset], false).is_ok());
        assert!(check("tank/ct/%recv", &[Dataset], true).is_err());
        assert!(check("ta%nk", &[Dataset], false).is_err());
    }

    #[test]
    fn names_the_kinds_expected() {
        let e = check("tank/a", &[Snapshot, Bookmark], false).unwrap_err();
        assert!(
            e.to_string()
                .contains("missing '@' (a snapshot) or '#' (a bookmark)"),
            "{e}"
        );
        assert!(check("tank/a#b", &[Snapshot, Bookmark], false).is_ok());
        assert!(check("tank/a@b", &[Dataset, Snapshot], false).is_ok());
    }
}
