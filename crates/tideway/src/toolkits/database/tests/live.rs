//! The database toolkit against real databases, through the Hub as every face calls
//! it: SQLite files always, and PostgreSQL when the test command started one. Each
//! target gets the same schema and the same suite: the source lifecycle and roles,
//! typed results and caps, the attack suite with the database state compared before
//! and after every case, the catalog, server-side cancellation, precise connection
//! failures, and sealed credentials. MySQL/MariaDB joins when the test command
//! started one (`TIDEWAY_TEST_MYSQL_URL`).

use std::{str::FromStr, sync::Arc, time::Duration};

use serde_json::{Value, json};
use sqlx::{
    Connection, MySqlConnection, PgConnection, SqliteConnection, mysql::MySqlConnectOptions,
    postgres::PgConnectOptions,
};
use tideway_core::{
    CallContext, Hub, HubError, Principal, Scope, TenantId,
    context::{Credential, Role},
    mcp::JsonObject,
    secrets::MasterKey,
    store::testing::{TestStore, fresh_postgres_database, test_stores},
};

use super::{
    super::{DatabaseService, DatabaseToolkit, model::SourceKind, settings::DatabasesConfig},
    ATTACKS, Expect,
};

const PASSWORD: &str = "Pw-9f8e7d6c5b4a-never-shown";

struct Fixture {
    hub: Arc<Hub>,
    service: Arc<DatabaseService>,
    store: TestStore,
    key: Arc<MasterKey>,
    _data_dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    fixture_with(DatabasesConfig {
        connect_timeout_secs: 3,
        ..DatabasesConfig::default()
    })
    .await
}

/// A Hub with the database toolkit over a fresh SQLite store with tenants acme and
/// globex; acme is the default tenant.
async fn fixture_with(config: DatabasesConfig) -> Fixture {
    let store = test_stores().await.remove(0);
    crate::toolkits::testing::prepare_store(&store.store, &["acme", "globex"]).await;
    let data_dir = tempfile::tempdir().expect("data dir");
    let key = Arc::new(MasterKey::generate().expect("key").0);
    let toolkit = Arc::new(DatabaseToolkit::new(Arc::new(DatabaseService::new(
        store.store.clone(),
        key.clone(),
        config,
        "acme".into(),
        data_dir.path().to_path_buf(),
    ))));
    let service = toolkit.service();
    let hub = Arc::new(Hub::new());
    hub.register(toolkit).expect("register");
    Fixture {
        hub,
        service,
        store,
        key,
        _data_dir: data_dir,
    }
}

fn ctx(tenant: &str, role: Role) -> CallContext {
    CallContext::new(
        TenantId::new(tenant),
        Principal::new(format!("{tenant}-{role:?}"), role, Credential::Local),
        "test",
    )
    .with_timeout(Duration::from_secs(300))
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(object) => object,
        other => panic!("not an object: {other}"),
    }
}

impl Fixture {
    async fn call(&self, ctx: &CallContext, tool: &str, args: Value) -> Result<Value, HubError> {
        let result = self
            .hub
            .call(ctx, "database", tool, Some(object(args)))
            .await?;
        Ok(crate::toolkits::testing::structured(
            &self.hub, "database", tool, result,
        ))
    }

    /// Runs the whole attack suite as a viewer against `connection_id`: each case
    /// refused (or cut off, where that is its expectation), and the database's state
    /// unchanged after every one.
    async fn attack(&self, target: &Target, connection_id: &str) {
        let before = target.state().await;
        for (sql, expect) in ATTACKS {
            let sql = &target.armed(sql);
            let attacker = ctx("acme", Role::Viewer).with_timeout(Duration::from_secs(2));
            let outcome = self
                .call(
                    &attacker,
                    "query_database",
                    json!({"connection_id": connection_id, "query": sql}),
                )
                .await;
            match (expect, &outcome) {
                (Expect::Refused, Err(HubError::InvalidArguments { field, .. })) => {
                    assert_eq!(field, "query", "{sql}")
                }
                // Cut off by the timeout, or bounded by the server itself (MariaDB
                // stops recursion at cte_max_recursion_depth): harmless either way.
                (Expect::Limited, _) => {}
                _ => panic!("{:?}: {sql} -> {outcome:?}", target.kind),
            }
            assert_eq!(
                target.state().await,
                before,
                "{:?}: {sql} changed the database",
                target.kind
            );
        }
    }
}

/// A real database with the test schema, and a way to read its state directly.
struct Target {
    kind: SourceKind,
    /// `connect_source` arguments without the name.
    args: Value,
    url: String,
    /// For PostgreSQL, a libpq connection string to the same database, which the
    /// dblink attacks use so that they would really write if the guard let them by.
    conninfo: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

const PG_SCHEMA: &[&str] = &[
    "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE, \
     balance numeric(30, 9), tags text[], profile jsonb, avatar bytea, \
     joined timestamptz DEFAULT '2026-01-02T03:04:05Z', external_id uuid)",
    "COMMENT ON TABLE customers IS 'People who buy'",
    "COMMENT ON COLUMN customers.name IS 'Full name'",
    "CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id), \
     total numeric(12, 2) NOT NULL, placed date)",
    "CREATE INDEX orders_customer ON orders (customer_id)",
    "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100",
    "INSERT INTO customers (name, email, balance, tags, profile, avatar, external_id) VALUES \
     ('Ada', 'ada@example.com', 12345678901234567890.123456789, '{a,b}', '{\"vip\": true}', '\\xdeadbeef', \
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'), \
     ('Bob', 'bob@example.com', NULL, '{}', NULL, NULL, NULL)",
    "INSERT INTO orders (customer_id, total, placed) VALUES (1, 250.50, '2026-03-01'), (1, 20, '2026-03-02'), (2, 99.99, NULL)",
    "CREATE SCHEMA many",
    "DO $$ BEGIN FOR i IN 1..30 LOOP EXECUTE format('CREATE TABLE many.t_%s (id int)', lpad(i::text, 3, '0')); END LOOP; END $$",
    "ANALYZE",
];

const SQLITE_SCHEMA: &[&str] = &[
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE, balance REAL, avatar BLOB)",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id), \
     total REAL NOT NULL, placed TEXT)",
    "CREATE INDEX orders_customer ON orders (customer_id)",
    "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100",
    "INSERT INTO customers (name, email, balance, avatar) VALUES ('Ada', 'ada@example.com', 1.5, x'deadbeef'), \
     ('Bob', 'bob@example.com', NULL, NULL)",
    "INSERT INTO orders (customer_id, total, placed) VALUES (1, 250.5, '2026-03-01'), (1, 20, '2026-03-02'), (2, 99.99, NULL)",
];

const MYSQL_SCHEMA: &[&str] = &[
    "CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL COMMENT 'Full name', \
     email VARCHAR(200) UNIQUE, balance DECIMAL(30, 9), avatar VARBINARY(16), \
     joined DATETIME DEFAULT '2026-01-02 03:04:05') COMMENT = 'People who buy'",
    "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, \
     total DECIMAL(12, 2) NOT NULL, placed DATE, INDEX orders_customer (customer_id), \
     CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id))",
    "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100",
    "INSERT INTO customers (name, email, balance, avatar) VALUES \
     ('Ada', 'ada@example.com', 12345678901234567890.123456789, x'deadbeef'), ('Bob', 'bob@example.com', NULL, NULL)",
    "INSERT INTO orders (customer_id, total, placed) VALUES (1, 250.50, '2026-03-01'), (1, 20, '2026-03-02'), (2, 99.99, NULL)",
];

/// A new, empty MySQL database next to the one `url` names.
async fn fresh_mysql_database(url: &str) -> String {
    let mut admin = MySqlConnection::connect(url)
        .await
        .expect("MySQL admin connection");
    let name = format!("tideway_t_{}", uuid::Uuid::new_v4().simple());
    // The name is a generated UUID, never input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("CREATE DATABASE");
    let _ = admin.close().await;
    let base = url.rsplit_once('/').map(|(base, _)| base).unwrap_or(url);
    format!("{base}/{name}")
}

async fn targets() -> Vec<Target> {
    let mut targets = Vec::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shop.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut connection = SqliteConnection::connect(&url).await.expect("sqlite");
    for statement in SQLITE_SCHEMA {
        sqlx::raw_sql(sqlx::AssertSqlSafe(*statement))
            .execute(&mut connection)
            .await
            .expect(statement);
    }
    for i in 1..=30 {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE t_{i:03} (id INTEGER)"
        )))
        .execute(&mut connection)
        .await
        .expect("table");
    }
    connection.close().await.expect("close");
    targets.push(Target {
        kind: SourceKind::Sqlite,
        args: json!({"kind": "sqlite", "path": path.display().to_string()}),
        url: format!("sqlite://{}", path.display()),
        conninfo: None,
        _dir: Some(dir),
    });
    if let Ok(admin) = std::env::var("TIDEWAY_TEST_POSTGRES_URL") {
        let url = fresh_postgres_database(&admin).await;
        let mut connection = PgConnection::connect(&url).await.expect("postgres");
        for statement in PG_SCHEMA {
            sqlx::raw_sql(sqlx::AssertSqlSafe(*statement))
                .execute(&mut connection)
                .await
                .expect(statement);
        }
        let options = PgConnectOptions::from_str(&url).expect("url");
        // dblink present, as in many real deployments; proven armed: run directly it
        // opens a session of its own that could write.
        let conninfo = format!(
            "host={} port={} dbname={} user={}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default(),
            options.get_username()
        );
        sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS dblink")
            .execute(&mut connection)
            .await
            .expect("dblink");
        sqlx::query("SELECT dblink_exec($1, 'SET application_name = armed')")
            .bind(&conninfo)
            .execute(&mut connection)
            .await
            .expect("dblink works when run directly");
        connection.close().await.expect("close");
        targets.push(Target {
            kind: SourceKind::Postgres,
            args: json!({
                "kind": "postgres",
                "host": options.get_host(),
                "port": options.get_port(),
                "database": options.get_database(),
                "user": options.get_username(),
                "password": PASSWORD,
                "ssl_mode": "disable",
                // The test cluster's role is a superuser: the operator accepts it, so
                // the attack suite proves the guard alone holds.
                "allow_privileged_role": true,
            }),
            url,
            conninfo: Some(conninfo),
            _dir: None,
        });
    }
    match std::env::var("TIDEWAY_TEST_MYSQL_URL") {
        Ok(admin) => {
            let url = fresh_mysql_database(&admin).await;
            let mut connection = MySqlConnection::connect(&url).await.expect("mysql");
            for statement in MYSQL_SCHEMA {
                sqlx::raw_sql(sqlx::AssertSqlSafe(*statement))
                    .execute(&mut connection)
                    .await
                    .expect(statement);
            }
            for i in 1..=30 {
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE TABLE t_{i:03} (id INT)"
                )))
                .execute(&mut connection)
                .await
                .expect("table");
            }
            connection.close().await.expect("close");
            let options = MySqlConnectOptions::from_str(&url).expect("url");
            let password = url
                .split_once("://")
                .and_then(|(_, rest)| rest.split_once('@'))
                .and_then(|(credentials, _)| credentials.split_once(':'))
                .map(|(_, password)| password.to_string())
                .unwrap_or_default();
            targets.push(Target {
                kind: SourceKind::Mysql,
                args: json!({
                    "kind": "mysql",
                    "host": options.get_host(),
                    "port": options.get_port(),
                    "database": options.get_database(),
                    "user": options.get_username(),
                    "password": password,
                    "ssl_mode": "disable",
                    "allow_privileged_role": true,
                }),
                url,
                conninfo: None,
                _dir: None,
            });
        }
        Err(_) => assert!(
            std::env::var("TIDEWAY_REQUIRE_MYSQL").is_err(),
            "TIDEWAY_REQUIRE_MYSQL is set but TIDEWAY_TEST_MYSQL_URL is not"
        ),
    }
    targets
}

impl Target {
    /// `sql` with its dblink connection strings pointing at this very database.
    fn armed(&self, sql: &str) -> String {
        match &self.conninfo {
            Some(conninfo) => sql
                .replace("'dbname=tideway_test'", &format!("'{conninfo}'"))
                .replace("'host=127.0.0.1'", &format!("'{conninfo}'")),
            None => sql.to_string(),
        }
    }

    /// How many of the deadline test's sleeping statements the server is running.
    async fn running_sleeps(&self) -> i64 {
        match self.kind {
            SourceKind::Postgres => {
                let mut connection = PgConnection::connect(&self.url).await.expect("connect");
                let (running,): (i64,) = sqlx::query_as(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'",
                )
                .fetch_one(&mut connection)
                .await
                .expect("activity");
                running
            }
            SourceKind::Mysql => {
                let mut connection = MySqlConnection::connect(&self.url).await.expect("connect");
                let (running,): (i64,) = sqlx::query_as(
                    "SELECT count(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(30)%'",
                )
                .fetch_one(&mut connection)
                .await
                .expect("processlist");
                running
            }
            SourceKind::Sqlite => 0,
        }
    }

    fn connect_args(&self, name: &str) -> Value {
        let mut args = self.args.clone();
        args["name"] = json!(name);
        args
    }

    /// Everything an attack could change: the rows, the tables, the sequence.
    async fn state(&self) -> String {
        match self.kind {
            SourceKind::Postgres => {
                let mut connection = PgConnection::connect(&self.url).await.expect("connect");
                let (state,): (String,) = sqlx::query_as(
                    "SELECT (SELECT string_agg(row(c.*)::text, '|' ORDER BY id) FROM customers c) \
                     || '#' || (SELECT string_agg(row(o.*)::text, '|' ORDER BY id) FROM orders o) \
                     || '#' || (SELECT string_agg(table_schema || '.' || table_name, ',' ORDER BY 1) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')) \
                     || '#' || (SELECT last_value::text || is_called::text FROM customers_id_seq) \
                     || '#' || (SELECT count(*)::text FROM pg_largeobject_metadata) \
                     || '#' || current_setting('default_transaction_read_only')",
                )
                .fetch_one(&mut connection)
                .await
                .expect("state");
                let _ = connection.close().await;
                state
            }
            SourceKind::Mysql => {
                let mut connection = MySqlConnection::connect(&self.url).await.expect("connect");
                let (state,): (String,) = sqlx::query_as(
                    "SELECT CONCAT_WS('#', \
                     (SELECT GROUP_CONCAT(CONCAT_WS(',', id, name, email, balance) ORDER BY id SEPARATOR '|') FROM customers), \
                     (SELECT GROUP_CONCAT(CONCAT_WS(',', id, total) ORDER BY id SEPARATOR '|') FROM orders), \
                     (SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables WHERE table_schema = DATABASE()), \
                     (SELECT MAX(id) FROM customers))",
                )
                .fetch_one(&mut connection)
                .await
                .expect("state");
                let _ = connection.close().await;
                state
            }
            SourceKind::Sqlite => {
                let mut connection = SqliteConnection::connect(&self.url).await.expect("connect");
                let (state,): (String,) = sqlx::query_as(
                    "SELECT (SELECT group_concat(id || ',' || name || ',' || coalesce(email, '') || ',' || coalesce(balance, ''), '|') FROM customers) \
                     || '#' || (SELECT group_concat(id || ',' || total, '|') FROM orders) \
                     || '#' || (SELECT group_concat(type || ':' || name, ',') FROM sqlite_master)",
                )
                .fetch_one(&mut connection)
                .await
                .expect("state");
                let _ = connection.close().await;
                state
            }
        }
    }
}

#[tokio::test]
async fn a_bad_kind_or_ssl_mode_is_named_with_every_allowed_value() {
    let fixture = fixture().await;
    let admin = ctx("acme", Role::Admin);
    for (arguments, field, allowed) in [
        (
            json!({"name": "shop", "kind": "oracle", "host": "db.example.com", "database": "shop"}),
            "kind",
            &["'postgres'", "'mysql'", "'sqlite'", "got 'oracle'"][..],
        ),
        (
            json!({"name": "shop", "kind": "postgres", "host": "db.example.com", "database": "shop",
                   "ssl_mode": "strict"}),
            "ssl_mode",
            &[
                "'disable'",
                "'prefer'",
                "'require'",
                "'verify-ca'",
                "'verify-full'",
                "got 'strict'",
            ][..],
        ),
    ] {
        match fixture.call(&admin, "connect_source", arguments).await {
            Err(HubError::InvalidArguments {
                field: named,
                message,
            }) => {
                assert_eq!(named, field);
                assert!(message.starts_with("must be one of"), "{message}");
                for needle in allowed {
                    assert!(message.contains(needle), "{message} lacks {needle}");
                }
            }
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn sources_are_registered_tested_listed_and_removed_per_tenant() {
    let fixture = fixture().await;
    let admin = ctx("acme", Role::Admin);
    for target in targets().await {
        let label = format!("{:?}", target.kind);
        let connected = fixture
            .call(&admin, "connect_source", target.connect_args("shop"))
            .await
            .expect("connect");
        assert_eq!(connected["test"]["ok"], json!(true), "{label}: {connected}");
        assert!(
            connected["test"]["server_version"]
                .as_str()
                .is_some_and(|v| v.contains(match target.kind {
                    SourceKind::Sqlite => "SQLite",
                    SourceKind::Postgres => "PostgreSQL",
                    SourceKind::Mysql => "M",
                })),
            "{label}: {connected}"
        );
        assert_eq!(connected["replaced"], json!(false));

        let listed = fixture
            .call(&admin, "list_sources", json!({}))
            .await
            .expect("list");
        assert_eq!(listed["sources"][0]["id"], json!("shop"), "{label}");
        assert_eq!(listed["sources"][0]["origin"], json!("registered"));

        let tested = fixture
            .call(
                &ctx("acme", Role::Viewer),
                "test_connection",
                json!({"connection_id": "shop"}),
            )
            .await
            .expect("test");
        assert_eq!(tested["ok"], json!(true));
        assert!(tested["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0));

        // The same name again is a conflict unless replacing.
        let again = fixture
            .call(&admin, "connect_source", target.connect_args("shop"))
            .await
            .expect_err("duplicate");
        assert!(matches!(again, HubError::Conflict(_)), "{again}");
        let mut replace = target.connect_args("shop");
        replace["replace"] = json!(true);
        let replaced = fixture
            .call(&admin, "connect_source", replace)
            .await
            .expect("replace");
        assert_eq!(replaced["replaced"], json!(true));

        // Only admins register and remove; viewers and operators are refused.
        for role in [Role::Viewer, Role::Operator] {
            let refused = fixture
                .call(
                    &ctx("acme", role),
                    "connect_source",
                    target.connect_args("other"),
                )
                .await
                .expect_err("not an admin");
            assert!(
                matches!(refused, HubError::Forbidden(_)),
                "{role:?}: {refused}"
            );
            let refused = fixture
                .call(
                    &ctx("acme", role),
                    "remove_source",
                    json!({"connection_id": "shop"}),
                )
                .await
                .expect_err("not an admin");
            assert!(
                matches!(refused, HubError::Forbidden(_)),
                "{role:?}: {refused}"
            );
        }

        // Another tenant sees nothing, cannot use the name, and cannot learn it exists.
        let globex = ctx("globex", Role::Admin);
        let theirs = fixture
            .call(&globex, "list_sources", json!({}))
            .await
            .expect("list");
        assert_eq!(theirs["sources"], json!([]));
        for (tool, args) in [
            ("test_connection", json!({"connection_id": "shop"})),
            (
                "query_database",
                json!({"connection_id": "shop", "query": "SELECT 1"}),
            ),
            (
                "describe_table",
                json!({"connection_id": "shop", "table": "customers"}),
            ),
            ("remove_source", json!({"connection_id": "shop"})),
        ] {
            let error = fixture
                .call(&globex, tool, args)
                .await
                .expect_err("isolated");
            assert!(matches!(error, HubError::NotFound(_)), "{tool}: {error}");
        }
        // With one source, the connection id may be left out.
        let rows = fixture
            .call(
                &admin,
                "query_database",
                json!({"query": "SELECT count(*) AS n FROM customers"}),
            )
            .await
            .expect("query");
        assert_eq!(rows["rows"], json!([[2]]), "{label}");
        // Every store names a type for a computed column (SQLite says NULL itself).
        let type_name = rows["columns"][0]["type"].as_str().unwrap_or_default();
        assert!(
            !type_name.is_empty() && type_name != "NULL",
            "{label}: {rows}"
        );

        let removed = fixture
            .call(&admin, "remove_source", json!({"connection_id": "shop"}))
            .await
            .expect("remove");
        assert_eq!(removed["removed"], json!(true));
        let gone = fixture
            .call(&admin, "test_connection", json!({"connection_id": "shop"}))
            .await
            .expect_err("removed");
        assert!(matches!(gone, HubError::NotFound(_)));
    }
}

#[tokio::test]
async fn queries_return_typed_rows_with_caps_and_bound_parameters() {
    let fixture = fixture().await;
    let admin = ctx("acme", Role::Admin);
    let viewer = ctx("acme", Role::Viewer);
    for target in targets().await {
        fixture
            .call(&admin, "connect_source", target.connect_args("shop"))
            .await
            .expect("connect");
        let result = fixture
            .call(
                &viewer,
                "query_database",
                json!({"connection_id": "shop", "query": "SELECT * FROM customers ORDER BY id"}),
            )
            .await
            .expect("query");
        assert_eq!(result["row_count"], json!(2));
        assert_eq!(result["truncated"], json!(false));
        let columns: Vec<&str> = result["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(&columns[..3], ["id", "name", "email"]);
        let ada = &result["rows"][0];
        match target.kind {
            SourceKind::Postgres => {
                assert_eq!(
                    ada[3],
                    json!("12345678901234567890.123456789"),
                    "numeric keeps every digit"
                );
                assert_eq!(ada[4], json!(["a", "b"]));
                assert_eq!(ada[5], json!({"vip": true}));
                assert_eq!(ada[6], json!("\\xdeadbeef"));
                assert_eq!(ada[7], json!("2026-01-02T03:04:05Z"));
                assert_eq!(ada[8], json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
                assert_eq!(result["rows"][1][3], Value::Null);
                assert_eq!(result["columns"][3]["type"], json!("NUMERIC"));
            }
            SourceKind::Mysql => {
                assert_eq!(ada[3], json!("12345678901234567890.123456789"));
                assert_eq!(ada[4], json!("\\xdeadbeef"));
                assert_eq!(ada[5], json!("2026-01-02T03:04:05"));
            }
            SourceKind::Sqlite => {
                assert_eq!(ada[3], json!(1.5));
                assert_eq!(ada[4], json!("\\xdeadbeef"));
            }
        }
        let placeholder = if target.kind == SourceKind::Mysql {
            "?"
        } else {
            "$1"
        };
        // Bound parameters, and the row cap with its flag.
        let bound = fixture
            .call(
                &viewer,
                "query_database",
                json!({"connection_id": "shop", "query": format!("SELECT name FROM customers WHERE id = {placeholder}"), "params": [2]}),
            )
            .await
            .expect("bound");
        assert_eq!(bound["rows"], json!([["Bob"]]));
        let capped = fixture
            .call(
                &viewer,
                "query_database",
                json!({"connection_id": "shop", "query": "SELECT id FROM orders ORDER BY id", "max_rows": 2}),
            )
            .await
            .expect("capped");
        assert_eq!(capped["rows"], json!([[1], [2]]));
        assert_eq!(capped["truncated"], json!(true));
        assert_eq!(capped["row_cap"], json!(2));
        // An empty result still names its columns; the seed's `params: {}` is accepted.
        let empty = fixture
            .call(
                &viewer,
                "query_database",
                json!({"connection_id": "shop", "query": "SELECT id, name FROM customers WHERE id < 0", "params": {}}),
            )
            .await
            .expect("empty");
        assert_eq!(empty["row_count"], json!(0));
        assert_eq!(empty["columns"][1]["name"], json!("name"));
        // A database error is the caller's to fix, and says what the database said.
        let error = fixture
            .call(
                &viewer,
                "query_database",
                json!({"connection_id": "shop", "query": "SELECT no_such_column FROM customers"}),
            )
            .await
            .expect_err("bad column");
        assert!(
            matches!(error, HubError::InvalidArguments { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("no_such_column"), "{error}");
        // Explain gives a plan.
        let plan = fixture
            .call(
                &viewer,
                "explain_query",
                json!({"connection_id": "shop", "query": "SELECT * FROM orders WHERE customer_id = 1"}),
            )
            .await
            .expect("explain");
        assert!(!plan["plan"].is_null(), "{plan}");
        fixture
            .call(&admin, "remove_source", json!({"connection_id": "shop"}))
            .await
            .expect("remove");
    }
}

#[tokio::test]
async fn every_attack_is_refused_or_cut_off_and_changes_nothing() {
    let fixture = fixture().await;
    let admin = ctx("acme", Role::Admin);
    for target in targets().await {
        fixture
            .call(&admin, "connect_source", target.connect_args("shop"))
            .await
            .expect("connect");
        fixture.attack(&target, "shop").await;
        fixture
            .call(&admin, "remove_source", json!({"connection_id": "shop"}))
            .await
            .expect("remove");
    }
}

#[tokio::test]
async fn catalog_lists_pages_and_describes() {
    let fixture = fixture().await;
    let admin = ctx("acme", Role::Admin);
    for target in targets().await {
        fixture
            .call(&admin, "connect_source", target.connect_args("shop"))
            .await
            .expect("connect");
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut args = json!({"connection_id": "shop", "limit": 10});
            if let Some(cursor) = &cursor {
                args["cursor"] = json!(cursor);
            }
            let page = fixture
                .call(&admin, "list_source_tables", args)
                .await
                .expect("page");
            pages += 1;
            for table in page["tables"].as_array().expect("tables") {
                names.push(format!(
                    "{}.{}",
                    table["schema"].as_str().unwrap_or(""),
                    table["name"].as_str().unwrap_or("")
                ));
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        assert_eq!(names.len(), 33, "{:?}: {names:?}", target.kind);
        assert!(pages >= 4);
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "pages overlap");
        let filtered = fixture
            .call(&admin, "list_source_tables", json!({"filter": "ORDER"}))
            .await
            .expect("filter");
        let filtered: Vec<&str> = filtered["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(filtered, ["big_orders", "orders"], "{:?}", target.kind);

        let orders = fixture
            .call(&admin, "describe_table", json!({"table": "orders"}))
            .await
            .expect("describe");
        assert_eq!(orders["primary_key"], json!(["id"]));
        assert_eq!(orders["foreign_keys"][0]["columns"], json!(["customer_id"]));
        assert_eq!(
            orders["foreign_keys"][0]["references_table"],
            json!("customers")
        );
        assert_eq!(
            orders["foreign_keys"][0]["references_columns"],
            json!(["id"])
        );
        let index = orders["indexes"]
            .as_array()
            .expect("indexes")
            .iter()
            .find(|i| i["name"] == json!("orders_customer"))
            .expect("the index");
        assert_eq!(index["columns"], json!(["customer_id"]));
        let total = orders["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .find(|c| c["name"] == json!("total"))
            .expect("total");
        assert_eq!(total["nullable"], json!(false));
        if target.kind == SourceKind::Postgres {
            assert_eq!(total["type"], json!("numeric(12,2)"));
            let customers = fixture
                .call(
                    &admin,
                    "describe_table",
                    json!({"table_name": "public.customers"}),
                )
                .await
                .expect("describe");
            assert_eq!(customers["comment"], json!("People who buy"));
            assert_eq!(customers["columns"][1]["comment"], json!("Full name"));
            assert_eq!(customers["estimated_rows"], json!(2));
        }
        let missing = fixture
            .call(&admin, "describe_table", json!({"table": "nope"}))
            .await
            .expect_err("missing");
        assert!(matches!(missing, HubError::NotFound(_)));

        let overview = fixture
            .call(&admin, "get_schema_overview", json!({"max_chars": 500}))
            .await
            .expect("overview");
        assert_eq!(overview["table_count"], json!(33));
        assert_eq!(overview["truncated"], json!(true));
        let lines = overview["tables"].as_array().expect("lines");
        assert!(
            !lines.is_empty()
                && lines
                    .iter()
                    .map(|l| l.as_str().unwrap_or("").len())
                    .sum::<usize>()
                    <= 500
        );

        // Resources over the same data.
        let schema = match target.kind {
            SourceKind::Postgres => "public".to_string(),
            SourceKind::Mysql => target.args["database"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            SourceKind::Sqlite => "main".to_string(),
        };
        let uri = format!("datasource://shop/tables/{schema}.orders/schema");
        let read = fixture
            .hub
            .read_resource(&admin, &Scope::Toolkit("database".into()), &uri)
            .await
            .expect("resource");
        assert!(format!("{read:?}").contains("customer_id"));
        fixture
            .call(&admin, "remove_source", json!({"connection_id": "shop"}))
            .await
            .expect("remove");
    }
}

#[tokio::test]
async fn a_deadline_or_cancellation_stops_the_query_on_the_server() {
    let fixture = fixture().await;
    let admin = ctx("acme", Role::Admin);
    for target in targets().await {
        fixture
            .call(&admin, "connect_source", target.connect_args("shop"))
            .await
            .expect("connect");
        let slow = match target.kind {
            SourceKind::Postgres => "SELECT pg_sleep(30)",
            SourceKind::Mysql => "SELECT SLEEP(30)",
            _ => {
                "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
            }
        };
        let started = std::time::Instant::now();
        let short = ctx("acme", Role::Viewer).with_timeout(Duration::from_secs(1));
        let error = fixture
            .call(&short, "query_database", json!({"query": slow}))
            .await
            .expect_err("deadline");
        assert!(
            matches!(error, HubError::DeadlineExceeded(_)),
            "{:?}: {error}",
            target.kind
        );
        assert!(started.elapsed() < Duration::from_secs(10));

        let cancel = tokio_util::sync::CancellationToken::new();
        let cancelled_ctx = ctx("acme", Role::Viewer).with_cancellation(cancel.clone());
        let call = fixture.call(&cancelled_ctx, "query_database", json!({"query": slow}));
        let trigger = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            cancel.cancel();
        };
        let (outcome, ()) = tokio::join!(call, trigger);
        assert!(outcome.is_err(), "{:?}", target.kind);
        // The call returns at once; the cancel reaches the server from a detached task
        // moments later. Wait (bounded) for the statement to be gone, not just abandoned:
        // a pg_sleep(30) or SLEEP(30) still there after 10 s was never cancelled.
        if target.kind != SourceKind::Sqlite {
            let mut running = -1;
            for _ in 0..100 {
                running = target.running_sleeps().await;
                if running == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(
                running, 0,
                "{:?}: the sleeping query is still running",
                target.kind
            );
        }
        // The pool is healthy afterwards.
        let after = fixture
            .call(
                &admin,
                "query_database",
                json!({"query": "SELECT 1 AS one"}),
            )
            .await
            .expect("healthy");
        assert_eq!(after["rows"], json!([[1]]));
        fixture
            .call(&admin, "remove_source", json!({"connection_id": "shop"}))
            .await
            .expect("remove");
    }
}

#[tokio::test]
async fn connection_failures_say_precisely_what_failed() {
    let fixture = fixture().await;
    let admin = ctx("acme", Role::Admin);
    let free_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let mut cases = vec![
        (
            json!({"name": "refused", "kind": "postgres", "host": "127.0.0.1", "port": free_port,
                   "database": "x", "user": "x", "ssl_mode": "disable"}),
            "refused",
        ),
        (
            json!({"name": "dns", "kind": "mysql", "host": "no-such-host.invalid",
                   "database": "x", "user": "x", "ssl_mode": "disable"}),
            "dns",
        ),
        (
            json!({"name": "nofile", "kind": "sqlite", "path": "/nonexistent/tideway/shop.db"}),
            "file-missing",
        ),
    ];
    for target in targets().await {
        if target.kind != SourceKind::Sqlite {
            let mut args = target.connect_args(&format!("nodb-{}", target.kind.as_str()));
            args["database"] = json!("no_such_database");
            cases.push((args, "database-missing"));
        }
        if target.kind == SourceKind::Postgres {
            // The test command's PostgreSQL serves TLS with a self-signed certificate:
            // `require` connects, `verify-full` must name TLS as the failure.
            let mut connection = PgConnection::connect(&target.url).await.expect("connect");
            let (ssl,): (String,) = sqlx::query_as("SHOW ssl")
                .fetch_one(&mut connection)
                .await
                .expect("ssl");
            if ssl == "on" {
                let mut args = target.connect_args("tls-untrusted");
                args["ssl_mode"] = json!("verify-full");
                cases.push((args, "tls"));
                let mut required = target.connect_args("tls-required");
                required["ssl_mode"] = json!("require");
                let connected = fixture
                    .call(&admin, "connect_source", required)
                    .await
                    .expect("connect");
                assert_eq!(connected["test"]["ok"], json!(true), "{connected}");
            } else {
                assert!(
                    std::env::var("TIDEWAY_REQUIRE_POSTGRES").is_err(),
                    "the test command's PostgreSQL must serve TLS"
                );
            }
        }
        if target.kind == SourceKind::Mysql {
            // PostgreSQL in the tests trusts local connections; MariaDB checks passwords.
            let mut args = target.connect_args("wrongpw");
            args["password"] = json!("not-the-password");
            cases.push((args, "auth"));
        }
    }
    for (args, kind) in cases {
        let connected = fixture
            .call(&admin, "connect_source", args.clone())
            .await
            .expect("kept");
        assert_eq!(connected["test"]["ok"], json!(false), "{args}");
        assert_eq!(
            connected["test"]["failure"]["kind"],
            json!(kind),
            "{connected}"
        );
        let hint = connected["test"]["failure"]["hint"]
            .as_str()
            .unwrap_or_default();
        assert!(hint.len() > 20, "{hint}");
        if kind == "tls" {
            assert!(hint.contains("ssl_mode verify-full"), "{hint}");
        }
        let prompt = fixture
            .hub
            .get_prompt(
                &admin,
                &Scope::Toolkit("database".into()),
                "troubleshoot_connection",
                Some(object(
                    json!({"connection_id": args["name"], "last_error": "it broke"}),
                )),
            )
            .await
            .expect("prompt");
        let text = format!("{prompt:?}");
        assert!(text.contains("FAILED"), "{text}");
    }
}

#[tokio::test]
async fn credentials_are_sealed_at_rest_never_returned_and_survive_rotation() {
    for target in targets().await {
        if target.kind == SourceKind::Sqlite {
            continue;
        }
        credentials_are_sealed(&target).await;
    }
}

async fn credentials_are_sealed(target: &Target) {
    let fixture = fixture().await;
    let admin = ctx("acme", Role::Admin);
    let mut args = target.connect_args("crm");
    // PostgreSQL in the tests trusts local connections, so any password works there;
    // MariaDB's is the real one.
    if target.kind == SourceKind::Postgres {
        args["password"] = json!(PASSWORD);
    }
    let password = args["password"].as_str().unwrap_or_default().to_string();
    assert!(password.len() >= 8);
    let mut outputs = Vec::new();
    outputs.push(
        fixture
            .call(&admin, "connect_source", args)
            .await
            .expect("connect"),
    );
    assert_eq!(outputs[0]["test"]["ok"], json!(true), "{}", outputs[0]);
    outputs.push(
        fixture
            .call(&admin, "list_sources", json!({}))
            .await
            .expect("list"),
    );
    outputs.push(
        fixture
            .call(&admin, "test_connection", json!({"connection_id": "crm"}))
            .await
            .expect("test"),
    );
    outputs.push(
        fixture
            .call(
                &admin,
                "query_database",
                json!({"query": "SELECT current_user"}),
            )
            .await
            .expect("query"),
    );
    let error = fixture
        .call(
            &admin,
            "query_database",
            json!({"query": format!("SELECT no_such_column_{} FROM customers", password.replace('-', "_"))}),
        )
        .await
        .expect_err("a failing query naming the password");
    outputs.push(json!(error.to_string()));
    for output in &outputs {
        assert!(
            !output.to_string().contains(&password),
            "the password leaked: {output}"
        );
    }
    assert_eq!(outputs[1]["sources"][0]["has_password"], json!(true));

    // At rest: sealed, bound to its tenant and name, opening only under the key.
    let tideway_core::Store::Sqlite(pool) = &fixture.store.store else {
        panic!("the fixture store is SQLite");
    };
    let (secret, settings): (String, String) =
        sqlx::query_as("SELECT secret, settings FROM sources WHERE name = 'crm'")
            .fetch_one(pool)
            .await
            .expect("row");
    assert!(!secret.contains(&password) && !settings.contains(&password));
    assert!(secret.starts_with("tw1:"));
    assert_eq!(
        fixture
            .key
            .open(&secret, "source:acme:crm")
            .expect("opens")
            .as_str(),
        password
    );
    assert!(fixture.key.open(&secret, "source:globex:crm").is_err());

    // Rotation re-seals every secret; the old key no longer opens them.
    let (new_key, _) = MasterKey::generate().expect("key");
    let resealed = fixture
        .store
        .store
        .reseal_all(&crate::toolkits::sealed_columns(), &fixture.key, &new_key)
        .await
        .expect("reseal");
    assert_eq!(resealed, 1);
    let (secret,): (String,) = sqlx::query_as("SELECT secret FROM sources WHERE name = 'crm'")
        .fetch_one(pool)
        .await
        .expect("row");
    assert_eq!(
        new_key
            .open(&secret, "source:acme:crm")
            .expect("opens")
            .as_str(),
        password
    );
    assert!(fixture.key.open(&secret, "source:acme:crm").is_err());
    assert_eq!(fixture.service.open_pools(), 1);
}

#[tokio::test]
async fn writes_need_a_read_write_source_and_an_operator() {
    let fixture = fixture().await;
    let admin = ctx("acme", Role::Admin);
    for target in targets().await {
        fixture
            .call(&admin, "connect_source", target.connect_args("ro"))
            .await
            .expect("connect");
        let mut rw = target.connect_args("rw");
        rw["read_write"] = json!(true);
        fixture
            .call(&admin, "connect_source", rw)
            .await
            .expect("connect rw");
        let before = target.state().await;
        let insert = "INSERT INTO orders (customer_id, total) VALUES (2, 5)";
        let refused = fixture
            .call(
                &ctx("acme", Role::Operator),
                "execute_statement",
                json!({"connection_id": "ro", "query": insert}),
            )
            .await
            .expect_err("read-only source");
        assert!(matches!(refused, HubError::Forbidden(_)), "{refused}");
        let viewer = fixture
            .call(
                &ctx("acme", Role::Viewer),
                "execute_statement",
                json!({"connection_id": "rw", "query": insert}),
            )
            .await
            .expect_err("viewer");
        assert!(matches!(viewer, HubError::Forbidden(_)), "{viewer}");
        // Through query_database even a read-write source only reads.
        let read_only = fixture
            .call(
                &ctx("acme", Role::Operator),
                "query_database",
                json!({"connection_id": "rw", "query": insert}),
            )
            .await
            .expect_err("query_database reads");
        assert!(matches!(read_only, HubError::InvalidArguments { .. }));
        assert_eq!(target.state().await, before);

        let written = fixture
            .call(
                &ctx("acme", Role::Operator),
                "execute_statement",
                json!({"connection_id": "rw", "query": insert}),
            )
            .await
            .expect("write");
        assert_eq!(
            written["rows_affected"],
            json!(1),
            "{:?}: {written}",
            target.kind
        );
        assert_ne!(target.state().await, before);
        let escape = fixture
            .call(
                &ctx("acme", Role::Operator),
                "execute_statement",
                json!({"connection_id": "rw", "query": "COMMIT"}),
            )
            .await
            .expect_err("transaction control");
        assert!(matches!(escape, HubError::InvalidArguments { .. }));
        for name in ["ro", "rw"] {
            fixture
                .call(&admin, "remove_source", json!({"connection_id": name}))
                .await
                .expect("remove");
        }
    }
}

#[tokio::test]
async fn a_large_result_stops_at_the_cap_and_a_restarted_server_heals() {
    let fixture = fixture().await;
    let admin = ctx("acme", Role::Admin);
    for target in targets().await {
        fixture
            .call(&admin, "connect_source", target.connect_args("shop"))
            .await
            .expect("connect");
        // Millions of rows on the server; five come back, and the rest is not read.
        let huge = match target.kind {
            SourceKind::Postgres => "SELECT g, repeat('x', 100) FROM generate_series(1, 5000000) g",
            _ => {
                "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 5000000) \
                 SELECT n, 'xxxxxxxxxx' FROM g"
            }
        };
        let capped = fixture
            .call(
                &admin,
                "query_database",
                json!({"query": huge, "max_rows": 5}),
            )
            .await
            .expect("capped");
        assert_eq!(capped["row_count"], json!(5), "{:?}", target.kind);
        assert_eq!(capped["truncated"], json!(true));
        assert_eq!(capped["rows"][4][0], json!(5));

        if target.kind != SourceKind::Sqlite {
            // Kill every connection Tideway holds, as a restart would; the next call
            // gets a fresh connection instead of an error. Only this test's own
            // database: other tests run beside it on the same server.
            let kill = match target.kind {
                SourceKind::Postgres => {
                    let mut connection = PgConnection::connect(&target.url).await.expect("connect");
                    sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = 'tideway' AND datname = current_database() \
                         AND pid <> pg_backend_pid()",
                    )
                    .execute(&mut connection)
                    .await
                    .expect("terminate")
                    .rows_affected()
                }
                _ => {
                    let mut connection = MySqlConnection::connect(&target.url)
                        .await
                        .expect("connect");
                    let ids: Vec<(i64,)> = sqlx::query_as(
                        "SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()",
                    )
                    .fetch_all(&mut connection)
                    .await
                    .expect("processlist");
                    for (id,) in &ids {
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL {id}")))
                            .execute(&mut connection)
                            .await;
                    }
                    ids.len() as u64
                }
            };
            assert!(kill >= 1, "{:?}: the pool held no connection", target.kind);
            let healed = fixture
                .call(
                    &admin,
                    "query_database",
                    json!({"query": "SELECT 7 AS seven"}),
                )
                .await
                .expect("the pool heals");
            assert_eq!(healed["rows"], json!([[7]]));
        }
        fixture
            .call(&admin, "remove_source", json!({"connection_id": "shop"}))
            .await
            .expect("remove");
    }
}

#[tokio::test]
async fn sources_declared_in_the_configuration_are_served_read_only_through_the_api() {
    let targets = targets().await;
    let sqlite = targets
        .iter()
        .find(|target| target.kind == SourceKind::Sqlite)
        .expect("always a SQLite target");
    let mut config = DatabasesConfig::default();
    config.sources.insert(
        "warehouse".into(),
        crate::toolkits::database::settings::DeclaredSource {
            tenant: Some("acme".into()),
            kind: "sqlite".into(),
            path: sqlite.args["path"].as_str().map(std::path::PathBuf::from),
            ..Default::default()
        },
    );
    let fixture = fixture_with(config).await;
    let hub = fixture.hub.clone();
    let fixture_call = |ctx: CallContext, tool: &'static str, args: Value| {
        let fixture = &fixture;
        async move { fixture.call(&ctx, tool, args).await }
    };
    let listed = fixture_call(ctx("acme", Role::Viewer), "list_sources", json!({}))
        .await
        .expect("list");
    assert_eq!(listed["sources"][0]["id"], json!("warehouse"));
    assert_eq!(listed["sources"][0]["origin"], json!("config"));
    let rows = fixture_call(
        ctx("acme", Role::Viewer),
        "query_database",
        json!({"query": "SELECT name FROM customers ORDER BY id"}),
    )
    .await
    .expect("query");
    assert_eq!(rows["rows"], json!([["Ada"], ["Bob"]]));
    // The file's sources are changed in the file, not through the API.
    let replace = fixture_call(
        ctx("acme", Role::Admin),
        "connect_source",
        json!({"name": "warehouse", "kind": "sqlite", "path": sqlite.args["path"]}),
    )
    .await
    .expect_err("declared");
    assert!(matches!(replace, HubError::Conflict(_)), "{replace}");
    let remove = fixture_call(
        ctx("acme", Role::Admin),
        "remove_source",
        json!({"connection_id": "warehouse"}),
    )
    .await
    .expect_err("declared");
    assert!(matches!(remove, HubError::Conflict(_)), "{remove}");
    // Another tenant does not see it.
    let theirs = fixture_call(ctx("globex", Role::Admin), "list_sources", json!({}))
        .await
        .expect("list");
    assert_eq!(theirs["sources"], json!([]));

    // Its resources: listed, and the status resource holds a fresh test.
    let scope = Scope::Toolkit("database".into());
    let resources = hub
        .list_resources(&ctx("acme", Role::Viewer), &scope)
        .await
        .expect("resources");
    let uris: Vec<String> = resources.iter().map(|r| r.uri.to_string()).collect();
    assert!(
        uris.contains(&"datasource://warehouse/status".to_string()),
        "{uris:?}"
    );
    assert!(
        uris.contains(&"datasource://warehouse/tables".to_string()),
        "{uris:?}"
    );
    let status = hub
        .read_resource(
            &ctx("acme", Role::Viewer),
            &scope,
            "datasource://warehouse/status",
        )
        .await
        .expect("status");
    let status = format!("{status:?}");
    assert!(status.contains("\\\"ok\\\": true"), "{status}");
    let tables = hub
        .read_resource(
            &ctx("acme", Role::Viewer),
            &scope,
            "datasource://warehouse/tables",
        )
        .await
        .expect("tables");
    assert!(format!("{tables:?}").contains("big_orders"));
    let hidden = hub
        .read_resource(
            &ctx("globex", Role::Viewer),
            &scope,
            "datasource://warehouse/status",
        )
        .await
        .expect_err("another tenant's source");
    assert!(matches!(hidden, HubError::ResourceNotFound(_)), "{hidden}");
}

#[tokio::test]
async fn pools_of_idle_sources_are_closed() {
    let targets = targets().await;
    let sqlite = targets
        .iter()
        .find(|target| target.kind == SourceKind::Sqlite)
        .expect("always a SQLite target");
    let fixture = fixture_with(DatabasesConfig {
        pool_evict_secs: 0,
        ..DatabasesConfig::default()
    })
    .await;
    let (hub, service) = (fixture.hub.clone(), fixture.service.clone());
    let admin = ctx("acme", Role::Admin);
    for name in ["first", "second"] {
        hub.call(
            &admin,
            "database",
            "connect_source",
            Some(object(sqlite.connect_args(name))),
        )
        .await
        .expect("connect");
    }
    let query = |name: &str| {
        Some(object(
            json!({"connection_id": name, "query": "SELECT count(*) FROM orders"}),
        ))
    };
    hub.call(&admin, "database", "query_database", query("first"))
        .await
        .expect("query");
    assert_eq!(service.open_pools(), 1);
    // With no idle allowance, using the second source closes the first's pool.
    hub.call(&admin, "database", "query_database", query("second"))
        .await
        .expect("query");
    assert_eq!(service.open_pools(), 1);
    // And the first reopens on demand.
    let again = hub
        .call(&admin, "database", "query_database", query("first"))
        .await
        .expect("query");
    assert_eq!(
        again.structured_content.expect("structured")["rows"],
        json!([[3]])
    );
}

/// A tenant's own admin with an API key: not the operator, not the local user.
fn key_ctx(tenant: &str, role: Role) -> CallContext {
    CallContext::new(
        TenantId::new(tenant),
        Principal::new(format!("key:{tenant}-{role:?}"), role, Credential::ApiKey),
        "test",
    )
    .with_timeout(Duration::from_secs(300))
}

/// A login role with `grants` on the target's database, for least-privilege cases;
/// the connect arguments for it.
async fn role_with(target: &Target, role: &str, grants: &[&str]) -> Value {
    let mut args = target.args.clone();
    args["allow_privileged_role"] = json!(false);
    args["explain_analyze"] = json!(false);
    match target.kind {
        SourceKind::Postgres => {
            let mut connection = PgConnection::connect(&target.url).await.expect("connect");
            let db = PgConnectOptions::from_str(&target.url)
                .expect("url")
                .get_database()
                .unwrap_or_default()
                .to_string();
            let mut statements = vec![
                format!("DROP ROLE IF EXISTS {role}"),
                format!("CREATE ROLE {role} LOGIN PASSWORD 'reader-pw' NOSUPERUSER"),
                format!("GRANT CONNECT ON DATABASE \"{db}\" TO {role}"),
                format!("GRANT USAGE ON SCHEMA public TO {role}"),
            ];
            statements.extend(grants.iter().map(|grant| grant.replace("{role}", role)));
            for statement in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&mut connection)
                    .await
                    .expect(&statement);
            }
            args["user"] = json!(role);
            args["password"] = json!("reader-pw");
        }
        SourceKind::Mysql => {
            let mut connection = MySqlConnection::connect(&target.url)
                .await
                .expect("connect");
            let db = MySqlConnectOptions::from_str(&target.url)
                .expect("url")
                .get_database()
                .unwrap_or_default()
                .to_string();
            let mut statements = vec![
                format!("DROP USER IF EXISTS '{role}'@'%'"),
                format!("CREATE USER '{role}'@'%' IDENTIFIED BY 'reader-pw'"),
            ];
            statements.extend(
                grants
                    .iter()
                    .map(|grant| grant.replace("{role}", role).replace("{db}", &db)),
            );
            for statement in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&mut connection)
                    .await
                    .expect(&statement);
            }
            args["user"] = json!(role);
            args["password"] = json!("reader-pw");
        }
        SourceKind::Sqlite => {}
    }
    args
}

#[tokio::test]
async fn privileged_roles_need_the_operator_and_a_least_privilege_role_holds_too() {
    let fixture = fixture().await;
    let operator = ctx("acme", Role::Admin);
    for target in targets().await {
        if target.kind == SourceKind::Sqlite {
            continue;
        }
        let suffix = std::process::id();
        let (reader_grants, writer_grants): (&[&str], &[&str]) = match target.kind {
            SourceKind::Postgres => (
                &["GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"],
                &[
                    "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
                    "GRANT INSERT ON customers TO {role}",
                ],
            ),
            _ => (
                &["GRANT SELECT, SHOW VIEW ON `{db}`.* TO '{role}'@'%'"],
                &["GRANT SELECT, INSERT ON `{db}`.* TO '{role}'@'%'"],
            ),
        };

        // The superuser (or ALL PRIVILEGES) is refused unless the operator accepts it.
        let mut plain = target.connect_args("admin_role");
        plain["allow_privileged_role"] = json!(false);
        match fixture.call(&operator, "connect_source", plain).await {
            Err(HubError::Forbidden(message)) => {
                assert!(message.contains("allow_privileged_role"), "{message}")
            }
            other => panic!(
                "{:?}: a privileged role was accepted: {other:?}",
                target.kind
            ),
        }
        // A role that can write one table is refused too, naming the grant.
        let writer = role_with(&target, &format!("tw_writer_{suffix}"), writer_grants).await;
        let mut writer_args = writer.clone();
        writer_args["name"] = json!("writer");
        match fixture.call(&operator, "connect_source", writer_args).await {
            Err(HubError::Forbidden(message)) => {
                assert!(
                    message.contains("write to tables") || message.contains("INSERT"),
                    "{message}"
                )
            }
            other => panic!("{:?}: a writing role was accepted: {other:?}", target.kind),
        }
        // Only the operator may accept one: a tenant admin with a key may not.
        let mut accepted = target.connect_args("by_tenant");
        accepted["host"] = json!("db.example.com");
        match fixture
            .call(&key_ctx("globex", Role::Admin), "connect_source", accepted)
            .await
        {
            Err(HubError::Forbidden(message)) => {
                assert!(message.contains("only the operator"), "{message}")
            }
            other => panic!("{other:?}"),
        }

        // A least-privilege role connects without any exception, and the whole
        // attack suite fails against it too, changing nothing.
        let reader_args = role_with(&target, &format!("tw_reader_{suffix}"), reader_grants).await;
        let mut reader = reader_args.clone();
        reader["name"] = json!("reader");
        fixture
            .call(&operator, "connect_source", reader)
            .await
            .expect("a read-only role connects");
        let before = target.state().await;
        fixture.attack(&target, "reader").await;
        let read = fixture
            .call(
                &ctx("acme", Role::Viewer),
                "query_database",
                json!({"connection_id": "reader", "query": "SELECT name FROM customers ORDER BY id"}),
            )
            .await
            .expect("a plain read");
        assert_eq!(read["rows"][0][0], "Ada", "{read}");
        // explain_query's analyze runs the statement: refused unless the source allows it.
        match fixture
            .call(
                &ctx("acme", Role::Viewer),
                "explain_query",
                json!({"connection_id": "reader", "query": "SELECT 1", "analyze": true}),
            )
            .await
        {
            Err(HubError::InvalidArguments { field, .. }) | Err(HubError::Forbidden(field))
                if field.contains("analyze") => {}
            other => panic!("{:?}: explain analyze: {other:?}", target.kind),
        }
        // Where the source allows it, analyze runs, but still only allowed functions.
        let mut analyzing = reader_args.clone();
        analyzing["name"] = json!("analyzing");
        analyzing["explain_analyze"] = json!(true);
        fixture
            .call(&operator, "connect_source", analyzing)
            .await
            .expect("connect");
        let plan = fixture
            .call(
                &ctx("acme", Role::Viewer),
                "explain_query",
                json!({"connection_id": "analyzing", "query": "SELECT count(*) FROM orders", "analyze": true}),
            )
            .await
            .expect("explain analyze where allowed");
        assert_eq!(plan["analyzed"], true, "{plan}");
        if let Some(conninfo) = &target.conninfo {
            let attack = format!("SELECT dblink_exec('{conninfo}', 'DELETE FROM orders')");
            match fixture
                .call(
                    &ctx("acme", Role::Viewer),
                    "explain_query",
                    json!({"connection_id": "analyzing", "query": attack, "analyze": true}),
                )
                .await
            {
                Err(HubError::InvalidArguments { field, .. }) => assert_eq!(field, "query"),
                other => panic!("dblink under EXPLAIN ANALYZE: {other:?}"),
            }
            assert_eq!(target.state().await, before, "EXPLAIN ANALYZE with dblink");
        }
        fixture
            .call(
                &operator,
                "remove_source",
                json!({"connection_id": "analyzing"}),
            )
            .await
            .expect("remove");
        fixture
            .call(
                &operator,
                "remove_source",
                json!({"connection_id": "reader"}),
            )
            .await
            .expect("remove");
    }
}

#[tokio::test]
async fn tenant_admins_reach_neither_internal_hosts_nor_other_tenants_files() {
    let folders = tempfile::tempdir().expect("folders");
    let per_tenant = folders.path().join("{tenant}");
    let fixture = fixture_with(DatabasesConfig {
        connect_timeout_secs: 3,
        sqlite_dirs: vec![per_tenant],
        ..DatabasesConfig::default()
    })
    .await;
    let globex = key_ctx("globex", Role::Admin);
    for target in targets().await {
        if target.kind == SourceKind::Sqlite {
            continue;
        }
        // Loopback, by address and by name: refused for a tenant admin, before any
        // byte reaches the database.
        for host in ["127.0.0.1", "localhost"] {
            let mut args = target.connect_args("inside");
            args["allow_privileged_role"] = json!(false);
            args["host"] = json!(host);
            match fixture.call(&globex, "connect_source", args).await {
                Err(HubError::Forbidden(message)) => {
                    assert!(message.contains("internal"), "{message}")
                }
                other => panic!("{:?} at {host}: {other:?}", target.kind),
            }
        }
        let listed = fixture
            .call(&globex, "list_sources", json!({}))
            .await
            .expect("list");
        assert_eq!(
            listed["sources"].as_array().map(Vec::len),
            Some(0),
            "{listed}"
        );
    }

    // SQLite: each tenant under its own folder only.
    for tenant in ["acme", "globex"] {
        let dir = folders.path().join(tenant);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("own.db");
        let mut connection =
            SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await
                .expect("sqlite");
        sqlx::raw_sql(
            "CREATE TABLE secrets (v TEXT); INSERT INTO secrets VALUES ('only for ' || 'me')",
        )
        .execute(&mut connection)
        .await
        .expect("fill");
        connection.close().await.expect("close");
    }
    let acme_file = folders.path().join("acme").join("own.db");
    match fixture
        .call(
            &globex,
            "connect_source",
            json!({"name": "stolen", "kind": "sqlite", "path": acme_file.display().to_string()}),
        )
        .await
    {
        Err(HubError::Forbidden(message)) => assert!(message.contains("globex"), "{message}"),
        other => panic!("another tenant's file was registered: {other:?}"),
    }
    let own = folders.path().join("globex").join("own.db");
    fixture
        .call(
            &globex,
            "connect_source",
            json!({"name": "own", "kind": "sqlite", "path": own.display().to_string()}),
        )
        .await
        .expect("a tenant's own file");
}

#[tokio::test]
async fn the_operator_may_open_internal_hosts_to_one_tenant() {
    let store = test_stores().await.remove(0);
    store
        .store
        .migrate(&crate::toolkits::migrations())
        .await
        .expect("migrate");
    for tenant in ["acme", "globex", "initech"] {
        store
            .store
            .ensure_tenant(&TenantId::new(tenant), tenant)
            .await
            .expect("tenant");
    }
    let data_dir = tempfile::tempdir().expect("data dir");
    let key = Arc::new(MasterKey::generate().expect("key").0);
    let service = Arc::new(
        DatabaseService::new(
            store.store.clone(),
            key,
            DatabasesConfig {
                connect_timeout_secs: 3,
                ..DatabasesConfig::default()
            },
            "acme".into(),
            data_dir.path().to_path_buf(),
        )
        .allowing_private_hosts(["globex".to_string()]),
    );
    let hub = Arc::new(Hub::new());
    hub.register(Arc::new(DatabaseToolkit::new(service)))
        .expect("register");
    for target in targets().await {
        if target.kind == SourceKind::Sqlite {
            continue;
        }
        let grants: &[&str] = match target.kind {
            SourceKind::Postgres => &["GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"],
            _ => &["GRANT SELECT ON `{db}`.* TO '{role}'@'%'"],
        };
        let mut args = role_with(
            &target,
            &format!("tw_tenant_{}", std::process::id()),
            grants,
        )
        .await;
        args["name"] = json!("inside");
        let call = |tenant: &str| {
            let args = args.clone();
            let hub = hub.clone();
            let ctx = key_ctx(tenant, Role::Admin);
            async move {
                hub.call(&ctx, "database", "connect_source", Some(object(args)))
                    .await
            }
        };
        call("globex")
            .await
            .expect("globex may reach internal hosts");
        match call("initech").await {
            Err(HubError::Forbidden(message)) => assert!(message.contains("internal"), "{message}"),
            other => panic!("{:?}: {other:?}", target.kind),
        }
        hub.call(
            &key_ctx("globex", Role::Admin),
            "database",
            "remove_source",
            Some(object(json!({"connection_id": "inside"}))),
        )
        .await
        .expect("remove");
    }
}

#[tokio::test]
async fn long_values_are_cut_while_read_and_listed() {
    let fixture = fixture_with(DatabasesConfig {
        connect_timeout_secs: 3,
        max_value_bytes: 1000,
        ..DatabasesConfig::default()
    })
    .await;
    let admin = ctx("acme", Role::Admin);
    for target in targets().await {
        fixture
            .call(&admin, "connect_source", target.connect_args("shop"))
            .await
            .expect("connect");
        // 5 MB made on the server; only the first 1000 bytes may come back.
        let sql = match target.kind {
            SourceKind::Postgres => {
                "SELECT 1 AS id, repeat('ab', 2500000) AS body, 'short' AS tail"
            }
            SourceKind::Mysql => "SELECT 1 AS id, REPEAT('ab', 2500000) AS body, 'short' AS tail",
            SourceKind::Sqlite => {
                "SELECT 1 AS id, replace(hex(zeroblob(2500000)), '00', 'ab') AS body, 'short' AS tail"
            }
        };
        let answer = fixture
            .call(
                &ctx("acme", Role::Viewer),
                "query_database",
                json!({"connection_id": "shop", "query": sql}),
            )
            .await
            .unwrap_or_else(|error| panic!("{:?}: {error:?}", target.kind));
        let body = answer["rows"][0][1].as_str().unwrap_or_default();
        assert_eq!(
            body.len(),
            1000,
            "{:?}: {}",
            target.kind,
            &answer.to_string()[..300.min(answer.to_string().len())]
        );
        assert!(body.starts_with("abab"), "{:?}", target.kind);
        assert_eq!(answer["rows"][0][2], "short", "{:?}", target.kind);
        assert_eq!(
            answer["cut"],
            json!([{"row": 0, "column": 1}]),
            "{:?}",
            target.kind
        );
        fixture
            .call(&admin, "remove_source", json!({"connection_id": "shop"}))
            .await
            .expect("remove");
    }
}
