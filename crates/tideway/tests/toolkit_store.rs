//! The store with every toolkit's tables: an existing database migrates forward with
//! its data, and what toolkits keep there (upstreams, sealed secrets) round-trips.
//! Run against SQLite always and PostgreSQL when the test command started one.

use tideway_core::{
    Store, TenantId,
    store::testing::{TestStore, test_stores},
};

async fn backends() -> Vec<(Store, TestStore)> {
    test_stores()
        .await
        .into_iter()
        .map(|test| (test.store.clone(), test))
        .collect()
}

#[tokio::test]
async fn upstreams_are_stored_replaced_and_deleted_with_their_catalog() {
    use tideway::toolkits::upstream::records::{self, UpstreamRecord};
    for (store, _dir) in backends().await {
        store
            .migrate(&tideway::toolkits::migrations())
            .await
            .expect("migrate");
        let at = chrono::Utc::now();
        let mut record = UpstreamRecord {
            name: "files".into(),
            tenant: None,
            spec: serde_json::json!({"name": "files", "transport": "stdio", "command": "npx"}),
            secret: Some("sealed-bytes".into()),
            created_by: "key:admin".into(),
            created_at: at,
            updated_at: at,
        };
        records::put(&store, &record).await.expect("put");
        record.spec["command"] = "node".into();
        record.secret = None;
        record.updated_at = at + chrono::Duration::seconds(5);
        records::put(&store, &record).await.expect("replace");
        let listed = records::list(&store).await.expect("list");
        assert_eq!(listed.len(), 1, "{}", store.backend());
        assert_eq!(listed[0].spec["command"], "node");
        assert_eq!(listed[0].secret, None);
        assert!(listed[0].updated_at > listed[0].created_at);
        assert_eq!(listed[0].tenant, None);
        // An upstream may belong to one tenant.
        let acme = TenantId::new("acme");
        store.ensure_tenant(&acme, "Acme").await.expect("tenant");
        record.tenant = Some("acme".into());
        records::put(&store, &record).await.expect("owned");
        let listed = records::list(&store).await.expect("list");
        assert_eq!(listed[0].tenant.as_deref(), Some("acme"));

        let catalog = serde_json::json!({"tools": [{"name": "read_file"}]});
        records::put_catalog(&store, "files", &catalog)
            .await
            .expect("catalog");
        assert_eq!(
            records::catalog(&store, "files").await.expect("read"),
            Some(catalog)
        );
        assert!(records::delete(&store, "files").await.expect("delete"));
        assert!(!records::delete(&store, "files").await.expect("again"));
        assert_eq!(records::catalog(&store, "files").await.expect("gone"), None);
        assert!(records::list(&store).await.expect("list").is_empty());
    }
}

#[tokio::test]
async fn rotation_reseals_every_kind_of_secret_or_none() {
    use tideway::toolkits::{
        database::records::{self as sources, SourceRecord},
        upstream::records::{self, UpstreamRecord},
    };
    use tideway_core::{secrets::MasterKey, store::SealedAt};
    for (store, _dir) in backends().await {
        store
            .migrate(&tideway::toolkits::migrations())
            .await
            .expect("migrate");
        let tenant = TenantId::new("acme");
        store.ensure_tenant(&tenant, "Acme").await.expect("tenant");
        let columns = tideway::toolkits::sealed_columns();
        let (current, _) = MasterKey::generate().expect("key");
        let at = chrono::Utc::now();
        let source = sources::SEALED.at(["acme", "crm"]);
        let upstream = records::SEALED.at(["files"]);
        sources::put(
            &store,
            &SourceRecord {
                tenant: "acme".into(),
                name: "crm".into(),
                kind: "postgres".into(),
                settings: serde_json::json!({}),
                secret: Some(
                    current
                        .seal("pg-password", &source.context())
                        .expect("seal"),
                ),
                read_write: false,
                created_by: "test".into(),
                created_at: at,
                updated_at: at,
            },
            false,
        )
        .await
        .expect("source");
        let mut record = UpstreamRecord {
            name: "files".into(),
            tenant: None,
            spec: serde_json::json!({"name": "files"}),
            secret: Some(
                current
                    .seal(r#"{"bearer_token":"tok"}"#, &upstream.context())
                    .expect("seal"),
            ),
            created_by: "test".into(),
            created_at: at,
            updated_at: at,
        };
        records::put(&store, &record).await.expect("upstream");
        let model = tideway::toolkits::models::service::SEALED.at(["acme", "house"]);
        let sealed_key = current.seal("sk-model", &model.context()).expect("seal");
        tideway_core::on_store!(&store, pool => {
            sqlx::query(
                "INSERT INTO model_providers (tenant_id, name, kind, model, max_tokens, stream, secret, created_by, created_at, updated_at) VALUES ('acme', 'house', 'openai', 'm', 1024, FALSE, $1, 'test', $2, $2)",
            )
            .bind(&sealed_key)
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ())
        })
        .expect("model provider");

        // A secret the current key cannot open stops the rotation before any change.
        let (stranger, _) = MasterKey::generate().expect("key");
        let (next, _) = MasterKey::generate().expect("key");
        let refused = store.reseal_all(&columns, &stranger, &next).await;
        assert!(refused.is_err(), "{}", store.backend());
        let unchanged = store.sealed_secrets(&columns).await.expect("list");
        assert!(
            unchanged
                .iter()
                .all(|secret| current.open(&secret.sealed, &secret.at.context()).is_ok())
        );

        assert_eq!(
            store
                .reseal_all(&columns, &current, &next)
                .await
                .expect("reseal"),
            3
        );
        let resealed = store.sealed_secrets(&columns).await.expect("list");
        assert_eq!(resealed.len(), 3);
        for secret in &resealed {
            assert!(current.open(&secret.sealed, &secret.at.context()).is_err());
        }
        let opened = |at: &SealedAt| {
            let secret = resealed.iter().find(|s| &s.at == at).expect("present");
            next.open(&secret.sealed, &at.context())
                .expect("the new key opens it")
                .to_string()
        };
        assert_eq!(opened(&source), "pg-password");
        assert_eq!(opened(&upstream), r#"{"bearer_token":"tok"}"#);
        assert_eq!(opened(&model), "sk-model");
        // Sealed for one place, a secret does not open in another.
        assert!(
            next.open(
                &resealed
                    .iter()
                    .find(|s| s.at == source)
                    .expect("source")
                    .sealed,
                &upstream.context()
            )
            .is_err()
        );
        record.secret = None;
        records::put(&store, &record).await.expect("upstream");
        assert_eq!(store.sealed_secrets(&columns).await.expect("list").len(), 2);
    }
}

/// The master key `fixtures/make_store.py` ran the release with.
const FIXTURE_MASTER_KEY: &str = "q2Xk1m8vB3nR5tY7uI9oP0aS2dF4gH6jK8lZ1xC3vB4=";

/// A store the previous release (0.1, before migrations moved beside their
/// toolkits) left behind migrates forward, on SQLite and on PostgreSQL: every
/// migration it applied is recognised (same versions, same checksums), the new ones
/// apply, and every row is still there and readable through today's code, sealed
/// secrets included; new rows take ids after the old ones.
#[tokio::test]
async fn a_store_made_by_the_previous_release_migrates_forward_with_its_data() {
    use tideway::toolkits::{database::records as sources, upstream::records};
    use tideway_core::{on_store, secrets::MasterKey};

    for (store, _kept) in backends().await {
        let dump = match &store {
            Store::Sqlite(_) => include_str!("fixtures/store-0.1.sqlite.sql"),
            Store::Postgres(_) => include_str!("fixtures/store-0.1.postgres.sql"),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        on_store!(&store, pool => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(dump)).execute(pool).await.map(|_| ())
        })
        .expect("the release's store loads");
        let count = |table: &'static str| {
            let store = store.clone();
            async move {
                let sql = format!("SELECT COUNT(*) FROM {table}");
                let n: i64 = on_store!(&store, pool => {
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str())).fetch_one(pool).await
                })
                .expect("count");
                n
            }
        };
        let tables = [
            "tenants",
            "api_keys",
            "upstreams",
            "support_customers",
            "support_tickets",
            "sources",
            "prompt_templates",
        ];
        let mut before = Vec::new();
        for table in tables {
            let rows = count(table).await;
            assert!(rows > 0, "the fixture has no {table}");
            before.push(rows);
        }

        let migrations = tideway::toolkits::migrations();
        store.migrate(&migrations).await.expect("migrates forward");
        assert_eq!(
            store.applied_migrations().await.expect("applied"),
            Store::known_migrations(&migrations).expect("known")
        );
        for (table, rows) in tables.iter().zip(before) {
            assert_eq!(count(table).await, rows, "{table} lost rows");
        }
        let upstream = records::list(&store)
            .await
            .expect("upstreams read")
            .into_iter()
            .find(|record| record.name == "files")
            .expect("the stored upstream");
        let key = MasterKey::resolve(Some(FIXTURE_MASTER_KEY), &dir.path().join("unused.key"))
            .expect("the fixture's key");
        let opened = key
            .open(
                upstream.secret.as_deref().expect("sealed"),
                &records::SEALED.at(["files"]).context(),
            )
            .expect("the sealed secret still opens");
        assert!(opened.contains("s3cret"), "the secret survived");
        let shop = sources::get(&store, &TenantId::new("default"), "shop")
            .await
            .expect("sources read");
        assert_eq!(shop.map(|record| record.kind), Some("sqlite".to_string()));
        // Today's support code reads the release's rows, and a new one takes the next
        // id rather than colliding with them.
        let desk =
            tideway::toolkits::support::SupportService::new(store.clone(), std::sync::Weak::new());
        let ctx = tideway_core::CallContext::new(
            TenantId::new("default"),
            tideway_core::Principal::local(),
            "forward-migration",
        );
        let details = desk
            .ticket_details(&ctx, 1)
            .await
            .expect("the release's ticket");
        assert_eq!(details.ticket.subject, "Engine stalls");
        assert_eq!(details.customer.email, "ada@example.com");
        let added = desk
            .create_customer(
                &ctx,
                serde_json::from_value(serde_json::json!({
                    "first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"
                }))
                .expect("a new customer"),
            )
            .await
            .expect("a customer added after the migration");
        assert_eq!(added.id, 2, "the id follows the release's rows");
    }
}
