//! Link libvpsos.so with its soname. What it exports needs no version
//! script: rustc exports from a cdylib only the `#[no_mangle] extern`
//! functions, all named `vpsos_*` (tests/c/run.sh checks with `nm -D`).
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libvpsos.so.0");
}
