// Tells the tests which target they run on, so that the `cc` crate can find the C++ compiler
// for the kernels' host emulation (kernels/tests/emulation.rs). Nothing is compiled here.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=HEAVYTUNE_KERNELS_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
