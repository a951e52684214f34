//! The store suite, run against SQLite always and against PostgreSQL when
//! `TIDEWAY_TEST_POSTGRES_URL` names a throwaway database (the test command starts
//! one). With `TIDEWAY_REQUIRE_POSTGRES=1` a missing PostgreSQL fails the suite
//! rather than skipping it, so CI cannot pass on SQLite alone.

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
async fn migrations_apply_once_and_are_idempotent() {
    for (store, _dir) in backends().await {
        assert!(
            store.applied_migrations().await.is_err(),
            "{}: nothing applied yet",
            store.backend()
        );
        store.migrate(&[]).await.expect("first migrate");
        store.migrate(&[]).await.expect("second migrate is a no-op");
        assert_eq!(
            store.applied_migrations().await.expect("applied"),
            Store::known_migrations(&[]).expect("core's own")
        );
    }
}

#[tokio::test]
async fn tenants_are_created_once_and_listed() {
    for (store, _dir) in backends().await {
        store.migrate(&[]).await.expect("migrate");
        let acme = TenantId::new("acme");
        let first = store.ensure_tenant(&acme, "Acme").await.expect("create");
        let again = store
            .ensure_tenant(&acme, "Renamed")
            .await
            .expect("ensure again");
        assert_eq!(
            first,
            again,
            "{}: ensure_tenant must not overwrite",
            store.backend()
        );
        assert_eq!(again.name, "Acme");
        store
            .ensure_tenant(&TenantId::new("zenith"), "Zenith")
            .await
            .expect("second tenant");
        let ids: Vec<_> = store
            .list_tenants()
            .await
            .expect("list")
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids, vec!["acme".to_string(), "zenith".to_string()]);
        assert!(
            store
                .tenant(&TenantId::new("nobody"))
                .await
                .expect("lookup")
                .is_none()
        );
    }
}

#[tokio::test]
async fn ping_measures_a_round_trip() {
    for (store, _dir) in backends().await {
        let latency = store.ping().await.expect("ping");
        assert!(
            latency.as_secs() < 5,
            "{}: ping took {latency:?}",
            store.backend()
        );
    }
}

#[tokio::test]
async fn unreachable_postgres_is_explained() {
    // Port 1 on loopback: nothing listens there.
    let error = Store::open("postgres://nobody:secret@127.0.0.1:1/none")
        .await
        .expect_err("must fail");
    let text = error.to_string();
    assert!(text.contains("nothing is listening"), "{text}");
    assert!(
        !text.contains("secret"),
        "the password must not appear in errors: {text}"
    );
}

#[tokio::test]
async fn api_keys_verify_by_prefix_and_secret_and_revoke_per_tenant() {
    use tideway_core::{
        Role, ToolRules,
        store::{NewApiKey, keys::parse_key},
    };
    for (store, _dir) in backends().await {
        store.migrate(&[]).await.expect("migrate");
        let acme = TenantId::new("acme");
        let globex = TenantId::new("globex");
        store.ensure_tenant(&acme, "Acme").await.expect("acme");
        store
            .ensure_tenant(&globex, "Globex")
            .await
            .expect("globex");
        let new = |tenant: &TenantId, name: &str| NewApiKey {
            tenant: tenant.clone(),
            name: name.into(),
            role: Role::Operator,
            rules: ToolRules {
                allow: vec!["support".into()],
                deny: vec![],
            },
            inherited_rules: Vec::new(),
            expires_at: None,
            created_by: "test".into(),
        };
        let (key, text) = store
            .create_api_key(new(&acme, "ci"))
            .await
            .expect("created");
        let presented = parse_key(&text).expect("our own format");
        assert_eq!(presented.prefix, key.prefix);
        let verified = store
            .verify_api_key(&presented)
            .await
            .expect("query")
            .expect("verifies");
        assert_eq!(verified.role, Role::Operator);
        assert_eq!(verified.rules.allow, vec!["support".to_string()]);
        assert_eq!(verified.tenant, "acme");

        // A wrong secret with a real prefix, and a made-up prefix, both fail.
        let wrong = format!("tw_{}_{}", key.prefix, "A".repeat(43));
        let wrong = parse_key(&wrong).expect("shape");
        assert!(store.verify_api_key(&wrong).await.expect("query").is_none());
        let unknown = parse_key("tw_AAAAAAAAAAAA_secret").expect("shape");
        assert!(
            store
                .verify_api_key(&unknown)
                .await
                .expect("query")
                .is_none()
        );

        // The listing never holds a secret; another tenant cannot revoke the key.
        let listed = store.list_api_keys(Some(&acme)).await.expect("list");
        assert_eq!(listed.len(), 1);
        assert!(
            store
                .list_api_keys(Some(&globex))
                .await
                .expect("list")
                .is_empty()
        );
        assert!(
            store
                .revoke_api_key(Some(&globex), &key.id)
                .await
                .expect("query")
                .is_none(),
            "{}: another tenant's key is not found",
            store.backend()
        );
        let revoked = store
            .revoke_api_key(Some(&acme), &key.prefix)
            .await
            .expect("query")
            .expect("revoked");
        assert!(revoked.revoked_at.is_some());
        assert!(!revoked.is_active(chrono::Utc::now()));

        // Bad input is a clear error, not a row.
        let mut bad = new(&acme, " ");
        assert!(store.create_api_key(bad.clone()).await.is_err());
        bad.name = "x".into();
        bad.rules.allow = vec!["not a pattern".into()];
        assert!(store.create_api_key(bad.clone()).await.is_err());
        bad.rules.allow.clear();
        bad.tenant = TenantId::new("nobody");
        assert!(store.create_api_key(bad).await.is_err());
    }
}

#[tokio::test]
async fn audit_records_are_written_in_batches_and_read_back_filtered() {
    use tideway_core::{audit::AuditRecord, store::AuditQuery};
    for (store, _dir) in backends().await {
        store.migrate(&[]).await.expect("migrate");
        let start = chrono::Utc::now() - chrono::Duration::seconds(1);
        let record = |tenant: &str, tool: &str, outcome: &str| AuditRecord {
            at: chrono::Utc::now(),
            tenant: tenant.into(),
            principal: "key:abc".into(),
            face: "rest".into(),
            request_id: "r".into(),
            toolkit: "support".into(),
            tool: tool.into(),
            arguments: "{}".into(),
            arguments_sha256: "0".repeat(64),
            outcome: outcome.into(),
            error_kind: (outcome != "ok").then(|| "forbidden".into()),
            latency_ms: 1.5,
        };
        let batch: Vec<_> = (0..30)
            .map(|i| {
                record(
                    if i % 3 == 0 { "globex" } else { "acme" },
                    if i % 2 == 0 {
                        "get_ticket"
                    } else {
                        "create_ticket"
                    },
                    if i % 5 == 0 { "error" } else { "ok" },
                )
            })
            .collect();
        store.insert_audit(&batch).await.expect("insert");
        let query = |f: fn(&mut AuditQuery)| {
            let mut query = AuditQuery {
                tenant: Some("acme".into()),
                limit: 100,
                ..AuditQuery::default()
            };
            f(&mut query);
            query
        };
        let acme = store.query_audit(&query(|_| {})).await.expect("query");
        assert_eq!(acme.len(), 20, "{}", store.backend());
        assert!(acme.windows(2).all(|w| w[0].id > w[1].id), "newest first");
        assert!(acme.iter().all(|entry| entry.record.tenant == "acme"));
        let tickets = store
            .query_audit(&query(|q| q.tool = Some("get_ticket".into())))
            .await
            .expect("query");
        assert!(tickets.iter().all(|e| e.record.tool == "get_ticket") && !tickets.is_empty());
        let errors = store
            .query_audit(&query(|q| q.outcome = Some("error".into())))
            .await
            .expect("query");
        assert!(
            errors
                .iter()
                .all(|e| e.record.error_kind.as_deref() == Some("forbidden"))
                && !errors.is_empty()
        );
        let since = store
            .query_audit(&AuditQuery {
                tenant: Some("acme".into()),
                since: Some(start),
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .expect("query");
        assert_eq!(since.len(), 20);
        let future = store
            .query_audit(&AuditQuery {
                tenant: Some("acme".into()),
                since: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .expect("query");
        assert!(future.is_empty());
        // Pages walk back by id without overlap; following walks forward.
        let first = store
            .query_audit(&query(|q| q.limit = 8))
            .await
            .expect("page 1");
        let before = first.last().map(|e| e.id);
        let second = store
            .query_audit(&AuditQuery {
                tenant: Some("acme".into()),
                before_id: before,
                limit: 8,
                ..AuditQuery::default()
            })
            .await
            .expect("page 2");
        assert!(second.iter().all(|e| Some(e.id) < before));
        let after = store
            .query_audit(&AuditQuery {
                tenant: None,
                after_id: Some(acme[5].id),
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .expect("follow");
        assert!(
            after.windows(2).all(|w| w[0].id < w[1].id),
            "oldest first when following"
        );
        assert_eq!(after.first().map(|e| e.id), Some(acme[5].id + 1));

        // A batch larger than one multi-row statement is written whole.
        let bulk: Vec<_> = (0..450).map(|_| record("bulk", "echo", "ok")).collect();
        store.insert_audit(&bulk).await.expect("bulk insert");
        let written = store
            .query_audit(&AuditQuery {
                tenant: Some("bulk".into()),
                limit: 1000,
                ..AuditQuery::default()
            })
            .await
            .expect("query");
        assert_eq!(written.len(), 450, "{}", store.backend());
    }
}

/// Opens a transaction the way Tideway's writes do, inserts a tenant and commits.
async fn write_one(store: &Store, id: &str) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO tenants (id, name, created_at) VALUES ($1, $1, '2026-01-01')";
    match store {
        Store::Sqlite(pool) => {
            let mut tx = pool.begin_with(store.begin_write_sql()).await?;
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            tx.commit().await
        }
        Store::Postgres(pool) => {
            let mut tx = pool.begin_with(store.begin_write_sql()).await?;
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            tx.commit().await
        }
    }
}

#[tokio::test]
async fn a_transaction_the_database_ended_under_it_leaves_no_connection_dirty() {
    for (store, _dir) in backends().await {
        store.migrate(&[]).await.expect("migrate");
        // The database ends the transaction itself (as SQLite does on SQLITE_FULL),
        // so COMMIT fails and so does the rollback that dropping it queues.
        let failed = match &store {
            Store::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
                sqlx::query("ROLLBACK")
                    .execute(&mut *tx)
                    .await
                    .expect("end");
                tx.commit().await
            }
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await.expect("begin");
                sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
                    .execute(&mut *tx)
                    .await
                    .map(|_| ())
                    .and(tx.commit().await)
            }
        };
        assert!(failed.is_err(), "{}: the commit must fail", store.backend());
        // More writes than the pool has connections: every one of them succeeds.
        for n in 0..20 {
            write_one(&store, &format!("t{n}"))
                .await
                .unwrap_or_else(|error| panic!("{}: write {n}: {error}", store.backend()));
        }
        store.check_writable().await.expect("writable");
    }
}

#[tokio::test]
async fn a_full_disk_is_not_ready_and_writes_resume_once_space_is_freed() {
    // A real full file system: a 4 MiB tmpfs, which needs the right to mount (root in
    // CI). Elsewhere the test says so and checks nothing.
    let mount = tempfile::tempdir().expect("dir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(mount.path())
        .status()
        .map(|status| status.success())
        .unwrap_or(false);
    if !mounted {
        assert!(
            std::env::var_os("TIDEWAY_REQUIRE_TMPFS").is_none(),
            "TIDEWAY_REQUIRE_TMPFS is set but a tmpfs cannot be mounted"
        );
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.path().to_path_buf());
    let url = format!("sqlite://{}/store.db", mount.path().display());
    let store = Store::open(&url).await.expect("open");
    store.migrate(&[]).await.expect("migrate");
    // Ballast that is deleted later to free space.
    let ballast = mount.path().join("ballast");
    std::fs::write(&ballast, vec![7u8; 1024 * 1024]).expect("ballast");
    // Wide rows first, then narrower ones into what is left, until even a small
    // write fails.
    let mut full = None;
    for width in [64 * 1024, 4096, 64] {
        let padding = "x".repeat(width);
        for n in 0..2000 {
            if let Err(error) = write_one(&store, &format!("{width}-{n}-{padding}")).await {
                full = Some(error);
                break;
            }
        }
    }
    let full = full.expect("the file system fills up");
    assert!(full.to_string().contains("full"), "{full}");
    assert!(
        store.check_writable().await.is_err(),
        "a full store is not ready"
    );

    std::fs::remove_file(&ballast).expect("free space");
    for n in 0..20 {
        write_one(&store, &format!("after-{n}"))
            .await
            .unwrap_or_else(|error| panic!("write {n} after space was freed: {error}"));
    }
    store.check_writable().await.expect("writable again");
    store.close().await;
}
