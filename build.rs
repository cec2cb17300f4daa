//! Builds the integration tests' syscall probe (tests/probe/probe.c, static)
//! on the host, so the test VM, which has no C compiler, runs it too.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=tests/probe/probe.c");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("probe");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let ok = Command::new(&cc)
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg("tests/probe/probe.c")
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        println!("cargo:rustc-env=VPSOS_TEST_PROBE={}", out.display());
    } else {
        println!("cargo:warning=could not build tests/probe/probe.c with {cc} -static (install gcc and libc6-dev); the seccomp and escape tests need it");
    }
}
