//! Every built-in tool's input and output schema is JSON Schema that strict MCP
//! clients accept: no `format` outside the standard vocabulary (Rust's integer widths
//! are ranges, not formats) and no bare `true` where a schema object goes.

use tideway::app::App;
use tideway_core::{Config, typed::schema_problems};

#[tokio::test]
async fn every_built_in_tool_has_standard_schemas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let names: Vec<String> = tideway::toolkits::registrable()
        .map(|builtin| builtin.name.to_string())
        .collect();
    let app = App::start(config, &names).await.expect("app starts");
    let mut problems = Vec::new();
    let mut checked = 0;
    for entry in app.hub.entries() {
        for tool in &entry.tools {
            let input = serde_json::Value::Object((*tool.input_schema).clone());
            for problem in schema_problems(&input) {
                problems.push(format!("{}.{} input {problem}", entry.name(), tool.name));
            }
            if let Some(output) = &tool.output_schema {
                let output = serde_json::Value::Object((**output).clone());
                for problem in schema_problems(&output) {
                    problems.push(format!("{}.{} output {problem}", entry.name(), tool.name));
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} tools were checked");
    assert!(problems.is_empty(), "{problems:#?}");
    app.shutdown().await;
}
