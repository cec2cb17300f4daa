//! A persisted first-fit allocator of uid/gid blocks, as osctld's id ranges.
//!
//! The range `start .. start + block_size * block_count` is cut into blocks;
//! each allocation takes consecutive blocks and names an owner (a container
//! id, typically). The state lives in one JSON file; every operation takes an
//! exclusive `flock` on `<file>.lock`, re-reads the file and replaces it
//! atomically, so several processes can allocate at once.

use super::IdMap;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// One allocation: `count` blocks starting at block `index`.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use vpsos_core::IdRange;
/// let r = IdRange::open_or_create(dir.path().join("default.json"), 1_000_000, 65536, 16).unwrap();
/// let a = r.allocate(1, "ct101").unwrap();
/// assert_eq!(a.first_id(), 1_000_000);
/// assert_eq!(a.id_map().to_string(), "0:1000000:65536");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRangeAllocation {
    /// First block index.
    pub index: u64,
    /// Number of blocks.
    pub count: u64,
    /// Who holds it.
    pub owner: String,
    #[serde(skip)]
    first_id: u64,
    #[serde(skip)]
    id_count: u64,
}

impl IdRangeAllocation {
    /// The first host id of the allocation.
    pub fn first_id(&self) -> u32 {
        self.first_id as u32
    }

    /// How many ids it spans.
    pub fn id_count(&self) -> u32 {
        self.id_count as u32
    }

    /// The map `0:first_id:id_count` for a container using this allocation.
    pub fn id_map(&self) -> IdMap {
        IdMap::single(0, self.first_id(), self.id_count())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RangeFile {
    start: u64,
    block_size: u64,
    block_count: u64,
    allocations: Vec<IdRangeAllocation>,
}

/// A persisted id-range block allocator.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use vpsos_core::IdRange;
/// let r = IdRange::open_or_create(dir.path().join("r.json"), 1_000_000, 65536, 8).unwrap();
/// let a = r.allocate(2, "a").unwrap();
/// let b = r.allocate_at(5, 1, "b").unwrap();
/// assert_eq!((a.index, b.index), (0, 5));
/// assert_eq!(r.allocate(3, "c").unwrap().index, 2); // first fit: blocks 2..5
/// r.free(0).unwrap();
/// assert_eq!(r.list().unwrap().len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct IdRange {
    path: PathBuf,
}

/// osctld's defaults: ids from 1,000,000 in blocks of 65,536.
pub const DEFAULT_START: u64 = 1_000_000;
/// osctld's default block size.
pub const DEFAULT_BLOCK_SIZE: u64 = 65_536;
/// Blocks in the default range: as many as fit below 2^32.
pub const DEFAULT_BLOCK_COUNT: u64 = (u32::MAX as u64 - DEFAULT_START) / DEFAULT_BLOCK_SIZE;

impl IdRange {
    /// Open the range stored at `path`, creating it with the given geometry if
    /// it does not exist. An existing file keeps its own geometry; a
    /// different one requested here is an `InvalidConfig` error.
    pub fn open_or_create(
        path: impl Into<PathBuf>,
        start: u64,
        block_size: u64,
        block_count: u64,
    ) -> Result<IdRange> {
        if block_size == 0 || block_count == 0 {
            return Err(Error::invalid(
                "id range",
                "block size and count must be positive",
            ));
        }
        if start + block_size * block_count > u32::MAX as u64 {
            return Err(Error::invalid(
                "id range",
                "the range runs past the largest id",
            ));
        }
        let range = IdRange { path: path.into() };
        if let Some(parent) = range.path.parent() {
            fs::create_dir_all(parent).ctx(|| format!("creating {}", parent.display()))?;
        }
        range.locked(|file| {
            match file {
                Some(f) => {
                    if (f.start, f.block_size, f.block_count) != (start, block_size, block_count) {
                        return Err(Error::invalid(
                            "id range",
                            format!(
                                "{} exists with start {} block size {} count {}",
                                range.path.display(),
                                f.start,
                                f.block_size,
                                f.block_count
                            ),
                        ));
                    }
                }
                None => {
                    *file = Some(RangeFile {
                        start,
                        block_size,
                        block_count,
                        allocations: vec![],
                    })
                }
            }
            Ok(())
        })?;
        Ok(range)
    }

    /// Open with osctld's defaults (start 1,000,000, blocks of 65,536).
    pub fn open_default(path: impl Into<PathBuf>) -> Result<IdRange> {
        Self::open_or_create(path, DEFAULT_START, DEFAULT_BLOCK_SIZE, DEFAULT_BLOCK_COUNT)
    }

    /// Where the state is stored.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Allocate `count` consecutive blocks, first fit.
    pub fn allocate(&self, count: u64, owner: &str) -> Result<IdRangeAllocation> {
        self.modify(|f| {
            let index = first_fit(f, count).ok_or_else(|| {
                Error::new(
                    ErrorKind::Busy,
                    format!("allocating {count} blocks: no free run that long"),
                )
            })?;
            Ok(insert(f, index, count, owner))
        })
    }

    /// Allocate `count` blocks at block `index`; fails with `AlreadyExists`
    /// if any of them is taken.
    pub fn allocate_at(&self, index: u64, count: u64, owner: &str) -> Result<IdRangeAllocation> {
        self.modify(|f| {
            if count == 0 || index + count > f.block_count {
                return Err(Error::invalid(
                    "id range allocation",
                    format!(
                        "blocks {index}..{} outside 0..{}",
                        index + count,
                        f.block_count
                    ),
                ));
            }
            if let Some(a) = f
                .allocations
                .iter()
                .find(|a| index < a.index + a.count && a.index < index + count)
            {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!(
                        "allocating blocks {index}..{}: blocks {}..{} belong to {}",
                        index + count,
                        a.index,
                        a.index + a.count,
                        a.owner
                    ),
                ));
            }
            Ok(insert(f, index, count, owner))
        })
    }

    /// Free the allocation that starts at block `index`.
    pub fn free(&self, index: u64) -> Result<IdRangeAllocation> {
        self.modify(|f| {
            let pos = f
                .allocations
                .iter()
                .position(|a| a.index == index)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotFound,
                        format!("freeing block {index}: no allocation starts there"),
                    )
                })?;
            Ok(f.allocations.remove(pos))
        })
    }

    /// Free every allocation held by `owner`; returns how many.
    pub fn free_owner(&self, owner: &str) -> Result<usize> {
        self.modify(|f| {
            let before = f.allocations.len();
            f.allocations.retain(|a| a.owner != owner);
            Ok(before - f.allocations.len())
        })
    }

    /// All allocations, by block index.
    pub fn list(&self) -> Result<Vec<IdRangeAllocation>> {
        self.locked(|f| {
            let f = f.as_ref().ok_or_else(|| self.missing())?;
            Ok(f.allocations
                .iter()
                .map(|a| with_ids(f, a.clone()))
                .collect())
        })
    }

    fn missing(&self) -> Error {
        Error::new(
            ErrorKind::NotFound,
            format!("id range {} does not exist", self.path.display()),
        )
    }

    fn modify<T>(&self, op: impl FnOnce(&mut RangeFile) -> Result<T>) -> Result<T> {
        self.locked(|f| {
            let f = f.as_mut().ok_or_else(|| self.missing())?;
            op(f)
        })
    }

    /// Run `op` on the file's content under an exclusive lock; write it back
    /// (atomically) if it changed.
    fn locked<T>(&self, op: impl FnOnce(&mut Option<RangeFile>) -> Result<T>) -> Result<T> {
        let lock_path = self.path.with_extension("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .ctx(|| format!("opening {}", lock_path.display()))?;
        flock(&lock)?;
        let before = match fs::read(&self.path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).ctx(|| format!("reading {}", self.path.display())),
        };
        let mut content: Option<RangeFile> = match &before {
            Some(b) => Some(serde_json::from_slice(b).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    format!("parsing id range {}: {e}", self.path.display()),
                )
            })?),
            None => None,
        };
        let out = op(&mut content)?;
        if let Some(c) = &content {
            let bytes = serde_json::to_vec_pretty(c).expect("id range serializes");
            if before.as_deref() != Some(&bytes[..]) {
                let tmp = self.path.with_extension("tmp");
                let mut f = File::create(&tmp).ctx(|| format!("writing {}", tmp.display()))?;
                f.write_all(&bytes)
                    .and_then(|_| f.sync_all())
                    .ctx(|| format!("writing {}", tmp.display()))?;
                fs::rename(&tmp, &self.path)
                    .ctx(|| format!("replacing {}", self.path.display()))?;
            }
        }
        Ok(out)
    }
}

fn flock(f: &File) -> Result<()> {
    loop {
        // SAFETY: flock on an fd we own.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e).ctx(|| "locking the id range".into());
        }
    }
}

fn first_fit(f: &RangeFile, count: u64) -> Option<u64> {
    if count == 0 {
        return None;
    }
    let mut next = 0;
    for a in &f.allocations {
        if a.index >= next + count {
            return Some(next);
        }
        next = next.max(a.index + a.count);
    }
    (next + count <= f.block_count).then_some(next)
}

fn insert(f: &mut RangeFile, index: u64, count: u64, owner: &str) -> IdRangeAllocation {
    let a = IdRangeAllocation {
        index,
        count,
        owner: owner.to_string(),
        first_id: 0,
        id_count: 0,
    };
    let pos = f.allocations.partition_point(|x| x.index < index);
    f.allocations.insert(pos, a.clone());
    with_ids(f, a)
}

fn with_ids(f: &RangeFile, mut a: IdRangeAllocation) -> IdRangeAllocation {
    a.first_id = f.start + a.index * f.block_size;
    a.id_count = a.count * f.block_size;
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fit_fills_holes() {
        let d = tempfile::tempdir().unwrap();
        let r = IdRange::open_or_create(d.path().join("r.json"), 1000, 10, 10).unwrap();
        assert_eq!(r.allocate(3, "a").unwrap().index, 0);
        assert_eq!(r.allocate(2, "b").unwrap().index, 3);
        assert_eq!(r.allocate(1, "c").unwrap().index, 5);
        r.free(3).unwrap();
        assert_eq!(r.allocate(1, "d").unwrap().index, 3);
        assert_eq!(r.allocate(2, "e").unwrap().index, 6);
        assert_eq!(r.allocate(1, "f").unwrap().index, 4);
        assert_eq!(r.allocate(2, "g").unwrap().index, 8);
        assert_eq!(r.allocate(1, "h").unwrap_err().kind(), ErrorKind::Busy);
        let e = r.allocate_at(0, 1, "x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert_eq!(r.free(9).unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(r.free_owner("a").unwrap(), 1);
        let l = r.list().unwrap();
        assert_eq!(l[0].index, 3);
        assert_eq!(l[0].first_id(), 1030);
    }

    #[test]
    fn geometry_is_kept() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.json");
        IdRange::open_or_create(&p, 1000, 10, 10).unwrap();
        let e = IdRange::open_or_create(&p, 1000, 20, 10).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(IdRange::open_or_create(&p, 4_294_000_000, 65536, 100).is_err());
    }

    #[test]
    fn defaults_match_osctld() {
        let d = tempfile::tempdir().unwrap();
        let r = IdRange::open_default(d.path().join("r.json")).unwrap();
        let a = r.allocate(1, "ct").unwrap();
        assert_eq!((a.first_id(), a.id_count()), (1_000_000, 65_536));
    }
}
