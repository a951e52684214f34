//! The store's schema as numbered migrations, each written for both backends. Core
//! owns the tables every toolkit shares (tenants, keys, audit); each toolkit keeps its
//! own migrations in its folder and hands them over through its descriptor. The
//! runner merges them by version, so the order is the same on every machine whatever
//! order the toolkits are listed in, and refuses two migrations with one number.
//!
//! Versions are global and never reused: a database records which versions it has
//! applied with a checksum of their SQL, so a migration file is never edited once it
//! has shipped; a change is a new migration with the next free number.

use std::collections::BTreeMap;

use sqlx::{
    SqlSafeStr,
    migrate::{Migration as SqlxMigration, MigrationType, Migrator},
};

use super::StoreError;

/// One schema change, in the SQL of each backend.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub version: i64,
    /// The file name's words, as recorded in `_sqlx_migrations.description`.
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// The tables core owns.
pub const CORE: &[Migration] = &[
    Migration {
        version: 1,
        name: "tenants",
        sqlite: include_str!("../../migrations/sqlite/0001_tenants.sql"),
        postgres: include_str!("../../migrations/postgres/0001_tenants.sql"),
    },
    Migration {
        version: 3,
        name: "security",
        sqlite: include_str!("../../migrations/sqlite/0003_security.sql"),
        postgres: include_str!("../../migrations/postgres/0003_security.sql"),
    },
    Migration {
        version: 10,
        name: "key_delegation",
        sqlite: include_str!("../../migrations/sqlite/0010_key_delegation.sql"),
        postgres: include_str!("../../migrations/postgres/0010_key_delegation.sql"),
    },
    Migration {
        version: 14,
        name: "store_probe",
        sqlite: include_str!("../../migrations/sqlite/0014_store_probe.sql"),
        postgres: include_str!("../../migrations/postgres/0014_store_probe.sql"),
    },
];

/// Core's migrations and the toolkits', in version order; two with one number are an
/// error that names both.
pub fn collect(toolkits: &[Migration]) -> Result<Vec<Migration>, StoreError> {
    let mut by_version: BTreeMap<i64, Migration> = BTreeMap::new();
    for migration in CORE.iter().chain(toolkits) {
        if let Some(claimed) = by_version.insert(migration.version, *migration) {
            return Err(StoreError::Migrate(format!(
                "migration version {} is claimed twice ('{}' and '{}'); give the newer one the next free number",
                migration.version, claimed.name, migration.name
            )));
        }
    }
    Ok(by_version.into_values().collect())
}

/// The runner for one backend.
pub(super) fn migrator(migrations: &[Migration], postgres: bool) -> Migrator {
    let mut migrator = Migrator::with_migrations(
        migrations
            .iter()
            .map(|migration| {
                let sql = if postgres {
                    migration.postgres
                } else {
                    migration.sqlite
                };
                SqlxMigration::new(
                    migration.version,
                    migration.name.replace('_', " ").into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    sql.starts_with("-- no-transaction"),
                )
            })
            .collect(),
    );
    // A binary built without an optional toolkit still opens a store that a fuller
    // build migrated; the tables it does not know stay as they are.
    migrator.set_ignore_missing(true);
    migrator
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collected_in_version_order_whatever_the_listing_order() {
        let later = Migration {
            version: 12,
            name: "later",
            sqlite: "",
            postgres: "",
        };
        let earlier = Migration {
            version: 2,
            ..later
        };
        let versions: Vec<i64> = collect(&[later, earlier])
            .expect("distinct")
            .iter()
            .map(|migration| migration.version)
            .collect();
        let mut expected: Vec<i64> = CORE.iter().map(|migration| migration.version).collect();
        expected.extend([2, 12]);
        expected.sort_unstable();
        assert_eq!(versions, expected);
    }

    #[test]
    fn a_number_used_twice_is_refused_with_both_names() {
        let clash = Migration {
            version: 3,
            name: "clash",
            sqlite: "",
            postgres: "",
        };
        let error = collect(&[clash]).expect_err("refused").to_string();
        assert!(
            error.contains("'security'") && error.contains("'clash'"),
            "{error}"
        );
    }
}
