//! Builds vpsos-monitor (monitor/main.rs): a freestanding static binary
//! with no libc, embedded in the library (see src/spawn/monitor.rs).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let target = env::var("TARGET").expect("TARGET");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("target arch");
    assert!(
        arch == "x86_64" || arch == "aarch64",
        "vpsos-monitor is written for x86_64 and aarch64 (raw system calls); not {arch}"
    );
    for f in ["main.rs", "init.rs", "sys.rs", "text.rs"] {
        println!("cargo:rerun-if-changed=monitor/{f}");
    }
    let exe = out.join("vpsos-monitor");
    let status = Command::new(&rustc)
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "bin",
            "--crate-name",
            "vpsos_monitor",
        ])
        .args(["--target", &target])
        .args([
            "-C",
            "panic=abort",
            "-C",
            "opt-level=s",
            "-C",
            "debuginfo=0",
            "-C",
            "strip=symbols",
        ])
        .args([
            "-C",
            "relocation-model=static",
            "-C",
            "target-feature=+crt-static",
        ])
        .args([
            "-C",
            "link-arg=-nostdlib",
            "-C",
            "link-arg=-static",
            "-C",
            "link-arg=-nostartfiles",
        ])
        .arg("-o")
        .arg(&exe)
        .arg("monitor/main.rs")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("running rustc for vpsos-monitor");
    assert!(status.success(), "building vpsos-monitor failed");
}
