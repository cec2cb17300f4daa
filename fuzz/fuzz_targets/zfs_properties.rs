//! The `zfs get -H -p -o name,property,value,source` parser,
//! `Properties::parse`: no panic; malformed output is an `Io` error naming
//! the line; what parses answers `get` with the last value given for a
//! dataset's property, and `u64` agrees with it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpsos_core::storage::zfs::Properties;
use vpsos_core::ErrorKind;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let props = match Properties::parse(text) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Io, "{e}");
            assert!(e.to_string().contains("zfs get output line"), "{e}");
            return;
        }
    };
    let mut lines = 0;
    for line in text.lines().filter(|l| !l.is_empty()) {
        lines += 1;
        let f: Vec<&str> = line.splitn(4, '\t').collect();
        assert_eq!(f.len(), 4, "{line:?} parsed");
        let got = props
            .get(f[0], f[1])
            .expect("every line's property is there");
        assert_eq!(props.u64(f[0], f[1]), got.parse().ok());
    }
    let parsed: usize = props.0.values().map(|m| m.len()).sum();
    assert!(parsed <= lines);
});
