//! What an agent thinks with and what it may spend: its own provider and model,
//! a money limit kept from the costs providers report or their declared prices
//! (and a run stopped when no cost can be known), and health that names each
//! agent's provider and the tenant's tokens left.

use std::sync::Arc;

use serde_json::{Value, json};
use tideway_core::{HubError, context::Role, secrets::MasterKey, store::testing::test_stores};

use super::{agents, call, finished, fixture, save_agent, scripted_model};
use crate::toolkits::{testing::ctx, workflows::tests::operator};

fn key() -> Arc<MasterKey> {
    Arc::new(MasterKey::generate().expect("key").0)
}

async fn store_provider(server: &super::Server, name: &str, provider: Value) {
    call(
        server,
        &ctx("acme", Role::Admin),
        "models",
        "set_model_provider",
        json!({"name": name, "provider": provider}),
    )
    .await
    .expect("provider stored");
}

async fn run_to_end(server: &super::Server, agent: &str) -> Value {
    let caller = operator("acme");
    let view = agents(
        server,
        &caller,
        "run_agent",
        json!({"agent": agent, "task": "Probe the thing."}),
    )
    .await
    .expect("run started");
    let id = view["run"]["id"].as_str().expect("a run id").to_string();
    finished(server, &caller, &id).await
}

#[tokio::test]
async fn an_agent_thinks_with_its_own_provider_and_model() {
    let (default_base, default_script) = scripted_model().await;
    let (other_base, other_script) = scripted_model().await;
    for test in test_stores().await {
        let server = fixture(&test.store, &key(), &default_base).await;
        store_provider(
            &server,
            "second",
            json!({"kind": "openai", "base_url": other_base, "model": "scripted-small", "api_key": "sk-second"}),
        )
        .await;
        save_agent(
            &server,
            "picky",
            &["probe"],
            json!({"provider": "second", "model": "scripted-large"}),
        )
        .await;
        let asked_before = default_script.requests().len();
        other_script.text("answered by the second provider");
        let view = run_to_end(&server, "picky").await;
        assert_eq!(view["run"]["status"], "succeeded", "{view:#}");
        assert_eq!(view["run"]["answer"], "answered by the second provider");
        let sent = other_script.requests();
        assert_eq!(
            sent.last().map(|body| body["model"].clone()),
            Some(json!("scripted-large"))
        );
        assert_eq!(default_script.requests().len(), asked_before);
        let generation = view["events"][0]["body"]["generation_id"].clone();
        let recorded = call(
            &server,
            &ctx("acme", Role::Admin),
            "models",
            "get_generation",
            json!({"id": generation}),
        )
        .await
        .expect("generation");
        assert_eq!(recorded["provider"], "second");

        // A provider the tenant does not have is refused when the agent is saved.
        let refused = agents(
            &server,
            &ctx("acme", Role::Admin),
            "save_agent",
            json!({"agent": {"name": "lost", "description": "x", "instructions": "x",
                   "tools": ["probe"], "provider": "ghost"}}),
        )
        .await
        .expect_err("unknown provider");
        assert!(
            matches!(&refused, HubError::InvalidArguments { field, .. } if field == "agent.provider"),
            "{refused:?}"
        );

        // Health names each agent's own provider; one whose provider went away, or
        // does not answer, is down.
        save_agent(&server, "orphan", &["probe"], json!({"provider": "second"})).await;
        store_provider(
            &server,
            "silent",
            json!({"kind": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m"}),
        )
        .await;
        save_agent(
            &server,
            "stranded",
            &["probe"],
            json!({"provider": "silent"}),
        )
        .await;
        call(
            &server,
            &ctx("acme", Role::Admin),
            "models",
            "delete_model_provider",
            json!({"name": "second"}),
        )
        .await
        .expect("provider removed");
        let health = agents(&server, &operator("acme"), "agent_health", json!({}))
            .await
            .expect("health");
        let of = |name: &str| {
            health["agents"]
                .as_array()
                .and_then(|agents| agents.iter().find(|a| a["agent"] == name))
                .cloned()
                .unwrap_or(Value::Null)
        };
        assert_eq!(of("orphan")["status"], "down", "{health:#}");
        assert_eq!(of("orphan")["provider"], "second");
        assert!(
            of("orphan")["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("no longer"),
            "{health:#}"
        );
        assert_eq!(of("stranded")["status"], "down", "{health:#}");
        assert!(
            of("stranded")["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("does not answer"),
            "{health:#}"
        );
        assert_eq!(of("data_analyst")["status"], "healthy", "{health:#}");
        assert_eq!(of("data_analyst")["provider"], "main");
    }
}

#[tokio::test]
async fn a_money_limit_stops_a_run_at_its_cost_or_at_once_when_no_cost_is_known() {
    let (base, script) = scripted_model().await;
    script.repeat_calls(&[("probe_echo", json!({"value": "again"}))]);
    for test in test_stores().await {
        let server = fixture(&test.store, &key(), &base).await;
        // Each scripted turn is 100 tokens in and 20 out: $0.10 + $0.10 at these prices.
        store_provider(
            &server,
            "priced",
            json!({"kind": "openai", "base_url": base, "model": "scripted",
                   "input_usd_per_mtok": 1000.0, "output_usd_per_mtok": 5000.0}),
        )
        .await;
        save_agent(
            &server,
            "frugal",
            &["probe"],
            json!({"provider": "priced", "limits": {"max_cost_usd": 0.5}}),
        )
        .await;
        save_agent(
            &server,
            "blind",
            &["probe"],
            json!({"limits": {"max_cost_usd": 1.0}}),
        )
        .await;

        script.report_cost(None);
        let view = run_to_end(&server, "frugal").await;
        let run = &view["run"];
        assert_eq!(run["status"], "limited", "{view:#}");
        assert_eq!(run["steps"], 3, "{view:#}");
        let cost = run["cost_usd"].as_f64().expect("a cost");
        assert!((cost - 0.6).abs() < 1e-9, "{cost}");
        assert!(
            run["error"]
                .as_str()
                .unwrap_or_default()
                .contains("money limit"),
            "{run}"
        );

        // The tenant's default provider reports no cost and declares no prices.
        let view = run_to_end(&server, "blind").await;
        let run = &view["run"];
        assert_eq!(run["status"], "limited", "{view:#}");
        assert_eq!(run["steps"], 1, "{view:#}");
        assert!(run["cost_usd"].is_null(), "{run}");
        assert!(
            run["error"]
                .as_str()
                .unwrap_or_default()
                .contains("cannot be kept"),
            "{run}"
        );

        // The same provider reporting each answer's cost ($0.30) is held to it.
        script.report_cost(Some(0.3));
        let view = run_to_end(&server, "blind").await;
        let run = &view["run"];
        assert_eq!(run["status"], "limited", "{view:#}");
        assert_eq!(run["steps"], 4, "{view:#}");
        let cost = run["cost_usd"].as_f64().expect("a cost");
        assert!((cost - 1.2).abs() < 1e-9, "{cost}");
        script.report_cost(None);

        let refused = agents(
            &server,
            &ctx("acme", Role::Admin),
            "save_agent",
            json!({"agent": {"name": "free", "description": "x", "instructions": "x",
                   "tools": ["probe"], "limits": {"max_cost_usd": 0.0}}}),
        )
        .await
        .expect_err("a zero limit");
        assert!(
            matches!(&refused, HubError::InvalidArguments { field, .. } if field == "agent.limits.max_cost_usd"),
            "{refused:?}"
        );
    }
}
