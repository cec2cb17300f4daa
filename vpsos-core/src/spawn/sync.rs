//! The parent⇄child sync protocol: fixed-size messages over a
//! SOCK_SEQPACKET socketpair (close-on-exec, so a successful exec shows
//! as end-of-file to the parent).

use super::sys::errno;
use libc::c_int;

/// The child failed: `stage`, `errno`, `detail` (e.g. the mount index).
pub(crate) const MSG_ERROR: u32 = 1;
/// The child unshared a user namespace and waits for its maps.
pub(crate) const MSG_NEED_MAPS: u32 = 2;
/// The intermediate child forked the real child; `value` is its host pid.
pub(crate) const MSG_PID: u32 = 3;
/// Setup is done; the init waits for the start signal.
pub(crate) const MSG_READY: u32 = 4;
/// Parent → child: host-side setup done, go on.
pub(crate) const MSG_GO: u32 = 5;
/// Parent → child: exec now (used when there is no exec fifo).
pub(crate) const MSG_START: u32 = 6;
/// Parent → child: the cgroup is made and holds you (late cgroup mode).
pub(crate) const MSG_CGROUP: u32 = 7;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Msg {
    pub kind: u32,
    pub stage: u32,
    pub errno: i32,
    pub detail: u32,
    pub value: i64,
}

impl Msg {
    pub fn new(kind: u32) -> Msg {
        Msg {
            kind,
            ..Msg::default()
        }
    }

    fn as_bytes(&self) -> &[u8] {
        // SAFETY: Msg is repr(C) plain data.
        unsafe {
            std::slice::from_raw_parts(self as *const Msg as *const u8, std::mem::size_of::<Msg>())
        }
    }
}

/// Send one message (async-signal-safe). MSG_NOSIGNAL: a peer that died
/// gives EPIPE, never a SIGPIPE in the host process.
pub(crate) fn send(fd: c_int, m: &Msg) -> Result<(), c_int> {
    let b = m.as_bytes();
    loop {
        // SAFETY: valid buffer; one SEQPACKET message.
        let r = unsafe {
            libc::send(
                fd,
                b.as_ptr() as *const libc::c_void,
                b.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if r >= 0 {
            return Ok(());
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// Receive one message; `Ok(None)` at end-of-file (async-signal-safe).
pub(crate) fn recv(fd: c_int) -> Result<Option<Msg>, c_int> {
    let mut m = Msg::default();
    loop {
        // SAFETY: reads at most size_of::<Msg>() bytes into m.
        let r = unsafe {
            libc::read(
                fd,
                &mut m as *mut Msg as *mut libc::c_void,
                std::mem::size_of::<Msg>(),
            )
        };
        if r < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            return Ok(None);
        }
        if r as usize != std::mem::size_of::<Msg>() {
            return Err(libc::EPROTO);
        }
        return Ok(Some(m));
    }
}

/// Child → parent: the seccomp notification listener, passed as
/// SCM_RIGHTS with the message.
pub(crate) const MSG_LISTENER: u32 = 8;

/// Room for one fd in a control message (CMSG_SPACE(sizeof(int)) on
/// 64-bit and 32-bit Linux), aligned for cmsghdr.
#[repr(C, align(8))]
struct FdCmsg([u8; 24]);

/// Send `m` with `pass` attached (async-signal-safe: stack buffers only).
pub(crate) fn send_with_fd(fd: c_int, m: &Msg, pass: c_int) -> Result<(), c_int> {
    let b = m.as_bytes();
    let mut iov = libc::iovec {
        iov_base: b.as_ptr() as *mut libc::c_void,
        iov_len: b.len(),
    };
    let mut buf = FdCmsg([0; 24]);
    // SAFETY: msghdr over our stack buffers; CMSG_* only compute offsets
    // inside `buf`, which has room for one int.
    unsafe {
        let mut hdr: libc::msghdr = std::mem::zeroed();
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = buf.0.as_mut_ptr() as *mut libc::c_void;
        hdr.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<c_int>() as u32) as _;
        let c = libc::CMSG_FIRSTHDR(&hdr);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut c_int, pass);
        loop {
            if libc::sendmsg(fd, &hdr, libc::MSG_NOSIGNAL) >= 0 {
                return Ok(());
            }
            let e = errno();
            if e != libc::EINTR {
                return Err(e);
            }
        }
    }
}

/// Receive one message and the fd attached to it, if any (parent side).
pub(crate) fn recv_with_fd(
    fd: c_int,
) -> Result<Option<(Msg, Option<std::os::fd::OwnedFd>)>, c_int> {
    use std::os::fd::FromRawFd;
    let mut m = Msg::default();
    let mut iov = libc::iovec {
        iov_base: &mut m as *mut Msg as *mut libc::c_void,
        iov_len: std::mem::size_of::<Msg>(),
    };
    let mut buf = FdCmsg([0; 24]);
    // SAFETY: msghdr over our buffers; the kernel fills at most their sizes.
    unsafe {
        let mut hdr: libc::msghdr = std::mem::zeroed();
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = buf.0.as_mut_ptr() as *mut libc::c_void;
        hdr.msg_controllen = buf.0.len() as _;
        let r = loop {
            let r = libc::recvmsg(fd, &mut hdr, libc::MSG_CMSG_CLOEXEC);
            if r >= 0 || errno() != libc::EINTR {
                break r;
            }
        };
        if r < 0 {
            return Err(errno());
        }
        if r == 0 {
            return Ok(None);
        }
        if r as usize != std::mem::size_of::<Msg>() {
            return Err(libc::EPROTO);
        }
        let c = libc::CMSG_FIRSTHDR(&hdr);
        let passed = if !c.is_null()
            && (*c).cmsg_level == libc::SOL_SOCKET
            && (*c).cmsg_type == libc::SCM_RIGHTS
        {
            let raw = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const c_int);
            Some(std::os::fd::OwnedFd::from_raw_fd(raw))
        } else {
            None
        };
        Ok(Some((m, passed)))
    }
}
