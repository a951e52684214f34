//! A toolkit's REST routes call only tools the toolkit registers: each descriptor
//! lists the tools its routes call (by the names the tool declarations use), and
//! every one must be in the catalog of the running toolkit.

use tideway::app::App;
use tideway_core::Config;

#[tokio::test]
async fn every_tool_a_rest_route_calls_is_registered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    // Every toolkit that serves REST routes, whether on by default or not.
    let app = App::start(config, &tideway::toolkits::with_rest_routes())
        .await
        .expect("app starts");
    let mut checked = 0;
    for builtin in tideway::toolkits::ALL {
        let Some(rest) = &builtin.rest else { continue };
        if rest.tools.is_empty() {
            continue;
        }
        let entry = app
            .hub
            .entries()
            .into_iter()
            .find(|entry| entry.name() == builtin.name)
            .unwrap_or_else(|| panic!("{} is not registered", builtin.name));
        for tool in rest.tools {
            assert!(
                entry.tools.iter().any(|declared| declared.name == *tool),
                "a {} route calls '{tool}', which the toolkit does not register",
                builtin.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} route tools were checked");
    app.shutdown().await;
}
