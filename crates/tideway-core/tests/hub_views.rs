//! Virtual servers: a named, curated set of tools from several toolkits, served with
//! their `/mcp` names. Only the picked tools are listed and callable in the view,
//! exclusions win, access rules still apply, prompts and resources follow the
//! toolkits picked from, and a view cannot take a toolkit's name (nor the reverse).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use tideway_core::{
    CallContext, Credential, Hub, HubError, Principal, Role, Scope, TenantId, ToolRules, Toolkit,
    VirtualServer,
    mcp::{
        CallToolResult, ContentBlock, GetPromptResult, JsonObject, Prompt, PromptMessage, Resource,
        Role as MessageRole, Tool, ToolAnnotations,
    },
};

struct Kit {
    name: &'static str,
    tools: &'static [&'static str],
}

#[async_trait]
impl Toolkit for Kit {
    fn name(&self) -> &str {
        self.name
    }
    fn tools(&self) -> Vec<Tool> {
        self.tools
            .iter()
            .map(|name| {
                let schema = json!({"type": "object"});
                let serde_json::Value::Object(schema) = schema else {
                    unreachable!()
                };
                Tool::new(name.to_string(), "a tool", Arc::new(schema))
                    .annotate(ToolAnnotations::new().read_only(name.starts_with("get")))
            })
            .collect()
    }
    async fn call_tool(
        &self,
        _ctx: &CallContext,
        name: &str,
        _arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "{}.{name}",
            self.name
        ))]))
    }
    fn uri_prefixes(&self) -> Vec<String> {
        vec![format!("{}://", self.name)]
    }
    async fn list_resources(&self, _ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
        Ok(vec![Resource::new(format!("{}://one", self.name), "one")])
    }
    fn prompts(&self) -> Vec<Prompt> {
        vec![Prompt::new("brief", Some("a prompt"), None)]
    }
    async fn get_prompt(
        &self,
        _ctx: &CallContext,
        _name: &str,
        _arguments: JsonObject,
    ) -> Result<GetPromptResult, HubError> {
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            MessageRole::User,
            self.name,
        )]))
    }
}

fn hub() -> Arc<Hub> {
    let hub = Arc::new(Hub::new());
    for kit in [
        Kit {
            name: "support",
            tools: &[
                "get_tickets",
                "get_customers",
                "create_ticket",
                "delete_ticket",
            ],
        },
        Kit {
            name: "files",
            tools: &["get_file", "write_file"],
        },
        Kit {
            name: "cloud",
            tools: &["get_bucket"],
        },
    ] {
        hub.register(Arc::new(kit)).expect("registers");
    }
    hub
}

fn view(name: &str, allow: &[&str], deny: &[&str]) -> VirtualServer {
    VirtualServer {
        name: name.into(),
        description: None,
        tools: ToolRules {
            allow: allow.iter().map(|p| p.to_string()).collect(),
            deny: deny.iter().map(|p| p.to_string()).collect(),
        },
    }
}

fn ctx(role: Role) -> CallContext {
    CallContext::new(
        TenantId::new("acme"),
        Principal::new("key:test", role, Credential::ApiKey),
        "req",
    )
}

fn names(tools: Vec<Tool>) -> Vec<String> {
    let mut names: Vec<String> = tools.into_iter().map(|t| t.name.to_string()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_view_serves_only_the_picked_tools_with_their_mcp_names() {
    let hub = hub();
    hub.set_views(vec![view(
        "agent",
        &["support.*", "files.get_file"],
        &["support.delete_*"],
    )])
    .expect("views");
    let scope = Scope::View("agent".into());
    let operator = ctx(Role::Operator);
    assert_eq!(
        names(hub.list_tools(&scope, &operator.principal)),
        [
            "files_get_file",
            "support_create_ticket",
            "support_get_customers",
            "support_get_tickets"
        ]
    );
    let result = hub
        .call_in_scope(&operator, &scope, "files_get_file", None)
        .await
        .expect("picked");
    assert_eq!(
        result.content[0].as_text().map(|t| t.text.as_str()),
        Some("files.get_file")
    );
    for (name, why) in [
        ("files_write_file", "not picked"),
        ("support_delete_ticket", "excluded"),
        ("cloud_get_bucket", "another toolkit"),
        ("get_file", "bare names are not the view's names"),
    ] {
        let error = hub
            .call_in_scope(&operator, &scope, name, None)
            .await
            .expect_err(why);
        assert_eq!(error.kind(), "unknown-tool", "{name}: {why}");
    }

    // Roles still apply inside a view.
    let viewer = ctx(Role::Viewer);
    assert_eq!(
        names(hub.list_tools(&scope, &viewer.principal)),
        [
            "files_get_file",
            "support_get_customers",
            "support_get_tickets"
        ]
    );
    let refused = hub
        .call_in_scope(&viewer, &scope, "support_create_ticket", None)
        .await
        .expect_err("viewers do not write");
    assert_eq!(refused.kind(), "forbidden");

    // Prompts and resources come from the toolkits the view picks from.
    let prompts: Vec<String> = hub
        .list_prompts(&operator, &scope)
        .await
        .expect("prompts")
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(prompts.len(), 2);
    assert!(prompts.contains(&"support_brief".to_string()));
    assert!(prompts.contains(&"files_brief".to_string()));
    let rendered = hub
        .get_prompt(&operator, &scope, "files_brief", None)
        .await
        .expect("prompt");
    assert_eq!(rendered.messages.len(), 1);
    assert!(
        hub.get_prompt(&operator, &scope, "cloud_brief", None)
            .await
            .is_err()
    );
    let resources: Vec<String> = hub
        .list_resources(&operator, &scope)
        .await
        .expect("resources")
        .into_iter()
        .map(|r| r.uri.clone())
        .collect();
    assert_eq!(resources.len(), 2);
    assert!(!resources.contains(&"cloud://one".to_string()));
    assert!(
        hub.read_resource(&operator, &scope, "cloud://one")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn views_and_toolkits_never_share_a_name_and_bad_patterns_are_refused() {
    let hub = hub();
    let clash = hub
        .set_views(vec![view("files", &["support.*"], &[])])
        .expect_err("a toolkit has that name");
    assert_eq!(clash.kind(), "conflict");
    let typo = hub
        .set_views(vec![view("agent", &["support.get tickets"], &[])])
        .expect_err("not a pattern");
    assert!(typo.to_string().contains("get tickets"), "{typo}");
    let empty = hub
        .set_views(vec![view("agent", &[], &[])])
        .expect_err("picks nothing");
    assert!(empty.to_string().contains("picks no tools"), "{empty}");

    hub.set_views(vec![view("agent", &["cloud"], &[])])
        .expect("views");
    assert!(hub.has_view("agent"));
    let taken = hub
        .register(Arc::new(Kit {
            name: "agent",
            tools: &["get_x"],
        }))
        .expect_err("a view has that name");
    assert_eq!(taken.kind(), "conflict");
    // Setting views again replaces them.
    hub.set_views(Vec::new()).expect("cleared");
    assert!(!hub.has_view("agent"));
}
