//! Traffic shaping over rtnetlink: a token bucket (tbf) as a link's root
//! qdisc limits what leaves it; an ingress qdisc with a match-all u32 filter
//! redirecting (mirred) to an ifb lets a tbf there limit what arrives.
//!
//! netlink-packet-route models the ingress qdisc, the u32 filter and the
//! mirred action, but not tbf's options: those go as raw attributes (the
//! kernel's `struct tc_tbf_qopt`, with linklayer Ethernet so no rate table
//! is needed, plus `TCA_TBF_BURST` and `TCA_TBF_RATE64`).

use super::Netlink;
use crate::error::{Error, Result};
use netlink_packet_core::{DefaultNla, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::tc::{
    TcAction, TcActionAttribute, TcActionGeneric, TcActionMirrorOption, TcActionOption,
    TcActionType, TcAttribute, TcFilterU32Option, TcHandle, TcMessage, TcMirror,
    TcMirrorActionType, TcOption, TcU32Key, TcU32Selector, TcU32SelectorFlags,
};
use netlink_packet_route::RouteNetlinkMessage;

const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
const TC_LINKLAYER_ETHERNET: u8 = 1;
const ETH_P_ALL: u16 = 0x0003;

/// A qdisc as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qdisc {
    /// `tbf`, `ingress`, `noqueue`, ...
    pub kind: String,
    /// Its handle, `major << 16 | minor`.
    pub handle: u32,
    /// Its parent (`0xffffffff` for root).
    pub parent: u32,
    /// For tbf: the rate in bits per second.
    pub rate_bps: Option<u64>,
}

fn raw(h: TcHandle) -> u32 {
    (h.major as u32) << 16 | h.minor as u32
}

/// `struct tc_tbf_qopt` for `rate` bytes/s and a `limit` of bytes queued.
fn tbf_parms(rate: u64, limit: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(36);
    // rate: cell_log, linklayer, overhead, cell_align, mpu, rate (u32)
    v.extend_from_slice(&[0, TC_LINKLAYER_ETHERNET]);
    v.extend_from_slice(&0u16.to_ne_bytes());
    v.extend_from_slice(&0i16.to_ne_bytes());
    v.extend_from_slice(&0u16.to_ne_bytes());
    v.extend_from_slice(&(rate.min(u32::MAX as u64) as u32).to_ne_bytes());
    // peakrate: none
    v.extend_from_slice(&[0u8; 12]);
    v.extend_from_slice(&limit.to_ne_bytes());
    // buffer (in scheduler ticks) is recomputed from TCA_TBF_BURST
    v.extend_from_slice(&0u32.to_ne_bytes());
    v.extend_from_slice(&0u32.to_ne_bytes()); // mtu: only for a peak rate
    v
}

/// The rate of a tbf from its options: the crate keeps the options of a
/// kind it does not model as one raw attribute holding the nested ones.
fn tbf_rate_bps(opts: &[TcOption]) -> Option<u64> {
    use netlink_packet_core::{Nla, NlasIterator};
    let mut rate = None;
    for o in opts {
        let TcOption::Other(outer) = o else { continue };
        let mut value = vec![0u8; outer.value_len()];
        outer.emit_value(&mut value);
        for nla in NlasIterator::new(&value[..]).flatten() {
            let v = nla.value();
            match nla.kind() {
                TCA_TBF_PARMS if v.len() >= 12 && rate.is_none() => {
                    rate = Some(u32::from_ne_bytes([v[8], v[9], v[10], v[11]]) as u64)
                }
                TCA_TBF_RATE64 if v.len() >= 8 => {
                    rate = Some(u64::from_ne_bytes(v[..8].try_into().ok()?))
                }
                _ => {}
            }
        }
    }
    // bytes/s to bits/s; a rate past u64::MAX bits/s (only a malformed
    // reply has one) reads as u64::MAX, not as a wrapped or panicking product
    rate.map(|r| r.saturating_mul(8))
}

/// A qdisc from the kernel's description of it.
pub(crate) fn to_qdisc(q: &TcMessage) -> Qdisc {
    let mut kind = String::new();
    let mut rate_bps = None;
    for a in &q.attributes {
        match a {
            TcAttribute::Kind(k) => kind = k.clone(),
            TcAttribute::Options(o) => rate_bps = tbf_rate_bps(o),
            _ => {}
        }
    }
    Qdisc {
        kind,
        handle: raw(q.header.handle),
        parent: raw(q.header.parent),
        rate_bps,
    }
}

impl Netlink {
    /// The qdiscs of link `index`.
    pub fn qdiscs(&self, index: u32) -> Result<Vec<Qdisc>> {
        let msgs = self.request(
            RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()),
            NLM_F_DUMP,
            "listing qdiscs",
        )?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewQueueDiscipline(q) if q.header.index as u32 == index => {
                    Some(to_qdisc(&q))
                }
                _ => None,
            })
            .collect())
    }

    /// Limit what leaves link `index` to `rate_bps` bits per second with a
    /// tbf root qdisc (replacing any root qdisc). The bucket holds 10 ms of
    /// traffic (at least 16 KiB); the queue 50 ms more.
    ///
    /// ```no_run
    /// let nl = vpsos_core::net::Netlink::open()?;
    /// let i = nl.index("veth0")?;
    /// nl.set_rate(i, 100_000_000)?;                    // 100 Mbit/s
    /// assert_eq!(nl.qdiscs(i)?[0].rate_bps, Some(100_000_000));
    /// nl.clear_rate(i)?;
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn set_rate(&self, index: u32, rate_bps: u64) -> Result<()> {
        if rate_bps < 8_000 {
            return Err(Error::invalid(
                "rate",
                format!("{rate_bps} bit/s: at least 8000"),
            ));
        }
        let rate = rate_bps / 8;
        let burst = (rate / 100).clamp(16 << 10, u32::MAX as u64 / 2) as u32;
        let limit = (rate / 20)
            .saturating_add(burst as u64)
            .min(u32::MAX as u64) as u32;
        let mut opts = vec![
            TcOption::Other(DefaultNla::new(TCA_TBF_PARMS, tbf_parms(rate, limit))),
            TcOption::Other(DefaultNla::new(TCA_TBF_BURST, burst.to_ne_bytes().to_vec())),
        ];
        if rate > u32::MAX as u64 {
            opts.push(TcOption::Other(DefaultNla::new(
                TCA_TBF_RATE64,
                rate.to_ne_bytes().to_vec(),
            )));
        }
        let mut m = TcMessage::default();
        m.header.index = index as i32;
        m.header.parent = TcHandle::ROOT;
        m.header.handle = TcHandle { major: 1, minor: 0 };
        m.attributes.push(TcAttribute::Kind("tbf".into()));
        m.attributes.push(TcAttribute::Options(opts));
        self.request(
            RouteNetlinkMessage::NewQueueDiscipline(m),
            NLM_F_CREATE | NLM_F_REPLACE,
            &format!("setting a {rate_bps} bit/s rate on link {index}"),
        )
        .map(|_| ())
    }

    /// Remove link `index`'s root qdisc (back to the default); none is fine.
    pub fn clear_rate(&self, index: u32) -> Result<()> {
        self.del_qdisc(index, TcHandle::ROOT, TcHandle::UNSPEC, "root")
    }

    /// Remove link `index`'s ingress qdisc (and its filters); none is fine.
    pub fn clear_ingress(&self, index: u32) -> Result<()> {
        let ingress = TcHandle {
            major: 0xffff,
            minor: 0,
        };
        self.del_qdisc(index, TcHandle::INGRESS, ingress, "ingress")
    }

    /// Delete the qdisc at `parent`/`handle` of link `index`; a missing
    /// one is fine.
    fn del_qdisc(&self, index: u32, parent: TcHandle, handle: TcHandle, which: &str) -> Result<()> {
        let mut m = TcMessage::default();
        m.header.index = index as i32;
        m.header.parent = parent;
        m.header.handle = handle;
        match self.request(
            RouteNetlinkMessage::DelQueueDiscipline(m),
            0,
            &format!("removing the {which} qdisc of link {index}"),
        ) {
            Err(e) if matches!(e.errno(), Some(libc::ENOENT) | Some(libc::EINVAL)) => Ok(()),
            r => r.map(|_| ()),
        }
    }

    /// Send everything arriving on link `index` to `ifb` (where a rate can
    /// limit it): an ingress qdisc and a match-all u32 filter with a mirred
    /// redirect.
    pub fn redirect_ingress(&self, index: u32, ifb: u32) -> Result<()> {
        let what = format!("redirecting the ingress of link {index} to link {ifb}");
        let mut q = TcMessage::default();
        q.header.index = index as i32;
        q.header.parent = TcHandle::INGRESS;
        q.header.handle = TcHandle {
            major: 0xffff,
            minor: 0,
        };
        q.attributes.push(TcAttribute::Kind("ingress".into()));
        self.request(
            RouteNetlinkMessage::NewQueueDiscipline(q),
            NLM_F_CREATE | NLM_F_EXCL,
            &what,
        )?;

        let mut generic = TcActionGeneric::default();
        generic.action = TcActionType::Stolen;
        let mut mirror = TcMirror::default();
        mirror.generic = generic;
        mirror.eaction = TcMirrorActionType::EgressRedir;
        mirror.ifindex = ifb;
        let mut mirred = TcAction::default();
        mirred.tab = 1;
        mirred.attributes = vec![
            TcActionAttribute::Kind("mirred".into()),
            TcActionAttribute::Options(vec![TcActionOption::Mirror(TcActionMirrorOption::Parms(
                mirror,
            ))]),
        ];
        let mut selector = TcU32Selector::default();
        selector.flags = TcU32SelectorFlags::Terminal;
        selector.nkeys = 1;
        selector.keys = vec![TcU32Key::default()];
        let mut f = TcMessage::default();
        f.header.index = index as i32;
        f.header.parent = TcHandle {
            major: 0xffff,
            minor: 0,
        };
        f.header.info = (1u32 << 16) | ETH_P_ALL.to_be() as u32;
        f.attributes.push(TcAttribute::Kind("u32".into()));
        f.attributes.push(TcAttribute::Options(vec![
            TcOption::U32(TcFilterU32Option::Selector(selector)),
            TcOption::U32(TcFilterU32Option::Action(vec![mirred])),
        ]));
        self.request(
            RouteNetlinkMessage::NewTrafficFilter(f),
            NLM_F_CREATE | NLM_F_EXCL,
            &what,
        )
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tbf's options as the crate hands them over: one raw attribute
    /// holding the nested `TCA_TBF_*` ones.
    fn tbf_options(rate64: u64) -> Vec<TcOption> {
        let mut nested = Vec::new();
        nested.extend_from_slice(&12u16.to_ne_bytes());
        nested.extend_from_slice(&TCA_TBF_RATE64.to_ne_bytes());
        nested.extend_from_slice(&rate64.to_ne_bytes());
        vec![TcOption::Other(DefaultNla::new(2, nested))]
    }

    #[test]
    fn tbf_rate_reads_rate64_in_bits() {
        assert_eq!(
            tbf_rate_bps(&tbf_options(5_000_000_000)),
            Some(40_000_000_000)
        );
    }

    #[test]
    fn absurd_tbf_rate_saturates() {
        // a malformed reply's rate64 overflowed bytes/s × 8 (seen running
        // the netlink_reply fuzz target's rate64 seed with its rate raised)
        assert_eq!(tbf_rate_bps(&tbf_options(1 << 62)), Some(u64::MAX));
        assert_eq!(tbf_rate_bps(&tbf_options(u64::MAX)), Some(u64::MAX));
    }
}
