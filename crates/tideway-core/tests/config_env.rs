//! Environment overrides of nested configuration keys (`TIDEWAY_SECTION__KEY`), core's
//! and a toolkit's. Its own test binary: it sets process environment variables.

use serde::{Deserialize, Serialize};
use tideway_core::{Config, config::OwnedKeys};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Widgets {
    size: u32,
    label: String,
}

#[test]
fn nested_keys_are_read_from_the_environment() {
    // SAFETY: this test binary has one test, so no other thread reads the environment.
    unsafe {
        std::env::set_var("TIDEWAY_LOG__LEVEL", "warn");
        std::env::set_var("TIDEWAY_LIMITS__CALL_TIMEOUT_SECS", "7");
        std::env::set_var("TIDEWAY_DEFAULT_TENANT", "acme");
        std::env::set_var("TIDEWAY_WIDGETS__SIZE", "5");
        std::env::set_var("TIDEWAY_WIDGETS__LABEL", "blue");
        // No toolkit owns this one: it is not configuration, and not an error.
        std::env::set_var("TIDEWAY_GADGETS__SIZE", "5");
    }
    let config = Config::load(None, OwnedKeys::sections(&["widgets"])).expect("config loads");
    assert_eq!(config.log.level, "warn");
    assert_eq!(config.limits.call_timeout_secs, 7);
    assert_eq!(config.default_tenant, "acme");
    let widgets: Widgets = config.section("widgets").expect("typed");
    assert_eq!((widgets.size, widgets.label.as_str()), (5, "blue"));
    assert!(!config.sections.contains_key("gadgets"));
}
