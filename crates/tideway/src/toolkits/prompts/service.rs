//! The prompt service: templates per tenant in the store, each change a new version
//! (any version can be read back or restored), renders with their usage recorded,
//! argument values remembered for completion, and the built-in library loaded once
//! per tenant. Every query is scoped by the call context's tenant.
//!
//! A change reads the current version and writes the next one with
//! `UPDATE ... WHERE version = $n` plus an insert keyed by `(tenant, name, version)`,
//! so two concurrent editors cannot both write version n + 1: one is retried (or told
//! of the conflict when it named the version it expected).

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Mutex, Weak},
};

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tideway_core::{
    CallContext, Hub, HubError, HubEvent, Scope, Store,
    mcp::{JsonObject, ResourceContents},
    on_store,
    store::{is_unique_violation, now},
};
use utoipa::ToSchema;

use super::{
    library,
    model::{
        Contents, PromptArgument, Template, TemplateInput, TemplatePatch, TemplateVersion,
        valid_name,
    },
    render,
};

const TEMPLATE_COLUMNS: &str = "name, version, title, description, category, tags, arguments, body, created_by, created_at, updated_by, updated_at";
const VERSION_COLUMNS: &str =
    "name, version, title, description, category, tags, arguments, body, created_by, created_at";

type TemplateRow = (
    String,
    i64,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
    DateTime<Utc>,
    String,
    DateTime<Utc>,
);

type VersionRow = (
    String,
    i64,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
    DateTime<Utc>,
);

fn decode<T: serde::de::DeserializeOwned>(
    name: &str,
    what: &str,
    text: &str,
) -> Result<T, HubError> {
    serde_json::from_str(text)
        .map_err(|error| HubError::internal(format!("template {name}: stored {what}: {error}")))
}

fn template_from_row(row: TemplateRow) -> Result<Template, HubError> {
    let (
        name,
        version,
        title,
        description,
        category,
        tags,
        arguments,
        body,
        created_by,
        created_at,
        updated_by,
        updated_at,
    ) = row;
    Ok(Template {
        tags: decode(&name, "tags", &tags)?,
        arguments: decode(&name, "arguments", &arguments)?,
        name,
        version,
        title,
        description,
        category,
        body,
        created_by,
        created_at,
        updated_by,
        updated_at,
    })
}

fn version_from_row(row: VersionRow) -> Result<TemplateVersion, HubError> {
    let (
        name,
        version,
        title,
        description,
        category,
        tags,
        arguments,
        body,
        created_by,
        created_at,
    ) = row;
    Ok(TemplateVersion {
        tags: decode(&name, "tags", &tags)?,
        arguments: decode(&name, "arguments", &arguments)?,
        name,
        version,
        title,
        description,
        category,
        body,
        created_by,
        created_at,
    })
}

fn encode(contents: &Contents) -> Result<(String, String), HubError> {
    Ok((
        serde_json::to_string(&contents.tags).map_err(HubError::internal)?,
        serde_json::to_string(&contents.arguments).map_err(HubError::internal)?,
    ))
}

/// Binds a template's contents to `$query`, whose next six placeholders name the
/// content columns in table order: title, description, category, tags, arguments, body.
macro_rules! bind_contents {
    ($query:expr, $contents:expr, $tags:expr, $arguments:expr) => {
        $query
            .bind(&$contents.title)
            .bind(&$contents.description)
            .bind(&$contents.category)
            .bind($tags)
            .bind($arguments)
            .bind(&$contents.body)
    };
}

/// Inserts one version row inside the transaction `$tx` (either backend).
macro_rules! insert_version {
    ($tx:expr, $tenant:expr, $name:expr, $version:expr, $contents:expr, $tags:expr, $arguments:expr, $by:expr, $at:expr) => {
        bind_contents!(
            sqlx::query(
                "INSERT INTO prompt_template_versions (tenant_id, name, version, title, description, category, tags, arguments, body, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind($tenant)
            .bind($name)
            .bind($version),
            $contents,
            $tags,
            $arguments
        )
        .bind($by)
        .bind($at)
        .execute(&mut *$tx)
        .await
    };
}

/// Renders per template, per version and per day.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct PromptStats {
    pub since: DateTime<Utc>,
    pub total: i64,
    pub by_template: Vec<TemplateCount>,
    pub by_version: Vec<VersionCount>,
    pub by_day: Vec<DayCount>,
}

#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct TemplateCount {
    pub name: String,
    pub renders: i64,
}

#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct VersionCount {
    pub name: String,
    pub version: i64,
    pub renders: i64,
}

#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct DayCount {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub renders: i64,
}

#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct CategoryCount {
    pub category: String,
    pub templates: i64,
}

pub struct PromptService {
    store: Store,
    hub: Weak<Hub>,
    /// Tenants whose library is known to be loaded, so the store is asked once.
    loaded: Mutex<HashSet<String>>,
}

impl PromptService {
    pub fn new(store: Store, hub: Weak<Hub>) -> Self {
        PromptService {
            store,
            hub,
            loaded: Mutex::new(HashSet::new()),
        }
    }

    fn changed(&self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.publish(HubEvent::PromptsChanged);
        }
    }

    fn is_loaded(&self, tenant: &str) -> bool {
        match self.loaded.lock() {
            Ok(loaded) => loaded.contains(tenant),
            Err(poisoned) => poisoned.into_inner().contains(tenant),
        }
    }

    /// Loads the built-in library into the caller's tenant the first time the tenant
    /// uses prompts. Templates are ordinary rows from then on: edited or deleted,
    /// they stay so.
    pub async fn ensure_library(&self, ctx: &CallContext) -> Result<(), HubError> {
        let tenant = ctx.tenant.as_str();
        if self.is_loaded(tenant) {
            return Ok(());
        }
        let at = now();
        let mut templates = Vec::new();
        for input in library::templates() {
            let contents = Contents::from_input(&input);
            let (tags, arguments) = encode(&contents)?;
            templates.push((input.name, contents, tags, arguments));
        }
        let begin = self.store.begin_write_sql();
        on_store!(&self.store, pool => {
            async {
                let mut tx = pool.begin_with(begin).await?;
                let fresh = sqlx::query(
                    "INSERT INTO prompt_library_loads (tenant_id, loaded_at) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING",
                )
                .bind(tenant)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if fresh {
                    for (name, contents, tags, arguments) in &templates {
                        let inserted = bind_contents!(
                            sqlx::query(
                                "INSERT INTO prompt_templates (tenant_id, name, version, title, description, category, tags, arguments, body, created_by, created_at, updated_by, updated_at) \
                                 VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, 'tideway', $9, 'tideway', $9) ON CONFLICT (tenant_id, name) DO NOTHING",
                            )
                            .bind(tenant)
                            .bind(name),
                            contents,
                            tags,
                            arguments
                        )
                        .bind(at)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        if inserted == 1 {
                            insert_version!(tx, tenant, name, 1_i64, contents, tags, arguments, "tideway", at)?;
                        }
                    }
                }
                tx.commit().await
            }
            .await
        })?;
        match self.loaded.lock() {
            Ok(mut loaded) => loaded.insert(tenant.to_string()),
            Err(poisoned) => poisoned.into_inner().insert(tenant.to_string()),
        };
        Ok(())
    }

    pub async fn create(
        &self,
        ctx: &CallContext,
        input: TemplateInput,
    ) -> Result<Template, HubError> {
        if !valid_name(&input.name) {
            return Err(HubError::invalid_argument(
                "name",
                "must be 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
            ));
        }
        // These are REST paths beside the templates.
        if ["categories", "stats"].contains(&input.name.as_str()) {
            return Err(HubError::invalid_argument(
                "name",
                format!("'{}' is reserved", input.name),
            ));
        }
        let contents = Contents::from_input(&input);
        contents.validate()?;
        self.ensure_library(ctx).await?;
        let (tags, arguments) = encode(&contents)?;
        let at = now();
        let by = &ctx.principal.id;
        let tenant = ctx.tenant.as_str();
        // A deleted template's name starts again after its last version, so older
        // versions read back never collide with new ones.
        let begin = self.store.begin_write_sql();
        let outcome: Result<(), sqlx::Error> = on_store!(&self.store, pool => {
            async {
                let mut tx = pool.begin_with(begin).await?;
                let last: Option<i64> = sqlx::query_scalar(
                    "SELECT MAX(version) FROM prompt_template_versions WHERE tenant_id = $1 AND name = $2",
                )
                .bind(tenant)
                .bind(&input.name)
                .fetch_one(&mut *tx)
                .await?;
                let version = last.unwrap_or(0) + 1;
                bind_contents!(
                    sqlx::query(
                        "INSERT INTO prompt_templates (tenant_id, name, version, title, description, category, tags, arguments, body, created_by, created_at, updated_by, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $11)",
                    )
                    .bind(tenant)
                    .bind(&input.name)
                    .bind(version),
                    contents,
                    &tags,
                    &arguments
                )
                .bind(by)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                insert_version!(tx, tenant, &input.name, version, contents, &tags, &arguments, by, at)?;
                tx.commit().await
            }
            .await
        });
        match outcome {
            Ok(()) => {}
            Err(error) if is_unique_violation(&error) => {
                return Err(HubError::Conflict(format!(
                    "a prompt template named '{}' exists already",
                    input.name
                )));
            }
            Err(error) => return Err(error.into()),
        }
        self.changed();
        self.get(ctx, &input.name)
            .await?
            .ok_or_else(|| HubError::internal("a template just created cannot be read back"))
    }

    pub async fn get(&self, ctx: &CallContext, name: &str) -> Result<Option<Template>, HubError> {
        self.ensure_library(ctx).await?;
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM prompt_templates WHERE tenant_id = $1 AND name = $2"
        );
        let row: Option<TemplateRow> = on_store!(&self.store, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(ctx.tenant.as_str())
                .bind(name)
                .fetch_optional(pool)
                .await
        })?;
        row.map(template_from_row).transpose()
    }

    /// The tenant's templates by name, optionally of one category or with one tag.
    pub async fn list(
        &self,
        ctx: &CallContext,
        category: Option<&str>,
        tag: Option<&str>,
    ) -> Result<Vec<Template>, HubError> {
        self.ensure_library(ctx).await?;
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM prompt_templates WHERE tenant_id = $1 AND (CAST($2 AS TEXT) IS NULL OR category = $2) ORDER BY name"
        );
        let rows: Vec<TemplateRow> = on_store!(&self.store, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(ctx.tenant.as_str())
                .bind(category)
                .fetch_all(pool)
                .await
        })?;
        let templates: Vec<Template> = rows
            .into_iter()
            .map(template_from_row)
            .collect::<Result<_, _>>()?;
        Ok(match tag {
            Some(tag) => templates
                .into_iter()
                .filter(|t| t.tags.iter().any(|have| have == tag))
                .collect(),
            None => templates,
        })
    }

    /// Applies a change as a new version.
    pub async fn update(
        &self,
        ctx: &CallContext,
        name: &str,
        patch: TemplatePatch,
    ) -> Result<Template, HubError> {
        self.write_version(ctx, name, patch.expected_version, |current| {
            Ok(current.contents().patched(&patch))
        })
        .await
    }

    /// Makes `version`'s contents the current ones, as a new version.
    pub async fn restore(
        &self,
        ctx: &CallContext,
        name: &str,
        version: i64,
    ) -> Result<Template, HubError> {
        let old = self.version(ctx, name, version).await?.ok_or_else(|| {
            HubError::NotFound(format!("template '{name}' has no version {version}"))
        })?;
        let contents = old.contents();
        self.write_version(ctx, name, None, move |_| Ok(contents.clone()))
            .await
    }

    async fn write_version(
        &self,
        ctx: &CallContext,
        name: &str,
        expected: Option<i64>,
        next: impl Fn(&Template) -> Result<Contents, HubError>,
    ) -> Result<Template, HubError> {
        self.ensure_library(ctx).await?;
        let tenant = ctx.tenant.as_str();
        let by = &ctx.principal.id;
        // Read, check and write in one transaction that holds the row (SQLite's
        // immediate transaction, PostgreSQL's FOR UPDATE): concurrent editors wait
        // their turn instead of retrying, so none gives up however many there are,
        // and each version follows the one its editor saw.
        let lock = match &self.store {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE",
        };
        let select = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM prompt_templates WHERE tenant_id = $1 AND name = $2{lock}"
        );
        let begin = self.store.begin_write_sql();
        let missing = || HubError::NotFound(format!("no prompt template named '{name}'"));
        let written: bool = on_store!(&self.store, pool => {
            let mut tx = pool.begin_with(begin).await?;
            let row: Option<TemplateRow> = sqlx::query_as(sqlx::AssertSqlSafe(select))
                .bind(tenant)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
            let current = template_from_row(row.ok_or_else(missing)?)?;
            if let Some(expected) = expected
                && expected != current.version
            {
                return Err(HubError::Conflict(format!(
                    "template '{name}' is at version {}, not {expected}; read it again and reapply the change",
                    current.version
                )));
            }
            let contents = next(&current)?;
            contents.validate()?;
            if contents == current.contents() {
                false
            } else {
                let (tags, arguments) = encode(&contents)?;
                let version = current.version + 1;
                let at = now();
                bind_contents!(
                    sqlx::query(
                        "UPDATE prompt_templates SET version = $1, title = $2, description = $3, category = $4, tags = $5, arguments = $6, body = $7, updated_by = $8, updated_at = $9 \
                         WHERE tenant_id = $10 AND name = $11",
                    )
                    .bind(version),
                    contents,
                    &tags,
                    &arguments
                )
                .bind(by)
                .bind(at)
                .bind(tenant)
                .bind(name)
                .execute(&mut *tx)
                .await?;
                insert_version!(tx, tenant, name, version, contents, &tags, &arguments, by, at)?;
                tx.commit().await?;
                true
            }
        });
        if written {
            self.changed();
        }
        self.get(ctx, name).await?.ok_or_else(missing)
    }

    /// Removes a template and its versions; `false` when there was none.
    pub async fn delete(&self, ctx: &CallContext, name: &str) -> Result<bool, HubError> {
        self.ensure_library(ctx).await?;
        let tenant = ctx.tenant.as_str();
        let begin = self.store.begin_write_sql();
        let deleted: u64 = on_store!(&self.store, pool => {
            async {
                let mut tx = pool.begin_with(begin).await?;
                let deleted = sqlx::query("DELETE FROM prompt_templates WHERE tenant_id = $1 AND name = $2")
                    .bind(tenant)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query("DELETE FROM prompt_argument_values WHERE tenant_id = $1 AND name = $2")
                    .bind(tenant)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok::<u64, sqlx::Error>(deleted)
            }
            .await
        })?;
        if deleted > 0 {
            self.changed();
        }
        Ok(deleted > 0)
    }

    /// Every version of a template, newest first. Versions outlive a deleted
    /// template, so its history can still be read and a version restored by
    /// creating the template again.
    pub async fn versions(
        &self,
        ctx: &CallContext,
        name: &str,
    ) -> Result<Vec<TemplateVersion>, HubError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM prompt_template_versions WHERE tenant_id = $1 AND name = $2 ORDER BY version DESC"
        );
        let rows: Vec<VersionRow> = on_store!(&self.store, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(ctx.tenant.as_str())
                .bind(name)
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(version_from_row).collect()
    }

    pub async fn version(
        &self,
        ctx: &CallContext,
        name: &str,
        version: i64,
    ) -> Result<Option<TemplateVersion>, HubError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM prompt_template_versions WHERE tenant_id = $1 AND name = $2 AND version = $3"
        );
        let row: Option<VersionRow> = on_store!(&self.store, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(ctx.tenant.as_str())
                .bind(name)
                .bind(version)
                .fetch_optional(pool)
                .await
        })?;
        row.map(version_from_row).transpose()
    }

    /// Renders `name` (its current version, or `version`) with `given` arguments,
    /// inlining the resources it names with the caller's rights, and records the use.
    /// Returns the version rendered and the text.
    pub async fn render(
        &self,
        ctx: &CallContext,
        name: &str,
        version: Option<i64>,
        given: &JsonObject,
    ) -> Result<(i64, String), HubError> {
        let (version, contents) = match version {
            None => {
                let template = self.get(ctx, name).await?.ok_or_else(|| {
                    HubError::NotFound(format!("no prompt template named '{name}'"))
                })?;
                (template.version, template.contents())
            }
            Some(version) => {
                let old = self.version(ctx, name, version).await?.ok_or_else(|| {
                    HubError::NotFound(format!("template '{name}' has no version {version}"))
                })?;
                (version, old.contents())
            }
        };
        let values = render::resolve_arguments(&contents.arguments, given)?;
        let hub = self
            .hub
            .upgrade()
            .ok_or_else(|| HubError::internal("the hub is shutting down"))?;
        let text = render::render(&contents.body, &values, |uri| {
            let hub = hub.clone();
            async move { read_text(&hub, ctx, &uri).await }
        })
        .await
        .map_err(|error| match error {
            HubError::InvalidArguments { field, message } if field == "template" => {
                HubError::invalid_argument(
                    "template",
                    format!("'{name}' version {version} cannot be rendered: {message}"),
                )
            }
            other => other,
        })?;
        // The render is not undone when its record cannot be written; it is logged.
        if let Err(error) = self.record_use(ctx, name, version, &values).await {
            tracing::warn!(template = name, %error, "could not record a prompt render");
        }
        Ok((version, text))
    }

    /// Records one render: its usage row and the argument values, for completion.
    pub async fn record_use(
        &self,
        ctx: &CallContext,
        name: &str,
        version: i64,
        values: &BTreeMap<String, String>,
    ) -> Result<(), HubError> {
        let tenant = ctx.tenant.as_str();
        let digest = hex(&Sha256::digest(
            serde_json::to_vec(values).map_err(HubError::internal)?,
        ));
        let at = now();
        let begin = self.store.begin_write_sql();
        on_store!(&self.store, pool => {
            async {
                let mut tx = pool.begin_with(begin).await?;
                sqlx::query(
                    "INSERT INTO prompt_usage (tenant_id, name, version, arguments_sha256, principal, face, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(tenant)
                .bind(name)
                .bind(version)
                .bind(&digest)
                .bind(&ctx.principal.id)
                .bind(ctx.face.as_str())
                .bind(at)
                .execute(&mut *tx)
                .await?;
                for (argument, value) in values {
                    // Long values (a pasted document) are not useful completions.
                    if value.is_empty() || value.len() > 200 {
                        continue;
                    }
                    sqlx::query(
                        "INSERT INTO prompt_argument_values (tenant_id, name, argument, value, uses, last_used_at) VALUES ($1, $2, $3, $4, 1, $5) \
                         ON CONFLICT (tenant_id, name, argument, value) DO UPDATE SET uses = prompt_argument_values.uses + 1, last_used_at = excluded.last_used_at",
                    )
                    .bind(tenant)
                    .bind(name)
                    .bind(argument)
                    .bind(value)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await
            }
            .await
        })
        .map_err(HubError::from)
    }

    /// Values to offer for `argument` of `name`: its allowed values if it has any,
    /// else the values used before, most used first.
    pub async fn completions(
        &self,
        ctx: &CallContext,
        name: &str,
        argument: &str,
    ) -> Result<Vec<String>, HubError> {
        let Some(template) = self.get(ctx, name).await? else {
            return Ok(Vec::new());
        };
        let Some(declared) = template.arguments.iter().find(|a| a.name == argument) else {
            return Ok(Vec::new());
        };
        if !declared.allowed_values.is_empty() {
            return Ok(declared.allowed_values.clone());
        }
        let seen: Vec<String> = on_store!(&self.store, pool => {
            sqlx::query_scalar(
                "SELECT value FROM prompt_argument_values WHERE tenant_id = $1 AND name = $2 AND argument = $3 ORDER BY uses DESC, last_used_at DESC LIMIT 100",
            )
            .bind(ctx.tenant.as_str())
            .bind(name)
            .bind(argument)
            .fetch_all(pool)
            .await
        })?;
        let mut values = seen;
        if let Some(default) = &declared.default
            && !values.contains(default)
        {
            values.push(default.clone());
        }
        Ok(values)
    }

    pub async fn categories(&self, ctx: &CallContext) -> Result<Vec<CategoryCount>, HubError> {
        self.ensure_library(ctx).await?;
        let rows: Vec<(String, i64)> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT category, COUNT(*) FROM prompt_templates WHERE tenant_id = $1 GROUP BY category ORDER BY category",
            )
            .bind(ctx.tenant.as_str())
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(category, templates)| CategoryCount {
                category,
                templates,
            })
            .collect())
    }

    /// Renders over the last `days` days, optionally of one template.
    pub async fn stats(
        &self,
        ctx: &CallContext,
        name: Option<&str>,
        days: u32,
    ) -> Result<PromptStats, HubError> {
        if days == 0 || days > 366 {
            return Err(HubError::invalid_argument(
                "days",
                "must be between 1 and 366",
            ));
        }
        let since = (Utc::now() - Duration::days(i64::from(days) - 1))
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| HubError::internal("date out of range"))?;
        let tenant = ctx.tenant.as_str();
        let by_version: Vec<(String, i64, i64)> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT name, version, COUNT(*) FROM prompt_usage WHERE tenant_id = $1 AND used_at >= $2 AND (CAST($3 AS TEXT) IS NULL OR name = $3) \
                 GROUP BY name, version ORDER BY name, version",
            )
            .bind(tenant)
            .bind(since)
            .bind(name)
            .fetch_all(pool)
            .await
        })?;
        // Days are cut from the timestamp by each dialect's own means.
        let by_day: Vec<(String, i64)> = match &self.store {
            Store::Sqlite(pool) => sqlx::query_as(
                "SELECT substr(used_at, 1, 10) AS day, COUNT(*) FROM prompt_usage WHERE tenant_id = $1 AND used_at >= $2 AND (CAST($3 AS TEXT) IS NULL OR name = $3) \
                 GROUP BY day ORDER BY day",
            )
            .bind(tenant)
            .bind(since)
            .bind(name)
            .fetch_all(pool)
            .await,
            Store::Postgres(pool) => sqlx::query_as(
                "SELECT to_char(used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, COUNT(*) FROM prompt_usage WHERE tenant_id = $1 AND used_at >= $2 AND (CAST($3 AS TEXT) IS NULL OR name = $3) \
                 GROUP BY day ORDER BY day",
            )
            .bind(tenant)
            .bind(since)
            .bind(name)
            .fetch_all(pool)
            .await,
        }
        ?;
        let mut by_template: BTreeMap<String, i64> = BTreeMap::new();
        for (name, _, count) in &by_version {
            *by_template.entry(name.clone()).or_default() += count;
        }
        Ok(PromptStats {
            since,
            total: by_template.values().sum(),
            by_template: by_template
                .into_iter()
                .map(|(name, renders)| TemplateCount { name, renders })
                .collect(),
            by_version: by_version
                .into_iter()
                .map(|(name, version, renders)| VersionCount {
                    name,
                    version,
                    renders,
                })
                .collect(),
            by_day: by_day
                .into_iter()
                .map(|(day, renders)| DayCount { day, renders })
                .collect(),
        })
    }
}

/// A resource's text as a template inlines it: text contents joined, binary ones
/// named but not inlined.
async fn read_text(hub: &Hub, ctx: &CallContext, uri: &str) -> Result<String, HubError> {
    let contents = hub.read_resource(ctx, &Scope::All, uri).await?;
    Ok(contents
        .into_iter()
        .map(|content| match content {
            ResourceContents::TextResourceContents { text, .. } => text,
            ResourceContents::BlobResourceContents { uri, mime_type, .. } => format!(
                "[binary resource {uri} ({}) not inlined]",
                mime_type.unwrap_or_else(|| "unknown type".into())
            ),
            _ => format!("[resource {uri} of a kind that cannot be inlined]"),
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Arguments as MCP declares them for a prompt.
pub fn prompt_arguments(arguments: &[PromptArgument]) -> Vec<tideway_core::mcp::PromptArgument> {
    arguments
        .iter()
        .map(|argument| {
            let mut declared = tideway_core::mcp::PromptArgument::new(argument.name.clone());
            declared.description = argument.description.clone();
            declared.required = Some(argument.required && argument.default.is_none());
            declared
        })
        .collect()
}
