//! A small blocking rtnetlink client: one socket, one request at a time,
//! with the ACK or dump read to the end. No async runtime.

use crate::error::{Error, ErrorKind, Result};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};

/// An rtnetlink socket bound to the network namespace it was opened in.
///
/// ```no_run
/// let nl = vpsos_core::net::Netlink::open()?;
/// for l in nl.links()? {
///     println!("{} {} up={}", l.index, l.name, l.up);
/// }
/// # Ok::<(), vpsos_core::Error>(())
/// ```
pub struct Netlink {
    socket: Socket,
    seq: std::cell::Cell<u32>,
    /// What the errors say this socket is for ("in container 101").
    pub(crate) place: String,
}

/// Run `f` on a short-lived thread that has joined network namespace
/// `netns` (sockets and devices it makes belong there); the caller's
/// threads stay where they are.
///
/// ```no_run
/// let ns = std::fs::File::open("/proc/4242/ns/net")?;
/// let links = vpsos_core::net::run_in_netns(std::os::fd::AsFd::as_fd(&ns), || {
///     vpsos_core::net::Netlink::open()?.links()
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_in_netns<T: Send>(
    netns: BorrowedFd<'_>,
    f: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    let raw = netns.as_raw_fd();
    std::thread::scope(|s| {
        s.spawn(move || {
            // SAFETY: setns on this thread only; the fd outlives the scope.
            if unsafe { libc::setns(raw, libc::CLONE_NEWNET) } < 0 {
                return Err(io(
                    std::io::Error::last_os_error(),
                    "joining the network namespace",
                ));
            }
            f()
        })
        .join()
        .map_err(|_| Error::new(ErrorKind::Io, "the network namespace thread panicked"))?
    })
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Netlink({})", self.place)
    }
}

fn io(e: std::io::Error, what: &str) -> Error {
    Error::from_errno(e.raw_os_error().unwrap_or(libc::EIO), what.to_string())
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| io(e, "opening rtnetlink"))?;
        socket.bind_auto().map_err(|e| io(e, "binding rtnetlink"))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| io(e, "connecting rtnetlink"))?;
        // errors come with the request that caused them
        let _ = socket.set_cap_ack(true);
        Ok(Netlink {
            socket,
            seq: std::cell::Cell::new(1),
            place: "on the host".into(),
        })
    }

    /// A socket inside the network namespace `netns` (an fd of
    /// `/proc/<pid>/ns/net`, or a pidfd): a short-lived thread joins it and
    /// opens the socket, which stays bound there. `place` names it in errors.
    ///
    /// ```no_run
    /// let ns = std::fs::File::open("/proc/4242/ns/net")?;
    /// let nl = vpsos_core::net::Netlink::in_netns(std::os::fd::AsFd::as_fd(&ns), "in container 101")?;
    /// nl.set_up(nl.index("lo")?, true)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_netns(netns: BorrowedFd<'_>, place: &str) -> Result<Netlink> {
        let nl = run_in_netns(netns, Netlink::open)?;
        Ok(Netlink {
            place: place.into(),
            ..nl
        })
    }

    /// Send `msg` and read until the ACK (or the end of a dump); every
    /// reply message is returned. A netlink error becomes an `Error` with
    /// its errno and `what` ("adding 10.0.0.2/24 to eth0").
    pub(crate) fn request(
        &self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let seq = self.seq.get();
        self.seq.set(seq.wrapping_add(1));
        let mut hdr = NetlinkHeader::default();
        // NLM_F_DUMP is ROOT|MATCH, and MATCH is EXCL's bit: compare all of it
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        hdr.flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        hdr.sequence_number = seq;
        let mut m = NetlinkMessage::new(hdr, NetlinkPayload::from(msg));
        m.finalize();
        let mut buf = vec![0u8; m.buffer_len()];
        m.serialize(&mut buf);
        let what = format!("{what} {}", self.place);
        self.socket
            .send(&buf, 0)
            .map_err(|e| io(e, "netlink send").context(&what))?;
        let mut out = Vec::new();
        let mut rbuf = vec![0u8; 64 * 1024];
        loop {
            let n = self
                .socket
                .recv(&mut &mut rbuf[..], 0)
                .map_err(|e| io(e, "netlink receive").context(&what))?;
            if parse_replies(&rbuf[..n.min(rbuf.len())], seq, &what, &mut out)? {
                return Ok(out);
            }
        }
    }
}

/// Read one received datagram: the replies to request `seq` go to `out`
/// (messages of other requests are skipped); `Ok(true)` once the request
/// is answered (its ACK or the end of its dump). A netlink error becomes
/// an `Error` with its errno and `what`; a malformed message an `Io` one.
pub(crate) fn parse_replies(
    buf: &[u8],
    seq: u32,
    what: &str,
    out: &mut Vec<RouteNetlinkMessage>,
) -> Result<bool> {
    let mut off = 0;
    while off < buf.len() {
        let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[off..])
            .map_err(|e| Error::new(ErrorKind::Io, format!("netlink reply: {e}")).context(what))?;
        let len = reply.header.length as usize;
        if len == 0 {
            break;
        }
        // messages in a datagram are 4-byte aligned
        off += (len + 3) & !3;
        if reply.header.sequence_number != seq {
            continue;
        }
        match reply.payload {
            NetlinkPayload::Done(_) => return Ok(true),
            NetlinkPayload::Error(e) => {
                let Some(code) = e.code else {
                    return Ok(true); // the ACK
                };
                // the kernel sends a negative errno; anything else (a
                // positive code, i32::MIN) is a malformed reply, not an errno
                return Err(match code.get().checked_neg().filter(|n| *n > 0) {
                    Some(errno) => Error::from_errno(errno, what),
                    None => Error::new(
                        ErrorKind::Io,
                        format!("netlink reply: error code {code} is not a negative errno"),
                    )
                    .context(what),
                });
            }
            NetlinkPayload::InnerMessage(m) => out.push(m),
            _ => {}
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram with one NLMSG_ERROR of request `seq` carrying `code`.
    fn error_reply(seq: u32, code: i32) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend_from_slice(&36u32.to_ne_bytes()); // length
        d.extend_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR
        d.extend_from_slice(&0u16.to_ne_bytes()); // flags
        d.extend_from_slice(&seq.to_ne_bytes());
        d.extend_from_slice(&0u32.to_ne_bytes()); // port
        d.extend_from_slice(&code.to_ne_bytes());
        d.extend_from_slice(&[0u8; 16]); // the request's header
        d
    }

    #[test]
    fn replies_give_ack_errno_or_skip() {
        let mut out = Vec::new();
        assert!(parse_replies(&error_reply(7, 0), 7, "x", &mut out).unwrap());
        assert!(!parse_replies(&error_reply(6, -libc::EEXIST), 7, "x", &mut out).unwrap());
        let e =
            parse_replies(&error_reply(7, -libc::EEXIST), 7, "adding br0", &mut out).unwrap_err();
        assert_eq!(
            (e.kind(), e.errno()),
            (ErrorKind::AlreadyExists, Some(libc::EEXIST))
        );
        assert!(e.to_string().starts_with("adding br0: EEXIST"), "{e}");
        assert!(out.is_empty());
    }

    #[test]
    fn error_code_that_is_no_errno_is_a_malformed_reply() {
        // found by the netlink_reply fuzz target: a positive code became a
        // negative errno, and i32::MIN overflowed its negation
        for code in [1, 0x4000_0000, i32::MAX, i32::MIN] {
            let e = parse_replies(&error_reply(1, code), 1, "listing links", &mut Vec::new())
                .unwrap_err();
            assert_eq!((e.kind(), e.errno()), (ErrorKind::Io, None), "{code}: {e}");
            assert!(
                e.to_string().starts_with("listing links: netlink reply"),
                "{e}"
            );
        }
    }
}
