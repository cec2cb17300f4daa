//! Terminals: the ptys made on the host for a container's console, ttys
//! and exec'd processes, and attaching to the ones its monitor holds.
//!
//! The monitor keeps both ends of the console's and each tty's pty for the
//! container's whole life and reads them continuously, so the container's
//! writes never stall; any number of processes may attach (through its
//! socket, `monitor.sock` in the state directory), detach and come back.

use super::Container;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::spawn::sys::errno;
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A pty pair made on the host: the monitor (or the caller) keeps the
/// master, the slave becomes a terminal of the container.
#[derive(Debug)]
pub(crate) struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub slave_path: CString,
}

impl Pty {
    /// Open a pty whose slave belongs to `uid`:`gid` on the host: the
    /// master from /dev/ptmx, unlocked, the slave through the master
    /// (`TIOCGPTPEER`: no path lookup), its name from its number.
    pub fn open(uid: u32, gid: u32) -> Result<Pty> {
        let fail = |what: &str| Error::from_errno(errno(), format!("{what} for a pty"));
        // SAFETY: plain syscalls on fds we own.
        unsafe {
            let m = libc::open(
                c"/dev/ptmx".as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            );
            if m < 0 {
                return Err(fail("opening /dev/ptmx"));
            }
            let master = OwnedFd::from_raw_fd(m);
            let unlock: libc::c_int = 0;
            if libc::ioctl(m, libc::TIOCSPTLCK, &unlock) < 0 {
                return Err(fail("unlocking"));
            }
            let mut n: libc::c_uint = 0;
            if libc::ioctl(m, libc::TIOCGPTN, &mut n) < 0 {
                return Err(fail("numbering"));
            }
            let s = libc::ioctl(
                m,
                libc::TIOCGPTPEER,
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            );
            if s < 0 {
                return Err(fail("opening the slave"));
            }
            let slave = OwnedFd::from_raw_fd(s);
            if libc::fchown(s, uid, gid) < 0 {
                return Err(fail("handing to the container"));
            }
            Ok(Pty {
                master,
                slave,
                slave_path: CString::new(format!("/dev/pts/{n}")).expect("no NUL"),
            })
        }
    }
}

/// A path to `dir/name` short enough for a socket address (108 bytes):
/// long state roots go through /proc/self/fd of an open directory.
fn socket_path(dir: &Path, dir_fd: &mut Option<OwnedFd>) -> Result<PathBuf> {
    let p = dir.join("monitor.sock");
    if p.as_os_str().len() < 100 {
        return Ok(p);
    }
    let f = std::fs::File::open(dir).ctx(|| format!("opening {}", dir.display()))?;
    let path = PathBuf::from(format!("/proc/self/fd/{}/monitor.sock", f.as_raw_fd()));
    *dir_fd = Some(f.into());
    Ok(path)
}

/// The monitor's attach socket in state dir `dir`, listening.
pub(crate) fn listen(dir: &Path) -> Result<UnixListener> {
    let mut keep = None;
    let p = socket_path(dir, &mut keep)?;
    UnixListener::bind(&p).ctx(|| format!("binding {}", dir.join("monitor.sock").display()))
}

impl Container {
    /// How many terminals the container has: its console and ttys (0
    /// without the default /dev).
    pub fn terminals(&self) -> Result<u32> {
        Ok(self.current()?.terminals)
    }

    /// Attach to the console: a stream socket that carries what the
    /// container writes to /dev/console (from now on; the recent past is
    /// in [`console_log`](Container::console_log)) and delivers what is
    /// written to it as console input. Any number of attachers, from any
    /// process; closing it detaches without hanging the console up.
    ///
    /// ```no_run
    /// use std::io::{Read, Write};
    /// # let ct = vpsos_core::Runtime::new().load("ct1")?;
    /// let mut con = std::os::unix::net::UnixStream::from(ct.attach_console()?);
    /// con.write_all(b"root\n")?;
    /// let mut buf = [0u8; 4096];
    /// let n = con.read(&mut buf)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attach_console(&self) -> Result<OwnedFd> {
        self.attach_terminal(0)
    }

    /// Attach to tty `n` (1 ..= `console.ttys`), like [`attach_console`](Container::attach_console).
    pub fn attach_tty(&self, n: u32) -> Result<OwnedFd> {
        if n == 0 {
            return Err(Error::invalid(
                "tty",
                "ttys count from 1 (0 is the console)",
            ));
        }
        self.attach_terminal(n)
    }

    fn attach_terminal(&self, n: u32) -> Result<OwnedFd> {
        let s = self.request(&format!("attach {n}"))?;
        Ok(s.into())
    }

    /// Set the window size of terminal `n` (0: the console).
    pub fn resize_terminal(&self, n: u32, rows: u16, cols: u16) -> Result<()> {
        self.request(&format!("resize {n} {rows} {cols}")).map(drop)
    }

    /// What the container wrote to its console lately (up to
    /// `console.log_bytes`), readable even after it stopped, until it is
    /// deleted.
    pub fn console_log(&self) -> Result<Vec<u8>> {
        self.current()?;
        let mut out = Vec::new();
        for f in ["console.log.0", "console.log"] {
            match std::fs::read(self.dir.join(f)) {
                Ok(b) => out.extend(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).ctx(|| format!("reading {}", self.dir.join(f).display())),
            }
        }
        Ok(out)
    }

    /// One request to the monitor; the stream after its `ok`.
    fn request(&self, line: &str) -> Result<UnixStream> {
        let st = self.current()?;
        let ctx = |e: Error| e.context(format!("{line} on container {}", self.id));
        if st.monitor.is_none_or(|m| !m.alive()) {
            return Err(ctx(Error::new(
                ErrorKind::NotFound,
                "its monitor is not running",
            )));
        }
        let mut keep = None;
        let p = socket_path(&self.dir, &mut keep)?;
        let mut s = UnixStream::connect(&p)
            .ctx(|| format!("connecting to {}", p.display()))
            .map_err(ctx)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .ctx(|| "socket timeout".into())?;
        s.write_all(format!("{line}\n").as_bytes())
            .ctx(|| "writing to the monitor".into())
            .map_err(ctx)?;
        let mut reply = Vec::new();
        let mut b = [0u8; 1];
        while reply.len() < 128 {
            match s.read(&mut b) {
                Ok(1) if b[0] == b'\n' => break,
                Ok(1) => reply.push(b[0]),
                Ok(_) => break,
                Err(e) => {
                    return Err(ctx(Error::from_errno(
                        e.raw_os_error().unwrap_or(libc::EIO),
                        "reading the monitor's reply",
                    )))
                }
            }
        }
        s.set_read_timeout(None).ctx(|| "socket timeout".into())?;
        match std::str::from_utf8(&reply) {
            Ok("ok") => Ok(s),
            Ok(r) if r.starts_with("err no such terminal") => Err(ctx(Error::new(
                ErrorKind::NotFound,
                format!(
                    "it has {} terminals (the console and {} ttys)",
                    st.terminals,
                    st.terminals.saturating_sub(1)
                ),
            ))),
            Ok(r) => Err(ctx(Error::new(
                ErrorKind::Io,
                format!("the monitor said {r:?}"),
            ))),
            Err(_) => Err(ctx(Error::new(ErrorKind::Io, "the monitor gave no reply"))),
        }
    }
}
