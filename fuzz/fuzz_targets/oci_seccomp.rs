//! The OCI import, `Profile::from_oci`, over arbitrary JSON: a bare
//! `linux.seccomp` object or a whole OCI `config.json` (its
//! `linux.seccomp`). No panic; errors are `InvalidConfig`; a profile it
//! returns is valid, round-trips through JSON, and compiles with
//! libseccomp or fails with a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::{LinuxSeccomp, Spec};
use vpsos_core::security::seccomp::Profile;
use vpsos_core::ErrorKind;

fn import(oci: &LinuxSeccomp) {
    let p = match Profile::from_oci(oci) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
            assert!(e.field().is_some(), "no field named: {e}");
            return;
        }
    };
    p.validate().expect("an imported profile is valid");
    let json = serde_json::to_string(&p).unwrap();
    let back: Profile = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("profile JSON does not parse: {e}\n{json}"));
    assert_eq!(back, p);
    // libseccomp, uncached (the process-wide cache would grow with every
    // distinct input); unknown syscall names are skipped, as runc does
    if let Err(e) = vpsos_core::fuzzing::seccomp_compile(&p) {
        assert!(
            matches!(e.kind(), ErrorKind::InvalidConfig | ErrorKind::Unsupported),
            "{e}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(oci) = serde_json::from_slice::<LinuxSeccomp>(data) {
        import(&oci);
    } else if let Ok(spec) = serde_json::from_slice::<Spec>(data) {
        if let Some(oci) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            import(oci);
        }
    }
});
