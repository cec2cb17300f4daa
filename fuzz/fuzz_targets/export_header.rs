//! The export stream header (`storage::export::read_header`): no panic,
//! errors are `InvalidConfig` (not an export, a bad description) or `Io`
//! (cut short), a header that reads writes back to one that reads the
//! same, and a description that is not UTF-8 never reads. Inputs starting
//! with 0xff are raw streams; others are wrapped in a valid magic and
//! length first, so the description inside gets fuzzed too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpsos_core::fuzzing::{export_read_header, export_write_header};
use vpsos_core::ErrorKind;

fuzz_target!(|data: &[u8]| {
    let stream: Vec<u8> = match data.split_first() {
        Some((0xff, raw)) => raw.to_vec(),
        Some((&kind, json)) => {
            let mut s = b"vpsos-export 1\n".to_vec();
            s.extend_from_slice(&(json.len() as u64).to_be_bytes());
            s.extend_from_slice(json);
            s.push(kind);
            s
        }
        None => vec![],
    };
    match export_read_header(&stream) {
        Ok((cfg, kind, rest)) => {
            let again = export_write_header(&cfg, kind).expect("writing to memory");
            let (back, back_kind, left) =
                export_read_header(&again).expect("a written header reads");
            assert_eq!((back, back_kind, left), (cfg, kind, 0));
            assert!(rest < stream.len());
            if data[0] != 0xff {
                // the description read is exactly the JSON given, as text
                assert!(std::str::from_utf8(&data[1..]).is_ok(), "not UTF-8, read");
                assert_eq!(rest, 0);
            }
        }
        Err(e) => assert!(
            matches!(e.kind(), ErrorKind::InvalidConfig | ErrorKind::Io),
            "{e}"
        ),
    }
});
