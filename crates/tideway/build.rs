//! Link settings for the binaries and tests of this package.
//!
//! With the messaging feature, two bundled C libraries meet in one link: librdkafka
//! (its copy of xxHash 0.6.5, for LZ4 frames) and libpg_query (xxHash 0.8.0, for
//! fingerprints, through the SQL guard). Both define the same 19 `XXH32*`/`XXH64*`
//! functions, neither namespaced, and neither crate lets a dependent rename them.
//! The two versions compute the same hashes (the algorithms are fixed by xxHash's
//! specification) over state structures of the same layout, so the linker may
//! keep either definition; it is told to, rather than fail.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if linux && std::env::var_os("CARGO_FEATURE_MESSAGING").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--allow-multiple-definition");
    }
}
