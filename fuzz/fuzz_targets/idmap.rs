//! The id map text form (`0:1000000:65536,...`): no panic, errors are
//! `InvalidConfig`, and a map that parses prints back to itself and
//! translates consistently: each entry's first and last id map both
//! ways, and every probed id maps back to itself (ids to probe come from
//! the input's bytes, so the fuzzer steers them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpsos_core::{ErrorKind, IdMap};

/// The translation by the definition, in u64 so nothing can overflow.
fn model(map: &IdMap, id: u32, to_host: bool) -> Option<u32> {
    map.entries().iter().find_map(|e| {
        let (from, to) = if to_host {
            (e.inside, e.outside)
        } else {
            (e.outside, e.inside)
        };
        let off = (id as u64).checked_sub(from as u64)?;
        (off < e.count as u64).then(|| u32::try_from(to as u64 + off).expect("in range"))
    })
}

fn check_id(map: &IdMap, id: u32) {
    let host = map.to_host(id);
    assert_eq!(host, model(map, id, true), "to_host({id})");
    assert_eq!(map.maps(id), host.is_some());
    if let Some(h) = host {
        assert_eq!(map.to_container(h), Some(id), "to_container(to_host({id}))");
    }
    let inside = map.to_container(id);
    assert_eq!(inside, model(map, id, false), "to_container({id})");
    if let Some(c) = inside {
        assert_eq!(map.to_host(c), Some(id), "to_host(to_container({id}))");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let map: IdMap = match text.parse() {
        Ok(m) => m,
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
            assert_eq!(e.field(), Some("id map"));
            return;
        }
    };
    map.validate().expect("a parsed map is valid");
    let printed = map.to_string();
    assert_eq!(printed.parse::<IdMap>().expect("printed map parses"), map);
    let json = serde_json::to_string(&map).unwrap();
    assert_eq!(serde_json::from_str::<IdMap>(&json).unwrap(), map);
    assert_eq!(map.proc_format().lines().count(), map.entries().len());
    for e in map.entries() {
        let last = e.count - 1;
        assert_eq!(map.to_host(e.inside), Some(e.outside));
        assert_eq!(map.to_host(e.inside + last), Some(e.outside + last));
        assert_eq!(map.to_container(e.outside), Some(e.inside));
        assert_eq!(map.to_container(e.outside + last), Some(e.inside + last));
        for id in [e.inside, e.outside] {
            check_id(&map, id.wrapping_sub(1));
            check_id(&map, id.wrapping_add(e.count));
        }
    }
    for c in data.chunks(4).take(64) {
        let mut b = [0u8; 4];
        b[..c.len()].copy_from_slice(c);
        check_id(&map, u32::from_le_bytes(b));
    }
});
