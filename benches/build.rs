//! Link libyuv (Debian: `apt-get install libyuv-dev`) into the bench crate only.

fn main() {
    // libyuv-dev ships no pkg-config file on Debian bookworm; it installs libyuv.so in the
    // default library path, so a plain -lyuv is enough.
    println!("cargo:rustc-link-lib=yuv");
    println!("cargo:rerun-if-changed=build.rs");
}
