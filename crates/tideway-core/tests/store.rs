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
        store.migrate().await.expect("first migrate");
        store.migrate().await.expect("second migrate is a no-op");
        assert_eq!(
            store.applied_migrations().await.expect("applied"),
            store.known_migrations()
        );
    }
}

#[tokio::test]
async fn tenants_are_created_once_and_listed() {
    for (store, _dir) in backends().await {
        store.migrate().await.expect("migrate");
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
