//! The built-in toolkits and how configuration turns names into registered toolkits.
//! One toolkit, one folder: its service, tools, routes and tests live together.

pub mod conformance;
pub mod database;
#[cfg(feature = "lakehouse")]
pub mod lakehouse;
pub mod models;
pub mod prompts;
pub mod support;
pub mod synthetic;
pub mod system;
pub mod upstream;

use std::sync::Arc;

use tideway_core::{Config, Hub, Store, secrets::MasterKey};

/// Every built-in toolkit, in registration order.
#[cfg(feature = "lakehouse")]
pub const BUILTIN: &[&str] = &[
    "system",
    "support",
    "database",
    "prompts",
    "models",
    "lakehouse",
    "conformance",
    "synthetic",
];

/// Every built-in toolkit, in registration order (built without the lakehouse).
#[cfg(not(feature = "lakehouse"))]
pub const BUILTIN: &[&str] = &[
    "system",
    "support",
    "database",
    "prompts",
    "models",
    "conformance",
    "synthetic",
];

/// Built-ins that are off unless named explicitly.
pub const OFF_BY_DEFAULT: &[&str] = &["conformance", "synthetic"];

/// The toolkits enabled when none are named.
pub fn default_names() -> Vec<String> {
    BUILTIN
        .iter()
        .filter(|name| !OFF_BY_DEFAULT.contains(name))
        .map(|name| name.to_string())
        .collect()
}

/// Registers the named toolkits (or the defaults) with the Hub.
pub fn register(
    hub: &Arc<Hub>,
    names: &[String],
    store: &Store,
    config: &Config,
    master_key: &Arc<MasterKey>,
) -> Result<(), String> {
    let names = if names.is_empty() {
        default_names()
    } else {
        names.to_vec()
    };
    // One database service (and so one pool per source) for every toolkit that reads
    // the tenant's databases.
    let databases = Arc::new(
        database::DatabaseService::new(
            store.clone(),
            master_key.clone(),
            config.databases.clone(),
            config.default_tenant.clone(),
            config.data_dir.clone(),
        )
        .allowing_private_hosts(
            config
                .tenants
                .iter()
                .filter(|(_, tenant)| tenant.allow_private_database_hosts)
                .map(|(id, _)| id.clone()),
        ),
    );
    for name in &names {
        let toolkit: Arc<dyn tideway_core::Toolkit> = match name.as_str() {
            "system" => Arc::new(system::SystemToolkit::new(Arc::downgrade(hub))),
            "support" => Arc::new(support::SupportToolkit::new(
                store.clone(),
                Arc::downgrade(hub),
            )),
            "database" => Arc::new(database::DatabaseToolkit::new(databases.clone())),
            "prompts" => Arc::new(prompts::PromptsToolkit::new(
                store.clone(),
                Arc::downgrade(hub),
            )),
            "models" => Arc::new(models::ModelsToolkit::new(
                store.clone(),
                master_key.clone(),
                config,
                Arc::downgrade(hub),
            )),
            #[cfg(feature = "lakehouse")]
            "lakehouse" => Arc::new(lakehouse::LakehouseToolkit::new(
                config,
                store.clone(),
                databases.clone(),
                Arc::downgrade(hub),
            )?),
            "conformance" => Arc::new(conformance::ConformanceToolkit::new()),
            "synthetic" => Arc::new(synthetic::SyntheticToolkit::new()),
            other => {
                return Err(format!(
                    "unknown toolkit '{other}'; the built-in toolkits are: {}",
                    BUILTIN.join(", ")
                ));
            }
        };
        hub.register(toolkit).map_err(|error| error.to_string())?;
    }
    Ok(())
}
