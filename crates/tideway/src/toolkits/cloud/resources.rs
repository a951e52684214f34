//! The cloud as MCP resources (the seed's names): `aws://s3/buckets`,
//! `aws://lambda/functions` and `aws://ssm/parameters` (names and types only, never
//! values) for each of the tenant's accounts, and `aws://s3/{bucket}/{key}`, which
//! reads a small object of the tenant's only account through the same checks as
//! `s3_download_file`.

use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use tideway_core::{
    CallContext, HubError,
    mcp::{Resource, ResourceContents, ResourceTemplate},
    toolkit::json_resource,
};

use super::{CloudState, accounts::Backend, lambda, listing, objects, ssm};

pub const PREFIX: &str = "aws://";
const BUCKETS: &str = "aws://s3/buckets";
const FUNCTIONS: &str = "aws://lambda/functions";
const PARAMETERS: &str = "aws://ssm/parameters";

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("aws://s3/{bucket}/{key}", "object").with_description(
            "A small object of this tenant's cloud account (text, or base64 for binary).",
        ),
    ]
}

pub async fn list(_state: &CloudState, _ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
    Ok(vec![
        Resource::new(BUCKETS, "buckets")
            .with_description("The buckets of each of this tenant's cloud accounts")
            .with_mime_type("application/json"),
        Resource::new(FUNCTIONS, "functions")
            .with_description("The Lambda functions of each of this tenant's AWS accounts")
            .with_mime_type("application/json"),
        Resource::new(PARAMETERS, "parameters")
            .with_description("SSM parameter names and types (never values) of each AWS account")
            .with_mime_type("application/json"),
    ])
}

/// One entry per account: what it lists, or why it could not.
async fn per_account<F, Fut>(
    state: &CloudState,
    ctx: &CallContext,
    list: F,
) -> Result<Value, HubError>
where
    F: Fn(super::accounts::Account) -> Fut,
    Fut: std::future::Future<Output = Result<Value, HubError>>,
{
    let mut out = Vec::new();
    for view in state.accounts.list(ctx).await? {
        let account = state.accounts.open(ctx, Some(&view.name)).await?;
        let name = account.name.clone();
        out.push(match list(account).await {
            Ok(value) => json!({"account": name, "items": value}),
            Err(error) => json!({"account": name, "error": error.shown("")}),
        });
    }
    Ok(Value::Array(out))
}

pub async fn read(
    state: &CloudState,
    ctx: &CallContext,
    uri: &str,
) -> Result<Vec<ResourceContents>, HubError> {
    let value = match uri {
        BUCKETS => {
            per_account(state, ctx, |account| async move {
                let listed = listing::list_buckets(state, &account).await?;
                serde_json::to_value(listed.buckets).map_err(HubError::internal)
            })
            .await?
        }
        FUNCTIONS => {
            per_account(state, ctx, |account| async move {
                if !matches!(account.backend, Backend::Aws(_)) {
                    return Ok(json!([]));
                }
                let listed = lambda::list_functions(
                    state,
                    &account,
                    lambda::ListFunctionsArgs {
                        account: None,
                        marker: None,
                        max_items: None,
                    },
                )
                .await?;
                serde_json::to_value(listed.functions).map_err(HubError::internal)
            })
            .await?
        }
        PARAMETERS => {
            per_account(state, ctx, |account| async move {
                if !matches!(account.backend, Backend::Aws(_)) {
                    return Ok(json!([]));
                }
                serde_json::to_value(ssm::names(state, &account).await?).map_err(HubError::internal)
            })
            .await?
        }
        _ => return read_object(state, ctx, uri).await,
    };
    json_resource(uri, &value)
}

async fn read_object(
    state: &CloudState,
    ctx: &CallContext,
    uri: &str,
) -> Result<Vec<ResourceContents>, HubError> {
    let not_found = || HubError::ResourceNotFound(uri.to_string());
    let rest = uri.strip_prefix("aws://s3/").ok_or_else(not_found)?;
    let (bucket, key) = rest.split_once('/').ok_or_else(not_found)?;
    let key = percent_decode_str(key)
        .decode_utf8()
        .map_err(|_| not_found())?
        .into_owned();
    let account = state.accounts.open(ctx, None).await?;
    let got = objects::download(
        state,
        &account,
        objects::DownloadArgs {
            account: None,
            bucket: bucket.to_string(),
            key,
            max_bytes: None,
            presign: false,
            expires_secs: None,
        },
    )
    .await?;
    let mut contents = if got.encoding == "text" {
        ResourceContents::text(got.content, uri)
    } else {
        ResourceContents::blob(got.content, uri)
    };
    if let ResourceContents::TextResourceContents { mime_type, .. }
    | ResourceContents::BlobResourceContents { mime_type, .. } = &mut contents
    {
        *mime_type = Some(got.content_type);
    }
    Ok(vec![contents])
}
