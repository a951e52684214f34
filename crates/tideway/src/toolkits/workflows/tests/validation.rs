//! What a template may not be: each mistake is refused when it is saved, with the
//! field that is wrong; and the built-in templates pass the same checks against the
//! toolkits they use.

use std::sync::Arc;

use serde_json::{Value, json};
use tideway_core::{Hub, HubError, Scope, context::Role};

use super::{Server, ctx, operator};
use crate::toolkits::workflows::{builtin_templates, definition::ToolFacts};

/// Validation does not depend on the store: SQLite only.
async fn sqlite() -> tideway_core::store::testing::TestStore {
    tideway_core::store::testing::test_stores()
        .await
        .into_iter()
        .next()
        .expect("SQLite is always there")
}

fn template(steps: Value) -> Value {
    json!({"id": "t", "name": "T", "steps": steps})
}

#[tokio::test]
async fn mistakes_are_refused_when_saved_naming_the_field() {
    let test = sqlite().await;
    let server = Server::start(&test.store).await;
    let acme = operator("acme");
    let echo = |id: &str, needs: Value, value: &str| json!({"id": id, "needs": needs, "tool": "probe_echo", "arguments": {"value": value}});
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            template(json!([
                echo("a", json!(["b"]), "x"),
                echo("b", json!(["a"]), "y")
            ])),
            "steps.",
            "cycle",
        ),
        (
            template(json!([echo("a", json!(["a"]), "x")])),
            "steps.a.needs",
            "cycle",
        ),
        (
            template(json!([echo("a", json!(["missing"]), "x")])),
            "steps.a.needs",
            "not a step",
        ),
        (
            template(json!([
                echo("a", json!([]), "x"),
                echo("a", json!([]), "y")
            ])),
            "steps.a.id",
            "two steps",
        ),
        (
            template(json!([{"id": "a", "tool": "probe_nothing", "arguments": {}}])),
            "steps.a.tool",
            "not a tool",
        ),
        (
            template(json!([{"id": "a", "tool": "probe_manage", "arguments": {"value": 1}}])),
            "steps.a.tool",
            "not a tool this caller may call",
        ),
        (
            template(json!([
                echo("a", json!([]), "x"),
                echo("b", json!([]), "{{ steps.a.output }}")
            ])),
            "steps.b.arguments",
            "needs",
        ),
        (
            template(json!([echo("a", json!([]), "{{ secrets.token }}")])),
            "steps.a.arguments",
            "'secrets'",
        ),
        (
            template(json!([echo("a", json!([]), "{{ input.x ==  }}")])),
            "steps.a.arguments",
            "syntax",
        ),
        (
            template(
                json!([{"id": "a", "tool": "probe_flaky", "arguments": {"label": "x", "failures": "many"}}]),
            ),
            "steps.a.arguments.failures",
            "integer",
        ),
        (
            template(
                json!([{"id": "a", "tool": "probe_flaky", "arguments": {"label": "{{ input.x }}"}}]),
            ),
            "steps.a.arguments.failures",
            "required",
        ),
        (
            template(
                json!([{"id": "a", "tool": "probe_echo", "arguments": {"value": 1}, "if": "steps.b.status"},
                            echo("b", json!([]), "y")]),
            ),
            "steps.a.if",
            "needs",
        ),
        (
            template(json!([{"id": "a", "kind": "sleep"}])),
            "steps.a.seconds",
            "required",
        ),
        (
            template(json!([{"id": "a", "kind": "sleep", "seconds": 1, "tool": "probe_echo"}])),
            "steps.a.tool",
            "does not belong",
        ),
        (
            template(json!([{"id": "a", "kind": "generate", "arguments": {"prompt": "hi"}}])),
            "steps.a.kind",
            "models toolkit",
        ),
        (
            template(json!([{"id": "a", "kind": "generate", "tool": "probe_echo"}])),
            "steps.a.tool",
            "does not belong",
        ),
        (
            template(
                json!([{"id": "a", "tool": "probe_echo", "arguments": {"value": 1}, "on_error": {"compensate": "nope"}}]),
            ),
            "steps.a.on_error.compensate",
            "not a step",
        ),
        (
            template(
                json!([{"id": "a", "tool": "probe_echo", "arguments": {"value": 1}, "on_error": {"compensate": "a"}}]),
            ),
            "steps.a.on_error.compensate",
            "itself",
        ),
        (
            template(json!([
                {"id": "a", "tool": "probe_echo", "arguments": {"value": 1}, "on_error": {"compensate": "undo"}},
                {"id": "undo", "tool": "probe_echo", "arguments": {"value": 2}},
                {"id": "b", "tool": "probe_echo", "arguments": {"value": 3}, "needs": ["undo"]}])),
            "steps.b.needs",
            "compensating step",
        ),
        (
            template(json!([
                {"id": "a", "tool": "probe_echo", "arguments": {"value": 1}, "on_error": {"compensate": "undo"}},
                {"id": "later", "tool": "probe_echo", "arguments": {"value": 2}, "needs": ["a"]},
                {"id": "undo", "tool": "probe_echo", "arguments": {"value": 3}, "needs": ["later"]}])),
            "steps.a.on_error.compensate",
            "needs 'later'",
        ),
        (
            template(json!([{"id": "a", "kind": "wait_until"}])),
            "steps.a.until",
            "required",
        ),
        (
            template(json!([{"id": "a", "kind": "wait_until", "until": "next tuesday"}])),
            "steps.a.until",
            "RFC 3339",
        ),
        (
            template(
                json!([{"id": "a", "kind": "wait_until", "until": "{{ steps.b.output.at }}"},
                       echo("b", json!([]), "y")]),
            ),
            "steps.a.until",
            "needs",
        ),
        (
            template(
                json!([{"id": "a", "kind": "sleep", "seconds": 1, "until": "2026-12-24T09:00:00Z"}]),
            ),
            "steps.a.until",
            "does not belong",
        ),
        (
            template(json!([{"id": "a", "kind": "workflow", "workflow": "no_such_template"}])),
            "steps.a.workflow",
            "not a workflow template",
        ),
        (
            template(json!([{"id": "a", "kind": "workflow"}])),
            "steps.a.workflow",
            "required",
        ),
        (
            template(
                json!([{"id": "a", "tool": "probe_echo", "arguments": {"value": 1}, "workflow": "t"}]),
            ),
            "steps.a.workflow",
            "does not belong",
        ),
        (
            template(
                json!([{"id": "a", "tool": "probe_echo", "arguments": {"value": 1}, "retry": {"attempts": 0}}]),
            ),
            "steps.a.retry.attempts",
            "1 to 20",
        ),
        (
            template(json!([{"id": "Bad-Id", "tool": "probe_echo", "arguments": {"value": 1}}])),
            "steps[].id",
            "lower-case",
        ),
        (
            json!({"id": "t", "name": "T", "input_schema": {"type": "array"},
                   "steps": [{"id": "a", "tool": "probe_echo", "arguments": {"value": 1}}]}),
            "template.input_schema",
            "object",
        ),
        (template(json!([])), "template.steps", "at least one"),
    ];
    for (template, field, says) in cases {
        let error = server
            .save(&acme, template.clone())
            .await
            .expect_err("refused");
        match &error {
            HubError::InvalidArguments {
                field: named,
                message,
            } => {
                assert!(
                    named.starts_with(field) && message.contains(says),
                    "{template}: expected {field} saying '{says}', got {named}: {message}"
                );
            }
            other => panic!("{template}: expected an invalid argument, got {other}"),
        }
    }
    let listed = server
        .call(&acme, "list_workflow_templates", json!({}))
        .await
        .expect("list");
    assert!(
        listed["templates"]
            .as_array()
            .expect("templates")
            .iter()
            .all(|t| t["id"] != "t"),
        "nothing was saved"
    );
}

#[tokio::test]
async fn saving_again_makes_a_new_version_and_runs_keep_theirs() {
    let test = sqlite().await;
    let server = Server::start(&test.store).await;
    let acme = operator("acme");
    let version = |word: &str| {
        json!({"id": "v", "name": "V", "steps": [
            {"id": "wait", "kind": "approval"},
            {"id": "say", "needs": ["wait"], "tool": "probe_echo", "arguments": {"value": word}}
        ]})
    };
    assert_eq!(
        server.save(&acme, version("one")).await.expect("saved")["version"],
        1
    );
    let first = server.start_run(&acme, "v", json!({})).await;
    assert_eq!(
        server.save(&acme, version("two")).await.expect("saved")["version"],
        2
    );
    let second = server.start_run(&acme, "v", json!({})).await;
    for id in [&first, &second] {
        server
            .wait_until(&acme, id, "the approval", |run| {
                run["needs_attention"] == json!(["wait"])
            })
            .await;
        server
            .call(
                &acme,
                "approve_step",
                json!({"execution_id": id, "step_id": "wait", "approve": true}),
            )
            .await
            .expect("approved");
    }
    let first = server.finished(&acme, &first).await;
    let second = server.finished(&acme, &second).await;
    assert_eq!(first["template_version"], 1);
    assert_eq!(super::step(&first, "say")["output"]["label"], "one");
    assert_eq!(super::step(&second, "say")["output"]["label"], "two");
    let old = server
        .call(
            &acme,
            "get_workflow_template",
            json!({"template_id": "v", "version": 1}),
        )
        .await
        .expect("version 1");
    assert_eq!(old["template"]["steps"][1]["arguments"]["value"], "one");
}

/// The built-in templates parse, and pass validation against a Hub with every
/// toolkit they use, as an admin of a tenant sees it.
#[tokio::test]
async fn the_builtin_templates_are_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = tideway_core::Config {
        data_dir: dir.path().to_path_buf(),
        ..tideway_core::Config::default()
    };
    let app = crate::app::App::start(config, &[]).await.expect("app");
    let hub: &Arc<Hub> = &app.hub;
    let admin = ctx("default", Role::Admin);
    let tools = hub.list_tools(&Scope::All, &admin.principal);
    let templates = builtin_templates();
    assert_eq!(templates.len(), 3);
    for template in templates {
        template
            .validate(
                &|name| {
                    tools
                        .iter()
                        .find(|tool| tool.name == name)
                        .map(|tool| ToolFacts {
                            input_schema: Value::Object(tool.input_schema.as_ref().clone()),
                        })
                },
                // The built-in templates run no child templates.
                &|_| false,
            )
            .unwrap_or_else(|error| panic!("{}: {error}", template.id));
    }
    app.shutdown().await;
}
