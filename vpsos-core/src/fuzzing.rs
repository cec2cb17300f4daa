//! Thin wrappers over crate-private parsers for the fuzz targets under
//! `fuzz/` (built with the `fuzzing` feature only). Not an API: nothing
//! here is stable, and nothing but the fuzz targets should call it.

use crate::config::Config;
use crate::error::Result;
use netlink_packet_route::RouteNetlinkMessage;

/// `storage::export::read_header` over `bytes`: the description, the
/// rootfs kind and how many bytes of `bytes` it left unread.
pub fn export_read_header(bytes: &[u8]) -> Result<(Config, u8, usize)> {
    let mut r = bytes;
    let (config, kind) = crate::storage::export::read_header(&mut r)?;
    Ok((config, kind, r.len()))
}

/// `storage::export::write_header` into a new buffer.
pub fn export_write_header(config: &Config, kind: u8) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    crate::storage::export::write_header(&mut out, config, kind)?;
    Ok(out)
}

/// What one netlink datagram held for a request (see [`netlink_reply`]).
#[derive(Debug, Default)]
pub struct NetlinkReply {
    /// Whether the request was answered (its ACK or the end of its dump).
    pub done: bool,
    /// How many reply messages the datagram held for the request.
    pub messages: usize,
    /// The links among them, as `Netlink::links` reads them.
    pub links: Vec<crate::net::Link>,
    /// The qdiscs among them, as `Netlink::qdiscs` reads them.
    pub qdiscs: Vec<crate::net::Qdisc>,
}

/// The netlink reply parser over one received datagram for request `seq`,
/// and the link and qdisc readers over what it returned.
pub fn netlink_reply(datagram: &[u8], seq: u32) -> Result<NetlinkReply> {
    let mut msgs = Vec::new();
    let done = crate::net::socket::parse_replies(datagram, seq, "fuzzing", &mut msgs)?;
    let mut r = NetlinkReply {
        done,
        messages: msgs.len(),
        ..NetlinkReply::default()
    };
    for m in &msgs {
        match m {
            RouteNetlinkMessage::NewLink(l) => r.links.push(crate::net::link::to_link(l)),
            RouteNetlinkMessage::NewQueueDiscipline(q) => {
                r.qdiscs.push(crate::net::shape::to_qdisc(q))
            }
            _ => {}
        }
    }
    Ok(r)
}

/// `security::seccomp::compile` without the process-wide cache.
pub fn seccomp_compile(
    p: &crate::security::seccomp::Profile,
) -> Result<crate::security::seccomp::CompiledFilter> {
    crate::security::seccomp_bpf::compile_uncached(p)
}

/// An OCI runtime-spec `config.json` as `Config::from_oci_bundle` reads
/// it (fields the `oci-spec` crate would drop refused), imported without
/// a bundle directory.
pub fn oci_config(text: &str) -> Result<Config> {
    let spec = crate::config::oci::parse_spec(text)?;
    Config::from_oci(&spec)
}
