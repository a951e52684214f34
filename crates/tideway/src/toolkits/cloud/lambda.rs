//! Lambda: invoking a function (synchronously, with its answer, or as an event) and
//! listing functions, through Lambda's REST API signed with the account's
//! credentials. A function's own failure (`X-Amz-Function-Error`) is the tool's
//! error, with the function's message.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tideway_core::{HubError, error::excerpt, typed::ToolText};

use super::{
    CloudState,
    accounts::Account,
    aws::{Call, hub},
    diagnosis::read_error_body,
};

/// A function's name: what Lambda allows in a name (an ARN or a `name:qualifier` is
/// not taken here; the qualifier has its own argument).
fn check_function_name(name: &str) -> Result<(), HubError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(HubError::invalid_argument(
            "function_name",
            format!(
                "'{}' is not a function name (1-64 letters, digits, '-' or '_'; give a version or alias in qualifier)",
                excerpt(name)
            ),
        ))
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InvocationType {
    /// Wait for the function's answer.
    #[default]
    Sync,
    /// Queue the event and return at once.
    Event,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvokeArgs {
    #[serde(default)]
    pub account: Option<String>,
    pub function_name: String,
    /// The event the function receives (any JSON).
    #[serde(default)]
    pub payload: Option<Value>,
    #[serde(default)]
    pub invocation_type: InvocationType,
    /// A version or alias.
    #[serde(default)]
    pub qualifier: Option<String>,
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct Invoked {
    pub function_name: String,
    pub status_code: u16,
    pub executed_version: Option<String>,
    /// The function's answer: JSON when it is JSON, else text; absent for events.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    /// Whether the answer was longer than the server reads and was cut.
    pub truncated: bool,
}

impl ToolText for Invoked {
    fn text(&self) -> String {
        match &self.payload {
            Some(Value::String(text)) => text.clone(),
            Some(value) => value.to_string(),
            None => format!(
                "{} accepted the event ({})",
                self.function_name, self.status_code
            ),
        }
    }
}

pub async fn invoke(
    state: &CloudState,
    account: &Account,
    args: InvokeArgs,
) -> Result<Invoked, HubError> {
    check_function_name(&args.function_name)?;
    let aws = account.aws("Lambda")?;
    account.check_function(&args.function_name)?;
    let mut target = format!("/2015-03-31/functions/{}/invocations", args.function_name);
    if let Some(qualifier) = &args.qualifier {
        if qualifier.is_empty()
            || qualifier.len() > 128
            || !qualifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'$')
        {
            return Err(HubError::invalid_argument(
                "qualifier",
                format!("'{}' is not a version or alias", excerpt(qualifier)),
            ));
        }
        target.push_str("?Qualifier=");
        target.push_str(&qualifier.replace('$', "%24"));
    }
    let body = match &args.payload {
        None => Bytes::new(),
        Some(Value::String(text)) => Bytes::from(text.clone().into_bytes()),
        Some(value) => Bytes::from(value.to_string()),
    };
    if body.len() as u64 > state.config.max_lambda_payload_bytes {
        return Err(HubError::invalid_argument(
            "payload",
            format!(
                "is {} bytes; Lambda takes at most {} ([cloud] max_lambda_payload_bytes)",
                body.len(),
                state.config.max_lambda_payload_bytes
            ),
        ));
    }
    let invocation = match args.invocation_type {
        InvocationType::Sync => "RequestResponse",
        InvocationType::Event => "Event",
    };
    let reply = state
        .clients
        .send(
            aws,
            Call {
                service: "lambda",
                method: Method::POST,
                target,
                headers: vec![
                    (
                        HeaderName::from_static("x-amz-invocation-type"),
                        HeaderValue::from_static(invocation),
                    ),
                    (
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    ),
                ],
                body,
                max_body: state.config.max_lambda_payload_bytes,
            },
        )
        .await
        .map_err(|failure| match failure.kind {
            "not_found" => HubError::NotFound(format!(
                "no function '{}' in account '{}'",
                excerpt(&args.function_name),
                account.name
            )),
            _ => hub(&account.name)(failure),
        })?;
    if let Some(kind) = reply
        .headers
        .get("x-amz-function-error")
        .and_then(|value| value.to_str().ok())
    {
        let (code, message) = read_error_body(None, &reply.body);
        let said = if message.is_empty() {
            String::from_utf8_lossy(&reply.body).into_owned()
        } else if code.is_empty() {
            message
        } else {
            format!("{code}: {message}")
        };
        return Err(HubError::Unavailable {
            component: format!("function '{}'", args.function_name),
            reason: format!(
                "it failed ({kind}): {}",
                tideway_core::error::bounded(&said, 1000)
            ),
        });
    }
    let payload =
        if args.invocation_type == InvocationType::Event || reply.body.is_empty() {
            None
        } else {
            Some(serde_json::from_slice(&reply.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&reply.body).into_owned())
            }))
        };
    Ok(Invoked {
        function_name: args.function_name,
        status_code: reply.status.as_u16(),
        executed_version: reply
            .headers
            .get("x-amz-executed-version")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string),
        payload,
        truncated: reply.truncated,
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListFunctionsArgs {
    #[serde(default)]
    pub account: Option<String>,
    /// The `next_marker` of the previous page.
    #[serde(default)]
    pub marker: Option<String>,
    /// The most functions (default 50, at most 50).
    #[serde(default)]
    #[schemars(range(min = 1, max = 50))]
    pub max_items: Option<u32>,
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct FunctionEntry {
    pub name: String,
    pub description: Option<String>,
    pub runtime: Option<String>,
    pub last_modified: Option<String>,
    pub memory_mb: Option<u64>,
    pub timeout_secs: Option<u64>,
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct FunctionList {
    pub functions: Vec<FunctionEntry>,
    pub next_marker: Option<String>,
}

impl ToolText for FunctionList {
    fn text(&self) -> String {
        self.functions
            .iter()
            .map(|function| match &function.description {
                Some(description) if !description.is_empty() => {
                    format!("{}: {description}", function.name)
                }
                _ => function.name.clone(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A GET of Lambda's API on `account`, its answer read as JSON (at most `max_body`
/// bytes).
pub async fn get_json(
    state: &CloudState,
    account: &Account,
    target: String,
    max_body: u64,
) -> Result<Value, HubError> {
    let aws = account.aws("Lambda")?;
    let reply = state
        .clients
        .send(
            aws,
            Call {
                service: "lambda",
                method: Method::GET,
                target,
                headers: Vec::new(),
                body: Bytes::new(),
                max_body,
            },
        )
        .await
        .map_err(hub(&account.name))?;
    serde_json::from_slice(&reply.body).map_err(|error| HubError::Unavailable {
        component: format!("cloud account '{}'", account.name),
        reason: format!("Lambda's answer is not JSON: {error}"),
    })
}

pub async fn list_functions(
    state: &CloudState,
    account: &Account,
    args: ListFunctionsArgs,
) -> Result<FunctionList, HubError> {
    let mut target = format!(
        "/2015-03-31/functions/?MaxItems={}",
        args.max_items.unwrap_or(50).clamp(1, 50)
    );
    if let Some(marker) = &args.marker {
        target.push_str("&Marker=");
        target.push_str(
            &percent_encoding::utf8_percent_encode(marker, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        );
    }
    let listed = get_json(state, account, target, 16 * 1024 * 1024).await?;
    let functions = listed["Functions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|function| {
            let name = function["FunctionName"].as_str()?.to_string();
            account.functions.allows(&name).then(|| FunctionEntry {
                description: function["Description"].as_str().map(str::to_string),
                runtime: function["Runtime"].as_str().map(str::to_string),
                last_modified: function["LastModified"].as_str().map(str::to_string),
                memory_mb: function["MemorySize"].as_u64(),
                timeout_secs: function["Timeout"].as_u64(),
                name,
            })
        })
        .collect();
    Ok(FunctionList {
        functions,
        next_marker: listed["NextMarker"].as_str().map(str::to_string),
    })
}
