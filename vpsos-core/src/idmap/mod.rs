//! uid/gid maps for user namespaces, and the [`IdRange`] block allocator.
//!
//! An [`IdMap`] is what `/proc/<pid>/uid_map` holds: entries of
//! `container-id host-id count`. The text form used by osctld and LXC is
//! `0:1000000:65536,65536:2000000:1000`.

mod range;

pub use range::{IdRange, IdRangeAllocation};

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// One line of a uid or gid map: `count` ids starting at `inside` in the
/// container are `outside..outside+count` on the host.
///
/// ```
/// use vpsos_core::IdMapEntry;
/// let e = IdMapEntry::new(0, 100000, 65536);
/// assert_eq!(e.to_string(), "0:100000:65536");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdMapEntry {
    /// First id inside the container.
    pub inside: u32,
    /// First id on the host.
    pub outside: u32,
    /// How many ids.
    pub count: u32,
}

impl IdMapEntry {
    /// A new entry.
    pub const fn new(inside: u32, outside: u32, count: u32) -> IdMapEntry {
        IdMapEntry {
            inside,
            outside,
            count,
        }
    }

    fn inside_end(&self) -> u64 {
        self.inside as u64 + self.count as u64
    }

    fn outside_end(&self) -> u64 {
        self.outside as u64 + self.count as u64
    }
}

impl fmt::Display for IdMapEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.inside, self.outside, self.count)
    }
}

/// The kernel accepts at most this many lines in a map (since Linux 4.15).
pub const MAX_ENTRIES: usize = 340;

/// A uid or gid map: a validated list of [`IdMapEntry`].
///
/// ```
/// use vpsos_core::IdMap;
/// let map: IdMap = "0:1000000:65536".parse().unwrap();
/// assert_eq!(map.to_host(0), Some(1000000));
/// assert_eq!(map.to_container(1000033), Some(33));
/// assert_eq!(map.to_host(70000), None);
/// assert_eq!(map.proc_format(), "0 1000000 65536\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct IdMap {
    entries: Vec<IdMapEntry>,
}

impl IdMap {
    /// Build and validate a map from entries.
    pub fn new(entries: Vec<IdMapEntry>) -> Result<IdMap> {
        let map = IdMap { entries };
        map.validate()?;
        Ok(map)
    }

    /// The identity-free map `0:host_start:count`, the common case.
    ///
    /// ```
    /// let m = vpsos_core::IdMap::single(0, 100000, 65536);
    /// assert_eq!(m.to_string(), "0:100000:65536");
    /// ```
    pub fn single(inside: u32, outside: u32, count: u32) -> IdMap {
        IdMap {
            entries: vec![IdMapEntry::new(inside, outside, count)],
        }
    }

    /// The entries in order.
    pub fn entries(&self) -> &[IdMapEntry] {
        &self.entries
    }

    /// Check counts, overflow and overlaps on both sides.
    pub fn validate(&self) -> Result<()> {
        if self.entries.is_empty() {
            return Err(Error::invalid("id map", "no entries"));
        }
        if self.entries.len() > MAX_ENTRIES {
            return Err(Error::invalid(
                "id map",
                format!(
                    "{} entries, the kernel takes at most {MAX_ENTRIES}",
                    self.entries.len()
                ),
            ));
        }
        for e in &self.entries {
            if e.count == 0 {
                return Err(Error::invalid(
                    "id map",
                    format!("entry {e} has a zero count"),
                ));
            }
            if e.inside_end() > u32::MAX as u64 || e.outside_end() > u32::MAX as u64 {
                return Err(Error::invalid(
                    "id map",
                    format!("entry {e} runs past the largest id 4294967294"),
                ));
            }
        }
        for (i, a) in self.entries.iter().enumerate() {
            for b in &self.entries[i + 1..] {
                if overlaps(
                    a.inside as u64,
                    a.inside_end(),
                    b.inside as u64,
                    b.inside_end(),
                ) {
                    return Err(Error::invalid(
                        "id map",
                        format!("entries {a} and {b} overlap inside the container"),
                    ));
                }
                if overlaps(
                    a.outside as u64,
                    a.outside_end(),
                    b.outside as u64,
                    b.outside_end(),
                ) {
                    return Err(Error::invalid(
                        "id map",
                        format!("entries {a} and {b} overlap on the host"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Translate a container id to the host id, if mapped.
    pub fn to_host(&self, id: u32) -> Option<u32> {
        self.entries.iter().find_map(|e| {
            (id >= e.inside && (id as u64) < e.inside_end()).then(|| e.outside + (id - e.inside))
        })
    }

    /// Translate a host id to the container id, if mapped.
    pub fn to_container(&self, id: u32) -> Option<u32> {
        self.entries.iter().find_map(|e| {
            (id >= e.outside && (id as u64) < e.outside_end()).then(|| e.inside + (id - e.outside))
        })
    }

    /// Whether the container id is mapped.
    pub fn maps(&self, id: u32) -> bool {
        self.to_host(id).is_some()
    }

    /// The text the kernel expects in `/proc/<pid>/uid_map`.
    pub fn proc_format(&self) -> String {
        self.entries
            .iter()
            .map(|e| format!("{} {} {}\n", e.inside, e.outside, e.count))
            .collect()
    }
}

fn overlaps(a0: u64, a1: u64, b0: u64, b1: u64) -> bool {
    a0 < b1 && b0 < a1
}

impl fmt::Display for IdMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl FromStr for IdMap {
    type Err = Error;

    /// Parse `inside:outside:count[,inside:outside:count...]`.
    fn from_str(s: &str) -> Result<IdMap> {
        let mut entries = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let nums: Vec<&str> = part.split(':').collect();
            if nums.len() != 3 {
                return Err(Error::invalid(
                    "id map",
                    format!("{part:?} is not inside:outside:count"),
                ));
            }
            let n = |t: &str| {
                t.trim().parse::<u32>().map_err(|_| {
                    Error::invalid("id map", format!("{t:?} in {part:?} is not a number"))
                })
            };
            entries.push(IdMapEntry::new(n(nums[0])?, n(nums[1])?, n(nums[2])?));
        }
        IdMap::new(entries)
    }
}

impl Serialize for IdMap {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for IdMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<IdMap, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn parses_several_entries() {
        let m: IdMap = "0:1000000:65536, 65536:2000000:1000".parse().unwrap();
        assert_eq!(m.entries().len(), 2);
        assert_eq!(m.to_host(65536), Some(2000000));
        assert_eq!(m.to_host(66535), Some(2000999));
        assert_eq!(m.to_host(66536), None);
        assert_eq!(m.to_container(2000001), Some(65537));
        assert_eq!(m.to_string(), "0:1000000:65536,65536:2000000:1000");
        assert_eq!(
            m.proc_format(),
            "0 1000000 65536\n65536 2000000 1000\n".to_string()
        );
    }

    #[test]
    fn rejects_bad_text() {
        for bad in ["", "0:1", "a:1:2", "0:1:2:3", "0:-1:5"] {
            let e = bad.parse::<IdMap>().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{bad}");
        }
    }

    #[test]
    fn rejects_overlaps_and_overflow() {
        assert!("0:1000:100,50:5000:10".parse::<IdMap>().is_err());
        assert!("0:1000:100,200:1050:10".parse::<IdMap>().is_err());
        assert!("0:4294967290:10".parse::<IdMap>().is_err());
        assert!("0:1000:0".parse::<IdMap>().is_err());
        assert!("0:1000:100,100:1100:10".parse::<IdMap>().is_ok());
    }

    #[test]
    fn serde_uses_text_form() {
        let m = IdMap::single(0, 100000, 65536);
        let j = serde_json::to_string(&m).unwrap();
        assert_eq!(j, "\"0:100000:65536\"");
        assert_eq!(serde_json::from_str::<IdMap>(&j).unwrap(), m);
    }
}
