//! The `database` toolkit: a tenant's PostgreSQL, MySQL/MariaDB and SQLite sources as
//! MCP tools, `datasource://` resources, a `troubleshoot_connection` prompt and REST
//! routes. Credentials are sealed under the master key; every statement passes the
//! SQL guard and then runs read-only (unless the source is `read_write` and the tool
//! writes) with a server-side timeout. The service owns the rules; tools, resources
//! and routes are adapters over it.

mod capping;
mod catalog;
mod desk;
mod diagnosis;
mod engine;
pub mod guard;
pub mod model;
pub(crate) mod pools;
mod privileges;
pub mod records;
pub mod routes;
pub(crate) mod service;
pub mod settings;
mod tools;

#[cfg(test)]
mod tests;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use tideway_core::{
    CallContext, HubError, PartHealth, Role,
    mcp::{
        CallToolResult, ContentBlock, GetPromptResult, JsonObject, Prompt, PromptArgument,
        PromptMessage, Resource, ResourceContents, ResourceTemplate, Role as MessageRole, Tool,
    },
    toolkit::{Toolkit, json_resource as json_contents, role_by_annotations},
    typed::ToolSet,
};

pub use service::DatabaseService;

use catalog::TableQuery;

/// The `database` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "database",
    summary: "a tenant's PostgreSQL, MySQL/MariaDB and SQLite sources, read-only by default",
    on_by_default: true,
    feature: None,
    settings: Some(super::Settings {
        keys: &[settings::KEY],
        tenant_keys: &[settings::TENANT_KEY],
        check: settings::check,
    }),
    migrations: &[tideway_core::store::Migration {
        version: 4,
        name: "sources",
        sqlite: include_str!("migrations/sqlite/0004_sources.sql"),
        postgres: include_str!("migrations/postgres/0004_sources.sql"),
    }],
    sealed: &[&records::SEALED],
    build: Some(|shared| Ok(Arc::new(DatabaseToolkit::new(shared.databases.clone())))),
    rest: Some(super::Rest {
        tag: "database",
        description: "Database sources and read-only SQL over them (the database toolkit)",
        routes: routes::router,
        tools: &[
            tools::names::CONNECT_SOURCE,
            tools::names::LIST_SOURCES,
            tools::names::QUERY_DATABASE,
            tools::names::REMOVE_SOURCE,
            tools::names::TEST_CONNECTION,
        ],
    }),
    cli: None,
};

pub struct DatabaseToolkit {
    service: Arc<DatabaseService>,
    tools: ToolSet<DatabaseService>,
}

impl DatabaseToolkit {
    pub fn new(service: Arc<DatabaseService>) -> Self {
        DatabaseToolkit {
            service,
            tools: tools::tool_set(),
        }
    }

    pub fn service(&self) -> Arc<DatabaseService> {
        self.service.clone()
    }
}

const PREFIX: &str = "datasource://";

#[async_trait]
impl Toolkit for DatabaseToolkit {
    fn name(&self) -> &str {
        "database"
    }

    fn description(&self) -> &str {
        "Database sources (PostgreSQL, MySQL/MariaDB, SQLite): register with encrypted credentials, test, explore schemas, and run guarded read-only SQL."
    }

    fn featured_tools(&self) -> Option<Vec<String>> {
        tideway_core::toolkit::featured(&[
            tools::names::LIST_SOURCES,
            tools::names::GET_SCHEMA_OVERVIEW,
            tools::names::DESCRIBE_TABLE,
            tools::names::QUERY_DATABASE,
        ])
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
    }

    fn required_role(&self, tool: &Tool) -> Role {
        if tools::ADMIN_TOOLS.contains(&tool.name.as_ref()) {
            Role::Admin
        } else {
            role_by_annotations(tool)
        }
    }

    async fn call_tool(
        &self,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        self.tools
            .call(self.service.clone(), ctx, name, arguments)
            .await
    }

    async fn parts(&self, timeout: Duration) -> Vec<PartHealth> {
        self.service.parts(timeout).await
    }

    fn uri_prefixes(&self) -> Vec<String> {
        vec![PREFIX.to_string()]
    }

    async fn list_resources(&self, ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
        let mut resources = Vec::new();
        for source in self.service.list(ctx).await? {
            resources.push(
                Resource::new(
                    format!("{PREFIX}{}/status", source.id),
                    format!("{} status", source.id),
                )
                .with_description(format!(
                    "Connection status of the {} source '{}'",
                    source.kind.as_str(),
                    source.id
                ))
                .with_mime_type("application/json"),
            );
            resources.push(
                Resource::new(
                    format!("{PREFIX}{}/tables", source.id),
                    format!("{} tables", source.id),
                )
                .with_description(format!("Tables and views of '{}'", source.id))
                .with_mime_type("application/json"),
            );
        }
        Ok(resources)
    }

    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        vec![
            ResourceTemplate::new(format!("{PREFIX}{{id}}/status"), "source_status")
                .with_description("A source's settings (no password) and a fresh connection test")
                .with_mime_type("application/json"),
            ResourceTemplate::new(format!("{PREFIX}{{id}}/tables"), "source_tables")
                .with_description("The first page of a source's tables and views")
                .with_mime_type("application/json"),
            ResourceTemplate::new(
                format!("{PREFIX}{{id}}/tables/{{schema}}.{{table}}/schema"),
                "table_schema",
            )
            .with_description("One table's columns, keys and indexes")
            .with_mime_type("application/json"),
        ]
    }

    async fn read_resource(
        &self,
        ctx: &CallContext,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        let not_found = || HubError::ResourceNotFound(uri.to_string());
        let rest = uri.strip_prefix(PREFIX).ok_or_else(not_found)?;
        let (id, path) = rest.split_once('/').ok_or_else(not_found)?;
        let source = match self.service.source(ctx, id).await {
            Ok(source) => source,
            Err(HubError::NotFound(_)) => return Err(not_found()),
            Err(error) => return Err(error),
        };
        match path {
            "status" => {
                let test = self.service.test_source(&ctx.tenant, &source).await;
                json_contents(
                    uri,
                    &serde_json::json!({"source": source.view(), "test": test}),
                )
            }
            "tables" => {
                let page = self
                    .service
                    .list_tables(
                        ctx,
                        &source,
                        TableQuery {
                            schema: None,
                            filter: None,
                            limit: 500,
                            cursor: None,
                        },
                    )
                    .await?;
                json_contents(uri, &page)
            }
            other => {
                let table = other
                    .strip_prefix("tables/")
                    .and_then(|rest| rest.strip_suffix("/schema"))
                    .ok_or_else(not_found)?;
                let description = match self.service.describe_table(ctx, &source, table, None).await
                {
                    Ok(description) => description,
                    Err(HubError::NotFound(_)) => return Err(not_found()),
                    Err(error) => return Err(error),
                };
                json_contents(uri, &description)
            }
        }
    }

    fn prompts(&self) -> Vec<Prompt> {
        vec![
            Prompt::new(
                "troubleshoot_connection",
                Some(
                    "Diagnose a database source that will not connect: tests it now and builds guidance from the actual failure.",
                ),
                Some(vec![
                    PromptArgument::new("connection_id")
                        .with_description("The source to diagnose")
                        .with_required(true),
                    PromptArgument::new("last_error")
                        .with_description("The error you saw, if any")
                        .with_required(false),
                ]),
            )
            .with_title("Troubleshoot a database connection"),
        ]
    }

    async fn get_prompt(
        &self,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<GetPromptResult, HubError> {
        if name != "troubleshoot_connection" {
            return Err(HubError::UnknownPrompt(name.to_string()));
        }
        let id = arguments
            .get("connection_id")
            .and_then(|value| value.as_str())
            .ok_or_else(|| HubError::InvalidPromptArguments {
                field: "connection_id".into(),
                message: "required".into(),
            })?;
        let last_error = arguments
            .get("last_error")
            .and_then(|value| value.as_str())
            .unwrap_or_default();
        let source = self
            .service
            .source(ctx, id)
            .await
            .map_err(|error| match error {
                HubError::NotFound(message) => HubError::InvalidPromptArguments {
                    field: "connection_id".into(),
                    message,
                },
                other => other,
            })?;
        let test = self.service.test_source(&ctx.tenant, &source).await;
        let view = source.view();
        let target = match (&view.host, &view.path) {
            _ if view.origin == model::Origin::Builtin => {
                "Tideway's own copy of this tenant's help desk".to_string()
            }
            (Some(host), _) => format!(
                "{}:{} database '{}' as user '{}' (ssl_mode {})",
                host,
                view.port.unwrap_or_default(),
                view.database.as_deref().unwrap_or("?"),
                view.user.as_deref().unwrap_or("?"),
                view.ssl_mode.unwrap_or_default()
            ),
            (None, Some(path)) => format!("the SQLite file {path}"),
            _ => "an unknown target".into(),
        };
        let mut text = format!(
            "Help me fix the {} source '{}', which connects to {target}.\n",
            view.kind.as_str(),
            view.id
        );
        if !last_error.is_empty() {
            text.push_str(&format!(
                "The error I saw was:\n<untrusted source=\"user\">\n{}\n</untrusted>\n",
                source.redact(last_error)
            ));
        }
        match &test.failure {
            None => text.push_str(&format!(
                "A connection test just now SUCCEEDED ({} in {:.0} ms), so the source is reachable. If queries still fail, the cause is likely the query itself, privileges on specific tables, or the statement timeout; check with describe_table and explain_query.",
                test.server_version.as_deref().unwrap_or("server"),
                test.latency_ms
            )),
            Some(failure) => text.push_str(&format!(
                "A connection test just now FAILED after {:.0} ms.\nKind: {}\nMessage: {}\nWhat to check: {}\nWalk me through confirming and fixing this, one step at a time; after a change, run test_connection again.",
                test.latency_ms, failure.kind, failure.message, failure.hint
            )),
        }
        Ok(GetPromptResult::new(vec![PromptMessage::new(
            MessageRole::User,
            ContentBlock::text(text),
        )]))
    }
}
