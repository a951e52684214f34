//! Tideway's core: the pieces every face (MCP, REST, workflows, agents) and every
//! toolkit share. The Hub is the registry of toolkits and the one call path; the
//! call context carries tenant, principal, request id, deadline and cancellation;
//! the store is SQLite by default and PostgreSQL in production.
//!
//! MCP's data model (tools, resources, prompts, content blocks) is rmcp's, re-exported
//! as [`mcp`], so toolkits, faces and federated upstreams all speak the same types.

pub mod access;
pub mod audit;
pub mod background;
pub mod config;
pub mod context;
pub mod error;
pub mod hub;
pub mod input;
pub mod metrics;
pub mod naming;
pub mod net;
pub mod parts;
pub mod schema;
pub mod secrets;
pub mod store;
pub mod toolkit;
pub mod typed;

pub use rmcp::model as mcp;

pub use access::{Role, ToolRules};
pub use config::Config;
pub use context::{CallContext, ClientChannel, Credential, Face, ParentStep, Principal, TenantId};
pub use error::HubError;
pub use hub::{CallLimits, CatalogListing, Hub, HubEvent, NameCollision, Scope, VirtualServer};
pub use parts::PartHealth;
pub use store::Store;
pub use toolkit::{Health, HealthStatus, TaskSupport, Toolkit};
