//! Prompt templates as the service, the tools and REST see them, and the rules a
//! template must keep: a name usable as an MCP prompt name, declared arguments with
//! their defaults and allowed values, and a body that compiles as a minijinja
//! template. Validation names the field that is wrong.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::HubError;
use utoipa::ToSchema;

/// Largest template body, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most arguments one template declares.
pub const MAX_ARGUMENTS: usize = 32;
/// Most tags one template carries.
pub const MAX_TAGS: usize = 16;

/// One argument a template takes. Values are strings, as MCP prompt arguments are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptArgument {
    /// A template variable name: a letter or `_`, then letters, digits or `_`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A render without it fails, unless it has a default.
    #[serde(default)]
    pub required: bool,
    /// Used when the argument is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// When not empty, the only values accepted (and offered by completion).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_values: Vec<String>,
}

/// What a caller gives to create a template.
#[derive(Clone, Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    /// Unique in the tenant: lower-case letters, digits, `_` or `-`, at most 64.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// A grouping such as `support` or `data` (default `general`).
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub arguments: Vec<PromptArgument>,
    /// The template, in minijinja syntax: `{{ customer_name }}`, `{% if … %}`,
    /// and `{{ resource("db://tickets/42") }}` to inline a resource.
    pub body: String,
}

/// A change to a template; absent fields stay as they are. Every change makes a new
/// version.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplatePatch {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub arguments: Option<Vec<PromptArgument>>,
    #[serde(default)]
    pub body: Option<String>,
    /// Refuse the change (conflict) unless this is the current version.
    #[serde(default)]
    pub expected_version: Option<i64>,
}

/// A stored template at its current version.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct Template {
    pub name: String,
    pub version: i64,
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: String,
    pub tags: Vec<String>,
    pub arguments: Vec<PromptArgument>,
    pub body: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// One version of a template, as it was written.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct TemplateVersion {
    pub name: String,
    pub version: i64,
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: String,
    pub tags: Vec<String>,
    pub arguments: Vec<PromptArgument>,
    pub body: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// The fields a version holds, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Contents {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: String,
    pub tags: Vec<String>,
    pub arguments: Vec<PromptArgument>,
    pub body: String,
}

pub fn valid_name(name: &str) -> bool {
    tideway_core::naming::is_valid_id(name, 64)
}

fn valid_variable(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

fn invalid(field: &str, message: impl Into<String>) -> HubError {
    HubError::invalid_argument(field, message)
}

/// Words a template variable may not be called: minijinja's own names and the
/// helper templates call.
const RESERVED: &[&str] = &["resource", "loop", "self", "true", "false", "none", "range"];

impl Contents {
    /// Checks every field; the error names the first that is wrong.
    pub fn validate(&self) -> Result<(), HubError> {
        if self.title.as_ref().is_some_and(|t| t.len() > 200) {
            return Err(invalid("title", "is longer than 200 characters"));
        }
        if self.description.as_ref().is_some_and(|d| d.len() > 2000) {
            return Err(invalid("description", "is longer than 2,000 characters"));
        }
        if !valid_name(&self.category) {
            return Err(invalid(
                "category",
                "must be 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
            ));
        }
        if self.tags.len() > MAX_TAGS || self.tags.iter().any(|t| t.is_empty() || t.len() > 64) {
            return Err(invalid(
                "tags",
                format!("at most {MAX_TAGS}, each 1-64 characters"),
            ));
        }
        if self.body.trim().is_empty() {
            return Err(invalid("body", "is empty"));
        }
        if self.body.len() > MAX_BODY_BYTES {
            return Err(invalid(
                "body",
                format!(
                    "is {} bytes; the limit is {MAX_BODY_BYTES}",
                    self.body.len()
                ),
            ));
        }
        if self.arguments.len() > MAX_ARGUMENTS {
            return Err(invalid(
                "arguments",
                format!("at most {MAX_ARGUMENTS} arguments"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for argument in &self.arguments {
            let field = format!("arguments.{}", argument.name);
            if !valid_variable(&argument.name) || RESERVED.contains(&argument.name.as_str()) {
                return Err(invalid(
                    "arguments",
                    format!(
                        "'{}' is not usable as a template variable: a letter or '_', then letters, digits or '_' (and not {})",
                        argument.name,
                        RESERVED.join(", ")
                    ),
                ));
            }
            if !seen.insert(argument.name.as_str()) {
                return Err(invalid(&field, "is declared twice"));
            }
            if argument.allowed_values.len() > 100 {
                return Err(invalid(&field, "at most 100 allowed values"));
            }
            if let Some(default) = &argument.default
                && !argument.allowed_values.is_empty()
                && !argument.allowed_values.contains(default)
            {
                return Err(invalid(
                    &field,
                    format!("its default '{default}' is not one of its allowed values"),
                ));
            }
        }
        super::render::check_variables(self)
    }

    pub fn from_input(input: &TemplateInput) -> Contents {
        Contents {
            title: input.title.clone(),
            description: input.description.clone(),
            category: input
                .category
                .clone()
                .unwrap_or_else(|| "general".to_string()),
            tags: input.tags.clone(),
            arguments: input.arguments.clone(),
            body: input.body.clone(),
        }
    }

    /// These contents with a patch applied.
    pub fn patched(&self, patch: &TemplatePatch) -> Contents {
        Contents {
            title: patch.title.clone().or_else(|| self.title.clone()),
            description: patch
                .description
                .clone()
                .or_else(|| self.description.clone()),
            category: patch
                .category
                .clone()
                .unwrap_or_else(|| self.category.clone()),
            tags: patch.tags.clone().unwrap_or_else(|| self.tags.clone()),
            arguments: patch
                .arguments
                .clone()
                .unwrap_or_else(|| self.arguments.clone()),
            body: patch.body.clone().unwrap_or_else(|| self.body.clone()),
        }
    }
}

impl Template {
    pub fn contents(&self) -> Contents {
        Contents {
            title: self.title.clone(),
            description: self.description.clone(),
            category: self.category.clone(),
            tags: self.tags.clone(),
            arguments: self.arguments.clone(),
            body: self.body.clone(),
        }
    }
}

impl TemplateVersion {
    pub fn contents(&self) -> Contents {
        Contents {
            title: self.title.clone(),
            description: self.description.clone(),
            category: self.category.clone(),
            tags: self.tags.clone(),
            arguments: self.arguments.clone(),
            body: self.body.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(body: &str, arguments: Vec<PromptArgument>) -> Contents {
        Contents {
            title: None,
            description: None,
            category: "general".into(),
            tags: vec![],
            arguments,
            body: body.into(),
        }
    }

    fn argument(name: &str) -> PromptArgument {
        PromptArgument {
            name: name.into(),
            description: None,
            required: false,
            default: None,
            allowed_values: vec![],
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("ticket_triage"));
        assert!(valid_name("sql-2"));
        assert!(!valid_name("Ticket"));
        assert!(!valid_name("-lead"));
        assert!(!valid_name(""));
        assert!(!valid_name(&"a".repeat(65)));
    }

    #[test]
    fn bad_contents_name_the_field() {
        let field = |c: Contents| match c.validate() {
            Err(HubError::InvalidArguments { field, .. }) => field,
            other => panic!("expected invalid arguments, got {other:?}"),
        };
        assert_eq!(field(contents("", vec![])), "body");
        assert_eq!(field(contents("{% if %}", vec![])), "body");
        assert_eq!(field(contents("x", vec![argument("1st")])), "arguments");
        assert_eq!(
            field(contents("x", vec![argument("resource")])),
            "arguments"
        );
        assert_eq!(
            field(contents("x", vec![argument("a"), argument("a")])),
            "arguments.a"
        );
        let mut picky = argument("tone");
        picky.allowed_values = vec!["warm".into(), "formal".into()];
        picky.default = Some("rude".into());
        assert_eq!(field(contents("x", vec![picky])), "arguments.tone");
        assert_eq!(
            field(contents(&"x".repeat(MAX_BODY_BYTES + 1), vec![])),
            "body"
        );
        assert!(
            contents("Hello {{ name }}", vec![argument("name")])
                .validate()
                .is_ok()
        );
    }
}
