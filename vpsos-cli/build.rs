//! Link the CLI with compact relative relocations (DT_RELR, glibc 2.36+):
//! it stays position-independent, and each start — conmon and the shim
//! exec it for every operation — relocates and dirties fewer pages.
fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}
