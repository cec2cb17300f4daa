//! An OCI runtime-spec config.json through the OCI import (what `vpsos
//! create` reads from a bundle): no panic; a refusal is an `InvalidConfig`
//! naming the OCI field, or `Unsupported` for what this host lacks; an
//! accepted config is a valid vpsos description that survives the JSON
//! round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpsos_core::{Config, ErrorKind};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match vpsos_core::fuzzing::oci_config(text) {
        Ok(cfg) => {
            cfg.validate()
                .unwrap_or_else(|e| panic!("an imported config does not validate: {e}"));
            let json = cfg.to_json();
            let back = Config::from_json(&json)
                .unwrap_or_else(|e| panic!("to_json output does not parse: {e}\n{json}"));
            assert_eq!(back, cfg, "the round trip changed the description:\n{json}");
        }
        Err(e) => match e.kind() {
            ErrorKind::InvalidConfig => assert!(e.field().is_some(), "no field named: {e}"),
            ErrorKind::Unsupported => {}
            k => panic!("unexpected error kind {k:?}: {e}"),
        },
    }
});
