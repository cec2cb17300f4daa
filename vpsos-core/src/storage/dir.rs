//! Directory storage: each rootfs is a directory under one root, made from
//! a tarball (plain or gzip) or copied from a directory tree with owners,
//! modes, symlinks and device nodes kept.

use crate::error::{Error, ErrorKind, Result, ResultExt};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Root filesystems as directories under `root`.
///
/// ```no_run
/// use vpsos_core::storage::DirStorage;
/// let st = DirStorage::new("/var/lib/vpsos/rootfs");
/// let rootfs = st.create_from_tarball("ct101", "/srv/images/debian-12.tar.gz")?;
/// println!("{} uses {} bytes", rootfs.display(), st.size("ct101")?);
/// st.delete("ct101")?;
/// # Ok::<(), vpsos_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct DirStorage {
    root: PathBuf,
}

fn check_name(name: &str) -> Result<()> {
    if crate::container::valid_id(name) {
        Ok(())
    } else {
        Err(Error::invalid(
            "name",
            format!("{name:?}: use 1 to 64 of A-Z a-z 0-9 _ . - (not starting with .)"),
        ))
    }
}

impl DirStorage {
    /// Storage under `root` (made on first use).
    pub fn new(root: impl Into<PathBuf>) -> DirStorage {
        DirStorage { root: root.into() }
    }

    /// Where rootfs `name` lives (whether or not it exists).
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The names of the root filesystems.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut v = Vec::new();
        match fs::read_dir(&self.root) {
            Ok(entries) => {
                for e in entries.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if crate::container::valid_id(&n) && e.path().is_dir() {
                        v.push(n);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).ctx(|| format!("listing {}", self.root.display())),
        }
        v.sort();
        Ok(v)
    }

    /// Make the empty directory for `name`; `AlreadyExists` if it is there.
    fn fresh(&self, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        fs::create_dir_all(&self.root).ctx(|| format!("creating {}", self.root.display()))?;
        let p = self.path(name);
        match fs::create_dir(&p) {
            Ok(()) => Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("rootfs {name} exists already ({})", p.display()),
            )),
            Err(e) => Err(e).ctx(|| format!("creating {}", p.display())),
        }
    }

    /// Unpack a tar stream (plain or gzip, told apart by its first bytes)
    /// into a new rootfs `name`, keeping owners, modes and extended
    /// attributes. Entries that would land outside it are refused. On
    /// failure nothing is left.
    pub fn create_from_tar(&self, name: &str, reader: impl Read) -> Result<PathBuf> {
        let dir = self.fresh(name)?;
        let res = (|| -> Result<()> {
            let mut r = BufReader::new(reader);
            let gz = r
                .fill_buf()
                .map(|b| b.starts_with(&[0x1f, 0x8b]))
                .ctx(|| "reading the tarball".into())?;
            let stream: Box<dyn Read> = if gz {
                Box::new(flate2::read::GzDecoder::new(r))
            } else {
                Box::new(r)
            };
            let mut a = tar::Archive::new(stream);
            a.set_preserve_permissions(true);
            a.set_preserve_ownerships(true);
            a.set_unpack_xattrs(true);
            a.set_overwrite(false);
            a.unpack(&dir).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("unpacking into {}: {e}", dir.display()),
                )
            })
        })();
        if let Err(e) = res {
            let _ = fs::remove_dir_all(&dir);
            return Err(e.context(format!("creating rootfs {name}")));
        }
        Ok(dir)
    }

    /// [`create_from_tar`](DirStorage::create_from_tar) from a file.
    pub fn create_from_tarball(&self, name: &str, tarball: impl AsRef<Path>) -> Result<PathBuf> {
        let t = tarball.as_ref();
        let f = fs::File::open(t).ctx(|| format!("opening {}", t.display()))?;
        self.create_from_tar(name, f)
    }

    /// Copy the tree at `src` into a new rootfs `name`: directories, files,
    /// symlinks, device nodes, fifos and sockets, with owners, modes and
    /// modification times (hard links become copies). On failure nothing
    /// is left.
    pub fn create_from_dir(&self, name: &str, src: impl AsRef<Path>) -> Result<PathBuf> {
        let src = src.as_ref();
        let dir = self.fresh(name)?;
        if let Err(e) = copy_tree(src, &dir) {
            let _ = fs::remove_dir_all(&dir);
            return Err(e.context(format!("creating rootfs {name} from {}", src.display())));
        }
        Ok(dir)
    }

    /// Bytes rootfs `name` occupies on disk (allocated blocks; a file with
    /// several links counted once).
    pub fn size(&self, name: &str) -> Result<u64> {
        check_name(name)?;
        let p = self.path(name);
        if !p.is_dir() {
            return Err(Error::new(ErrorKind::NotFound, format!("no rootfs {name}")));
        }
        let dev = fs::symlink_metadata(&p)
            .ctx(|| format!("reading {}", p.display()))?
            .dev();
        let mut seen = std::collections::HashSet::new();
        let mut total = 0;
        let mut stack = vec![p];
        while let Some(d) = stack.pop() {
            let md = fs::symlink_metadata(&d).ctx(|| format!("reading {}", d.display()))?;
            if md.dev() != dev || (md.nlink() > 1 && !md.is_dir() && !seen.insert(md.ino())) {
                continue;
            }
            total += md.blocks() * 512;
            if md.is_dir() {
                for e in fs::read_dir(&d).ctx(|| format!("listing {}", d.display()))? {
                    stack.push(e.ctx(|| format!("listing {}", d.display()))?.path());
                }
            }
        }
        Ok(total)
    }

    /// Delete rootfs `name`. `Busy` while anything is mounted inside it (a
    /// running container's binds, say), so nothing is deleted through a
    /// mount.
    pub fn delete(&self, name: &str) -> Result<()> {
        check_name(name)?;
        let p = self.path(name);
        if !p.exists() {
            return Err(Error::new(ErrorKind::NotFound, format!("no rootfs {name}")));
        }
        let canon = fs::canonicalize(&p).ctx(|| format!("resolving {}", p.display()))?;
        let info = fs::read_to_string("/proc/self/mountinfo").ctx(|| "reading mountinfo".into())?;
        let prefix = canon.as_os_str().as_bytes();
        if let Some(m) = info.lines().filter_map(|l| l.split(' ').nth(4)).find(|mp| {
            let mp = mp.as_bytes();
            mp == prefix || (mp.starts_with(prefix) && mp.get(prefix.len()) == Some(&b'/'))
        }) {
            return Err(Error::new(
                ErrorKind::Busy,
                format!("deleting rootfs {name}: {m} is mounted inside it"),
            ));
        }
        fs::remove_dir_all(&p).ctx(|| format!("deleting {}", p.display()))
    }
}

/// Copy `src` into the existing directory `dst`, recursively.
fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let md = fs::symlink_metadata(src).ctx(|| format!("reading {}", src.display()))?;
    if !md.is_dir() {
        return Err(Error::invalid(
            "source",
            format!("{} is not a directory", src.display()),
        ));
    }
    for e in fs::read_dir(src).ctx(|| format!("listing {}", src.display()))? {
        let e = e.ctx(|| format!("listing {}", src.display()))?;
        copy_entry(&e.path(), &dst.join(e.file_name()))?;
    }
    finish(dst, &md)
}

fn copy_entry(src: &Path, dst: &Path) -> Result<()> {
    let md = fs::symlink_metadata(src).ctx(|| format!("reading {}", src.display()))?;
    let ft = md.file_type();
    if ft.is_dir() {
        fs::create_dir(dst).ctx(|| format!("creating {}", dst.display()))?;
        return copy_tree(src, dst);
    }
    if ft.is_symlink() {
        let t = fs::read_link(src).ctx(|| format!("reading {}", src.display()))?;
        std::os::unix::fs::symlink(&t, dst).ctx(|| format!("creating {}", dst.display()))?;
        return std::os::unix::fs::lchown(dst, Some(md.uid()), Some(md.gid()))
            .ctx(|| format!("chown {}", dst.display()));
    }
    if ft.is_file() {
        fs::copy(src, dst).ctx(|| format!("copying {}", src.display()))?;
    } else if ft.is_block_device() || ft.is_char_device() || ft.is_fifo() || ft.is_socket() {
        let c = std::ffi::CString::new(dst.as_os_str().as_bytes())
            .map_err(|_| Error::invalid("path", "contains a NUL byte"))?;
        // SAFETY: plain mknod with a valid path; the type bits come from the source.
        if unsafe { libc::mknod(c.as_ptr(), md.mode() & libc::S_IFMT | 0o600, md.rdev()) } < 0 {
            return Err(Error::from_errno(
                std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO),
                format!("mknod {}", dst.display()),
            ));
        }
    }
    finish(dst, &md)
}

/// Owner, then mode (chown clears setuid bits), then times.
fn finish(dst: &Path, md: &fs::Metadata) -> Result<()> {
    std::os::unix::fs::chown(dst, Some(md.uid()), Some(md.gid()))
        .ctx(|| format!("chown {}", dst.display()))?;
    fs::set_permissions(dst, fs::Permissions::from_mode(md.mode() & 0o7777))
        .ctx(|| format!("chmod {}", dst.display()))?;
    let t = |s: i64, ns: i64| libc::timespec {
        tv_sec: s,
        tv_nsec: ns,
    };
    let times = [
        t(md.atime(), md.atime_nsec()),
        t(md.mtime(), md.mtime_nsec()),
    ];
    let c = std::ffi::CString::new(dst.as_os_str().as_bytes())
        .map_err(|_| Error::invalid("path", "contains a NUL byte"))?;
    // SAFETY: valid path and two timespecs.
    unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) };
    Ok(())
}
