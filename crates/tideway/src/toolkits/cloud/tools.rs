//! The cloud toolkit's tools, declared once: the seed's names for objects, Lambda and
//! SSM, and the account tools. Each resolves the account first (the named one, or
//! the tenant's only one), so restrictions and tenancy apply before any request.

use std::{future::Future, sync::Arc, time::Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    CallContext, HubError,
    typed::{Effect, ToolSet, ToolSpec, ToolText},
};
use utoipa::ToSchema;

use super::{
    CloudState,
    accounts::{Account, AccountInput, AccountView, Backend},
    aws::Call,
    diagnosis::Failure,
    function_tools::Source,
    lambda, listing, objects, ssm,
};

/// The tools' names, shared by their declarations and the REST routes.
pub mod names {
    pub const LIST_ACCOUNTS: &str = "list_accounts";
    pub const TEST_ACCOUNT: &str = "test_account";
    pub const SET_ACCOUNT: &str = "set_account";
    pub const DELETE_ACCOUNT: &str = "delete_account";
    pub const S3_UPLOAD_FILE: &str = "s3_upload_file";
    pub const S3_DOWNLOAD_FILE: &str = "s3_download_file";
    pub const S3_LIST_OBJECTS: &str = "s3_list_objects";
    pub const S3_DELETE_OBJECT: &str = "s3_delete_object";
    pub const S3_LIST_BUCKETS: &str = "s3_list_buckets";
    pub const S3_GET_OBJECT_INFO: &str = "s3_get_object_info";
    pub const S3_PRESIGN_URL: &str = "s3_presign_url";
    pub const LAMBDA_INVOKE: &str = "lambda_invoke";
    pub const LAMBDA_LIST_FUNCTIONS: &str = "lambda_list_functions";
    pub const GET_PARAMETER_STORE_VALUE: &str = "get_parameter_store_value";
    pub const GET_PARAMETERS_BY_PATH: &str = "get_parameters_by_path";
    pub const PUT_PARAMETER: &str = "put_parameter";
}

pub use tideway_core::typed::NoArgs;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountArg {
    /// The account (default: the tenant's only one).
    #[serde(default)]
    pub account: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameArg {
    pub name: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAccountArgs {
    /// The account's name in this tenant.
    pub name: String,
    pub account: AccountInput,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountView>,
}

impl ToolText for AccountList {
    fn text(&self) -> String {
        self.accounts
            .iter()
            .map(|account| {
                format!(
                    "{} ({:?}, {}{})",
                    account.name,
                    account.kind,
                    account.origin,
                    account
                        .endpoint
                        .as_deref()
                        .map(|endpoint| format!(", {endpoint}"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct AccountStored {
    pub name: String,
    /// The Lambda functions it serves as tools of their own, by tool name.
    pub function_tools: Vec<String>,
    /// Why its functions could not be read just now (the account is stored; they
    /// are read again every `[cloud] function_refresh_secs`).
    pub function_tools_error: Option<String>,
}

impl ToolText for AccountStored {
    fn text(&self) -> String {
        let mut text = format!("{}: stored", self.name);
        if !self.function_tools.is_empty() {
            text.push_str(&format!(
                "; functions served as tools: {}",
                self.function_tools.join(", ")
            ));
        }
        if let Some(error) = &self.function_tools_error {
            text.push_str(&format!("; its functions could not be read: {error}"));
        }
        text
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Done {
    pub name: String,
    pub done: bool,
}

impl ToolText for Done {
    fn text(&self) -> String {
        format!("{}: done", self.name)
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct AccountTest {
    pub account: String,
    pub ok: bool,
    /// On failure: `dns`, `refused`, `tls`, `timeout`, `policy`, `auth`,
    /// `clock_skew`, `permission`, `not_found` or `service`.
    pub failure: Option<String>,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub latency_ms: f64,
}

impl ToolText for AccountTest {
    fn text(&self) -> String {
        if self.ok {
            format!(
                "{}: reachable, credentials accepted ({:.0} ms)",
                self.account, self.latency_ms
            )
        } else {
            format!(
                "{}: {} — {} ({})",
                self.account,
                self.failure.as_deref().unwrap_or("failed"),
                self.detail.as_deref().unwrap_or_default(),
                self.hint.as_deref().unwrap_or_default()
            )
        }
    }
}

/// Reaches the account's service with its credentials: the folder read, the
/// containers or buckets listed.
pub(super) async fn test(state: &CloudState, account: &Account) -> Result<(), Failure> {
    match &account.backend {
        Backend::Local { root } => match tokio::fs::read_dir(root).await {
            Ok(_) => Ok(()),
            Err(error) => Err(Failure {
                kind: "not_found",
                detail: format!("the account's folder cannot be read: {}", error.kind()),
                hint: "the operator's [cloud.accounts] path must be a readable folder",
            }),
        },
        Backend::Azure(azure) => state.azure_containers(azure, Some(1)).await.map(|_| ()),
        Backend::Aws(aws) => state
            .clients
            .send(
                aws,
                Call {
                    service: "s3",
                    method: http::Method::GET,
                    target: "/".into(),
                    headers: Vec::new(),
                    body: bytes::Bytes::new(),
                    max_body: 1024 * 1024,
                },
            )
            .await
            .map(|_| ()),
    }
}

/// Registers a tool whose arguments name an account: the account is opened for the
/// caller's tenant before the handler runs.
fn with_account<A, O, F, Fut>(
    tools: ToolSet<CloudState>,
    spec: ToolSpec,
    account_of: fn(&A) -> Option<&str>,
    handler: F,
) -> ToolSet<CloudState>
where
    A: serde::de::DeserializeOwned + JsonSchema + Send + 'static,
    O: ToolText + JsonSchema + Send + 'static,
    F: Fn(Arc<CloudState>, Account, A) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Result<O, HubError>> + Send + 'static,
{
    tools.add(
        spec,
        move |state: Arc<CloudState>, ctx: CallContext, args: A| async move {
            let account = state.accounts.open(&ctx, account_of(&args)).await?;
            handler(state, account, args).await
        },
    )
}

pub fn tool_set() -> ToolSet<CloudState> {
    let tools = ToolSet::new()
        .add(
            ToolSpec {
                name: names::LIST_ACCOUNTS,
                title: "List cloud accounts",
                description: "This tenant's cloud accounts (AWS or S3-compatible, and local folders the operator grants): kind, region, endpoint and restrictions, never secrets.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<CloudState>, ctx, _args: NoArgs| async move {
                Ok(AccountList {
                    accounts: state.accounts.list(&ctx).await?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::TEST_ACCOUNT,
                title: "Test a cloud account",
                description: "Reaches the account's storage with its credentials and says whether it works, or precisely why not (dns, refused, tls, timeout, auth, clock skew, permission) with a hint.",
                effect: Effect::ReadOnly,
                open_world: true,
            },
            |state: Arc<CloudState>, ctx, args: AccountArg| async move {
                let account = state.accounts.open(&ctx, args.account.as_deref()).await?;
                let started = Instant::now();
                let outcome = test(&state, &account).await;
                let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                Ok(match outcome {
                    Ok(()) => AccountTest {
                        account: account.name,
                        ok: true,
                        failure: None,
                        detail: None,
                        hint: None,
                        latency_ms,
                    },
                    Err(failure) => AccountTest {
                        account: account.name,
                        ok: false,
                        failure: Some(failure.kind.to_string()),
                        detail: Some(failure.detail),
                        hint: Some(failure.hint.to_string()),
                        latency_ms,
                    },
                })
            },
        )
        .add(
            ToolSpec {
                name: names::SET_ACCOUNT,
                title: "Store a cloud account",
                description: "Stores (or replaces) an account for this tenant: AWS or S3-compatible (region, endpoint, access key) or Azure Blob Storage (kind azure, storage account and key), the secret sealed at rest and never shown again; optional bucket, function and parameter name patterns it is restricted to, and Lambda functions to serve as tools of their own (function_tools patterns or function_tool_tag).",
                effect: Effect::Idempotent,
                open_world: false,
            },
            |state: Arc<CloudState>, ctx, args: SetAccountArgs| async move {
                state
                    .accounts
                    .put(&ctx, &args.name, args.account, &state.policy)
                    .await?;
                let source = Source {
                    tenant: Some(ctx.tenant.as_str().to_string()),
                    account: args.name.clone(),
                };
                // The account is stored either way; a failure to read its functions
                // is told, and the next refresh tries again.
                let (function_tools, function_tools_error) =
                    match state.functions.refresh(&state, &source).await {
                        Ok(tools) => (tools, None),
                        Err(error) => (state.functions.tools_of(&source), Some(error.to_string())),
                    };
                Ok(AccountStored {
                    name: args.name,
                    function_tools,
                    function_tools_error,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::DELETE_ACCOUNT,
                title: "Delete a cloud account",
                description: "Deletes an account this tenant stored (not the objects in it).",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<CloudState>, ctx, args: NameArg| async move {
                if !state.accounts.delete(&ctx, &args.name).await? {
                    return Err(HubError::NotFound(format!(
                        "no stored cloud account '{}'",
                        tideway_core::error::excerpt(&args.name)
                    )));
                }
                state.functions.unpublish(&Source {
                    tenant: Some(ctx.tenant.as_str().to_string()),
                    account: args.name.clone(),
                });
                Ok(Done {
                    name: args.name,
                    done: true,
                })
            },
        );
    let tools = with_account(
        tools,
        ToolSpec {
            name: names::S3_UPLOAD_FILE,
            title: "Upload an object",
            description: "Stores text or base64 content as an object (bucket, key, content_type); replaces an object with the same key. Large bodies go up in parts.",
            effect: Effect::Destructive,
            open_world: true,
        },
        |args: &objects::UploadArgs| args.account.as_deref(),
        |state, account, args| async move { objects::upload(&state, &account, args).await },
    );
    let tools = with_account(
        tools,
        ToolSpec {
            name: names::S3_DOWNLOAD_FILE,
            title: "Download an object",
            description: "Reads an object: text when it is text, base64 otherwise, up to a size cap (truncated is flagged); or, with presign=true, a presigned URL so a large object does not fill the conversation.",
            effect: Effect::ReadOnly,
            open_world: true,
        },
        |args: &objects::DownloadArgs| args.account.as_deref(),
        |state, account, args| async move { objects::download(&state, &account, args).await },
    );
    let tools = with_account(
        tools,
        ToolSpec {
            name: names::S3_LIST_OBJECTS,
            title: "List objects",
            description: "Lists a bucket's objects below a prefix with sizes and modified times, one folder level at a time with delimiter=true, a page at a time with the cursor.",
            effect: Effect::ReadOnly,
            open_world: true,
        },
        |args: &listing::ListObjectsArgs| args.account.as_deref(),
        |state, account, args| async move { listing::list_objects(&state, &account, args).await },
    );
    let tools = with_account(
        tools,
        ToolSpec {
            name: names::S3_DELETE_OBJECT,
            title: "Delete an object",
            description: "Deletes one object; an object that does not exist is reported as missing.",
            effect: Effect::Destructive,
            open_world: true,
        },
        |args: &objects::ObjectArgs| args.account.as_deref(),
        |state, account, args| async move { objects::delete(&state, &account, args).await },
    );
    let tools = with_account(
        tools,
        ToolSpec {
            name: names::S3_LIST_BUCKETS,
            title: "List buckets",
            description: "The buckets of an account that it serves.",
            effect: Effect::ReadOnly,
            open_world: true,
        },
        |args: &AccountArg| args.account.as_deref(),
        |state, account, _args| async move { listing::list_buckets(&state, &account).await },
    );
    let tools = with_account(
        tools,
        ToolSpec {
            name: names::S3_GET_OBJECT_INFO,
            title: "Describe an object",
            description: "An object's size, media type, etag, version, modified time and metadata, without its content.",
            effect: Effect::ReadOnly,
            open_world: true,
        },
        |args: &objects::ObjectArgs| args.account.as_deref(),
        |state, account, args| async move { objects::info(&state, &account, args).await },
    );
    let tools = with_account(
        tools,
        ToolSpec {
            name: names::S3_PRESIGN_URL,
            title: "Presign an object URL",
            description: "A URL anyone holding it can use to download (get) or upload (put) one object until it expires.",
            effect: Effect::ReadOnly,
            open_world: true,
        },
        |args: &objects::PresignArgs| args.account.as_deref(),
        |state, account, args| async move { objects::presign(&state, &account, args).await },
    );
    let tools = with_account(
        tools,
        ToolSpec {
            name: names::LAMBDA_INVOKE,
            title: "Invoke a Lambda function",
            description: "Runs a Lambda function with a JSON payload and returns its answer (sync), or queues the event (event). The function's own error comes back as this tool's error with its message.",
            effect: Effect::Additive,
            open_world: true,
        },
        |args: &lambda::InvokeArgs| args.account.as_deref(),
        |state, account, args| async move { lambda::invoke(&state, &account, args).await },
    );
    let tools = with_account(
        tools,
        ToolSpec {
            name: names::LAMBDA_LIST_FUNCTIONS,
            title: "List Lambda functions",
            description: "The account's Lambda functions with description, runtime, memory and timeout, a page at a time.",
            effect: Effect::ReadOnly,
            open_world: true,
        },
        |args: &lambda::ListFunctionsArgs| args.account.as_deref(),
        |state, account, args| async move { lambda::list_functions(&state, &account, args).await },
    );
    let tools = with_account(
        tools,
        ToolSpec {
            name: names::GET_PARAMETER_STORE_VALUE,
            title: "Read an SSM parameter",
            description: "One SSM Parameter Store value by name (SecureString decrypted unless with_decryption=false).",
            effect: Effect::ReadOnly,
            open_world: true,
        },
        |args: &ssm::GetArgs| args.account.as_deref(),
        |state, account, args| async move { ssm::get(&state, &account, args).await },
    );
    let tools = with_account(
        tools,
        ToolSpec {
            name: names::GET_PARAMETERS_BY_PATH,
            title: "Read SSM parameters by path",
            description: "The SSM parameters below a path (recursive on request), a page at a time.",
            effect: Effect::ReadOnly,
            open_world: true,
        },
        |args: &ssm::ByPathArgs| args.account.as_deref(),
        |state, account, args| async move { ssm::by_path(&state, &account, args).await },
    );
    with_account(
        tools,
        ToolSpec {
            name: names::PUT_PARAMETER,
            title: "Write an SSM parameter",
            description: "Stores an SSM parameter (String, StringList or SecureString); overwrite=true stores a new version of an existing one. The value is never logged.",
            effect: Effect::Destructive,
            open_world: true,
        },
        |args: &ssm::PutArgs| args.account.as_deref(),
        |state, account, args| async move { ssm::put(&state, &account, args).await },
    )
}
