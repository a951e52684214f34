//! Inbound webhook deliveries as the public route hands them over: a signed delivery
//! starts the target with the body as input and answers with the recorded run; a
//! repeated delivery (same id, or same signature under another id) answers with the
//! same run; a wrong, missing or stale signature, another tenant's path and an
//! unknown token are refused, the first alike; rotating the secret retires the old.

use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tideway_core::{HubError, context::Role, store::testing::test_stores};

use super::{Rig, operator};
use crate::toolkits::{
    automation::{
        now_ms,
        service::{HookPath, Refused},
        signature::{outbound_headers, sign_hex},
    },
    testing::ctx,
};

fn signed(secret: &str, body: &[u8], delivery: Option<&str>, at_secs: i64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in outbound_headers(secret.as_bytes(), body, at_secs) {
        headers.insert(name, HeaderValue::from_str(&value).expect("value"));
    }
    if let Some(id) = delivery {
        headers.insert("x-delivery-id", HeaderValue::from_str(id).expect("value"));
    }
    headers
}

async fn make(rig: &Rig, spec: Value) -> (String, Value) {
    let made = rig
        .call(&ctx("acme", Role::Admin), "create_webhook", spec)
        .await
        .expect("made");
    (
        made["secret"].as_str().unwrap_or_default().to_string(),
        made,
    )
}

#[tokio::test]
async fn a_signed_delivery_starts_its_target_once() {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let acme = operator("acme");
        rig.save_echo(&acme, "echo-run").await;
        let (secret, made) = make(
            &rig,
            json!({"name": "tickets", "target": {"workflow": "echo-run", "input": {"pinned": true}}}),
        )
        .await;
        assert!(secret.starts_with("whsec_"), "{made:#}");
        assert_eq!(made["path"], "/hooks/acme/tickets");
        let token = made["secret_path"]
            .as_str()
            .and_then(|path| path.strip_prefix("/hooks/"))
            .expect("a token path")
            .to_string();
        assert!(token.len() >= 32, "unguessable: {token}");

        let body = br#"{"label": "from-hook", "pinned": false}"#;
        let now = now_ms() / 1000;
        let headers = signed(&secret, body, Some("d-1"), now);
        let named = HookPath::Named {
            tenant: "acme",
            name: "tickets",
        };
        let accepted = rig
            .state()
            .receive(named, &headers, body, "test-request")
            .await
            .expect("accepted");
        assert!(!accepted.duplicate);
        let run = rig.server.finished(&acme, &accepted.execution_id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(run["steps"][0]["output"]["label"], "from-hook");
        assert_eq!(
            run["input"]["pinned"], true,
            "the endpoint's own input wins over the body's"
        );
        assert_eq!(
            run["started_by"], "acme-admin",
            "the run acts as the endpoint's maker"
        );

        // The sender retries: the same run, not another.
        let again = rig
            .state()
            .receive(
                HookPath::Named {
                    tenant: "acme",
                    name: "tickets",
                },
                &headers,
                body,
                "test-request",
            )
            .await
            .expect("accepted");
        assert!(again.duplicate);
        assert_eq!(again.execution_id, accepted.execution_id);
        // A replay of the signed request under a new delivery id is found by its
        // signature; the unguessable path reaches the same endpoint.
        let replay = signed(&secret, body, Some("d-2"), now);
        let replayed = rig
            .state()
            .receive(HookPath::Token(&token), &replay, body, "test-request")
            .await
            .expect("accepted");
        assert!(replayed.duplicate);
        assert_eq!(replayed.execution_id, accepted.execution_id);

        // A new delivery starts a new run.
        let other = br#"{"label": "second"}"#;
        let second = rig
            .state()
            .receive(
                HookPath::Token(&token),
                &signed(&secret, other, Some("d-3"), now),
                other,
                "test-request",
            )
            .await
            .expect("accepted");
        assert_ne!(second.execution_id, accepted.execution_id);
    }
}

#[tokio::test]
async fn refused_deliveries_reveal_nothing() {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let acme = operator("acme");
        rig.save_echo(&acme, "echo-run").await;
        let (secret, _) = make(
            &rig,
            json!({"name": "tickets", "target": {"workflow": "echo-run"}}),
        )
        .await;
        let body = br#"{"label": "x"}"#;
        let now = now_ms() / 1000;
        let good = signed(&secret, body, None, now);
        let wrong = signed("whsec_guess", body, None, now);
        let unsigned = HeaderMap::new();
        let cases: Vec<(&str, HookPath, &HeaderMap)> = vec![
            (
                "a wrong secret",
                HookPath::Named {
                    tenant: "acme",
                    name: "tickets",
                },
                &wrong,
            ),
            (
                "no signature",
                HookPath::Named {
                    tenant: "acme",
                    name: "tickets",
                },
                &unsigned,
            ),
            (
                "another tenant's path",
                HookPath::Named {
                    tenant: "globex",
                    name: "tickets",
                },
                &good,
            ),
            (
                "an unknown name",
                HookPath::Named {
                    tenant: "acme",
                    name: "ticket",
                },
                &good,
            ),
            (
                "an unknown token",
                HookPath::Token("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                &good,
            ),
        ];
        for (case, path, headers) in cases {
            let refused = rig
                .state()
                .receive(path, headers, body, "test-request")
                .await;
            assert!(
                matches!(refused, Err(Refused::NotAccepted)),
                "{case}: {refused:?}"
            );
        }
        let stale = signed(&secret, body, None, now - 3600);
        let refused = rig
            .state()
            .receive(
                HookPath::Named {
                    tenant: "acme",
                    name: "tickets",
                },
                &stale,
                body,
                "test-request",
            )
            .await;
        assert!(
            matches!(refused, Err(Refused::Stale { skew_secs }) if (3599..=3601).contains(&skew_secs)),
            "{refused:?}"
        );
        for bad in [&b"[1, 2]"[..], b"not json"] {
            let refused = rig
                .state()
                .receive(
                    HookPath::Named {
                        tenant: "acme",
                        name: "tickets",
                    },
                    &signed(&secret, bad, None, now),
                    bad,
                    "test-request",
                )
                .await;
            assert!(matches!(refused, Err(Refused::Body(_))), "{refused:?}");
        }
    }
}

#[tokio::test]
async fn rotating_retires_the_old_secret_and_github_signs_the_body() {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let acme = operator("acme");
        rig.save_echo(&acme, "echo-run").await;
        let (old, _) = make(
            &rig,
            json!({"name": "gh", "signing": "github", "target": {"workflow": "echo-run"}}),
        )
        .await;
        let rotated = rig
            .call(
                &ctx("acme", Role::Admin),
                "rotate_webhook_secret",
                json!({"name": "gh"}),
            )
            .await
            .expect("rotated");
        let new = rotated["secret"].as_str().expect("a new secret");
        assert_ne!(new, old);
        let body = br#"{"label": "push"}"#;
        let github = |secret: &str| {
            let mut headers = HeaderMap::new();
            let signature = format!("sha256={}", sign_hex(secret.as_bytes(), &[body]));
            headers.insert(
                "x-hub-signature-256",
                HeaderValue::from_str(&signature).expect("value"),
            );
            headers.insert("x-github-delivery", HeaderValue::from_static("gh-1"));
            headers
        };
        let path = || HookPath::Named {
            tenant: "acme",
            name: "gh",
        };
        let refused = rig
            .state()
            .receive(path(), &github(&old), body, "test-request")
            .await;
        assert!(matches!(refused, Err(Refused::NotAccepted)), "{refused:?}");
        let accepted = rig
            .state()
            .receive(path(), &github(new), body, "test-request")
            .await
            .expect("accepted");
        let run = rig.server.finished(&acme, &accepted.execution_id).await;
        assert_eq!(run["steps"][0]["output"]["label"], "push");
    }
}

#[tokio::test]
async fn only_admins_make_webhooks_and_unsigned_ones_are_asked_for_by_name() {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let acme = operator("acme");
        rig.save_echo(&acme, "echo-run").await;
        let refused = rig
            .call(
                &acme,
                "create_webhook",
                json!({"name": "mine", "target": {"workflow": "echo-run"}}),
            )
            .await
            .expect_err("operators may not");
        assert!(matches!(refused, HubError::Forbidden(_)), "{refused}");

        let (secret, made) = make(
            &rig,
            json!({"name": "open", "signing": "none", "target": {"workflow": "echo-run"}}),
        )
        .await;
        assert_eq!(secret, "", "an unsigned endpoint has no secret: {made:#}");
        let body = br#"{"label": "anyone"}"#;
        let accepted = rig
            .state()
            .receive(
                HookPath::Named {
                    tenant: "acme",
                    name: "open",
                },
                &HeaderMap::new(),
                body,
                "test-request",
            )
            .await
            .expect("accepted unsigned");
        let run = rig.server.finished(&acme, &accepted.execution_id).await;
        assert_eq!(run["status"], "succeeded");
        let listed = rig
            .call(&acme, "list_webhooks", json!({}))
            .await
            .expect("listed");
        assert_eq!(listed["webhooks"][0]["signing"], "none");
        assert!(
            !listed.to_string().contains("whsec_"),
            "no secret is listed"
        );
    }
}
