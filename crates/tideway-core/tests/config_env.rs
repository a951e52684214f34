//! Environment overrides of nested configuration keys (`TIDEWAY_SECTION__KEY`).
//! Its own test binary: it sets process environment variables.

use tideway_core::Config;

#[test]
fn nested_keys_are_read_from_the_environment() {
    // SAFETY: this test binary has one test, so no other thread reads the environment.
    unsafe {
        std::env::set_var("TIDEWAY_LOG__LEVEL", "warn");
        std::env::set_var("TIDEWAY_LIMITS__CALL_TIMEOUT_SECS", "7");
        std::env::set_var("TIDEWAY_DEFAULT_TENANT", "acme");
    }
    let config = Config::load(None).expect("config loads");
    assert_eq!(config.log.level, "warn");
    assert_eq!(config.limits.call_timeout_secs, 7);
    assert_eq!(config.default_tenant, "acme");
}
