//! Throwaway stores for tests, on both backends: SQLite in a temporary directory
//! always, and PostgreSQL when `TIDEWAY_TEST_POSTGRES_URL` names a database the test
//! command started. With `TIDEWAY_REQUIRE_POSTGRES=1` a missing PostgreSQL is a
//! failure rather than a skip, so CI cannot pass on SQLite alone. Only built with the
//! `testing` feature.

use super::Store;

/// A store that lives as long as this value (the SQLite file is removed on drop).
pub struct TestStore {
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
}

/// One empty, unmigrated store per available backend.
pub async fn test_stores() -> Vec<TestStore> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sqlite = Store::open(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("test.db").display()
    ))
    .await
    .expect("SQLite opens");
    let mut stores = vec![TestStore {
        store: sqlite,
        _dir: Some(dir),
    }];
    match std::env::var("TIDEWAY_TEST_POSTGRES_URL") {
        Ok(url) => stores.push(TestStore {
            store: Store::open(&fresh_postgres_database(&url).await)
                .await
                .expect("PostgreSQL opens"),
            _dir: None,
        }),
        Err(_) => assert!(
            std::env::var("TIDEWAY_REQUIRE_POSTGRES").is_err(),
            "TIDEWAY_REQUIRE_POSTGRES is set but TIDEWAY_TEST_POSTGRES_URL is not"
        ),
    }
    stores
}

/// A new, empty database next to the one `url` names, so tests running in parallel
/// never share state and the migrations really run.
pub async fn fresh_postgres_database(url: &str) -> String {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(url)
        .await
        .expect("an admin connection to the test PostgreSQL");
    let name = format!("tideway_t_{}", uuid::Uuid::new_v4().simple());
    // The name is a generated UUID, never input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("CREATE DATABASE");
    let base = url.rsplit_once('/').map(|(base, _)| base).unwrap_or(url);
    format!("{base}/{name}")
}
