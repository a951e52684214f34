//! The prompts toolkit's MCP tools (seed 003's `render_prompt` and
//! `create_prompt_template`, and the rest of template management) over the typed
//! service, with their argument and result types and short text renderings.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    HubError,
    mcp::JsonObject,
    typed::{Effect, ToolSet, ToolSpec, ToolText},
};
use utoipa::ToSchema;

use super::{
    PromptState,
    model::{Template, TemplateInput, TemplatePatch, TemplateVersion},
    service::{CategoryCount, PromptStats},
};

/// The tools' names, shared by their declarations and the REST routes that call
/// them, so a route cannot name a tool that does not exist.
pub mod names {
    pub const CREATE_PROMPT_TEMPLATE: &str = "create_prompt_template";
    pub const DELETE_PROMPT_TEMPLATE: &str = "delete_prompt_template";
    pub const GET_PROMPT_STATS: &str = "get_prompt_stats";
    pub const GET_PROMPT_TEMPLATE: &str = "get_prompt_template";
    pub const LIST_PROMPT_CATEGORIES: &str = "list_prompt_categories";
    pub const LIST_PROMPT_TEMPLATES: &str = "list_prompt_templates";
    pub const LIST_PROMPT_VERSIONS: &str = "list_prompt_versions";
    pub const RENDER_PROMPT: &str = "render_prompt";
    pub const RESTORE_PROMPT_VERSION: &str = "restore_prompt_version";
    pub const UPDATE_PROMPT_TEMPLATE: &str = "update_prompt_template";
}

#[derive(Deserialize, JsonSchema)]
pub struct NameArgs {
    /// The template's name.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct GetArgs {
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    /// A past version instead of the current one.
    #[schemars(range(min = 1))]
    pub version: Option<i64>,
}

#[derive(Deserialize, JsonSchema)]
pub struct RenderArgs {
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    /// The template's arguments by name (values are text).
    #[serde(default)]
    pub arguments: JsonObject,
    /// Render a past version instead of the current one.
    #[schemars(range(min = 1))]
    pub version: Option<i64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArgs {
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
    pub arguments: Option<Vec<super::model::PromptArgument>>,
    pub body: Option<String>,
    /// Refuse the change (conflict) unless this is the current version.
    pub expected_version: Option<i64>,
}

impl UpdateArgs {
    fn patch(self) -> (String, TemplatePatch) {
        (
            self.name,
            TemplatePatch {
                title: self.title,
                description: self.description,
                category: self.category,
                tags: self.tags,
                arguments: self.arguments,
                body: self.body,
                expected_version: self.expected_version,
            },
        )
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct RestoreArgs {
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    /// The version whose contents become current (as a new version).
    #[schemars(range(min = 1))]
    pub version: i64,
}

#[derive(Deserialize, JsonSchema)]
pub struct ListArgs {
    /// Only this category.
    pub category: Option<String>,
    /// Only templates with this tag.
    pub tag: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct StatsArgs {
    /// Only this template.
    pub name: Option<String>,
    /// How many days back, today included (default 30).
    #[schemars(range(min = 1, max = 366))]
    pub days: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
pub struct NoArgs {}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Rendered {
    pub name: String,
    pub version: i64,
    pub text: String,
}

impl ToolText for Rendered {
    fn text(&self) -> String {
        self.text.clone()
    }
}

/// A template in a listing: everything but the body.
#[derive(Serialize, JsonSchema, ToSchema)]
pub struct TemplateSummary {
    pub name: String,
    pub version: i64,
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: String,
    pub tags: Vec<String>,
    pub arguments: Vec<super::model::PromptArgument>,
    pub updated_by: String,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct TemplateList {
    pub templates: Vec<TemplateSummary>,
}

impl ToolText for TemplateList {
    fn text(&self) -> String {
        if self.templates.is_empty() {
            return "No prompt templates.".into();
        }
        self.templates
            .iter()
            .map(|t| {
                format!(
                    "{} (v{}, {}): {}",
                    t.name,
                    t.version,
                    t.category,
                    t.description.as_deref().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl ToolText for Template {
    fn text(&self) -> String {
        format!(
            "{} v{} ({}), arguments: {}\n\n{}",
            self.name,
            self.version,
            self.category,
            self.arguments
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            self.body
        )
    }
}

impl ToolText for TemplateVersion {
    fn text(&self) -> String {
        format!("{} v{}\n\n{}", self.name, self.version, self.body)
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct VersionList {
    pub name: String,
    /// Newest first.
    pub versions: Vec<TemplateVersion>,
}

impl ToolText for VersionList {
    fn text(&self) -> String {
        self.versions
            .iter()
            .map(|v| format!("v{} by {} at {}", v.version, v.created_by, v.created_at))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Deleted {
    pub name: String,
    pub deleted: bool,
}

impl ToolText for Deleted {
    fn text(&self) -> String {
        format!("Deleted prompt template {}.", self.name)
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct CategoryList {
    pub categories: Vec<CategoryCount>,
}

impl ToolText for CategoryList {
    fn text(&self) -> String {
        self.categories
            .iter()
            .map(|c| format!("{}: {}", c.category, c.templates))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl ToolText for PromptStats {
    fn text(&self) -> String {
        let mut lines = vec![format!(
            "{} renders since {}",
            self.total,
            self.since.date_naive()
        )];
        lines.extend(
            self.by_template
                .iter()
                .map(|t| format!("{}: {}", t.name, t.renders)),
        );
        lines.join("\n")
    }
}

fn summary(template: Template) -> TemplateSummary {
    TemplateSummary {
        name: template.name,
        version: template.version,
        title: template.title,
        description: template.description,
        category: template.category,
        tags: template.tags,
        arguments: template.arguments,
        updated_by: template.updated_by,
        updated_at: template.updated_at,
    }
}

fn missing(name: &str) -> HubError {
    HubError::NotFound(format!("no prompt template named '{name}'"))
}

pub fn tool_set() -> ToolSet<PromptState> {
    ToolSet::new()
        .add(
            ToolSpec {
                name: names::RENDER_PROMPT,
                title: "Render a prompt",
                description: "Renders a stored prompt template with its arguments and returns the text (resources it names are inlined). Missing, unknown or disallowed arguments are named in the error.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<PromptState>, ctx, args: RenderArgs| async move {
                let (version, text) = state
                    .service
                    .render(&ctx, &args.name, args.version, &args.arguments)
                    .await?;
                Ok(Rendered {
                    name: args.name,
                    version,
                    text,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::LIST_PROMPT_TEMPLATES,
                title: "List prompt templates",
                description: "Lists the prompt templates, optionally of one category or with one tag.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<PromptState>, ctx, args: ListArgs| async move {
                let templates = state
                    .service
                    .list(&ctx, args.category.as_deref(), args.tag.as_deref())
                    .await?;
                Ok(TemplateList {
                    templates: templates.into_iter().map(summary).collect(),
                })
            },
        )
        .add(
            ToolSpec {
                name: names::GET_PROMPT_TEMPLATE,
                title: "Get a prompt template",
                description: "Returns one template with its body, at its current version or a past one.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<PromptState>, ctx, args: GetArgs| async move {
                match args.version {
                    None => state
                        .service
                        .get(&ctx, &args.name)
                        .await?
                        .ok_or_else(|| missing(&args.name))
                        .map(TemplateOrVersion::Template),
                    Some(version) => state
                        .service
                        .version(&ctx, &args.name, version)
                        .await?
                        .ok_or_else(|| {
                            HubError::NotFound(format!(
                                "template '{}' has no version {version}",
                                args.name
                            ))
                        })
                        .map(TemplateOrVersion::Version),
                }
            },
        )
        .add(
            ToolSpec {
                name: names::CREATE_PROMPT_TEMPLATE,
                title: "Create a prompt template",
                description: "Stores a new prompt template: name, title, description, category, tags, arguments (name, description, required, default, allowed_values) and a minijinja body. It is served as an MCP prompt at once.",
                effect: Effect::Additive,
                open_world: false,
            },
            |state: Arc<PromptState>, ctx, input: TemplateInput| async move {
                state.service.create(&ctx, input).await
            },
        )
        .add(
            ToolSpec {
                name: names::UPDATE_PROMPT_TEMPLATE,
                title: "Update a prompt template",
                description: "Changes a template's fields; the change is a new version and the old one is kept. With expected_version, a template changed meanwhile is a conflict.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            |state: Arc<PromptState>, ctx, args: UpdateArgs| async move {
                let (name, patch) = args.patch();
                state.service.update(&ctx, &name, patch).await
            },
        )
        .add(
            ToolSpec {
                name: names::LIST_PROMPT_VERSIONS,
                title: "List a template's versions",
                description: "Every version of a template, newest first, with who wrote it and when.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<PromptState>, ctx, args: NameArgs| async move {
                let versions = state.service.versions(&ctx, &args.name).await?;
                if versions.is_empty() {
                    return Err(missing(&args.name));
                }
                Ok(VersionList {
                    name: args.name,
                    versions,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::RESTORE_PROMPT_VERSION,
                title: "Restore a template version",
                description: "Makes a past version's contents current again, as a new version.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            |state: Arc<PromptState>, ctx, args: RestoreArgs| async move {
                state
                    .service
                    .restore(&ctx, &args.name, args.version)
                    .await
            },
        )
        .add(
            ToolSpec {
                name: names::DELETE_PROMPT_TEMPLATE,
                title: "Delete a prompt template",
                description: "Deletes a template; it is no longer served. Its versions stay readable, and creating it again continues them.",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<PromptState>, ctx, args: NameArgs| async move {
                if !state.service.delete(&ctx, &args.name).await? {
                    return Err(missing(&args.name));
                }
                Ok(Deleted {
                    name: args.name,
                    deleted: true,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::LIST_PROMPT_CATEGORIES,
                title: "List prompt categories",
                description: "The categories of the templates, with how many each holds.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<PromptState>, ctx, _args: NoArgs| async move {
                Ok(CategoryList {
                    categories: state.service.categories(&ctx).await?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::GET_PROMPT_STATS,
                title: "Prompt usage statistics",
                description: "How often templates were rendered: per template, per version and per day.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<PromptState>, ctx, args: StatsArgs| async move {
                state
                    .service
                    .stats(&ctx, args.name.as_deref(), args.days.unwrap_or(30))
                    .await
            },
        )
}

/// A template at its current version, or one past version of it.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum TemplateOrVersion {
    Template(Template),
    Version(TemplateVersion),
}

impl ToolText for TemplateOrVersion {
    fn text(&self) -> String {
        match self {
            TemplateOrVersion::Template(template) => template.text(),
            TemplateOrVersion::Version(version) => version.text(),
        }
    }
}
