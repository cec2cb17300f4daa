//! The rtnetlink reply parser (`net::socket::parse_replies`, what
//! `Netlink::request` runs over every datagram it receives) and the link
//! and qdisc readers over its messages, on arbitrary bytes. The request's
//! sequence number is the first message's, so the fuzzer steers both
//! matching and skipped replies. No panic, no endless loop; an error names
//! what was asked and a netlink error carries a positive errno.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpsos_core::fuzzing::netlink_reply;

fuzz_target!(|data: &[u8]| {
    let seq = match data.get(8..12) {
        Some(b) => u32::from_ne_bytes(b.try_into().unwrap()),
        None => 0,
    };
    match netlink_reply(data, seq) {
        Ok(r) => assert!(r.links.len() + r.qdiscs.len() <= r.messages),
        Err(e) => {
            assert!(e.to_string().starts_with("fuzzing"), "{e}");
            if let Some(n) = e.errno() {
                assert!(n > 0, "errno {n}: {e}");
            }
        }
    }
});
