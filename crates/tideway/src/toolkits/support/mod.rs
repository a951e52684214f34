//! The `support` toolkit: customers, tickets, knowledge base, interactions and
//! analytics for a customer-support team, as MCP tools, `db://` resources and REST
//! routes under `/api/v1`. The typed service owns every rule; tools, resources and
//! routes are adapters over it.

mod analytics;
pub mod changes;
mod customers;
pub mod demo;
mod interactions;
mod knowledge;
pub mod model;
pub mod routes;
mod service;
pub mod snapshot;
mod tickets;
pub(crate) mod tools;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use tideway_core::{
    CallContext, Hub, HubError, Store,
    mcp::{CallToolResult, JsonObject, Resource, ResourceContents, ResourceTemplate, Tool},
    toolkit::{Health, Toolkit, featured, json_resource as json_contents},
    typed::ToolSet,
};

pub use service::SupportService;

use model::{CustomerFilter, TicketFilter, limits};

/// The `support` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "support",
    summary: "the help desk: customers, tickets, interactions, knowledge base, analytics",
    on_by_default: true,
    feature: None,
    settings: None,
    migrations: &[tideway_core::store::Migration {
        version: 2,
        name: "support",
        sqlite: include_str!("migrations/sqlite/0002_support.sql"),
        postgres: include_str!("migrations/postgres/0002_support.sql"),
    }],
    sealed: &[],
    build: Some(|shared| {
        Ok(Arc::new(SupportToolkit::new(
            shared.store.clone(),
            Arc::downgrade(shared.hub),
        )))
    }),
    rest: Some(super::Rest {
        tag: "support",
        description: "Customers, tickets, interactions, knowledge base and analytics (the support toolkit)",
        routes: routes::router,
        tools: &[
            tools::names::ADD_TICKET_COMMENT,
            tools::names::CREATE_ARTICLE,
            tools::names::CREATE_CUSTOMER,
            tools::names::CREATE_TICKET,
            tools::names::GET_ANALYTICS,
            tools::names::GET_ARTICLE,
            tools::names::GET_ARTICLES,
            tools::names::GET_CUSTOMER_BY_ID,
            tools::names::GET_CUSTOMER_CONTEXT,
            tools::names::GET_CUSTOMERS,
            tools::names::GET_INTERACTIONS,
            tools::names::GET_TICKET_DETAILS,
            tools::names::GET_TICKETS,
            tools::names::GET_TICKET_CHANGES,
            tools::names::RATE_ARTICLE,
            tools::names::SAVE_INTERACTION,
            tools::names::SEARCH_KNOWLEDGE_BASE,
            tools::names::UPDATE_ARTICLE,
            tools::names::UPDATE_CUSTOMER,
            tools::names::UPDATE_TICKET,
        ],
    }),
    cli: None,
};

pub struct SupportToolkit {
    service: Arc<SupportService>,
    tools: ToolSet<SupportService>,
}

impl SupportToolkit {
    pub fn new(store: Store, hub: Weak<Hub>) -> Self {
        SupportToolkit {
            service: Arc::new(SupportService::new(store, hub)),
            tools: tools::tool_set(),
        }
    }

    pub fn service(&self) -> Arc<SupportService> {
        self.service.clone()
    }
}

/// The lists served as resources, each readable page by page with `?cursor=`.
const LISTS: &[(&str, &str, &str)] = &[
    ("db://customers", "customers", "Customers, newest first"),
    ("db://tickets", "tickets", "Tickets, newest first"),
    (
        "db://knowledge_articles",
        "knowledge_articles",
        "Published knowledge articles, newest first",
    ),
    (
        "db://interactions",
        "interactions",
        "Customer interactions, most recently recorded first",
    ),
    (
        "db://analytics",
        "analytics",
        "Support analytics over the last 30 days",
    ),
];

const TEMPLATES: &[(&str, &str, &str)] = &[
    ("db://customers/{id}", "customer", "One customer"),
    (
        "db://tickets/{id}",
        "ticket",
        "One ticket with its history, comments and interactions; subscribe to hear of changes",
    ),
    (
        "db://knowledge_articles/{id}",
        "knowledge_article",
        "One knowledge article",
    ),
];

fn parse_id(uri: &str, text: &str) -> Result<i64, HubError> {
    text.parse::<i64>()
        .map_err(|_| HubError::ResourceNotFound(uri.to_string()))
}

#[async_trait]
impl Toolkit for SupportToolkit {
    fn name(&self) -> &str {
        "support"
    }

    fn description(&self) -> &str {
        "Customer support: customers, tickets with history and SLAs, interactions, a searchable knowledge base, and analytics."
    }

    fn featured_tools(&self) -> Option<Vec<String>> {
        use tools::names;
        featured(&[
            names::GET_CUSTOMERS,
            names::GET_CUSTOMER_CONTEXT,
            names::CREATE_TICKET,
            names::GET_TICKETS,
            names::GET_TICKET_DETAILS,
            names::UPDATE_TICKET,
            names::SEARCH_KNOWLEDGE_BASE,
            names::GET_ANALYTICS,
        ])
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
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

    fn uri_prefixes(&self) -> Vec<String> {
        LISTS.iter().map(|(uri, _, _)| uri.to_string()).collect()
    }

    async fn list_resources(&self, _ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
        Ok(LISTS
            .iter()
            .map(|(uri, name, description)| {
                Resource::new(*uri, *name)
                    .with_description(*description)
                    .with_mime_type("application/json")
            })
            .collect())
    }

    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        TEMPLATES
            .iter()
            .map(|(uri, name, description)| {
                ResourceTemplate::new(*uri, *name)
                    .with_description(*description)
                    .with_mime_type("application/json")
            })
            .collect()
    }

    async fn read_resource(
        &self,
        ctx: &CallContext,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let cursor = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("cursor="))
            .filter(|c| !c.is_empty());
        let rest = path.strip_prefix("db://").unwrap_or(path);
        let (collection, id) = match rest.split_once('/') {
            Some((collection, id)) => (collection, Some(parse_id(uri, id)?)),
            None => (rest, None),
        };
        let s = &self.service;
        let page = limits::PAGE_DEFAULT;
        match (collection, id) {
            ("customers", None) => json_contents(
                uri,
                &s.list_customers(ctx, &CustomerFilter::default(), page, cursor)
                    .await?,
            ),
            ("customers", Some(id)) => json_contents(
                uri,
                &s.find_customer(ctx, id)
                    .await?
                    .ok_or_else(|| HubError::ResourceNotFound(uri.into()))?,
            ),
            ("tickets", None) => json_contents(
                uri,
                &s.list_tickets(ctx, &TicketFilter::default(), page, cursor)
                    .await?,
            ),
            ("tickets", Some(id)) => {
                if s.find_ticket(ctx, id).await?.is_none() {
                    return Err(HubError::ResourceNotFound(uri.into()));
                }
                json_contents(uri, &s.ticket_details(ctx, id).await?)
            }
            ("knowledge_articles", None) => {
                json_contents(uri, &s.list_articles(ctx, None, false, page, cursor).await?)
            }
            ("knowledge_articles", Some(id)) => json_contents(
                uri,
                &s.find_article(ctx, id)
                    .await?
                    .ok_or_else(|| HubError::ResourceNotFound(uri.into()))?,
            ),
            ("interactions", None) => json_contents(
                uri,
                &s.list_interactions(ctx, None, None, page, cursor).await?,
            ),
            ("analytics", None) => json_contents(uri, &s.analytics(ctx, 30).await?),
            _ => Err(HubError::ResourceNotFound(uri.to_string())),
        }
    }

    async fn health(&self) -> Health {
        match self.service.store().ping().await {
            Ok(latency) => Health::healthy().with_latency(latency),
            Err(error) => Health::down(format!("the store does not answer: {error}")),
        }
    }
}
