//! Link settings for the benchmark binaries: they link Tideway with its messaging
//! feature, so librdkafka's and libpg_query's copies of the same xxHash functions
//! meet here too (see `crates/tideway/build.rs` for why keeping either is sound).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux") {
        println!("cargo:rustc-link-arg=-Wl,--allow-multiple-definition");
    }
}
