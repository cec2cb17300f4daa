//! include/vpsos.h is what cbindgen makes of the crate now: regenerate
//! it and fail on any difference (`VPSOS_BLESS=1` writes the new one).

use std::path::Path;

#[test]
fn header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut fresh);
    let path = dir.join("include/vpsos.h");
    let committed = std::fs::read(&path).unwrap_or_default();
    if fresh != committed {
        if std::env::var_os("VPSOS_BLESS").is_some() {
            std::fs::write(&path, &fresh).expect("writing include/vpsos.h");
            return;
        }
        panic!(
            "include/vpsos.h is not what cbindgen makes of vpsos-ffi now; \
             run `VPSOS_BLESS=1 cargo test -p vpsos-ffi --test header` and commit it"
        );
    }
}
