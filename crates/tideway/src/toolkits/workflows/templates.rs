//! Saved workflow templates (`workflow_templates`): each save of a tenant's template
//! is a new numbered version, and a run pins the version it started from, so editing
//! a template never changes a run already going.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use tideway_core::{
    CallContext, Hub, HubError, Principal, Scope, Store, TenantId, on_store,
    store::{is_unique_violation, now},
};
use utoipa::ToSchema;

use super::{
    builtin_templates,
    definition::{StepKind, Template, ToolFacts},
};

#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct TemplateVersion {
    /// 0 for a built-in template no one has saved over.
    pub version: i64,
    pub template: Template,
    pub created_by: String,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct TemplateRow {
    version: i64,
    definition: String,
    created_by: String,
    created_at: DateTime<Utc>,
}

impl TemplateRow {
    fn into_version(self) -> Result<TemplateVersion, HubError> {
        Ok(TemplateVersion {
            version: self.version,
            template: serde_json::from_str(&self.definition).map_err(HubError::internal)?,
            created_by: self.created_by,
            created_at: Some(self.created_at),
        })
    }
}

#[derive(Clone)]
pub struct TemplateStore {
    store: Store,
}

impl TemplateStore {
    pub fn new(store: Store) -> Self {
        TemplateStore { store }
    }

    /// Saves a new version of a tenant's template; the first save is version 1.
    pub async fn save(&self, ctx: &CallContext, template: &Template) -> Result<i64, HubError> {
        let definition = serde_json::to_string(template).map_err(HubError::internal)?;
        // Two saves at once may pick the same number; the key refuses one, which
        // tries again with the next.
        for _ in 0..5 {
            let outcome = on_store!(&self.store, pool => {
                async {
                    let latest: Option<i64> = sqlx::query_scalar(
                        "SELECT MAX(version) FROM workflow_templates WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(ctx.tenant.as_str())
                    .bind(&template.id)
                    .fetch_one(pool)
                    .await?;
                    let version = latest.unwrap_or(0) + 1;
                    sqlx::query(
                        "INSERT INTO workflow_templates (tenant_id, id, version, definition, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(ctx.tenant.as_str())
                    .bind(&template.id)
                    .bind(version)
                    .bind(&definition)
                    .bind(&ctx.principal.id)
                    .bind(now())
                    .execute(pool)
                    .await?;
                    Ok::<i64, sqlx::Error>(version)
                }
                .await
            });
            match outcome {
                Ok(version) => return Ok(version),
                Err(error) if is_unique_violation(&error) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(HubError::Conflict(format!(
            "template '{}' is being saved by someone else; try again",
            template.id
        )))
    }

    /// A tenant's saved template: the given version or the latest.
    pub async fn get(
        &self,
        tenant: &TenantId,
        id: &str,
        version: Option<i64>,
    ) -> Result<Option<TemplateVersion>, HubError> {
        let row: Option<TemplateRow> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT version, definition, created_by, created_at FROM workflow_templates \
                 WHERE tenant_id = $1 AND id = $2 AND ($3 IS NULL OR version = $3) \
                 ORDER BY version DESC LIMIT 1",
            )
            .bind(tenant.as_str())
            .bind(id)
            .bind(version)
            .fetch_optional(pool)
            .await
        })?;
        row.map(TemplateRow::into_version).transpose()
    }

    /// The latest version of each of a tenant's saved templates.
    pub async fn latest(&self, tenant: &TenantId) -> Result<Vec<TemplateVersion>, HubError> {
        let rows: Vec<TemplateRow> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT t.version, t.definition, t.created_by, t.created_at FROM workflow_templates t \
                 WHERE t.tenant_id = $1 AND t.version = \
                 (SELECT MAX(version) FROM workflow_templates l WHERE l.tenant_id = t.tenant_id AND l.id = t.id) \
                 ORDER BY t.id",
            )
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(TemplateRow::into_version).collect()
    }

    /// The tenant's templates: its saved ones (latest versions) and the built-in
    /// ones it has not saved over.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<TemplateVersion>, HubError> {
        let mut templates = self.latest(tenant).await?;
        for builtin in builtin_templates() {
            if !templates.iter().any(|t| t.template.id == builtin.id) {
                templates.push(TemplateVersion {
                    version: 0,
                    template: builtin,
                    created_by: "tideway".into(),
                    created_at: None,
                });
            }
        }
        templates.sort_by(|a, b| a.template.id.cmp(&b.template.id));
        Ok(templates)
    }

    /// A tenant's template: the given version or the latest of its saved ones, else
    /// the built-in one of that id (version 0).
    pub async fn find(
        &self,
        tenant: &TenantId,
        id: &str,
        version: Option<i64>,
    ) -> Result<TemplateVersion, HubError> {
        if version != Some(0)
            && let Some(saved) = self.get(tenant, id, version).await?
        {
            return Ok(saved);
        }
        if matches!(version, None | Some(0))
            && let Some(builtin) = builtin_templates().into_iter().find(|t| t.id == id)
        {
            return Ok(TemplateVersion {
                version: 0,
                template: builtin,
                created_by: "tideway".into(),
                created_at: None,
            });
        }
        Err(HubError::NotFound(match version {
            Some(version) => format!(
                "no workflow template '{}' version {version}",
                tideway_core::error::excerpt(id)
            ),
            None => format!(
                "no workflow template '{}'; list_workflow_templates shows them",
                tideway_core::error::excerpt(id)
            ),
        }))
    }

    /// Checks `template` before it is saved or run: against the tools `principal`
    /// may call (whoever saved it) and the tenant's templates (for workflow steps).
    pub async fn check(
        &self,
        hub: &Hub,
        tenant: &TenantId,
        principal: &Principal,
        template: &Template,
    ) -> Result<(), HubError> {
        let tools = hub.list_tools(&Scope::All, principal);
        let mut ids: BTreeSet<String> = self
            .list(tenant)
            .await?
            .into_iter()
            .map(|saved| saved.template.id)
            .collect();
        // A template may run itself (bounded by the nesting limit).
        ids.insert(template.id.clone());
        template.validate(
            &|name| {
                tools
                    .iter()
                    .find(|tool| tool.name == name)
                    .map(|tool| ToolFacts {
                        input_schema: Value::Object(tool.input_schema.as_ref().clone()),
                    })
            },
            &|id| ids.contains(id),
        )?;
        self.check_agents(hub, tenant, principal, template).await
    }

    /// Every agent an `agent` step names must be one of the tenant's, as the
    /// principal sees them through the agents toolkit.
    async fn check_agents(
        &self,
        hub: &Hub,
        tenant: &TenantId,
        principal: &Principal,
        template: &Template,
    ) -> Result<(), HubError> {
        let named: Vec<(&str, &str)> = template
            .steps
            .iter()
            .filter(|step| step.kind == StepKind::Agent)
            .filter_map(|step| Some((step.id.as_str(), step.agent.as_deref()?)))
            .collect();
        if named.is_empty() {
            return Ok(());
        }
        let ctx = CallContext::new(
            tenant.clone(),
            principal.clone(),
            format!("workflow-template:{}", template.id),
        );
        let listed = hub
            .call(&ctx, "agents", "list_agents", Some(Default::default()))
            .await?;
        let known: BTreeSet<&str> = listed
            .structured_content
            .as_ref()
            .and_then(|listed| listed["agents"].as_array())
            .map(|agents| {
                agents
                    .iter()
                    .filter_map(|saved| saved["agent"]["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        match named.iter().find(|(_, agent)| !known.contains(agent)) {
            Some((step, agent)) => Err(HubError::invalid_argument(
                format!("steps.{step}.agent"),
                format!("'{agent}' is not an agent of this tenant (list_agents shows them)"),
            )),
            None => Ok(()),
        }
    }
}
