//! SSM Parameter Store: reading one parameter or a path of them, and writing one
//! (SecureString included), through SSM's JSON API signed with the account's
//! credentials. Values are never logged; a written value is redacted from the audit
//! record (its argument is marked write-only).

use chrono::{DateTime, TimeZone, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tideway_core::{HubError, error::excerpt, typed::ToolText};

use super::{CloudState, accounts::Account, aws::hub};

const TARGET: &str = "AmazonSSM";

fn check_name(field: &str, name: &str) -> Result<(), HubError> {
    let valid = (1..=2048).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(HubError::invalid_argument(
            field,
            format!(
                "'{}' is not a parameter name (letters, digits, '_', '.', '-' and '/')",
                excerpt(name)
            ),
        ))
    }
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct Parameter {
    pub name: String,
    /// `String`, `StringList` or `SecureString`.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    pub version: Option<i64>,
    pub last_modified: Option<DateTime<Utc>>,
}

impl ToolText for Parameter {
    fn text(&self) -> String {
        format!("{} ({}) = {}", self.name, self.kind, self.value)
    }
}

fn parameter(value: &Value) -> Option<Parameter> {
    Some(Parameter {
        name: value["Name"].as_str()?.to_string(),
        kind: value["Type"].as_str().unwrap_or("String").to_string(),
        value: value["Value"].as_str().unwrap_or_default().to_string(),
        version: value["Version"].as_i64(),
        last_modified: value["LastModifiedDate"]
            .as_f64()
            .and_then(|secs| Utc.timestamp_millis_opt((secs * 1000.0) as i64).single()),
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetArgs {
    #[serde(default)]
    pub account: Option<String>,
    pub name: String,
    /// Decrypt a SecureString (default true).
    #[serde(default = "yes")]
    pub with_decryption: bool,
}

fn yes() -> bool {
    true
}

pub async fn get(
    state: &CloudState,
    account: &Account,
    args: GetArgs,
) -> Result<Parameter, HubError> {
    check_name("name", &args.name)?;
    let aws = account.aws("SSM")?;
    account.check_parameter(&args.name)?;
    let answer = state
        .clients
        .json_action(
            aws,
            "ssm",
            TARGET,
            "GetParameter",
            &json!({"Name": args.name, "WithDecryption": args.with_decryption}),
        )
        .await
        .map_err(|failure| match failure.kind {
            "not_found" => HubError::NotFound(format!(
                "no parameter '{}' in account '{}'",
                excerpt(&args.name),
                account.name
            )),
            _ => hub(&account.name)(failure),
        })?;
    parameter(&answer["Parameter"]).ok_or_else(|| HubError::Unavailable {
        component: format!("cloud account '{}'", account.name),
        reason: "SSM's answer has no parameter".into(),
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ByPathArgs {
    #[serde(default)]
    pub account: Option<String>,
    /// A hierarchy, e.g. `/tideway/support`.
    pub path: String,
    /// Include every level below, not only the direct children.
    #[serde(default)]
    pub recursive: bool,
    #[serde(default = "yes")]
    pub with_decryption: bool,
    /// The `next_token` of the previous page.
    #[serde(default)]
    pub next_token: Option<String>,
    /// The most parameters (default 10, at most 10, SSM's page size).
    #[serde(default)]
    #[schemars(range(min = 1, max = 10))]
    pub max_results: Option<u32>,
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct ParameterPage {
    pub parameters: Vec<Parameter>,
    pub next_token: Option<String>,
}

impl ToolText for ParameterPage {
    fn text(&self) -> String {
        self.parameters
            .iter()
            .map(ToolText::text)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub async fn by_path(
    state: &CloudState,
    account: &Account,
    args: ByPathArgs,
) -> Result<ParameterPage, HubError> {
    check_name("path", &args.path)?;
    if !args.path.starts_with('/') {
        return Err(HubError::invalid_argument("path", "starts with '/'"));
    }
    let aws = account.aws("SSM")?;
    let mut request = json!({
        "Path": args.path,
        "Recursive": args.recursive,
        "WithDecryption": args.with_decryption,
        "MaxResults": args.max_results.unwrap_or(10).clamp(1, 10),
    });
    if let Some(token) = &args.next_token {
        request["NextToken"] = json!(token);
    }
    let answer = state
        .clients
        .json_action(aws, "ssm", TARGET, "GetParametersByPath", &request)
        .await
        .map_err(hub(&account.name))?;
    let parameters = answer["Parameters"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(parameter)
        .filter(|parameter| account.parameters.allows(&parameter.name))
        .collect();
    Ok(ParameterPage {
        parameters,
        next_token: answer["NextToken"].as_str().map(str::to_string),
    })
}

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
pub enum ParameterType {
    #[default]
    String,
    StringList,
    SecureString,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutArgs {
    #[serde(default)]
    pub account: Option<String>,
    pub name: String,
    /// Never logged; redacted from the audit record.
    #[schemars(extend("writeOnly" = true))]
    pub value: String,
    #[serde(default, rename = "type")]
    pub kind: ParameterType,
    /// Replace an existing parameter (a new version).
    #[serde(default)]
    pub overwrite: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct Put {
    pub name: String,
    pub version: Option<i64>,
}

impl ToolText for Put {
    fn text(&self) -> String {
        format!("{} stored (version {:?})", self.name, self.version)
    }
}

pub async fn put(state: &CloudState, account: &Account, args: PutArgs) -> Result<Put, HubError> {
    check_name("name", &args.name)?;
    let aws = account.aws("SSM")?;
    account.check_parameter(&args.name)?;
    let kind = match args.kind {
        ParameterType::String => "String",
        ParameterType::StringList => "StringList",
        ParameterType::SecureString => "SecureString",
    };
    let mut request = json!({
        "Name": args.name,
        "Value": args.value,
        "Type": kind,
        "Overwrite": args.overwrite,
    });
    if let Some(description) = &args.description {
        request["Description"] = json!(description);
    }
    let answer = state
        .clients
        .json_action(aws, "ssm", TARGET, "PutParameter", &request)
        .await
        .map_err(|failure| match failure.kind {
            "conflict" => HubError::Conflict(format!(
                "parameter '{}' exists; pass overwrite: true to store a new version",
                excerpt(&args.name)
            )),
            _ => hub(&account.name)(failure),
        })?;
    Ok(Put {
        name: args.name,
        version: answer["Version"].as_i64(),
    })
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct ParameterName {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The most pages of names the resource reads (50 names each).
const MAX_NAME_PAGES: usize = 20;

/// Parameter names and types (never values), for the `aws://ssm/parameters` resource:
/// up to 1,000, page after page.
pub async fn names(state: &CloudState, account: &Account) -> Result<Vec<ParameterName>, HubError> {
    let aws = account.aws("SSM")?;
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_NAME_PAGES {
        let mut request = json!({"MaxResults": 50});
        if let Some(token) = &token {
            request["NextToken"] = json!(token);
        }
        let answer = state
            .clients
            .json_action(aws, "ssm", TARGET, "DescribeParameters", &request)
            .await
            .map_err(hub(&account.name))?;
        names.extend(
            answer["Parameters"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|parameter| {
                    let name = parameter["Name"].as_str()?.to_string();
                    account.parameters.allows(&name).then(|| ParameterName {
                        kind: parameter["Type"].as_str().unwrap_or("String").to_string(),
                        name,
                    })
                }),
        );
        token = answer["NextToken"].as_str().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(names)
}
