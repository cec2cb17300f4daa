//! Properties: `zfs get -H -p` output parsed, and the names and values
//! that go on a command line (`-o name=value`, `name=value`) checked first.

use crate::error::{Error, ErrorKind, Result};
use std::collections::BTreeMap;

/// ZAP_MAXNAMELEN (256) counts the terminating NUL.
const MAX_PROP_NAME: usize = 255;
/// ZFS_MAXPROPLEN (ZAP_MAXVALUELEN, 8192) counts the terminating NUL.
const MAX_PROP_VALUE: usize = 8191;
/// Properties named `<prefix>@<who>` (`userquota@alice`) or, for
/// `written`, `written#<bookmark>` too.
const PER_WHO: [&str; 13] = [
    "userused",
    "userquota",
    "groupused",
    "groupquota",
    "userobjused",
    "userobjquota",
    "groupobjused",
    "groupobjquota",
    "projectused",
    "projectquota",
    "projectobjused",
    "projectobjquota",
    "written",
];

/// One property value and where it comes from.
///
/// ```
/// let p = vpsos_core::storage::zfs::Properties::parse("tank\tquota\t0\tdefault\n")?;
/// assert_eq!(p.0["tank"]["quota"].source, "default");
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The value (`-p`: exact numbers, `-` for none).
    pub value: String,
    /// `local`, `default`, `inherited from <ds>`, `received`, `-`.
    pub source: String,
}

/// Properties of several datasets: dataset → property → value.
///
/// ```
/// let out = "tank/ct/101\tquota\t10737418240\tlocal\ntank/ct/101\tcompression\tlz4\tinherited from tank\n";
/// let p = vpsos_core::storage::zfs::Properties::parse(out)?;
/// assert_eq!(p.get("tank/ct/101", "quota"), Some("10737418240"));
/// assert_eq!(p.u64("tank/ct/101", "quota"), Some(10 << 30));
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties(pub BTreeMap<String, BTreeMap<String, Property>>);

impl Properties {
    /// Parse `zfs get -H -p -o name,property,value,source` output. Values
    /// may contain spaces and tabs (user properties): the name and the
    /// property are the first two tab-separated fields, the source the
    /// last, the value all between.
    ///
    /// ```
    /// use vpsos_core::storage::zfs::Properties;
    /// let p = Properties::parse("tank\torg.x:note\ta\tb\tlocal\n")?;
    /// assert_eq!(p.get("tank", "org.x:note"), Some("a\tb"));
    /// assert!(Properties::parse("tank\tquota\n").is_err());
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn parse(out: &str) -> Result<Properties> {
        let mut p = Properties::default();
        for (n, line) in out.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
            let mut f = line.splitn(3, '\t');
            let fields = (
                f.next(),
                f.next(),
                f.next().and_then(|r| r.rsplit_once('\t')),
            );
            let (Some(name), Some(prop), Some((value, source))) = fields else {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "zfs get output line {}: {line:?} is not 4 tab-separated fields",
                        n + 1
                    ),
                ));
            };
            p.0.entry(name.to_string()).or_default().insert(
                prop.to_string(),
                Property {
                    value: value.to_string(),
                    source: source.to_string(),
                },
            );
        }
        Ok(p)
    }

    /// The value of `prop` of `dataset`.
    ///
    /// ```
    /// let p = vpsos_core::storage::zfs::Properties::parse("tank\tcompression\tlz4\tlocal\n")?;
    /// assert_eq!(p.get("tank", "compression"), Some("lz4"));
    /// assert_eq!(p.get("tank", "quota"), None);
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn get(&self, dataset: &str, prop: &str) -> Option<&str> {
        self.0.get(dataset)?.get(prop).map(|p| p.value.as_str())
    }

    /// The value as a number (`None` for `-`, `none` or text).
    ///
    /// ```
    /// let p = vpsos_core::storage::zfs::Properties::parse("tank\tused\t1234\t-\ntank\tmountpoint\t-\t-\n")?;
    /// assert_eq!(p.u64("tank", "used"), Some(1234));
    /// assert_eq!(p.u64("tank", "mountpoint"), None);
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn u64(&self, dataset: &str, prop: &str) -> Option<u64> {
        self.get(dataset, prop)?.parse().ok()
    }
}

/// Check a property name for a command line: native and user properties
/// (`[a-z0-9_.:-]`, a user one has a `:`), not beginning with `-` (it
/// would read as an option where `--` cannot go: `zfs set` of ZFS 2.1),
/// and the per-user/group/project ones (`userquota@alice`, `written@snap`).
pub(crate) fn check_name(name: &str) -> Result<()> {
    why_invalid_name(name).map_or(Ok(()), |why| {
        Err(Error::invalid(
            "ZFS property name",
            format!("{name:?}: {why}"),
        ))
    })
}

fn why_invalid_name(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("empty".into());
    }
    if name.len() > MAX_PROP_NAME {
        return Some(format!("longer than {MAX_PROP_NAME} bytes"));
    }
    let base = match name.find(['@', '#']) {
        Some(i) => {
            let (prefix, who) = (&name[..i], &name[i + 1..]);
            if !PER_WHO.contains(&prefix) || (name[i..].starts_with('#') && prefix != "written") {
                return Some(format!(
                    "{:?} only follows one of {}",
                    &name[i..i + 1],
                    PER_WHO.join(", ")
                ));
            }
            if who.is_empty() {
                return Some(format!("nothing after {:?}", &name[i..i + 1]));
            }
            if let Some(c) = who
                .chars()
                .find(|&c| c.is_control() || matches!(c, '=' | ','))
            {
                return Some(format!("invalid character {c:?}"));
            }
            prefix
        }
        None => name,
    };
    if let Some(c) = base.chars().find(|&c| {
        !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.' | ':'))
    }) {
        return Some(format!(
            "invalid character {c:?} (property names are [a-z0-9_.:-])"
        ));
    }
    if name.starts_with('-') {
        return Some("begins with '-'".into());
    }
    None
}

/// Check a value to pass as `name=value`: no NUL (no command line can
/// carry it), no line break (`zfs get -H` prints a value per line), at
/// most 8191 bytes.
pub(crate) fn check_value(name: &str, value: &str) -> Result<()> {
    let why = if value.contains('\0') {
        "contains NUL"
    } else if value.contains(['\n', '\r']) {
        "contains a line break"
    } else if value.len() > MAX_PROP_VALUE {
        return Err(Error::invalid(
            "ZFS property value",
            format!(
                "{name}: {} bytes, longer than {MAX_PROP_VALUE}",
                value.len()
            ),
        ));
    } else {
        return Ok(());
    };
    Err(Error::invalid(
        "ZFS property value",
        format!("{name}={value:?}: {why}"),
    ))
}

/// Check `name=value` pairs.
pub(crate) fn check_pairs(props: &[(&str, &str)]) -> Result<()> {
    props
        .iter()
        .try_for_each(|(k, v)| check_name(k).and_then(|_| check_value(k, v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_get_output_with_spaces_tabs_and_dashes() {
        let out = "tank\tused\t1234\t-\ntank/ct/1\torg.vpsadminos.osctl:note\ta value with spaces\tlocal\n\
                   tank/ct/1\tquota\t0\tdefault\ntank/ct/1\tmountpoint\t-\t-\n\
                   tank/ct/1\torg.x:tabs\t\ta\tb\t\tinherited from tank\n";
        let p = Properties::parse(out).unwrap();
        assert_eq!(p.u64("tank", "used"), Some(1234));
        assert_eq!(
            p.get("tank/ct/1", "org.vpsadminos.osctl:note"),
            Some("a value with spaces")
        );
        assert_eq!(p.0["tank/ct/1"]["quota"].source, "default");
        assert_eq!(p.u64("tank/ct/1", "mountpoint"), None);
        assert_eq!(p.get("tank/ct/1", "org.x:tabs"), Some("\ta\tb\t"));
        assert_eq!(p.0["tank/ct/1"]["org.x:tabs"].source, "inherited from tank");
        assert!(Properties::parse("broken line\n").is_err());
        assert!(Properties::parse("a\tb\tc\n").is_err());
    }

    #[test]
    fn property_names() {
        for ok in [
            "compression",
            "refquota",
            "org.vpsadminos.osctl:id",
            "a:b",
            "x-y_z.w:v",
            "1st:prop",
            "userquota@alice",
            "groupquota@1000",
            "projectobjquota@7",
            "written@s1",
            "written#b1",
            "userquota@user@domain",
        ] {
            assert!(check_name(ok).is_ok(), "{ok}: {:?}", check_name(ok));
        }
        for (bad, why) in [
            ("", "empty"),
            ("-o", "begins with '-'"),
            ("-x:y", "begins with '-'"),
            ("Compression", "invalid character 'C'"),
            ("org.x:Y", "invalid character 'Y'"),
            ("a b:c", "invalid character ' '"),
            ("a=b", "invalid character '='"),
            ("a,b", "invalid character ','"),
            ("a\nb", "invalid character '\\n'"),
            ("a\0b", "invalid character '\\0'"),
            ("quota@alice", "only follows one of"),
            ("userquota#alice", "only follows one of"),
            ("userquota@", "nothing after"),
            ("userquota@a=b", "invalid character '='"),
            ("userquota@a,b", "invalid character ','"),
            ("userquota@a\nb", "invalid character '\\n'"),
        ] {
            let e = check_name(bad).expect_err(bad);
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert_eq!(e.field(), Some("ZFS property name"));
            assert!(e.to_string().contains(why), "{bad:?}: {e}");
        }
        assert!(check_name(&format!("a:{}", "b".repeat(253))).is_ok());
        assert!(check_name(&format!("a:{}", "b".repeat(254))).is_err());
    }

    #[test]
    fn property_values() {
        for ok in [
            "",
            "lz4",
            "a value with spaces",
            "-starts-with-dash",
            "a=b",
            "t\tab",
            "ä",
        ] {
            assert!(check_value("org.x:y", ok).is_ok(), "{ok:?}");
        }
        for (bad, why) in [
            ("a\nb", "line break"),
            ("a\rb", "line break"),
            ("a\0b", "NUL"),
        ] {
            let e = check_value("org.x:y", bad).unwrap_err();
            assert_eq!(e.field(), Some("ZFS property value"));
            assert!(e.to_string().contains(why), "{e}");
            assert!(e.to_string().contains("org.x:y="), "{e}");
        }
        assert!(check_value("org.x:y", &"v".repeat(8191)).is_ok());
        let e = check_value("org.x:y", &"v".repeat(8192)).unwrap_err();
        assert!(e.to_string().contains("8192 bytes"), "{e}");
        assert!(check_pairs(&[("canmount", "noauto"), ("-o", "x")]).is_err());
        assert!(check_pairs(&[("canmount", "noauto"), ("quota", "1\n")]).is_err());
    }
}
