//! Choosing a provider and model per call, what each generation cost (declared
//! prices), and asking a provider whether it answers, against the providers tests'
//! local stand-in.

use serde_json::json;
use tideway_core::{HubError, context::Role};

use super::providers::{admin, call, fixtures, provider, stand_in};
use crate::toolkits::testing::ctx;

#[tokio::test]
async fn a_call_may_choose_another_provider_and_model_and_each_generation_keeps_its_cost() {
    let (base, stand_in) = stand_in().await;
    for fixture in fixtures(|_| {}).await {
        provider(&fixture.hub, &base, "openai", "echo", false).await;
        call(&fixture.hub, &admin(), "set_model_provider",
            json!({"name": "priced", "provider": {"kind": "anthropic", "base_url": base, "model": "echo",
                   "input_usd_per_mtok": 1000.0, "output_usd_per_mtok": 5000.0}}))
            .await
            .expect("priced provider");
        let half = call(&fixture.hub, &admin(), "set_model_provider",
            json!({"name": "half", "provider": {"kind": "openai", "model": "echo", "input_usd_per_mtok": 1.0}}))
            .await
            .expect_err("one price only");
        assert!(
            matches!(&half, HubError::InvalidArguments { field, .. } if field == "output_usd_per_mtok"),
            "{half:?}"
        );

        // The tenant's default: no prices, so no cost.
        let plain = call(&fixture.hub, &admin(), "generate", json!({"prompt": "x"}))
            .await
            .expect("default provider");
        assert_eq!(plain["provider"], "main");
        assert!(plain["usage"].get("cost_usd").is_none(), "{plain:#}");
        // Another provider and another of its models, by name: 7 tokens in at
        // $1000/M and 3 out at $5000/M cost $0.022.
        let chosen = call(
            &fixture.hub,
            &admin(),
            "generate",
            json!({"prompt": "y", "provider": "priced", "model": "echo-large"}),
        )
        .await
        .expect("chosen provider");
        assert_eq!(chosen["provider"], "priced");
        let cost = chosen["usage"]["cost_usd"].as_f64().expect("a cost");
        assert!((cost - 0.022).abs() < 1e-9, "{cost}");
        let sent = stand_in
            .seen
            .lock()
            .expect("lock")
            .last()
            .map(|seen| (seen.path.clone(), seen.body["model"].clone()));
        assert_eq!(
            sent,
            Some(("/v1/messages".to_string(), json!("echo-large")))
        );

        let listed = call(&fixture.hub, &admin(), "list_generations", json!({}))
            .await
            .expect("generations");
        let costs: Vec<Option<f64>> = listed["generations"]
            .as_array()
            .expect("list")
            .iter()
            .map(|generation| generation["cost_usd"].as_f64())
            .collect();
        assert_eq!(costs.len(), 2, "{listed:#}");
        assert!(
            costs[0].is_some_and(|cost| (cost - 0.022).abs() < 1e-9),
            "{costs:?}"
        );
        assert_eq!(costs[1], None);
        let providers = call(&fixture.hub, &admin(), "list_model_providers", json!({}))
            .await
            .expect("providers");
        let priced = providers["providers"]
            .as_array()
            .expect("providers")
            .iter()
            .find(|p| p["name"] == "priced")
            .cloned()
            .expect("priced listed");
        assert_eq!(priced["output_usd_per_mtok"], 5000.0);

        // A provider is asked whether it answers without spending tokens.
        let checked = call(&fixture.hub, &admin(), "test_model_provider", json!({}))
            .await
            .expect("checked");
        assert_eq!(checked["provider"], "main");
        assert_eq!(checked["reachable"], true, "{checked:#}");
        call(&fixture.hub, &admin(), "set_model_provider",
            json!({"name": "gone", "provider": {"kind": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m"}}))
            .await
            .expect("gone provider");
        let checked = call(
            &fixture.hub,
            &admin(),
            "test_model_provider",
            json!({"name": "gone"}),
        )
        .await
        .expect("checked");
        assert_eq!(checked["reachable"], false, "{checked:#}");
        assert!(
            checked["error"]
                .as_str()
                .unwrap_or_default()
                .contains("cannot be reached"),
            "{checked:#}"
        );
        for (provider, field) in [("ghost", "provider"), ("none", "provider")] {
            let error = call(
                &fixture.hub,
                &admin(),
                "generate",
                json!({"prompt": "z", "provider": provider}),
            )
            .await
            .expect_err("no such provider");
            assert!(error.to_string().contains(provider), "{error}");
            assert!(
                matches!(&error, HubError::InvalidArguments { field: f, .. } if f == field),
                "{error:?}"
            );
        }
        // Another tenant's provider is not there to choose.
        let error = call(
            &fixture.hub,
            &ctx("globex", Role::Operator),
            "generate",
            json!({"prompt": "z", "provider": "priced"}),
        )
        .await
        .expect_err("acme's provider");
        assert!(error.to_string().contains("neither stored"), "{error}");
        assert!(
            matches!(&error, HubError::InvalidArguments { field, .. } if field == "provider"),
            "{error:?}"
        );
    }
}
