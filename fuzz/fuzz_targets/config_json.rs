//! `Config::from_json` on arbitrary text: no panic, every error an
//! `InvalidConfig` naming what is wrong, and every description that parses
//! survives `to_json` → `from_json` equal to itself (the JSON contract that
//! Rust, C, Ruby, Python and the OCI import share).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpsos_core::{Config, ErrorKind};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_json(text) {
        Ok(cfg) => {
            let json = cfg.to_json();
            let back = Config::from_json(&json)
                .unwrap_or_else(|e| panic!("to_json output does not parse: {e}\n{json}"));
            assert_eq!(back, cfg, "the round trip changed the description:\n{json}");
            assert_eq!(back.to_json(), json, "to_json is not stable");
        }
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
            assert!(e.field().is_some(), "no field named: {e}");
        }
    }
});
