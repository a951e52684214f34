//! Toolkits' parts as components, on both store backends: a tenant's database
//! source and model provider in use are checked each round through the clients
//! their calls use, named `{toolkit}/{tenant}/{part}`, seen and alerted on by that
//! tenant alone; a provider that stops answering shows down with what was wrong, and
//! a removed source is no longer a component.

use std::{sync::Arc, time::Duration};

use axum::{Json, Router, routing::get};
use serde_json::{Value, json};
use tideway_core::{Config, context::Role, secrets::MasterKey, store::testing::test_stores};

use super::Rig;
use crate::toolkits::{
    automation::now_ms,
    database::{DatabaseService, DatabaseToolkit, settings::DatabasesConfig},
    models::ModelsToolkit,
    testing::ctx,
};

const SECOND: i64 = 1000;

/// A local server answering an OpenAI-compatible provider's model list (the
/// providers are paid, remote APIs); aborting the task closes it.
async fn provider_stand_in() -> (String, tokio::task::JoinHandle<()>) {
    let router = Router::new().route(
        "/v1/models",
        get(|| async { Json(json!({"object": "list", "data": [{"id": "stand-in"}]})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{address}/v1"), server)
}

/// The named component in `tenant`'s health report, if it sees one.
async fn component(rig: &Rig, tenant: &str, name: &str) -> Option<Value> {
    let report = rig
        .call(&ctx(tenant, Role::Viewer), "get_health_report", json!({}))
        .await
        .expect("report");
    report["components"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|component| component["name"] == name)
        .cloned()
}

#[tokio::test]
async fn a_tenants_parts_in_use_are_its_own_components_checked_each_round() {
    for test in test_stores().await {
        let store = &test.store;
        let rig = Rig::start(store).await;
        let hub = rig.automation.server.hub.clone();
        let key = Arc::new(MasterKey::generate().expect("key").0);
        let data = tempfile::tempdir().expect("data dir");
        hub.register(Arc::new(DatabaseToolkit::new(Arc::new(
            DatabaseService::new(
                store.clone(),
                key.clone(),
                DatabasesConfig::default(),
                "acme".into(),
                data.path().to_path_buf(),
            ),
        ))))
        .expect("database");
        hub.register(Arc::new(
            ModelsToolkit::new(
                store.clone(),
                key.clone(),
                &Config::default(),
                Arc::downgrade(&hub),
            )
            .expect("models"),
        ))
        .expect("models");
        let admin = ctx("acme", Role::Admin);
        let call = |toolkit: &'static str, tool: &'static str, arguments: Value| {
            let hub = hub.clone();
            let admin = admin.clone();
            async move {
                let arguments = serde_json::from_value(arguments).expect("object");
                let result = hub
                    .call(&admin, toolkit, tool, Some(arguments))
                    .await
                    .unwrap_or_else(|error| panic!("{tool}: {error}"));
                assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
            }
        };

        let monitor = rig.state();
        let t0 = now_ms() - 600 * SECOND;
        monitor.tick(t0).await.expect("tick");
        assert!(
            component(&rig, "acme", "database/acme/shop")
                .await
                .is_none(),
            "a source no call used is not a component"
        );

        // An empty file is an empty SQLite database; outside the data directory,
        // which sources may not point into.
        let files = tempfile::tempdir().expect("files");
        let shop = files.path().join("shop.db");
        std::fs::write(&shop, b"").expect("database file");
        call(
            "database",
            "connect_source",
            json!({"name": "shop", "kind": "sqlite", "path": format!("{}", shop.display())}),
        )
        .await;
        call(
            "database",
            "query_database",
            json!({"connection_id": "shop", "query": "SELECT 1"}),
        )
        .await;
        let (base, provider) = provider_stand_in().await;
        call(
            "models",
            "set_model_provider",
            json!({"name": "main", "provider": {"kind": "openai", "base_url": base, "model": "stand-in", "api_key": "sk-test-4711"}}),
        )
        .await;
        call("models", "test_model_provider", json!({"name": "main"})).await;

        // A rule of acme's on any component, and the same rule of globex's.
        for tenant in ["acme", "globex"] {
            rig.call(
                &ctx(tenant, Role::Admin),
                "create_alert_rule",
                json!({"name": format!("{tenant}_parts"), "metric": "component.up",
                       "comparison": "<", "threshold": 0.5, "for_secs": 0,
                       "severity": "critical"}),
            )
            .await
            .expect("rule");
        }

        let round = monitor.tick(t0 + 15 * SECOND).await.expect("tick");
        assert!(round.fired.is_empty(), "{round:?}");
        let source = component(&rig, "acme", "database/acme/shop")
            .await
            .expect("acme sees its source");
        assert_eq!(
            (source["kind"].as_str(), source["status"].as_str()),
            (Some("source"), Some("healthy")),
            "{source}"
        );
        assert!(source["latency_ms"].is_number(), "{source}");
        let model = component(&rig, "acme", "models/acme/main")
            .await
            .expect("acme sees its provider");
        assert_eq!(model["kind"], "provider", "{model}");
        assert_eq!(model["status"], "healthy", "{model}");
        for name in ["database/acme/shop", "models/acme/main"] {
            assert!(
                component(&rig, "globex", name).await.is_none(),
                "globex must not see {name}"
            );
        }
        let one = rig
            .call(
                &ctx("acme", Role::Viewer),
                "get_component_health",
                json!({"name": "database/acme/shop"}),
            )
            .await
            .expect("one part");
        assert_eq!(one["status"], "healthy");
        assert!(
            rig.call(
                &ctx("globex", Role::Viewer),
                "get_component_health",
                json!({"name": "database/acme/shop"}),
            )
            .await
            .is_err(),
            "another tenant's part is unknown to globex"
        );

        // The provider stops answering: down at the next round, with why, and only
        // acme's rule fires for it.
        provider.abort();
        let _ = provider.await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let round = monitor.tick(t0 + 30 * SECOND).await.expect("tick");
        let fired: Vec<(&str, &str)> = round
            .fired
            .iter()
            .map(|alert| (alert.rule.as_str(), alert.subject.as_str()))
            .collect();
        assert_eq!(fired, vec![("acme_parts", "models/acme/main")], "{round:?}");
        let model = component(&rig, "acme", "models/acme/main")
            .await
            .expect("still a component while in use");
        assert_eq!(model["status"], "down", "{model}");
        assert!(
            model["last_error"]
                .as_str()
                .is_some_and(|error| error.contains("cannot be reached")),
            "{model}"
        );
        assert_eq!(
            component(&rig, "acme", "database/acme/shop")
                .await
                .expect("source")["status"],
            "healthy",
            "one part down leaves the others as they are"
        );

        // A removed source is no longer in use, so no longer a component.
        call(
            "database",
            "remove_source",
            json!({"connection_id": "shop"}),
        )
        .await;
        monitor.tick(t0 + 45 * SECOND).await.expect("tick");
        assert!(
            component(&rig, "acme", "database/acme/shop")
                .await
                .is_none()
        );
    }
}
