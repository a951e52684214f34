//! What the toolkits' tests share: the context of a call made by a tenant's user in
//! a role, as the faces build it, a store brought to the current schema, and a client
//! that keeps the progress it is sent, and a call's structured result checked
//! against the tool's output schema.

use std::sync::Mutex;

use serde_json::Value;
use tideway_core::{
    CallContext, ClientChannel, Hub, HubError, Principal, TenantId,
    context::{Credential, LogLevel, Role},
    mcp::{CallToolResult, JsonObject},
    schema::output_mismatch,
};

/// A call by `tenant`'s user `<tenant>-<role>`.
pub fn ctx(tenant: &str, role: Role) -> CallContext {
    CallContext::new(
        TenantId::new(tenant),
        Principal::new(format!("{tenant}-{role}"), role, Credential::Local),
        "test",
    )
}

/// A successful call's structured content, after checking it fits the output schema
/// `toolkit`'s `tool` declares: MCP clients refuse a result that does not, so every
/// toolkit's tests check each answer they read.
pub fn structured(hub: &Hub, toolkit: &str, tool: &str, result: CallToolResult) -> Value {
    let content = result.structured_content.unwrap_or(Value::Null);
    if result.is_error != Some(true)
        && let Some(entry) = hub.entries().into_iter().find(|e| e.name() == toolkit)
        && let Some(schema) = entry.tool(tool).and_then(|t| t.output_schema.clone())
        && let Some(mismatch) = output_mismatch(&schema, &content)
    {
        panic!("{toolkit}.{tool} answered outside its output schema: {mismatch}\n{content}");
    }
    content
}

/// Brings `store` to the current schema of every toolkit and adds `tenants`.
pub async fn prepare_store(store: &tideway_core::Store, tenants: &[&str]) {
    store.migrate(&super::migrations()).await.expect("migrate");
    for tenant in tenants {
        store
            .ensure_tenant(&TenantId::new(*tenant), tenant)
            .await
            .expect("tenant");
    }
}

/// A client that keeps the progress it is sent: (progress, total, message).
#[derive(Default)]
pub struct RecordedProgress(pub Mutex<Vec<(f64, Option<f64>, String)>>);

impl RecordedProgress {
    pub fn reports(&self) -> Vec<(f64, Option<f64>, String)> {
        self.0
            .lock()
            .map(|reports| reports.clone())
            .unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl ClientChannel for RecordedProgress {
    async fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        if let Ok(mut reports) = self.0.lock() {
            reports.push((progress, total, message.unwrap_or_default()));
        }
    }
    async fn log(&self, _: LogLevel, _: &str, _: Value) {}
    async fn request(&self, method: &str, _: JsonObject) -> Result<Value, HubError> {
        Err(HubError::Unsupported(method.to_string()))
    }
}
