//! The built-in `desk` source on each store backend: read-only SQL over the caller's
//! own help desk, with nothing of another tenant's in reach, fresh after every change,
//! the default when a tenant has no sources, and protected from writes and from being
//! shadowed or removed.

use std::sync::Arc;

use serde_json::{Value, json};
use tideway_core::{
    Hub, HubError,
    context::Role,
    secrets::MasterKey,
    store::testing::{TestStore, test_stores},
};

use super::{
    super::{DatabaseService, DatabaseToolkit, settings::DatabasesConfig},
    ATTACKS, Expect,
};
use crate::toolkits::{
    support::SupportToolkit,
    testing::{ctx, prepare_store},
};

struct Desk {
    hub: Arc<Hub>,
    service: Arc<DatabaseService>,
    store: TestStore,
    _data_dir: tempfile::TempDir,
}

async fn desks() -> Vec<Desk> {
    desks_with(DatabasesConfig::default()).await
}

async fn desks_with(config: DatabasesConfig) -> Vec<Desk> {
    let mut desks = Vec::new();
    for store in test_stores().await {
        prepare_store(&store.store, &["acme", "globex"]).await;
        let key = Arc::new(MasterKey::generate().expect("key").0);
        let data_dir = tempfile::tempdir().expect("data dir");
        let service = Arc::new(
            DatabaseService::new(
                store.store.clone(),
                key,
                config.clone(),
                "acme".into(),
                data_dir.path().to_path_buf(),
            )
            .with_desk(),
        );
        let hub = Arc::new(Hub::new());
        hub.register(Arc::new(DatabaseToolkit::new(service.clone())))
            .expect("database");
        hub.register(Arc::new(SupportToolkit::new(
            store.store.clone(),
            Arc::downgrade(&hub),
        )))
        .expect("support");
        desks.push(Desk {
            hub,
            service,
            store,
            _data_dir: data_dir,
        });
    }
    desks
}

impl Desk {
    async fn call(
        &self,
        tenant: &str,
        role: Role,
        toolkit: &str,
        tool: &str,
        args: Value,
    ) -> Result<Value, HubError> {
        let result = self
            .hub
            .call(&ctx(tenant, role), toolkit, tool, args.as_object().cloned())
            .await?;
        if result.is_error == Some(true) {
            return Err(HubError::internal(format!("{tool}: {result:?}")));
        }
        Ok(crate::toolkits::testing::structured(
            &self.hub, toolkit, tool, result,
        ))
    }

    async fn support(&self, tenant: &str, tool: &str, args: Value) -> Value {
        self.call(tenant, Role::Operator, "support", tool, args)
            .await
            .unwrap_or_else(|error| panic!("{}: {tool}: {error}", self.backend()))
    }

    /// The rows of a read on `desk`, named or by default, as a viewer.
    async fn rows(&self, tenant: &str, sql: &str, named: bool) -> Result<Vec<Value>, HubError> {
        let mut args = json!({"query": sql, "params": {}});
        if named {
            args["connection_id"] = json!("desk");
        }
        let result = self
            .call(tenant, Role::Viewer, "database", "query_database", args)
            .await?;
        assert_eq!(result["source"], json!("desk"), "{result}");
        Ok(result["rows"].as_array().cloned().unwrap_or_default())
    }

    async fn count(&self, tenant: &str, table: &str) -> i64 {
        let rows = self
            .rows(tenant, &format!("SELECT COUNT(*) FROM {table}"), false)
            .await
            .unwrap_or_else(|error| panic!("{}: count {table}: {error}", self.backend()));
        rows[0][0].as_i64().expect("a count")
    }

    fn backend(&self) -> &'static str {
        self.store.store.backend()
    }
}

#[tokio::test]
async fn the_desk_answers_sql_with_the_callers_own_rows_only() {
    for desk in desks().await {
        let b = desk.backend();
        let mut customer_ids = Vec::new();
        for (first, email) in [("Ada", "ada@acme.test"), ("Grace", "grace@acme.test")] {
            let customer = desk
                .support(
                    "acme",
                    "create_customer",
                    json!({"first_name": first, "last_name": "Quokka", "email": email, "metadata": {"plan": "gold"}}),
                )
                .await;
            customer_ids.push(customer["id"].as_i64().expect("id"));
        }
        let ticket = desk
            .support(
                "acme",
                "create_ticket",
                json!({"customer_id": customer_ids[0], "subject": "Invoice", "description": "Wrong total", "priority": "high"}),
            )
            .await;
        let ticket_id = ticket["id"].as_i64().expect("ticket id");
        desk.support(
            "acme",
            "save_interaction",
            json!({"customer_id": customer_ids[0], "ticket_id": ticket_id, "channel": "email", "direction": "inbound", "content": "Hello"}),
        )
        .await;
        let article = desk
            .support(
                "acme",
                "create_article",
                json!({"title": "Refunds", "body": "How refunds work"}),
            )
            .await;
        desk.support(
            "globex",
            "create_customer",
            json!({"first_name": "Hal", "last_name": "Globex", "email": "hal@globex.test"}),
        )
        .await;

        // The seed's question, with no connection_id: each tenant counts its own.
        assert_eq!(desk.count("acme", "customers").await, 2, "{b}");
        assert_eq!(desk.count("globex", "customers").await, 1, "{b}");
        assert_eq!(desk.count("globex", "tickets").await, 0, "{b}");
        assert_eq!(desk.count("globex", "interactions").await, 0, "{b}");
        assert_eq!(desk.count("globex", "articles").await, 0, "{b}");

        // Joins, JSON and dates work as SQLite reads them.
        let rows = desk
            .rows(
                "acme",
                "SELECT c.email, t.priority, json_extract(c.metadata, '$.plan'), \
                 date(t.created_at) = date('now'), i.content \
                 FROM tickets t JOIN customers c ON c.id = t.customer_id \
                 JOIN interactions i ON i.ticket_id = t.id",
                true,
            )
            .await
            .expect("join");
        assert_eq!(
            rows,
            vec![json!(["ada@acme.test", "high", "gold", 1, "Hello"])],
            "{b}"
        );
        // Every row a query could reach is the caller's: there is no other tenant's
        // row to filter out, and no tenant column to filter on.
        let emails = desk
            .rows("globex", "SELECT email FROM customers", true)
            .await
            .expect("emails");
        assert_eq!(emails, vec![json!(["hal@globex.test"])], "{b}");
        let refused = desk
            .rows("globex", "SELECT tenant_id FROM customers", true)
            .await
            .expect_err("no tenant column");
        assert!(refused.to_string().contains("tenant_id"), "{b}: {refused}");

        // A change shows in the next answer: new rows, new versions, counters.
        desk.support(
            "acme",
            "create_customer",
            json!({"first_name": "Linus", "last_name": "Quokka", "email": "linus@acme.test"}),
        )
        .await;
        assert_eq!(desk.count("acme", "customers").await, 3, "{b}");
        desk.support(
            "acme",
            "update_ticket",
            json!({"ticket_id": ticket_id, "status": "resolved"}),
        )
        .await;
        let status = desk
            .rows("acme", "SELECT status, version FROM tickets", true)
            .await
            .expect("status");
        assert_eq!(status, vec![json!(["resolved", 2])], "{b}");
        let history = desk
            .rows("acme", "SELECT DISTINCT ticket_id FROM ticket_events", true)
            .await
            .expect("history");
        assert_eq!(history, vec![json!([ticket_id])], "{b}");
        desk.support("acme", "get_article", json!({"article_id": article["id"]}))
            .await;
        let views = desk
            .rows("acme", "SELECT view_count FROM articles", true)
            .await
            .expect("views");
        assert_eq!(views, vec![json!([1])], "{b}");
        assert_eq!(desk.count("globex", "customers").await, 1, "{b}");
        assert_eq!(desk.service.desk_copies(), 2, "{b}: one copy per tenant");
    }
}

#[tokio::test]
async fn the_desk_is_read_only_listed_built_in_and_the_default_only_without_sources() {
    for desk in desks().await {
        let b = desk.backend();
        desk.support(
            "acme",
            "create_customer",
            json!({"first_name": "Ada", "last_name": "Quokka", "email": "ada@acme.test"}),
        )
        .await;
        // Every write and escape of the attack suite is refused; the desk's data and
        // the store's are unchanged.
        for (attack, expect) in ATTACKS {
            if *expect != Expect::Refused {
                continue;
            }
            let answer = desk.rows("acme", attack, true).await;
            assert!(
                matches!(&answer, Err(HubError::InvalidArguments { field, .. }) if field == "query"),
                "{b}: {attack} -> {answer:?}"
            );
        }
        let written = desk
            .call(
                "acme",
                Role::Admin,
                "database",
                "execute_statement",
                json!({"connection_id": "desk", "query": "DELETE FROM customers"}),
            )
            .await
            .expect_err("the desk is read-only");
        assert!(matches!(written, HubError::Forbidden(_)), "{b}: {written}");
        assert_eq!(desk.count("acme", "customers").await, 1, "{b}");
        let listed = desk
            .support("acme", "get_customers", json!({}))
            .await
            .to_string();
        assert!(listed.contains("ada@acme.test"), "{b}: {listed}");

        // Listed and testable like any source; built in, so neither taken nor removed.
        let sources = desk
            .call("acme", Role::Viewer, "database", "list_sources", json!({}))
            .await
            .expect("list");
        let listed = sources.to_string();
        assert!(
            listed.contains(r#""id":"desk""#) && listed.contains(r#""origin":"builtin""#),
            "{b}: {listed}"
        );
        let test = desk
            .call(
                "acme",
                Role::Viewer,
                "database",
                "test_connection",
                json!({"connection_id": "desk"}),
            )
            .await
            .expect("test");
        assert_eq!(test["ok"], json!(true), "{b}: {test}");
        let taken = desk
            .call(
                "acme",
                Role::Admin,
                "database",
                "connect_source",
                json!({"name": "desk", "kind": "sqlite", "path": "/tmp/desk.db"}),
            )
            .await
            .expect_err("reserved");
        assert!(matches!(taken, HubError::Conflict(_)), "{b}: {taken}");
        let removed = desk
            .call(
                "acme",
                Role::Admin,
                "database",
                "remove_source",
                json!({"connection_id": "desk"}),
            )
            .await
            .expect_err("built in");
        assert!(matches!(removed, HubError::Conflict(_)), "{b}: {removed}");

        // With a source of its own, that source is the default; with two, the caller
        // is asked to name one and told the desk's name among them.
        let dir = tempfile::tempdir().expect("dir");
        for name in ["crm", "shop"] {
            let path = dir.path().join(format!("{name}.db"));
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
            sqlx::query("CREATE TABLE customers (id INTEGER)")
                .execute(&pool)
                .await
                .expect("create");
            pool.close().await;
            desk.call(
                "acme",
                Role::Admin,
                "database",
                "connect_source",
                json!({"name": name, "kind": "sqlite", "path": path}),
            )
            .await
            .expect("connect");
            let answer = desk
                .call(
                    "acme",
                    Role::Viewer,
                    "database",
                    "query_database",
                    json!({"query": "SELECT COUNT(*) FROM customers"}),
                )
                .await;
            match name {
                "crm" => assert_eq!(answer.expect("crm")["source"], json!("crm"), "{b}"),
                _ => {
                    let asked = answer.expect_err("ambiguous").to_string();
                    assert!(
                        asked.contains("connection_id") && asked.contains("desk"),
                        "{b}: {asked}"
                    );
                }
            }
        }
        assert_eq!(desk.count("globex", "customers").await, 0, "{b}");
    }
}

#[tokio::test]
async fn a_desk_larger_than_the_configured_bound_is_refused_not_held() {
    let config = DatabasesConfig {
        desk_max_rows: 3,
        ..DatabasesConfig::default()
    };
    for desk in desks_with(config).await {
        let b = desk.backend();
        for name in ["ada", "grace", "linus"] {
            desk.support(
                "acme",
                "create_customer",
                json!({"first_name": name, "last_name": "Quokka", "email": format!("{name}@acme.test")}),
            )
            .await;
        }
        // Exactly at the bound: copied.
        assert_eq!(desk.count("acme", "customers").await, 3, "{b}");
        desk.support(
            "acme",
            "create_customer",
            json!({"first_name": "Hal", "last_name": "Quokka", "email": "hal@acme.test"}),
        )
        .await;
        let refused = desk
            .rows("acme", "SELECT COUNT(*) FROM customers", true)
            .await
            .expect_err("over the bound");
        assert!(
            matches!(&refused, HubError::Unavailable { reason, .. } if reason.contains("databases.desk_max_rows")),
            "{b}: {refused}"
        );
        // Another tenant's small desk is unaffected.
        assert_eq!(desk.count("globex", "customers").await, 0, "{b}");
    }
}
