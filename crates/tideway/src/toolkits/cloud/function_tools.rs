//! Lambda functions served as MCP tools of their own. An account that picks functions
//! (`function_tools` name patterns, or `function_tool_tag`, a tag key the functions
//! carry) gets a toolkit whose tools are those functions: named after the function
//! (`process-customer-feedback` becomes `process_customer_feedback`), described by
//! it, and called with the tool's arguments as the function's event. The toolkit
//! belongs to the account's tenant, so no other tenant sees it. Which functions are
//! picked is read from Lambda when the server starts, when the account is stored,
//! and every `[cloud] function_refresh_secs`.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use async_trait::async_trait;
use serde_json::{Value, json};
use tideway_core::{
    CallContext, Hub, HubError, Principal, TenantId, Toolkit,
    mcp::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations},
    naming::{NamingMode, sanitize, shorten},
    on_store,
    typed::ToolText,
};
use tokio_util::sync::CancellationToken;

use super::{
    CloudState,
    accounts::Account,
    lambda::{self, InvocationType, InvokeArgs, ListFunctionsArgs},
};

/// The most functions one account serves as tools; the rest are left off, with a
/// warning, so a careless pattern cannot flood a client's tool list.
const MAX_TOOLS: usize = 200;
/// The most functions read from Lambda when picking (40 pages of 50).
const MAX_LISTED: usize = 2_000;

/// Whose toolkit: the tenant that sees it (none: an operator's account every tenant
/// sees) and the account.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Source {
    pub tenant: Option<String>,
    pub account: String,
}

impl Source {
    /// Its toolkit's name: unique per tenant and account, since the Hub's names are
    /// shared by every tenant.
    pub fn toolkit_name(&self) -> String {
        shorten(&match &self.tenant {
            None => format!("functions-{}", self.account),
            Some(tenant) => format!("functions-{}-{}", self.account, sanitize(tenant)),
        })
    }

    /// A context to open the account in, as its tenant.
    fn context(&self) -> CallContext {
        let tenant = TenantId::new(self.tenant.as_deref().unwrap_or("*"));
        CallContext::new(
            tenant.clone(),
            Principal::local().with_tenant(tenant),
            "function-tools",
        )
    }
}

/// A function picked to be a tool.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Picked {
    function: String,
    tool: String,
    description: String,
}

/// The toolkits published, and one refresh at a time.
pub struct FunctionTools {
    hub: Weak<Hub>,
    published: Mutex<BTreeMap<Source, (String, Vec<Picked>)>>,
    refreshing: tokio::sync::Mutex<()>,
    pub stop: CancellationToken,
}

impl FunctionTools {
    pub fn new(hub: Weak<Hub>) -> Self {
        FunctionTools {
            hub,
            published: Mutex::new(BTreeMap::new()),
            refreshing: tokio::sync::Mutex::new(()),
            stop: CancellationToken::new(),
        }
    }

    fn published(&self) -> std::sync::MutexGuard<'_, BTreeMap<Source, (String, Vec<Picked>)>> {
        // A panic while holding it leaves the map whole (every write is one insert
        // or remove), so a poisoned lock is still good.
        self.published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The tool names an account serves now.
    pub fn tools_of(&self, source: &Source) -> Vec<String> {
        self.published()
            .get(source)
            .map(|(_, picked)| picked.iter().map(|p| p.tool.clone()).collect())
            .unwrap_or_default()
    }

    /// Takes an account's toolkit off the Hub.
    pub fn unpublish(&self, source: &Source) {
        let Some((name, _)) = self.published().remove(source) else {
            return;
        };
        if let Some(hub) = self.hub.upgrade() {
            hub.unregister(&name);
        }
    }

    /// Reads one account's functions again and publishes, replaces or removes its
    /// toolkit; the tools it serves now.
    pub async fn refresh(
        &self,
        state: &Arc<CloudState>,
        source: &Source,
    ) -> Result<Vec<String>, HubError> {
        let _one = self.refreshing.lock().await;
        self.refresh_locked(state, source).await
    }

    async fn refresh_locked(
        &self,
        state: &Arc<CloudState>,
        source: &Source,
    ) -> Result<Vec<String>, HubError> {
        let account = match state
            .accounts
            .open(&source.context(), Some(&source.account))
            .await
        {
            Ok(account) => account,
            Err(HubError::NotFound(_)) => {
                self.unpublish(source);
                return Ok(Vec::new());
            }
            Err(error) => return Err(error),
        };
        if !account.serves_function_tools() {
            self.unpublish(source);
            return Ok(Vec::new());
        }
        let picked = pick(state, &account).await?;
        if picked.is_empty() {
            self.unpublish(source);
            return Ok(Vec::new());
        }
        let names = picked.iter().map(|p| p.tool.clone()).collect();
        if self
            .published()
            .get(source)
            .is_some_and(|(_, before)| *before == picked)
        {
            return Ok(names);
        }
        let Some(hub) = self.hub.upgrade() else {
            return Ok(names);
        };
        let name = source.toolkit_name();
        let ours = self.published().contains_key(source);
        if !ours && hub.has_toolkit(&name) {
            return Err(HubError::Conflict(format!(
                "the toolkit name '{name}' is taken, so account '{}' cannot serve its functions as tools",
                source.account
            )));
        }
        let toolkit = FunctionToolkit::new(name.clone(), source.clone(), &picked, state.clone());
        hub.replace_toolkit(Arc::new(toolkit))?;
        self.published().insert(source.clone(), (name, picked));
        Ok(names)
    }

    /// Every account that picks functions, read again; toolkits of accounts that no
    /// longer do (or no longer exist) are removed.
    pub async fn refresh_all(&self, state: &Arc<CloudState>) {
        let _one = self.refreshing.lock().await;
        let sources = match sources(state).await {
            Ok(sources) => sources,
            Err(error) => {
                tracing::warn!(%error, "cannot list the cloud accounts that serve function tools");
                return;
            }
        };
        let gone: Vec<Source> = self
            .published()
            .keys()
            .filter(|source| !sources.contains(source))
            .cloned()
            .collect();
        for source in &gone {
            self.unpublish(source);
        }
        for source in &sources {
            if let Err(error) = self.refresh_locked(state, source).await {
                // The tools it served stay until a refresh succeeds: a passing outage
                // should not take an agent's tools away.
                tracing::warn!(account = %source.account, tenant = ?source.tenant, %error, "cannot read the functions this cloud account serves as tools");
            }
        }
    }

    /// Refreshes at start and then every `every`, until stopped.
    pub fn spawn(state: Weak<CloudState>, stop: CancellationToken, every: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            loop {
                let Some(state) = state.upgrade() else { return };
                state.functions.refresh_all(&state).await;
                drop(state);
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
            }
        });
    }
}

/// The accounts that pick functions: the operator's (one toolkit for every tenant
/// when declared for `*`, else one per tenant) and the stored ones.
async fn sources(state: &CloudState) -> Result<BTreeSet<Source>, HubError> {
    let mut sources = BTreeSet::new();
    for (name, declared) in &state.config.accounts {
        if declared.function_tools.is_empty() && declared.function_tool_tag.is_none() {
            continue;
        }
        if declared.tenants.iter().any(|tenant| tenant == "*") {
            sources.insert(Source {
                tenant: None,
                account: name.clone(),
            });
        } else {
            sources.extend(declared.tenants.iter().map(|tenant| Source {
                tenant: Some(tenant.clone()),
                account: name.clone(),
            }));
        }
    }
    let store = state.accounts.store();
    let stored: Vec<(String, String)> = on_store!(store, pool => {
        sqlx::query_as(
            "SELECT tenant_id, name FROM cloud_accounts \
             WHERE function_tools <> '[]' OR function_tool_tag IS NOT NULL ORDER BY tenant_id, name",
        )
        .fetch_all(pool)
        .await
    })?;
    sources.extend(stored.into_iter().map(|(tenant, account)| Source {
        tenant: Some(tenant),
        account,
    }));
    Ok(sources)
}

/// A function's tool name: its name with `-` as `_`, as agents expect.
fn tool_name(function: &str) -> String {
    function.replace('-', "_")
}

/// The functions an account serves as tools, in name order.
async fn pick(state: &CloudState, account: &Account) -> Result<Vec<Picked>, HubError> {
    let mut picked: BTreeMap<String, Picked> = BTreeMap::new();
    let mut marker = None;
    let mut listed = 0;
    loop {
        let page = lambda::list_functions(
            state,
            account,
            ListFunctionsArgs {
                account: None,
                marker: marker.take(),
                max_items: Some(50),
            },
        )
        .await?;
        listed += page.functions.len();
        for function in page.functions {
            let by_name =
                !account.function_tools.is_empty() && account.function_tools.allows(&function.name);
            let tagged = match &account.function_tool_tag {
                Some(tag) => tag_value(state, account, &function.name, tag).await?,
                None => None,
            };
            if !by_name && tagged.is_none() {
                continue;
            }
            let said = tagged
                .filter(|value| !value.is_empty())
                .or(function.description.filter(|text| !text.is_empty()));
            let description = match said {
                Some(said) => format!(
                    "{said} (Lambda function '{}' of account '{}'; the arguments are its event)",
                    function.name, account.name
                ),
                None => format!(
                    "Runs the Lambda function '{}' of account '{}' with the arguments as its event, and answers with its result.",
                    function.name, account.name
                ),
            };
            let tool = tool_name(&function.name);
            if picked.contains_key(&tool) {
                tracing::warn!(account = %account.name, function = %function.name, tool = %tool, "left off: another function takes the same tool name");
                continue;
            }
            picked.insert(
                tool.clone(),
                Picked {
                    function: function.name,
                    tool,
                    description,
                },
            );
        }
        match page.next_marker {
            Some(next) if listed < MAX_LISTED => marker = Some(next),
            _ => break,
        }
    }
    if picked.len() > MAX_TOOLS {
        tracing::warn!(account = %account.name, picked = picked.len(), "only the first {MAX_TOOLS} functions (by name) are served as tools");
    }
    Ok(picked.into_values().take(MAX_TOOLS).collect())
}

/// The value of tag `key` on `function`, if it carries the tag. Read with
/// GetFunction, which answers with the tags and takes the plain name (ListTags wants
/// the ARN, whose colons sign differently outside S3).
async fn tag_value(
    state: &CloudState,
    account: &Account,
    function: &str,
    key: &str,
) -> Result<Option<String>, HubError> {
    let target = format!("/2015-03-31/functions/{function}");
    let description = lambda::get_json(state, account, target, 1024 * 1024).await?;
    Ok(description["Tags"][key].as_str().map(str::to_string))
}

/// One account's functions as a toolkit.
pub struct FunctionToolkit {
    name: String,
    source: Source,
    owner: Option<TenantId>,
    description: String,
    tools: Vec<Tool>,
    /// Tool name to function name.
    functions: BTreeMap<String, String>,
    state: Arc<CloudState>,
}

impl FunctionToolkit {
    fn new(name: String, source: Source, picked: &[Picked], state: Arc<CloudState>) -> Self {
        let tools = picked
            .iter()
            .map(|picked| {
                let schema = json!({
                    "type": "object",
                    "description": format!("The event the function '{}' receives", picked.function),
                    "additionalProperties": true,
                });
                let schema = match schema {
                    Value::Object(map) => map,
                    _ => JsonObject::new(),
                };
                // A function may do anything: neither read-only nor idempotent, and
                // it reaches beyond Tideway.
                Tool::new(
                    picked.tool.clone(),
                    picked.description.clone(),
                    Arc::new(schema),
                )
                .with_annotations(ToolAnnotations::from_raw(
                    Some(picked.function.clone()),
                    Some(false),
                    Some(true),
                    Some(false),
                    Some(true),
                ))
                .with_title(picked.function.clone())
            })
            .collect();
        FunctionToolkit {
            description: format!(
                "Lambda functions of cloud account '{}', each a tool",
                source.account
            ),
            owner: source.tenant.as_deref().map(TenantId::new),
            functions: picked
                .iter()
                .map(|picked| (picked.tool.clone(), picked.function.clone()))
                .collect(),
            name,
            source,
            tools,
            state,
        }
    }
}

#[async_trait]
impl Toolkit for FunctionToolkit {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn owner(&self) -> Option<&TenantId> {
        self.owner.as_ref()
    }

    /// The bare function name on `/mcp` while no other toolkit takes it.
    fn naming(&self) -> NamingMode {
        NamingMode::OnCollision
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.clone()
    }

    async fn call_tool(
        &self,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        let Some(function) = self.functions.get(name) else {
            return Err(HubError::UnknownTool {
                toolkit: self.name.clone(),
                tool: name.to_string(),
            });
        };
        // Opened as the caller's tenant, with the account's restrictions as they are
        // now: a function since taken out of `functions` is refused.
        let account = self
            .state
            .accounts
            .open(ctx, Some(&self.source.account))
            .await?;
        let invoked = lambda::invoke(
            &self.state,
            &account,
            InvokeArgs {
                account: None,
                function_name: function.clone(),
                payload: Some(Value::Object(arguments)),
                invocation_type: InvocationType::Sync,
                qualifier: None,
            },
        )
        .await?;
        let text = invoked.text();
        let structured = serde_json::to_value(&invoked).map_err(HubError::internal)?;
        let mut result = CallToolResult::structured(structured);
        result.content = vec![ContentBlock::text(text)];
        Ok(result)
    }
}
