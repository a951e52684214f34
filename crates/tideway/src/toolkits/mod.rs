//! The built-in toolkits: one folder each, one descriptor each (`builtin.rs`), and the
//! one list of them below. Registration, migrations, REST routes and subcommands
//! all come from that list.

pub mod agents;
pub mod automation;
pub mod builtin;
pub mod cloud;
pub mod conformance;
pub mod database;
pub mod fetch;
pub mod files;
#[cfg(feature = "lakehouse")]
pub mod lakehouse;
#[cfg(feature = "messaging")]
pub mod messaging;
pub mod models;
pub mod monitor;
pub mod prompts;
pub mod remote;
pub mod support;
pub mod synthetic;
pub mod system;
#[cfg(test)]
pub mod testing;
pub mod upstream;
pub mod workflows;

use std::sync::Arc;

use tideway_core::{
    Config, Hub, Store,
    config::{ConfigError, OwnedKeys},
    secrets::MasterKey,
    store::{Migration, SealedColumn},
};

pub use builtin::{Build, Builtin, Rest, Settings, Shared, ToolkitCli};

/// Every built-in toolkit, in registration order.
pub const ALL: &[&Builtin] = &[
    &system::BUILTIN,
    &support::BUILTIN,
    &database::BUILTIN,
    &prompts::BUILTIN,
    &models::BUILTIN,
    &files::BUILTIN,
    &fetch::BUILTIN,
    &cloud::BUILTIN,
    &workflows::BUILTIN,
    &automation::BUILTIN,
    &monitor::BUILTIN,
    &agents::BUILTIN,
    #[cfg(feature = "messaging")]
    &messaging::BUILTIN,
    #[cfg(feature = "lakehouse")]
    &lakehouse::BUILTIN,
    &upstream::BUILTIN,
    &conformance::BUILTIN,
    &synthetic::BUILTIN,
];

/// A toolkit this build leaves out, with what it would own in the configuration,
/// so that naming or configuring it is answered with the reason, not as a typo.
pub struct LeftOut {
    pub name: &'static str,
    /// The cargo feature that builds it.
    pub feature: &'static str,
    /// Its top-level configuration keys.
    pub keys: &'static [&'static str],
}

/// The toolkits compiled out of this build.
pub const LEFT_OUT: &[LeftOut] = &[
    #[cfg(not(feature = "lakehouse"))]
    LeftOut {
        name: "lakehouse",
        feature: "lakehouse",
        keys: &["lakehouse"],
    },
    #[cfg(not(feature = "messaging"))]
    LeftOut {
        name: "messaging",
        feature: "messaging",
        keys: &["messaging"],
    },
];

impl LeftOut {
    fn reason(&self) -> String {
        format!(
            "this build of Tideway leaves out the {} toolkit (build with `--features {}` to have it)",
            self.name, self.feature
        )
    }
}

/// The built-in toolkit called `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    ALL.iter().copied().find(|builtin| builtin.name == name)
}

/// The names `--toolkit` accepts.
pub fn registrable() -> impl Iterator<Item = &'static Builtin> {
    ALL.iter()
        .copied()
        .filter(|builtin| builtin.build.is_some())
}

/// The names of the toolkits that serve REST routes, on by default or not.
pub fn with_rest_routes() -> Vec<String> {
    registrable()
        .filter(|builtin| builtin.rest.is_some())
        .map(|builtin| builtin.name.to_string())
        .collect()
}

/// The toolkits enabled when none are named.
pub fn default_names() -> Vec<String> {
    registrable()
        .filter(|builtin| builtin.on_by_default)
        .map(|builtin| builtin.name.to_string())
        .collect()
}

/// The configuration's top-level keys the toolkits own, with those of toolkits this
/// build leaves out (so that [`load_config`] can say why they cannot be used).
pub fn setting_keys() -> Vec<&'static str> {
    ALL.iter()
        .filter_map(|builtin| builtin.settings.as_ref())
        .flat_map(|settings| settings.keys.iter().copied())
        .chain(
            LEFT_OUT
                .iter()
                .flat_map(|left_out| left_out.keys.iter().copied()),
        )
        .collect()
}

/// The keys the toolkits own under each `[tenants.<id>]`.
pub fn tenant_setting_keys() -> Vec<&'static str> {
    ALL.iter()
        .filter_map(|builtin| builtin.settings.as_ref())
        .flat_map(|settings| settings.tenant_keys.iter().copied())
        .collect()
}

/// Loads the configuration (defaults, the file if any, `TIDEWAY_*`) and has every
/// toolkit read and check its own part.
pub fn load_config(file: Option<&std::path::Path>) -> Result<Config, ConfigError> {
    let sections = setting_keys();
    let tenant = tenant_setting_keys();
    let config = Config::load(
        file,
        OwnedKeys {
            sections: &sections,
            tenant: &tenant,
        },
    )?;
    for left_out in LEFT_OUT {
        if let Some(key) = left_out
            .keys
            .iter()
            .find(|key| config.sections.contains_key(**key))
        {
            return Err(ConfigError::Invalid(format!(
                "'{key}' cannot be used: {}",
                left_out.reason()
            )));
        }
    }
    for settings in ALL.iter().filter_map(|builtin| builtin.settings.as_ref()) {
        (settings.check)(&config)?;
    }
    Ok(config)
}

/// Every column where a toolkit keeps sealed secrets.
pub fn sealed_columns() -> Vec<&'static SealedColumn> {
    ALL.iter()
        .flat_map(|builtin| builtin.sealed.iter().copied())
        .collect()
}

/// Every toolkit's migrations (core adds its own and orders them by version).
pub fn migrations() -> Vec<Migration> {
    ALL.iter()
        .flat_map(|builtin| builtin.migrations.iter().copied())
        .collect()
}

/// How the toolkit called `name` is built; the error says why there is none.
fn builder(name: &str) -> Result<Build, String> {
    if let Some(left_out) = LEFT_OUT.iter().find(|left_out| left_out.name == name) {
        return Err(format!("toolkit '{name}': {}", left_out.reason()));
    }
    find(name).and_then(|builtin| builtin.build).ok_or_else(|| {
        format!(
            "unknown toolkit '{name}'; the built-in toolkits are: {}",
            registrable()
                .map(|builtin| builtin.name)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
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
    let shared = Shared {
        hub,
        store,
        config,
        master_key,
        databases: Arc::new({
            let databases =
                database::DatabaseService::from_config(store.clone(), master_key.clone(), config)
                    .map_err(|error| error.to_string())?;
            // The desk's data is SQL-readable where the desk itself is served.
            if names.iter().any(|name| name == support::BUILTIN.name) {
                databases.with_desk()
            } else {
                databases
            }
        }),
    };
    for name in &names {
        let build = builder(name)?;
        hub.register(build(&shared)?)
            .map_err(|error| error.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn names_and_tags_are_unique() {
        let names: BTreeSet<_> = ALL.iter().map(|builtin| builtin.name).collect();
        assert_eq!(names.len(), ALL.len(), "a toolkit name is listed twice");
        let tags: Vec<_> = ALL
            .iter()
            .filter_map(|builtin| builtin.rest.as_ref().map(|rest| rest.tag))
            .collect();
        let unique: BTreeSet<_> = tags.iter().collect();
        assert_eq!(unique.len(), tags.len(), "two toolkits share a REST tag");
    }

    #[test]
    fn every_migration_has_its_own_number_and_both_backends() {
        let collected =
            tideway_core::store::migrations::collect(&migrations()).expect("distinct versions");
        for migration in collected {
            assert!(
                !migration.sqlite.trim().is_empty() && !migration.postgres.trim().is_empty(),
                "migration {} ({}) lacks a backend's SQL",
                migration.version,
                migration.name
            );
        }
    }

    #[test]
    fn fixtures_are_off_and_the_rest_on_by_default() {
        let defaults = default_names();
        assert!(defaults.contains(&"support".to_string()));
        assert!(!defaults.contains(&"conformance".to_string()));
        assert!(!defaults.contains(&"synthetic".to_string()));
        assert!(
            !defaults.contains(&"upstream".to_string()),
            "the gateway registers its own toolkits"
        );
    }

    #[test]
    fn a_feature_gated_toolkit_is_listed_exactly_when_built() {
        let lakehouse = find("lakehouse");
        if cfg!(feature = "lakehouse") {
            assert_eq!(
                lakehouse.and_then(|builtin| builtin.feature),
                Some("lakehouse")
            );
        } else {
            assert!(lakehouse.is_none());
        }
        let ungated: Vec<&str> = ALL
            .iter()
            .filter(|builtin| builtin.feature.is_none())
            .map(|builtin| builtin.name)
            .collect();
        assert!(!ungated.contains(&"lakehouse"));
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    /// A configuration file written for the release before toolkits owned their
    /// sections: every section name it uses still loads, into each toolkit's types.
    const TODAYS_FILE: &str = r#"
bind = "127.0.0.1:9090"
default_tenant = "acme"

[limits]
call_timeout_secs = 30

[tenants.acme]
name = "Acme"
allow_private_database_hosts = true
[tenants.acme.models]
provider = "house"

[databases]
max_rows = 50
[databases.sources.crm]
kind = "postgres"
host = "db.internal"
user = "reader"
password_env = "CRM_PASSWORD"

[gateway]
call_timeout_secs = 20
reconcile_secs = 0

[[upstreams]]
name = "files"
command = "npx"
args = ["-y", "some-server"]

[models]
provider = "house"
[models.providers.house]
kind = "anthropic"
model = "a-model"
api_key_env = "HOUSE_KEY"

[lakehouse]
max_rows = 25

[[virtual_servers]]
name = "helpdesk"
tools = ["support.*"]
"#;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tideway.toml");
        std::fs::write(&path, text).expect("write");
        load_config(Some(&path))
    }

    #[test]
    fn a_configuration_file_from_the_previous_release_still_loads() {
        let config = load(TODAYS_FILE).expect("loads");
        assert_eq!(config.bind.port(), 9090);
        assert_eq!(config.limits.call_timeout_secs, 30);
        assert_eq!(
            database::settings::private_host_tenants(&config).expect("tenants"),
            ["acme"]
        );
        let tenant_models = models::settings::tenants_from_config(&config).expect("tenants");
        assert_eq!(tenant_models["acme"].provider.as_deref(), Some("house"));
        let databases = database::settings::from_config(&config).expect("databases");
        assert_eq!(databases.max_rows, 50);
        assert_eq!(
            databases.sources["crm"].password_env.as_deref(),
            Some("CRM_PASSWORD")
        );
        let gateway = upstream::settings::gateway(&config).expect("gateway");
        assert_eq!((gateway.call_timeout_secs, gateway.reconcile_secs), (20, 0));
        let upstreams = upstream::settings::upstreams(&config).expect("upstreams");
        assert_eq!(upstreams.len(), 1);
        assert_eq!(upstreams[0].args, ["-y", "some-server"]);
        let models = models::settings::from_config(&config).expect("models");
        assert_eq!(models.providers["house"].model, "a-model");
        #[cfg(feature = "lakehouse")]
        assert_eq!(
            lakehouse::settings::from_config(&config)
                .expect("lakehouse")
                .max_rows,
            25
        );
        assert_eq!(config.virtual_servers[0].name, "helpdesk");
    }

    #[test]
    fn mistakes_in_a_toolkits_section_are_refused_at_load_naming_it() {
        let typo = TODAYS_FILE.replace("max_rows = 50", "max_rowz = 50");
        let error = load(&typo).expect_err("typo").to_string();
        assert!(
            error.contains("databases") && error.contains("max_rowz"),
            "{error}"
        );
        let bad = TODAYS_FILE.replace("call_timeout_secs = 20", "call_timeout_secs = 0");
        let error = load(&bad).expect_err("zero").to_string();
        assert!(error.contains("gateway.call_timeout_secs"), "{error}");
        let twice = format!("{TODAYS_FILE}\n[[upstreams]]\nname = \"files\"\ncommand = \"x\"\n");
        let error = load(&twice).expect_err("twice").to_string();
        assert!(error.contains("used twice"), "{error}");
        let tenant_typo = TODAYS_FILE.replace(
            "provider = \"house\"\n\n[databases]",
            "provder = \"house\"\n\n[databases]",
        );
        let error = load(&tenant_typo).expect_err("tenant typo").to_string();
        assert!(
            error.contains("tenants.acme.models") && error.contains("provder"),
            "{error}"
        );
        let tenant_stranger = TODAYS_FILE.replace(
            "allow_private_database_hosts = true",
            "allow_private_database_hots = true",
        );
        let error = load(&tenant_stranger).expect_err("unknown").to_string();
        assert!(
            error.contains("unknown key 'allow_private_database_hots' in tenants.acme")
                && error.contains("allow_private_database_hosts"),
            "{error}"
        );
        let stranger = format!("{TODAYS_FILE}\n[widgets]\nsize = 1\n");
        let error = load(&stranger).expect_err("unknown").to_string();
        assert!(
            error.contains("unknown key 'widgets'") && error.contains("databases"),
            "{error}"
        );
    }

    #[test]
    fn a_left_out_toolkit_is_named_with_the_reason() {
        let left_out = LeftOut {
            name: "lakehouse",
            feature: "lakehouse",
            keys: &["lakehouse"],
        };
        let reason = left_out.reason();
        assert!(reason.contains("--features lakehouse"), "{reason}");
        let unknown = builder("lakehous").err().unwrap_or_default();
        assert!(unknown.contains("unknown toolkit 'lakehous'"), "{unknown}");
        if cfg!(feature = "lakehouse") {
            assert!(LEFT_OUT.is_empty());
            load(TODAYS_FILE).expect("the lakehouse section is its toolkit's");
        } else {
            let error = load(TODAYS_FILE).expect_err("left out").to_string();
            assert!(
                error.contains("'lakehouse' cannot be used")
                    && error.contains("--features lakehouse"),
                "{error}"
            );
            let error = builder("lakehouse").err().unwrap_or_default();
            assert!(error.contains("--features lakehouse"), "{error}");
        }
    }
}
