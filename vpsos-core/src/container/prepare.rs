//! Files and mounts a create makes on the host before the clone: the
//! state directory's atomic rename, the exec fifo, the boot id and the
//! idmapped rootfs.

use super::Config;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::spawn;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Rename `from` to `to` unless `to` exists (`AlreadyExists` then).
pub(super) fn rename_noreplace(from: &Path, to: &Path) -> Result<()> {
    let (f, t) = (
        crate::rootfs::cstr(from.as_os_str().as_encoded_bytes(), "path")?,
        crate::rootfs::cstr(to.as_os_str().as_encoded_bytes(), "path")?,
    );
    // SAFETY: two NUL-terminated paths.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    match crate::spawn::sys::errno() {
        libc::EEXIST | libc::ENOTEMPTY => Err(Error::new(
            ErrorKind::AlreadyExists,
            format!("container already exists ({})", to.display()),
        )),
        e => Err(Error::from_errno(
            e,
            format!("renaming {} to {}", from.display(), to.display()),
        )),
    }
}

/// A random (version 4) UUID in `dir/boot_id`, as the kernel writes
/// them, for the container's /proc/sys/kernel/random/boot_id (read-only);
/// returns its path. `dir` is the container's node directory, which its
/// root can reach during the setup (the state dir is the host's alone).
pub(super) fn write_boot_id(dir: &Path) -> Result<std::ffi::CString> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(dir)
        .ctx(|| format!("creating {}", dir.display()))?;
    let mut b = [0u8; 16];
    // SAFETY: getrandom into our buffer.
    unsafe { libc::getrandom(b.as_mut_ptr() as *mut libc::c_void, 16, 0) };
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let uuid = format!(
        "{}-{}-{}-{}-{}\n",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    );
    let p = dir.join("boot_id");
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .custom_flags(libc::O_CLOEXEC)
        .open(&p)
        .and_then(|mut f| std::io::Write::write_all(&mut f, uuid.as_bytes()))
        .ctx(|| format!("writing {}", p.display()))?;
    crate::rootfs::cstr(p.as_os_str().as_encoded_bytes(), "state dir")
}

/// Mount the rootfs through the container's id maps at `target` (outside
/// the state dir, which is removed recursively).
pub(super) fn idmap_rootfs(id: &str, config: &Config, target: &Path) -> Result<()> {
    let (Some(u), Some(g)) = (&config.uid_map, &config.gid_map) else {
        return Err(Error::invalid("idmapped_rootfs", "needs uid and gid maps"));
    };
    fs::create_dir_all(target).ctx(|| format!("creating {}", target.display()))?;
    spawn::userns::with_maps(u, g)
        .and_then(|ns| {
            crate::rootfs::idmapped::mount(&config.rootfs, target, std::os::fd::AsFd::as_fd(&ns))
        })
        .map_err(|e| e.context(format!("idmapping the rootfs of container {id}")))
}

/// The exec fifo, owned by the init's user so it can open it read-write.
pub(super) fn make_fifo(dir: &Path, uid: u32, gid: u32) -> Result<OwnedFd> {
    let p = dir.join("exec.fifo");
    nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .ctx(|| format!("mkfifo {}", p.display()))?;
    std::os::unix::fs::chown(&p, Some(uid), Some(gid)).ctx(|| format!("chown {}", p.display()))?;
    let fd = nix::fcntl::open(
        &p,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("opening {}", p.display()))?;
    Ok(fd)
}

/// A new file only root can read, for writing (close-on-exec).
pub(super) fn new_private_file(p: &Path) -> Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(p)
        .ctx(|| format!("creating {}", p.display()))
}
