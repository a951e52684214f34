//! The workflows toolkit's tests, through the Hub as MCP and REST reach it, on both
//! store backends: what a run does (`runs.rs`), child runs (`children.rs`), what a
//! template may not be (`validation.rs`), runs surviving a stopped server
//! (`recovery.rs`), REST's background calls run as runs (`background.rs`), outputs
//! too large for a step row (`outputs.rs`), and `for_each` items that finished never
//! called again (`items.rs`). The steps call a probe toolkit whose tools record when
//! they ran.

mod background;
mod children;
mod items;
mod outputs;
mod recovery;
mod runs;
mod validation;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tideway_core::{
    CallContext, Hub, HubError, Store, Toolkit,
    context::Role,
    mcp::{CallToolResult, JsonObject, Tool},
    typed::{Effect, ToolSet, ToolSpec, ToolText},
};

use super::{WorkflowsToolkit, settings::WorkflowsConfig};
pub use crate::toolkits::testing::ctx;

/// One call of a probe tool: which, with what label, when it started and ended.
#[derive(Clone, Debug)]
pub struct Call {
    pub tool: &'static str,
    pub label: String,
    pub started: Instant,
    pub ended: Option<Instant>,
}

#[derive(Default)]
pub struct Probe {
    pub calls: Mutex<Vec<Call>>,
    failures: Mutex<HashMap<String, u32>>,
}

impl Probe {
    pub fn calls_of(&self, label: &str) -> Vec<Call> {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .filter(|call| call.label == label)
            .cloned()
            .collect()
    }

    fn started(&self, tool: &'static str, label: &str) -> usize {
        let mut calls = self.calls.lock().expect("lock");
        calls.push(Call {
            tool,
            label: label.to_string(),
            started: Instant::now(),
            ended: None,
        });
        calls.len() - 1
    }

    fn ended(&self, index: usize) {
        if let Some(call) = self.calls.lock().expect("lock").get_mut(index) {
            call.ended = Some(Instant::now());
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EchoArgs {
    value: Value,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WaitArgs {
    label: String,
    ms: u64,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FlakyArgs {
    label: String,
    /// How many calls with this label fail before one succeeds.
    failures: u32,
}

#[derive(Serialize, JsonSchema)]
struct Answer {
    label: Value,
    calls: usize,
}

impl ToolText for Answer {}

/// Waits `ms`, or until the call is cancelled.
async fn wait(
    probe: &Probe,
    tool: &'static str,
    ctx: &CallContext,
    args: WaitArgs,
) -> Result<Answer, HubError> {
    let index = probe.started(tool, &args.label);
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(args.ms)) => {}
        _ = ctx.cancel.cancelled() => return Err(HubError::Cancelled),
    }
    probe.ended(index);
    Ok(Answer {
        calls: probe.calls_of(&args.label).len(),
        label: Value::String(args.label),
    })
}

fn probe_tools() -> ToolSet<Probe> {
    ToolSet::new()
        .add(
            ToolSpec {
                name: "echo",
                title: "Echo",
                description: "Answers with its value.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |probe: Arc<Probe>, _ctx, args: EchoArgs| async move {
                let label = args.value.to_string();
                let index = probe.started("echo", &label);
                probe.ended(index);
                Ok(Answer {
                    label: args.value,
                    calls: probe.calls_of(&label).len(),
                })
            },
        )
        .add(
            ToolSpec {
                name: "read_slowly",
                title: "Read slowly",
                description: "Waits, then answers; reads only.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |probe: Arc<Probe>, ctx, args: WaitArgs| async move {
                wait(&probe, "read_slowly", &ctx, args).await
            },
        )
        .add(
            ToolSpec {
                name: "report_slowly",
                title: "Report slowly",
                description: "Reports it is half way, then waits and answers; reads only.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |probe: Arc<Probe>, ctx, args: WaitArgs| async move {
                ctx.progress(1.0, Some(2.0), "half way").await;
                wait(&probe, "report_slowly", &ctx, args).await
            },
        )
        .add(
            ToolSpec {
                name: "write_slowly",
                title: "Write slowly",
                description: "Waits, then answers; changes something each call.",
                effect: Effect::Additive,
                open_world: false,
            },
            |probe: Arc<Probe>, ctx, args: WaitArgs| async move {
                wait(&probe, "write_slowly", &ctx, args).await
            },
        )
        .add(
            ToolSpec {
                name: "flaky",
                title: "Flaky",
                description: "Fails its first calls, then succeeds.",
                effect: Effect::Additive,
                open_world: false,
            },
            |probe: Arc<Probe>, _ctx, args: FlakyArgs| async move {
                let index = probe.started("flaky", &args.label);
                probe.ended(index);
                let failed = {
                    let mut failures = probe.failures.lock().expect("lock");
                    let count = failures.entry(args.label.clone()).or_default();
                    *count += 1;
                    *count <= args.failures
                };
                if failed {
                    return Err(HubError::Unavailable {
                        component: "flaky".into(),
                        reason: format!(
                            "call {} of '{}' fails",
                            probe.calls_of(&args.label).len(),
                            args.label
                        ),
                    });
                }
                Ok(Answer {
                    calls: probe.calls_of(&args.label).len(),
                    label: Value::String(args.label),
                })
            },
        )
        .add(
            ToolSpec {
                name: "manage",
                title: "Manage",
                description: "An administrative change.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            |_probe: Arc<Probe>, _ctx, args: EchoArgs| async move {
                Ok(Answer {
                    label: args.value,
                    calls: 0,
                })
            },
        )
}

pub struct ProbeToolkit {
    tools: ToolSet<Probe>,
    pub probe: Arc<Probe>,
}

#[async_trait]
impl Toolkit for ProbeToolkit {
    fn name(&self) -> &str {
        "probe"
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
    }

    fn required_role(&self, tool: &Tool) -> Role {
        match tool.name.as_ref() {
            "manage" => Role::Admin,
            _ => tideway_core::toolkit::role_by_annotations(tool),
        }
    }

    async fn call_tool(
        &self,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        self.tools
            .call(self.probe.clone(), ctx, name, arguments)
            .await
    }
}

/// A server's worth of Hub: the probe and the workflows toolkit on `store`, with
/// short leases and quick polling.
pub struct Server {
    pub hub: Arc<Hub>,
    pub probe: Arc<Probe>,
    workflows: Arc<WorkflowsToolkit>,
}

pub fn quick() -> WorkflowsConfig {
    WorkflowsConfig {
        lease_secs: 2,
        poll_ms: 20,
        ..WorkflowsConfig::default()
    }
}

impl Server {
    pub async fn start(store: &Store) -> Server {
        Self::start_with(store, Arc::new(Probe::default()), quick()).await
    }

    pub async fn start_with(store: &Store, probe: Arc<Probe>, config: WorkflowsConfig) -> Server {
        crate::toolkits::testing::prepare_store(store, &["acme", "globex"]).await;
        let hub = Arc::new(Hub::new());
        hub.register(Arc::new(ProbeToolkit {
            tools: probe_tools(),
            probe: probe.clone(),
        }))
        .expect("probe");
        let workflows = Arc::new(WorkflowsToolkit::new(config, store.clone(), &hub));
        hub.register(workflows.clone()).expect("workflows");
        Server {
            hub,
            probe,
            workflows,
        }
    }

    /// Stops the engine as a dying server would: nothing in flight is recorded.
    pub fn kill(&self) {
        self.workflows.state.engine.abandon();
    }

    /// Stops the engine as a server shutting down does.
    pub async fn shut_down(&self) {
        self.workflows.shutdown().await;
    }

    pub async fn call(
        &self,
        ctx: &CallContext,
        tool: &str,
        arguments: Value,
    ) -> Result<Value, HubError> {
        let arguments: JsonObject = serde_json::from_value(arguments).expect("object");
        let result = self
            .hub
            .call(ctx, "workflows", tool, Some(arguments))
            .await?;
        assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
        Ok(crate::toolkits::testing::structured(
            &self.hub,
            "workflows",
            tool,
            result,
        ))
    }

    pub async fn save(&self, ctx: &CallContext, template: Value) -> Result<Value, HubError> {
        self.call(
            ctx,
            "save_workflow_template",
            json!({ "template": template }),
        )
        .await
    }

    pub async fn start_run(&self, ctx: &CallContext, template_id: &str, input: Value) -> String {
        let started = self
            .call(
                ctx,
                "start_workflow",
                json!({"template_id": template_id, "input": input}),
            )
            .await
            .expect("started");
        started["execution_id"]
            .as_str()
            .expect("an execution id")
            .to_string()
    }

    /// Saves `template` and starts a run of it; the run's id.
    pub async fn run_template(&self, ctx: &CallContext, template: Value, input: Value) -> String {
        let template_id = template["id"].as_str().expect("a template id").to_string();
        self.save(ctx, template).await.expect("saved");
        self.start_run(ctx, &template_id, input).await
    }

    /// Waits until a probe tool called with `label` is running (claimed is not
    /// enough: the call itself has begun).
    pub async fn wait_for_call(&self, label: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.probe.calls_of(label).is_empty() {
            assert!(Instant::now() < deadline, "no call labelled {label} began");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn execution(&self, ctx: &CallContext, id: &str) -> Value {
        self.call(ctx, "get_execution", json!({ "execution_id": id }))
            .await
            .expect("execution")
    }

    /// Waits until the run satisfies `done`; panics with the run after 20 s.
    pub async fn wait_until(
        &self,
        ctx: &CallContext,
        id: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let run = self.execution(ctx, id).await;
            if done(&run) {
                return run;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {run:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the run has finished.
    pub async fn finished(&self, ctx: &CallContext, id: &str) -> Value {
        self.wait_until(ctx, id, "the run to finish", |run| {
            matches!(
                run["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        })
        .await
    }
}

/// A step of a run by id.
pub fn step<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|step| step["id"] == id))
        .unwrap_or_else(|| panic!("no step {id} in {run:#}"))
}

pub fn operator(tenant: &str) -> CallContext {
    ctx(tenant, Role::Operator)
}
