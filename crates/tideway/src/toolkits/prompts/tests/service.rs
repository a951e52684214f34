//! The prompt service through the Hub, on SQLite and on PostgreSQL: the library
//! loaded once, versions and restore, argument checks, resources inlined with the
//! caller's rights, MCP prompts and completion, list_changed, usage statistics,
//! concurrent edits and tenant isolation.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use tideway_core::{
    CallContext, Hub, HubError, HubEvent, Scope, TenantId, Toolkit,
    context::Role,
    mcp::{ArgumentInfo, CallToolResult, JsonObject, Reference, Resource, ResourceContents, Tool},
    store::testing::{TestStore, test_stores},
};

use super::super::PromptsToolkit;

/// A toolkit serving one resource, `note://1`, to the tenant `acme` only.
struct Notes;

#[async_trait]
impl Toolkit for Notes {
    fn name(&self) -> &str {
        "notes"
    }
    fn tools(&self) -> Vec<Tool> {
        Vec::new()
    }
    async fn call_tool(
        &self,
        _ctx: &CallContext,
        name: &str,
        _arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        Err(HubError::UnknownTool {
            toolkit: "notes".into(),
            tool: name.into(),
        })
    }
    fn uri_prefixes(&self) -> Vec<String> {
        vec!["note://".into()]
    }
    async fn list_resources(&self, _ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
        Ok(Vec::new())
    }
    async fn read_resource(
        &self,
        ctx: &CallContext,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        if uri == "note://1" && ctx.tenant.as_str() == "acme" {
            Ok(vec![ResourceContents::text("the printer is on fire", uri)])
        } else {
            Err(HubError::ResourceNotFound(uri.into()))
        }
    }
}

struct Fixture {
    hub: Arc<Hub>,
    backend: &'static str,
    store: TestStore,
}

async fn fixtures() -> Vec<Fixture> {
    let mut fixtures = Vec::new();
    for test in test_stores().await {
        let store = test.store.clone();
        store
            .migrate(&crate::toolkits::migrations())
            .await
            .expect("migrate");
        for tenant in ["acme", "globex"] {
            store
                .ensure_tenant(&TenantId::new(tenant), tenant)
                .await
                .expect("tenant");
        }
        fixtures.push(Fixture {
            hub: hub_on(&test),
            backend: store.backend(),
            store: test,
        });
    }
    fixtures
}

fn hub_on(test: &TestStore) -> Arc<Hub> {
    let hub = Arc::new(Hub::new());
    hub.register(Arc::new(PromptsToolkit::new(
        test.store.clone(),
        Arc::downgrade(&hub),
    )))
    .expect("register");
    hub.register(Arc::new(Notes)).expect("register");
    hub
}

use crate::toolkits::testing::ctx;

fn acme() -> CallContext {
    ctx("acme", Role::Operator)
}

fn args(value: Value) -> Option<JsonObject> {
    Some(serde_json::from_value(value).expect("object"))
}

async fn call(
    hub: &Hub,
    ctx: &CallContext,
    tool: &str,
    arguments: Value,
) -> Result<Value, HubError> {
    let result = hub.call(ctx, "prompts", tool, args(arguments)).await?;
    assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
    Ok(crate::toolkits::testing::structured(
        hub, "prompts", tool, result,
    ))
}

fn greet() -> Value {
    json!({
        "name": "greet",
        "title": "Greet a customer",
        "description": "Says hello.",
        "category": "support",
        "tags": ["hello"],
        "arguments": [
            {"name": "customer", "required": true},
            {"name": "tone", "default": "warm", "allowed_values": ["warm", "formal"]},
            {"name": "note"}
        ],
        "body": "Hello {{ customer }} ({{ tone }}).{% if note %} {{ note }}{% endif %}"
    })
}

fn field_of(error: &HubError) -> String {
    match error {
        HubError::InvalidPromptArguments { field, .. }
        | HubError::InvalidArguments { field, .. } => field.clone(),
        other => panic!("unexpected error {other:?}"),
    }
}

#[tokio::test]
async fn the_library_is_loaded_once_and_edits_to_it_stay() {
    for fixture in fixtures().await {
        let listed = call(&fixture.hub, &acme(), "list_prompt_templates", json!({}))
            .await
            .expect("list");
        let names: Vec<&str> = listed["templates"]
            .as_array()
            .expect("templates")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(names.len(), 4, "{}: {names:?}", fixture.backend);
        assert!(names.contains(&"support_reply") && names.contains(&"incident_summary"));
        call(
            &fixture.hub,
            &acme(),
            "delete_prompt_template",
            json!({"name": "incident_summary"}),
        )
        .await
        .expect("delete");
        // A restarted server (a new Hub and service on the same store) keeps the deletion.
        let restarted = hub_on(&fixture.store);
        let listed = call(&restarted, &acme(), "list_prompt_templates", json!({}))
            .await
            .expect("list");
        assert_eq!(listed["templates"].as_array().expect("templates").len(), 3);
        let categories = call(&restarted, &acme(), "list_prompt_categories", json!({}))
            .await
            .expect("categories");
        assert_eq!(
            categories["categories"],
            json!([{"category": "data", "templates": 1}, {"category": "support", "templates": 2}]),
            "{}",
            fixture.backend
        );
    }
}

#[tokio::test]
async fn every_change_is_a_version_that_can_be_read_and_restored() {
    for fixture in fixtures().await {
        let hub = &fixture.hub;
        let created = call(hub, &acme(), "create_prompt_template", greet())
            .await
            .expect("create");
        assert_eq!(created["version"], 1);
        assert_eq!(created["created_by"], "acme-operator");
        let again = call(hub, &acme(), "create_prompt_template", greet()).await;
        assert_eq!(again.expect_err("duplicate").kind(), "conflict");

        let v2 = call(
            hub,
            &acme(),
            "update_prompt_template",
            json!({"name": "greet", "body": "Hi {{ customer }}!", "expected_version": 1}),
        )
        .await
        .expect("update");
        assert_eq!(v2["version"], 2);
        assert_eq!(v2["title"], "Greet a customer", "unchanged fields stay");
        let stale = call(
            hub,
            &acme(),
            "update_prompt_template",
            json!({"name": "greet", "body": "Yo", "expected_version": 1}),
        )
        .await
        .expect_err("stale");
        assert_eq!(stale.kind(), "conflict", "{}", fixture.backend);
        // A change that changes nothing makes no version.
        let same = call(
            hub,
            &acme(),
            "update_prompt_template",
            json!({"name": "greet", "body": "Hi {{ customer }}!"}),
        )
        .await
        .expect("no-op");
        assert_eq!(same["version"], 2);

        let versions = call(
            hub,
            &acme(),
            "list_prompt_versions",
            json!({"name": "greet"}),
        )
        .await
        .expect("versions");
        let numbers: Vec<i64> = versions["versions"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|v| v["version"].as_i64())
            .collect();
        assert_eq!(numbers, vec![2, 1]);
        let first = call(
            hub,
            &acme(),
            "get_prompt_template",
            json!({"name": "greet", "version": 1}),
        )
        .await
        .expect("v1");
        assert!(first["body"].as_str().expect("body").starts_with("Hello"));
        let old = call(
            hub,
            &acme(),
            "render_prompt",
            json!({"name": "greet", "version": 1, "arguments": {"customer": "Ada"}}),
        )
        .await
        .expect("render v1");
        assert_eq!(old["text"], "Hello Ada (warm).");

        let restored = call(
            hub,
            &acme(),
            "restore_prompt_version",
            json!({"name": "greet", "version": 1}),
        )
        .await
        .expect("restore");
        assert_eq!(restored["version"], 3);
        assert_eq!(restored["body"], first["body"]);

        // Deleted, then created again: versions continue, the history stays readable.
        call(
            hub,
            &acme(),
            "delete_prompt_template",
            json!({"name": "greet"}),
        )
        .await
        .expect("delete");
        let gone = call(
            hub,
            &acme(),
            "render_prompt",
            json!({"name": "greet", "arguments": {"customer": "A"}}),
        )
        .await
        .expect_err("deleted");
        assert_eq!(gone.kind(), "not-found");
        let reborn = call(hub, &acme(), "create_prompt_template", greet())
            .await
            .expect("again");
        assert_eq!(reborn["version"], 4, "{}", fixture.backend);
    }
}

#[tokio::test]
async fn bad_templates_and_bad_arguments_are_named() {
    for fixture in fixtures().await {
        let hub = &fixture.hub;
        let mut typo = greet();
        typo["body"] = json!("Hello {{ custmer }}");
        let refused = call(hub, &acme(), "create_prompt_template", typo)
            .await
            .expect_err("typo");
        assert_eq!(field_of(&refused), "body");
        assert!(refused.to_string().contains("custmer"));
        let mut broken = greet();
        broken["body"] = json!("{% for x in %}");
        let refused = call(hub, &acme(), "create_prompt_template", broken)
            .await
            .expect_err("syntax");
        assert_eq!(field_of(&refused), "body");
        let mut reserved = greet();
        reserved["name"] = json!("stats");
        assert!(
            call(hub, &acme(), "create_prompt_template", reserved)
                .await
                .is_err()
        );

        call(hub, &acme(), "create_prompt_template", greet())
            .await
            .expect("create");
        let render = |arguments: Value| {
            let hub = hub.clone();
            async move {
                hub.get_prompt(&acme(), &Scope::All, "prompts_greet", args(arguments))
                    .await
            }
        };
        let missing = render(json!({})).await.expect_err("missing");
        assert_eq!(field_of(&missing), "customer");
        let unknown = render(json!({"customer": "Ada", "mood": "x"}))
            .await
            .expect_err("unknown");
        assert_eq!(field_of(&unknown), "mood");
        let disallowed = render(json!({"customer": "Ada", "tone": "rude"}))
            .await
            .expect_err("disallowed");
        assert_eq!(field_of(&disallowed), "tone");
        let rendered = render(json!({"customer": "Ada", "tone": "formal", "note": "<ok> & {{x}}"}))
            .await
            .expect("render");
        let text =
            serde_json::to_value(&rendered.messages).expect("json")[0]["content"]["text"].clone();
        assert_eq!(text, "Hello Ada (formal). <ok> & {{x}}");
        assert_eq!(rendered.description.as_deref(), Some("Says hello."));

        // A large template renders whole.
        let big = "A line of a long prompt template, repeated.\n".repeat(1400);
        let mut large = greet();
        large["name"] = json!("large");
        large["body"] = json!(format!("{big}{{{{ customer }}}}"));
        call(hub, &acme(), "create_prompt_template", large)
            .await
            .expect("large");
        let rendered = call(
            hub,
            &acme(),
            "render_prompt",
            json!({"name": "large", "arguments": {"customer": "END"}}),
        )
        .await
        .expect("render large");
        assert!(rendered["text"].as_str().expect("text").ends_with("END"));
        assert!(rendered["text"].as_str().expect("text").len() > 60_000);
    }
}

#[tokio::test]
async fn resources_are_inlined_with_the_callers_rights() {
    for fixture in fixtures().await {
        let hub = &fixture.hub;
        let template = json!({
            "name": "incident",
            "arguments": [{"name": "id", "required": true}],
            "body": "Context: {{ resource('note://' ~ id) }}"
        });
        for tenant in ["acme", "globex"] {
            call(
                hub,
                &ctx(tenant, Role::Operator),
                "create_prompt_template",
                template.clone(),
            )
            .await
            .expect("create");
        }
        let rendered = call(
            hub,
            &acme(),
            "render_prompt",
            json!({"name": "incident", "arguments": {"id": "1"}}),
        )
        .await
        .expect("render");
        assert_eq!(rendered["text"], "Context: the printer is on fire");
        // The same template in another tenant cannot read acme's resource.
        let refused = call(
            hub,
            &ctx("globex", Role::Operator),
            "render_prompt",
            json!({"name": "incident", "arguments": {"id": "1"}}),
        )
        .await
        .expect_err("not readable");
        assert_eq!(refused.kind(), "resource-not-found", "{}", fixture.backend);
    }
}

#[tokio::test]
async fn templates_are_mcp_prompts_with_completion_and_change_events() {
    for fixture in fixtures().await {
        let hub = &fixture.hub;
        let mut events = hub.subscribe();
        call(hub, &acme(), "create_prompt_template", greet())
            .await
            .expect("create");
        let mut heard = false;
        while let Ok(event) = events.try_recv() {
            heard |= event == HubEvent::PromptsChanged;
        }
        assert!(heard, "clients are told the prompts changed");

        let all: Vec<String> = hub
            .list_prompts(&acme(), &Scope::All)
            .await
            .expect("list")
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert!(all.contains(&"prompts_greet".to_string()), "{all:?}");
        assert!(all.contains(&"prompts_ticket_triage".to_string()));
        let own = hub
            .list_prompts(&acme(), &Scope::Toolkit("prompts".into()))
            .await
            .expect("list");
        let greet = own.iter().find(|p| p.name == "greet").expect("bare name");
        assert_eq!(greet.title.as_deref(), Some("Greet a customer"));
        let declared = greet.arguments.clone().expect("arguments");
        assert_eq!(declared[0].required, Some(true));
        assert_eq!(
            declared[1].required,
            Some(false),
            "a default makes it optional"
        );

        let complete = |argument: &'static str| {
            let hub = hub.clone();
            async move {
                hub.complete(
                    &acme(),
                    &Scope::All,
                    &Reference::for_prompt("prompts_greet"),
                    &ArgumentInfo::new(argument, ""),
                )
                .await
                .expect("complete")
            }
        };
        assert_eq!(complete("tone").await, vec!["warm", "formal"]);
        assert!(complete("customer").await.is_empty());
        for customer in ["Grace", "Ada", "Grace"] {
            hub.get_prompt(
                &acme(),
                &Scope::All,
                "prompts_greet",
                args(json!({"customer": customer})),
            )
            .await
            .expect("render");
        }
        assert_eq!(
            complete("customer").await,
            vec!["Grace", "Ada"],
            "{}",
            fixture.backend
        );
    }
}

#[tokio::test]
async fn renders_are_counted_per_template_version_and_day() {
    for fixture in fixtures().await {
        let hub = &fixture.hub;
        call(hub, &acme(), "create_prompt_template", greet())
            .await
            .expect("create");
        for _ in 0..3 {
            call(
                hub,
                &acme(),
                "render_prompt",
                json!({"name": "greet", "arguments": {"customer": "A"}}),
            )
            .await
            .expect("render");
        }
        call(
            hub,
            &acme(),
            "update_prompt_template",
            json!({"name": "greet", "body": "Hi {{ customer }}"}),
        )
        .await
        .expect("v2");
        call(
            hub,
            &acme(),
            "render_prompt",
            json!({"name": "greet", "arguments": {"customer": "B"}}),
        )
        .await
        .expect("render");
        call(
            hub,
            &acme(),
            "render_prompt",
            json!({"name": "ticket_triage", "arguments": {"ticket_id": "1"}}),
        )
        .await
        .expect_err("no ticket resource in this hub");
        let stats = call(hub, &acme(), "get_prompt_stats", json!({"days": 7}))
            .await
            .expect("stats");
        assert_eq!(stats["total"], 4, "{}: {stats}", fixture.backend);
        assert_eq!(
            stats["by_template"],
            json!([{"name": "greet", "renders": 4}])
        );
        assert_eq!(
            stats["by_version"],
            json!([{"name": "greet", "version": 1, "renders": 3}, {"name": "greet", "version": 2, "renders": 1}])
        );
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        assert_eq!(
            stats["by_day"],
            json!([{"day": today, "renders": 4}]),
            "{}",
            fixture.backend
        );
        let other = call(
            hub,
            &ctx("globex", Role::Viewer),
            "get_prompt_stats",
            json!({}),
        )
        .await
        .expect("stats");
        assert_eq!(
            other["total"], 0,
            "another tenant's renders are not counted"
        );
    }
}

#[tokio::test]
async fn concurrent_edits_each_make_one_version() {
    for fixture in fixtures().await {
        let hub = fixture.hub.clone();
        call(&hub, &acme(), "create_prompt_template", greet())
            .await
            .expect("create");
        let edits = (0..10).map(|n| {
            let hub = hub.clone();
            tokio::spawn(async move {
                call(
                    &hub,
                    &acme(),
                    "update_prompt_template",
                    json!({"name": "greet", "body": format!("Edit {n}: {{{{ customer }}}}")}),
                )
                .await
            })
        });
        for edit in futures::future::join_all(edits).await {
            edit.expect("join").expect("edit");
        }
        let versions = call(
            &hub,
            &acme(),
            "list_prompt_versions",
            json!({"name": "greet"}),
        )
        .await
        .expect("versions");
        let mut numbers: Vec<i64> = versions["versions"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|v| v["version"].as_i64())
            .collect();
        numbers.sort();
        assert_eq!(numbers, (1..=11).collect::<Vec<_>>(), "{}", fixture.backend);
    }
}

#[tokio::test]
async fn a_tenant_never_sees_another_tenants_templates() {
    for fixture in fixtures().await {
        let hub = &fixture.hub;
        let mut secret = greet();
        secret["name"] = json!("secret_plan");
        call(hub, &acme(), "create_prompt_template", secret)
            .await
            .expect("create");
        let globex = ctx("globex", Role::Admin);
        let listed = call(hub, &globex, "list_prompt_templates", json!({}))
            .await
            .expect("list");
        assert!(
            !listed.to_string().contains("secret_plan"),
            "{}",
            fixture.backend
        );
        for (tool, arguments) in [
            ("get_prompt_template", json!({"name": "secret_plan"})),
            (
                "render_prompt",
                json!({"name": "secret_plan", "arguments": {"customer": "x"}}),
            ),
            ("list_prompt_versions", json!({"name": "secret_plan"})),
            ("delete_prompt_template", json!({"name": "secret_plan"})),
            (
                "update_prompt_template",
                json!({"name": "secret_plan", "body": "mine"}),
            ),
        ] {
            let error = call(hub, &globex, tool, arguments).await.expect_err(tool);
            assert_eq!(error.kind(), "not-found", "{tool}");
        }
        let prompt = hub
            .get_prompt(
                &globex,
                &Scope::All,
                "prompts_secret_plan",
                args(json!({"customer": "x"})),
            )
            .await
            .expect_err("not a prompt there");
        assert_eq!(prompt.kind(), "unknown-prompt");
        // Globex may have its own template of the same name.
        call(
            hub,
            &globex,
            "create_prompt_template",
            json!({"name": "secret_plan", "body": "globex's"}),
        )
        .await
        .expect("own");
        let mine = call(
            hub,
            &acme(),
            "get_prompt_template",
            json!({"name": "secret_plan"}),
        )
        .await
        .expect("acme's");
        assert_eq!(mine["version"], 1);
        assert!(mine["body"].as_str().expect("body").starts_with("Hello"));
        // Viewers read and render, they do not write.
        let viewer = ctx("acme", Role::Viewer);
        call(
            hub,
            &viewer,
            "render_prompt",
            json!({"name": "secret_plan", "arguments": {"customer": "x"}}),
        )
        .await
        .expect("viewers render");
        let refused = call(
            hub,
            &viewer,
            "delete_prompt_template",
            json!({"name": "secret_plan"}),
        )
        .await
        .expect_err("viewers do not delete");
        assert_eq!(refused.kind(), "forbidden");
    }
}
