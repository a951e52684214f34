//! The Hub's one call path enforces access for every face: roles against tool
//! annotations (and a toolkit's admin tools), allow/deny rules in the catalog and on
//! calls, the argument size bound, the per-tenant in-flight bound, and one audit
//! record per call with secrets redacted; reading a resource and getting a prompt
//! pass the same guard, and a toolkit asks nothing before a task of a caller the
//! call would refuse.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use serde_json::{Value, json};
use tideway_core::{
    CallContext, CallLimits, Credential, Hub, HubError, Principal, Role, Scope, TenantId,
    ToolRules, Toolkit,
    audit::{AuditRecord, AuditSink},
    mcp::{
        CallToolResult, ContentBlock, GetPromptResult, JsonObject, Prompt, PromptArgument,
        PromptMessage, ResourceContents, Role as Speaker, Tool, ToolAnnotations,
    },
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

struct Desk {
    /// `wait` holds its call open until the test adds a permit here.
    release: Arc<Semaphore>,
}

fn tool(name: &str, read_only: bool) -> Tool {
    let schema = json!({
        "type": "object",
        "properties": {"note": {"type": "string"}, "pin": {"type": "string", "writeOnly": true}, "password": {"type": "string"}},
    });
    let Value::Object(schema) = schema else {
        unreachable!()
    };
    Tool::new(name.to_string(), "a test tool", Arc::new(schema))
        .annotate(ToolAnnotations::new().read_only(read_only))
}

#[async_trait]
impl Toolkit for Desk {
    fn name(&self) -> &str {
        "desk"
    }
    fn tools(&self) -> Vec<Tool> {
        vec![
            tool("read", true),
            tool("write", false),
            tool("manage", false),
            tool("wait", true),
        ]
    }
    fn required_role(&self, tool: &Tool) -> Role {
        match tool.name.as_ref() {
            "manage" => Role::Admin,
            "read" | "wait" => Role::Viewer,
            _ => Role::Operator,
        }
    }
    async fn call_tool(
        &self,
        _ctx: &CallContext,
        name: &str,
        _arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        if name == "wait" {
            let permit = self.release.acquire().await.map_err(HubError::internal)?;
            permit.forget();
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(name)]))
    }
    async fn before_task(
        &self,
        ctx: &CallContext,
        _tool: &str,
        mut arguments: JsonObject,
    ) -> Result<JsonObject, HubError> {
        ASKED_BEFORE_TASK.fetch_add(1, Ordering::SeqCst);
        arguments.insert("note".into(), Value::String(ctx.principal.id.clone()));
        Ok(arguments)
    }
    fn uri_prefixes(&self) -> Vec<String> {
        vec!["desk://".into()]
    }
    async fn read_resource(
        &self,
        _ctx: &CallContext,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        if uri == "desk://wait" {
            let permit = self.release.acquire().await.map_err(HubError::internal)?;
            permit.forget();
        }
        Ok(vec![ResourceContents::text("note", uri)])
    }
    fn prompts(&self) -> Vec<Prompt> {
        vec![Prompt::new(
            "brief",
            Some("a test prompt"),
            Some(vec![PromptArgument::new("topic").with_required(true)]),
        )]
    }
    async fn get_prompt(
        &self,
        _ctx: &CallContext,
        _name: &str,
        arguments: JsonObject,
    ) -> Result<GetPromptResult, HubError> {
        if arguments.get("topic").and_then(Value::as_str) == Some("wait") {
            let permit = self.release.acquire().await.map_err(HubError::internal)?;
            permit.forget();
        }
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Speaker::User,
            "brief",
        )]))
    }
}

/// How often `Desk::before_task` ran (only one test asks it).
static ASKED_BEFORE_TASK: AtomicUsize = AtomicUsize::new(0);

#[derive(Default)]
struct Records(Mutex<Vec<AuditRecord>>);

impl AuditSink for Records {
    fn record(&self, record: AuditRecord) {
        self.0.lock().expect("lock").push(record);
    }
}

fn hub(limits: CallLimits) -> (Arc<Hub>, Arc<Semaphore>, Arc<Records>) {
    let release = Arc::new(Semaphore::new(0));
    let hub = Arc::new(Hub::new().with_limits(limits));
    hub.register(Arc::new(Desk {
        release: release.clone(),
    }))
    .expect("registers");
    let records = Arc::new(Records::default());
    hub.set_audit_sink(records.clone());
    (hub, release, records)
}

fn ctx(tenant: &str, role: Role, rules: Vec<ToolRules>) -> CallContext {
    CallContext::new(
        TenantId::new(tenant),
        Principal::new(format!("key:{role}"), role, Credential::ApiKey).with_rules(rules),
        "req-1",
    )
}

fn names(tools: Vec<Tool>) -> Vec<String> {
    tools
        .into_iter()
        .map(|tool| tool.name.to_string())
        .collect()
}

#[tokio::test]
async fn roles_decide_which_tools_are_listed_and_callable() {
    let (hub, _, _) = hub(CallLimits::default());
    let expectations = [
        (Role::Viewer, vec!["read", "wait"]),
        (Role::Operator, vec!["read", "write", "wait"]),
        (Role::Admin, vec!["read", "write", "manage", "wait"]),
    ];
    for (role, callable) in expectations {
        let ctx = ctx("acme", role, vec![]);
        let listed = names(hub.list_tools(&Scope::Toolkit("desk".into()), &ctx.principal));
        assert_eq!(listed, callable, "{role}");
        for tool in ["read", "write", "manage"] {
            let outcome = hub.call(&ctx, "desk", tool, None).await;
            if callable.contains(&tool) {
                assert!(outcome.is_ok(), "{role} calls {tool}: {outcome:?}");
            } else {
                let error = outcome.expect_err("refused");
                assert_eq!(error.kind(), "forbidden", "{role} {tool}");
                assert!(error.to_string().contains(role.as_str()), "{error}");
            }
        }
    }
}

#[tokio::test]
async fn rules_narrow_the_catalog_and_the_calls() {
    let (hub, _, _) = hub(CallLimits::default());
    let rules = ToolRules {
        allow: vec!["desk.read".into(), "desk.write".into()],
        deny: vec!["desk.write".into()],
    };
    let ctx = ctx("acme", Role::Admin, vec![rules]);
    assert_eq!(
        names(hub.list_tools(&Scope::All, &ctx.principal)),
        vec!["desk_read"]
    );
    assert!(hub.call(&ctx, "desk", "read", None).await.is_ok());
    let error = hub
        .call(&ctx, "desk", "write", None)
        .await
        .expect_err("denied");
    assert!(
        error
            .to_string()
            .contains("not available to this credential"),
        "{error}"
    );
    // Two rule sets (tenant and key) must both permit.
    let tenant = ToolRules {
        allow: vec!["other".into()],
        deny: vec![],
    };
    let key = ToolRules::default();
    let ctx = self::ctx("acme", Role::Admin, vec![tenant, key]);
    assert!(hub.list_tools(&Scope::All, &ctx.principal).is_empty());
    assert!(hub.call(&ctx, "desk", "read", None).await.is_err());
}

#[tokio::test]
async fn oversized_arguments_are_refused_before_the_tool_runs() {
    let (hub, _, records) = hub(CallLimits {
        max_argument_bytes: 64,
        ..CallLimits::default()
    });
    let ctx = ctx("acme", Role::Admin, vec![]);
    let mut arguments = JsonObject::new();
    arguments.insert("note".into(), json!("x".repeat(100)));
    let error = hub
        .call(&ctx, "desk", "read", Some(arguments))
        .await
        .expect_err("too big");
    assert_eq!(error.kind(), "invalid-arguments");
    assert!(
        error.to_string().contains("limits.max_argument_bytes"),
        "{error}"
    );
    let records = records.0.lock().expect("lock");
    assert_eq!(records.len(), 1, "a refused call is audited too");
    assert_eq!(records[0].error_kind.as_deref(), Some("invalid-arguments"));
}

#[tokio::test]
async fn a_tenant_cannot_exceed_its_in_flight_bound_and_others_are_unaffected() {
    let (hub, release, _) = hub(CallLimits {
        tenant_concurrent_calls: 2,
        ..CallLimits::default()
    });
    let acme = ctx("acme", Role::Viewer, vec![]);
    let mut waiting = Vec::new();
    for _ in 0..2 {
        let hub = hub.clone();
        let acme = acme.clone();
        waiting.push(tokio::spawn(async move {
            hub.call(&acme, "desk", "wait", None).await
        }));
    }
    // Once both calls hold their slots, a third is refused.
    let error = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match hub.call(&acme, "desk", "read", None).await {
                Err(error) => break error,
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await
    .expect("the bound is reached");
    assert_eq!(error.kind(), "rate-limited");
    let HubError::RateLimited { retry_after, .. } = error else {
        unreachable!()
    };
    assert!(retry_after >= Duration::from_secs(1));
    let globex = ctx("globex", Role::Viewer, vec![]);
    assert!(
        hub.call(&globex, "desk", "read", None).await.is_ok(),
        "another tenant has its own bound"
    );
    release.add_permits(2);
    for call in waiting {
        assert!(call.await.expect("joins").is_ok());
    }
    assert!(
        hub.call(&acme, "desk", "read", None).await.is_ok(),
        "slots are given back"
    );
}

#[tokio::test]
async fn every_call_is_audited_with_secrets_redacted() {
    let (hub, _, records) = hub(CallLimits::default());
    let viewer = ctx("acme", Role::Viewer, vec![]);
    let mut arguments = JsonObject::new();
    arguments.insert("note".into(), json!("hello"));
    arguments.insert("pin".into(), json!("4321"));
    arguments.insert("password".into(), json!("hunter2"));
    hub.call(&viewer, "desk", "read", Some(arguments.clone()))
        .await
        .expect("ok");
    let _ = hub.call(&viewer, "desk", "write", Some(arguments)).await;
    let _ = hub.call(&viewer, "desk", "no_such_tool", None).await;
    let records = records.0.lock().expect("lock");
    assert_eq!(
        records.len(),
        2,
        "unknown tools are not audited: {records:?}"
    );
    let (ok, refused) = (&records[0], &records[1]);
    assert_eq!((ok.tool.as_str(), ok.outcome.as_str()), ("read", "ok"));
    assert_eq!(ok.tenant, "acme");
    assert_eq!(ok.principal, "key:viewer");
    assert_eq!(ok.request_id, "req-1");
    assert!(ok.arguments.contains("hello"));
    assert!(
        !ok.arguments.contains("4321") && !ok.arguments.contains("hunter2"),
        "{}",
        ok.arguments
    );
    assert_eq!(
        (refused.outcome.as_str(), refused.error_kind.as_deref()),
        ("error", Some("forbidden"))
    );
}

fn topic(value: &str) -> Option<JsonObject> {
    let mut arguments = JsonObject::new();
    arguments.insert("topic".into(), value.into());
    Some(arguments)
}

#[tokio::test]
async fn resources_and_prompts_pass_the_same_guard_as_tools() {
    let (hub, release, records) = hub(CallLimits {
        tenant_concurrent_calls: 1,
        ..CallLimits::default()
    });
    let viewer = ctx("acme", Role::Viewer, vec![]);

    // Audited and measured like a tool call, under labels no tool can take.
    hub.read_resource(&viewer, &Scope::All, "desk://note")
        .await
        .expect("read");
    hub.get_prompt(&viewer, &Scope::All, "desk_brief", topic("vpn"))
        .await
        .expect("prompt");
    let missing = hub
        .get_prompt(&viewer, &Scope::All, "desk_brief", None)
        .await
        .expect_err("a required argument is missing");
    assert_eq!(missing.kind(), "invalid-prompt-arguments");
    {
        let records = records.0.lock().expect("lock");
        let seen: Vec<(&str, &str, &str)> = records
            .iter()
            .map(|r| (r.toolkit.as_str(), r.tool.as_str(), r.outcome.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("desk", "resources/read", "ok"),
                ("desk", "prompts/get", "ok"),
                ("desk", "prompts/get", "error"),
            ]
        );
        assert!(
            records[0].arguments.contains("desk://note"),
            "{}",
            records[0].arguments
        );
        assert_eq!(records[0].principal, "key:viewer");
    }
    let metrics = hub.metrics().render();
    assert!(metrics.contains("tool=\"resources/read\""), "{metrics}");
    assert!(metrics.contains("tool=\"prompts/get\""), "{metrics}");

    // Rules: a denied toolkit serves neither its resources nor its prompts.
    let denied = ctx(
        "acme",
        Role::Viewer,
        vec![ToolRules {
            allow: vec![],
            deny: vec!["desk.*".into()],
        }],
    );
    let hidden = hub
        .read_resource(&denied, &Scope::All, "desk://note")
        .await
        .expect_err("hidden");
    assert_eq!(hidden.kind(), "resource-not-found");
    let hidden = hub
        .get_prompt(&denied, &Scope::All, "desk_brief", topic("vpn"))
        .await
        .expect_err("hidden");
    assert_eq!(hidden.kind(), "unknown-prompt");

    // The deadline and cancellation end a read and a prompt that hang.
    let hurried = viewer.clone().with_timeout(Duration::from_millis(50));
    let late = hub
        .read_resource(&hurried, &Scope::All, "desk://wait")
        .await
        .expect_err("deadline");
    assert_eq!(late.kind(), "deadline-exceeded");
    let late = hub
        .get_prompt(&hurried, &Scope::All, "desk_brief", topic("wait"))
        .await
        .expect_err("deadline");
    assert_eq!(late.kind(), "deadline-exceeded");
    let cancel = CancellationToken::new();
    cancel.cancel();
    let cancelled = viewer.clone().with_cancellation(cancel);
    let gone = hub
        .read_resource(&cancelled, &Scope::All, "desk://wait")
        .await
        .expect_err("cancelled");
    assert_eq!(gone.kind(), "cancelled");

    // The tenant's in-flight bound counts reads and prompts with tool calls.
    let holder = {
        let hub = hub.clone();
        let viewer = viewer.clone();
        tokio::spawn(async move { hub.read_resource(&viewer, &Scope::All, "desk://wait").await })
    };
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match hub
                .get_prompt(&viewer, &Scope::All, "desk_brief", topic("vpn"))
                .await
            {
                Err(error) => break error,
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await
    .expect("the bound is reached");
    assert_eq!(refused.kind(), "rate-limited");
    let tool = hub
        .call(&viewer, "desk", "read", None)
        .await
        .expect_err("bound");
    assert_eq!(tool.kind(), "rate-limited");
    release.add_permits(1);
    assert!(holder.await.expect("joins").is_ok());
    hub.read_resource(&viewer, &Scope::All, "desk://note")
        .await
        .expect("the slot is given back");
}

/// A toolkit only one tenant sees, named after it as a tenant's own toolkits are.
struct Ledger(TenantId);

#[async_trait]
impl Toolkit for Ledger {
    fn name(&self) -> &str {
        "ledger-globex"
    }
    fn tools(&self) -> Vec<Tool> {
        vec![tool("ledger_balance", true)]
    }
    fn owner(&self) -> Option<&TenantId> {
        Some(&self.0)
    }
    async fn call_tool(
        &self,
        _ctx: &CallContext,
        name: &str,
        _arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        Ok(CallToolResult::success(vec![ContentBlock::text(name)]))
    }
}

#[tokio::test]
async fn another_tenants_tool_answers_as_unknown_without_naming_its_toolkit() {
    let (hub, _release, _records) = hub(CallLimits::default());
    hub.register(Arc::new(Ledger(TenantId::new("globex"))))
        .expect("registers");
    let owner = ctx("globex", Role::Viewer, vec![]);
    let listed = names(hub.list_tools(&Scope::All, &owner.principal));
    let name = listed
        .iter()
        .find(|name| name.contains("ledger_balance"))
        .expect("the owner sees its tool")
        .clone();
    hub.call_in_scope(&owner, &Scope::All, &name, None)
        .await
        .expect("the owner calls it");

    let stranger = ctx("acme", Role::Admin, vec![]);
    assert!(!names(hub.list_tools(&Scope::All, &stranger.principal)).contains(&name));
    let refused = hub
        .call_in_scope(&stranger, &Scope::All, &name, None)
        .await
        .expect_err("another tenant's tool");
    assert!(
        matches!(&refused, HubError::UnknownTool { tool, .. } if *tool == name),
        "{refused:?}"
    );
    // Beyond the name as called, nothing names the owner's toolkit.
    assert!(
        !refused.to_string().replace(&name, "").contains("globex"),
        "{refused}"
    );
    // A name nothing serves is refused in the same words.
    let missing = hub
        .call_in_scope(&stranger, &Scope::All, "ledger_missing", None)
        .await
        .expect_err("no such tool");
    assert_eq!(
        refused.to_string().replace(&name, "X"),
        missing.to_string().replace("ledger_missing", "X")
    );
}

#[tokio::test]
async fn a_toolkit_asks_before_a_task_only_for_a_call_the_hub_would_make() {
    let (hub, _release, _records) = hub(CallLimits::default());
    let viewer = ctx("acme", Role::Viewer, Vec::new());
    let refused = hub
        .before_task(&viewer, "desk", "write", JsonObject::new())
        .await
        .expect_err("a viewer may not write");
    assert!(matches!(refused, HubError::Forbidden(_)), "{refused}");
    let bad = hub
        .before_task(
            &ctx("acme", Role::Operator, Vec::new()),
            "desk",
            "write",
            one_argument("note", json!(5)),
        )
        .await
        .expect_err("the arguments do not fit the schema");
    assert!(matches!(bad, HubError::InvalidArguments { .. }), "{bad}");
    assert_eq!(
        ASKED_BEFORE_TASK.load(Ordering::SeqCst),
        0,
        "nothing is asked for a call the Hub would refuse"
    );
    let arguments = hub
        .before_task(
            &ctx("acme", Role::Operator, Vec::new()),
            "desk",
            "write",
            JsonObject::new(),
        )
        .await
        .expect("an operator's write");
    assert_eq!(arguments["note"], "key:operator");
    assert_eq!(ASKED_BEFORE_TASK.load(Ordering::SeqCst), 1);
}

fn one_argument(key: &str, value: Value) -> JsonObject {
    let mut arguments = JsonObject::new();
    arguments.insert(key.into(), value);
    arguments
}
