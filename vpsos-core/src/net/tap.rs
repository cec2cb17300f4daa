//! Tap devices (for a VM inside a container), made with the tun driver's
//! ioctls in the calling thread's network namespace.

use crate::error::{Error, Result, ResultExt};
use std::os::fd::AsRawFd;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
const TUNSETOWNER: libc::c_ulong = 0x4004_54cc;
const TUNSETGROUP: libc::c_ulong = 0x4004_54ce;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;

/// /dev/net/tun, or where the host has no such node (a minimal init makes
/// no static nodes) a private node of 10:200 under /dev/.vpsos, opened and
/// unlinked at once; opening it loads the tun driver if need be.
fn open_tun() -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::DirBuilderExt;
    let rw = |p: &std::path::Path| std::fs::OpenOptions::new().read(true).write(true).open(p);
    match rw(std::path::Path::new("/dev/net/tun")) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        r => return r,
    }
    let dir = std::path::Path::new("/dev/.vpsos");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(dir)?;
    // SAFETY: gettid has no arguments.
    let node = dir.join(format!("tun.{}", unsafe { libc::gettid() }));
    let c = std::ffi::CString::new(node.as_os_str().as_encoded_bytes()).expect("no NUL");
    let _ = std::fs::remove_file(&node);
    // SAFETY: plain mknod with a valid path.
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(10, 200)) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let f = rw(&node);
    let _ = std::fs::remove_file(&node);
    f
}

/// Create a persistent tap `name` owned by host `uid`:`gid` (so that user,
/// a container's root, can attach to it through /dev/net/tun) in the
/// calling thread's network namespace; use with
/// [`run_in_netns`](super::run_in_netns).
///
/// ```no_run
/// let ns = std::fs::File::open("/proc/4242/ns/net")?;
/// vpsos_core::net::run_in_netns(std::os::fd::AsFd::as_fd(&ns), || {
///     vpsos_core::net::create_tap("tap0", 100000, 100000)
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn create_tap(name: &str, uid: u32, gid: u32) -> Result<()> {
    let what = |s: &str| format!("{s} tap {name}");
    if name.is_empty() || name.len() > 15 {
        return Err(Error::invalid(
            "name",
            format!("{name:?}: 1 to 15 characters"),
        ));
    }
    let f = open_tun().ctx(|| what("opening /dev/net/tun for"))?;
    // SAFETY: a zeroed ifreq with the name and flags set.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_flags = IFF_TAP | IFF_NO_PI;
    let fd = f.as_raw_fd();
    let ioctl = |req: libc::c_ulong, arg: libc::c_ulong, doing: &str| -> Result<()> {
        // SAFETY: tun ioctls on our own fd with a scalar argument.
        if unsafe { libc::ioctl(fd, req as _, arg) } < 0 {
            return Err(Error::from_errno(
                std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO),
                what(doing),
            ));
        }
        Ok(())
    };
    // SAFETY: TUNSETIFF reads (and fills in) our ifreq.
    if unsafe { libc::ioctl(fd, TUNSETIFF as _, &mut ifr) } < 0 {
        return Err(Error::from_errno(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
            what("creating"),
        ));
    }
    ioctl(TUNSETOWNER, uid as libc::c_ulong, "setting the owner of")?;
    ioctl(TUNSETGROUP, gid as libc::c_ulong, "setting the group of")?;
    ioctl(TUNSETPERSIST, 1, "making persistent")
}
