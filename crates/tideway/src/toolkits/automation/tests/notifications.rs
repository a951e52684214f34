//! Notifications to a local HTTP receiver: `notify` answers at once with a pending
//! delivery; the receiver fails twice and the third attempt delivers, each attempt
//! signed so the receiver can check it; a receiver that never succeeds ends failed
//! after the configured attempts; Slack channels get `{"text": …}` and show no token;
//! internal addresses are refused unless the operator opened them.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use serde_json::{Value, json};
use tideway_core::{HubError, context::Role, store::testing::test_stores};

use super::{Rig, operator, quiet};
use crate::toolkits::{
    automation::{
        now_ms,
        settings::AutomationConfig,
        signature::{Signing, verify},
    },
    testing::ctx,
};

/// What the receiver got, and how many requests it fails before answering 200.
#[derive(Default)]
pub(crate) struct Received {
    pub requests: Mutex<Vec<(HeaderMap, Bytes)>>,
    fail_first: usize,
}

async fn receive(
    State(received): State<Arc<Received>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut requests = received.requests.lock().expect("lock");
    requests.push((headers, body));
    if requests.len() <= received.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

pub(crate) async fn receiver(fail_first: usize) -> (SocketAddr, Arc<Received>) {
    let received = Arc::new(Received {
        fail_first,
        ..Received::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(received.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (address, received)
}

/// Sends due deliveries until `id` is no longer pending; its view.
async fn deliver_until_done(rig: &Rig, id: &str) -> Value {
    let admin = ctx("acme", Role::Admin);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        rig.state().deliver_due(now_ms()).await.expect("delivered");
        let listed = rig
            .call(&admin, "list_deliveries", json!({}))
            .await
            .expect("listed");
        let delivery = listed["deliveries"]
            .as_array()
            .and_then(|all| all.iter().find(|delivery| delivery["id"] == id))
            .cloned()
            .expect("the delivery");
        if delivery["status"] != "pending" {
            return delivery;
        }
        assert!(Instant::now() < deadline, "still pending: {delivery:#}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_notification_is_retried_until_delivered_and_signed_each_time() {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let admin = ctx("acme", Role::Admin);
        let (address, received) = receiver(2).await;
        let channel = rig
            .call(
                &admin,
                "create_channel",
                json!({"name": "ops", "kind": "webhook", "url": format!("http://{address}/hook")}),
            )
            .await
            .expect("made");
        let secret = channel["signing_secret"]
            .as_str()
            .expect("a secret")
            .to_string();

        let queued = rig
            .call(
                &operator("acme"),
                "notify",
                json!({"channel": "ops", "subject": "SLA", "text": "Ticket 42 breached its SLA", "data": {"ticket": 42}}),
            )
            .await
            .expect("queued");
        assert_eq!(
            queued["status"], "pending",
            "notify does not wait for the receiver"
        );
        let id = queued["id"].as_str().expect("an id").to_string();

        let delivery = deliver_until_done(&rig, &id).await;
        assert_eq!(delivery["status"], "delivered", "{delivery:#}");
        assert_eq!(delivery["attempts"], 3);
        assert_eq!(delivery["last_status"], 200);

        let requests = received.requests.lock().expect("lock").clone();
        assert_eq!(requests.len(), 3);
        for (headers, body) in &requests {
            verify(
                Signing::Tideway,
                secret.as_bytes(),
                headers,
                body,
                now_ms() / 1000,
                300,
            )
            .expect("each attempt is signed with the channel's secret");
            assert_eq!(headers["x-delivery-id"], id.as_str());
            let sent: Value = serde_json::from_slice(body).expect("JSON");
            assert_eq!(sent["text"], "Ticket 42 breached its SLA");
            assert_eq!(sent["data"]["ticket"], 42);
        }
    }
}

#[tokio::test]
async fn a_receiver_that_never_succeeds_ends_failed_without_blocking_anyone() {
    for test in test_stores().await {
        let rig = Rig::start_with(
            &test.store,
            AutomationConfig {
                delivery_attempts: 3,
                ..quiet()
            },
        )
        .await;
        let admin = ctx("acme", Role::Admin);
        let (address, received) = receiver(usize::MAX).await;
        rig.call(
            &admin,
            "create_channel",
            json!({"name": "down", "kind": "webhook", "url": format!("http://{address}/hook")}),
        )
        .await
        .expect("made");
        let queued = rig
            .call(
                &admin,
                "notify",
                json!({"channel": "down", "text": "hello"}),
            )
            .await
            .expect("queued at once");
        let delivery = deliver_until_done(&rig, queued["id"].as_str().expect("id")).await;
        assert_eq!(delivery["status"], "failed", "{delivery:#}");
        assert_eq!(delivery["attempts"], 3);
        assert_eq!(delivery["last_status"], 500);
        assert!(
            delivery["last_error"]
                .as_str()
                .is_some_and(|error| error.contains("500"))
        );
        assert_eq!(received.requests.lock().expect("lock").len(), 3);
    }
}

#[tokio::test]
async fn slack_channels_get_text_and_keep_their_url_sealed() {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let admin = ctx("acme", Role::Admin);
        let (address, received) = receiver(0).await;
        let url = format!("http://{address}/hook");
        let made = rig
            .call(
                &admin,
                "create_channel",
                json!({"name": "team", "kind": "slack", "url": url}),
            )
            .await
            .expect("made");
        assert_eq!(made["signing_secret"], Value::Null);
        let listed = rig
            .call(&admin, "list_channels", json!({}))
            .await
            .expect("listed");
        assert!(
            !listed.to_string().contains("/hook"),
            "the URL's path is its token: {listed}"
        );

        let tested = rig
            .call(&admin, "test_channel", json!({"name": "team"}))
            .await
            .expect("tested");
        assert_eq!(tested["status"], "delivered", "{tested:#}");
        let requests = received.requests.lock().expect("lock").clone();
        let sent: Value = serde_json::from_slice(&requests[0].1).expect("JSON");
        assert_eq!(
            sent,
            json!({"text": "*Tideway test*\nA test notification to channel 'team'."})
        );
        assert!(requests[0].0.get("x-signature").is_none());
    }
}

#[tokio::test]
async fn channels_are_held_to_the_egress_policy_and_must_exist() {
    for test in test_stores().await {
        let rig = Rig::start_with(
            &test.store,
            AutomationConfig {
                allow: Vec::new(),
                ..quiet()
            },
        )
        .await;
        let admin = ctx("acme", Role::Admin);
        for url in [
            "http://127.0.0.1:9/hook",
            "http://10.1.2.3/hook",
            "file:///etc/passwd",
        ] {
            let refused = rig
                .call(
                    &admin,
                    "create_channel",
                    json!({"name": "inside", "kind": "webhook", "url": url}),
                )
                .await
                .expect_err("refused");
            assert!(
                matches!(&refused, HubError::InvalidArguments { field, .. } if field == "url"),
                "{url}: {refused}"
            );
        }
        let mail = |changes: Value| {
            let mut spec = json!({"name": "mail", "kind": "email", "url": "smtp://mail.example.com",
                "from": "tideway@example.com", "to": ["ops@example.com"]});
            for (key, value) in changes.as_object().expect("changes") {
                spec[key] = value.clone();
            }
            spec
        };
        for (changes, field) in [
            (json!({"url": "https://mail.example.com"}), "url"),
            (json!({"url": "smtp://10.1.2.3:25"}), "url"),
            (json!({"from": null}), "from"),
            (json!({"to": ["not an address"]}), "to"),
            (json!({"to": []}), "to"),
            (
                json!({"tls": "none", "username": "u", "password": "p"}),
                "tls",
            ),
            (json!({"password": "p"}), "username"),
        ] {
            let refused = rig
                .call(&admin, "create_channel", mail(changes.clone()))
                .await
                .expect_err("refused");
            assert!(
                matches!(&refused, HubError::InvalidArguments { field: named, .. } if named == field),
                "{changes}: {refused}"
            );
        }
        let both = rig
            .call(
                &admin,
                "notify",
                json!({"channel": "x", "text": "a", "template": "b"}),
            )
            .await
            .expect_err("text or template");
        assert!(
            matches!(&both, HubError::InvalidArguments { field, .. } if field == "text"),
            "{both}"
        );
        let missing = rig
            .call(&admin, "notify", json!({"channel": "nowhere", "text": "x"}))
            .await
            .expect_err("no such channel");
        assert!(matches!(missing, HubError::NotFound(_)), "{missing}");
        let operator_made = rig
            .call(
                &operator("acme"),
                "create_channel",
                json!({"name": "mine", "kind": "slack", "url": "https://hooks.example.com/x"}),
            )
            .await
            .expect_err("admins only");
        assert!(
            matches!(operator_made, HubError::Forbidden(_)),
            "{operator_made}"
        );
    }
}

#[tokio::test]
async fn a_workflows_notify_step_sends_through_a_channel_with_the_runs_values() {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let admin = ctx("acme", Role::Admin);
        let (address, received) = receiver(0).await;
        rig.call(
            &admin,
            "create_channel",
            json!({"name": "team", "kind": "webhook", "url": format!("http://{address}/hook")}),
        )
        .await
        .expect("made");
        let caller = operator("acme");
        let id = rig
            .server
            .run_template(
                &caller,
                json!({
                    "id": "tell-the-team", "name": "tell-the-team",
                    "steps": [
                        {"id": "look", "tool": "probe_echo", "arguments": {"value": "{{ input.customer }}"}},
                        {"id": "tell", "kind": "notify", "needs": ["look"], "arguments": {
                            "channel": "team", "subject": "New customer",
                            "text": "Welcome {{ steps.look.output.label }} aboard"}}
                    ]
                }),
                json!({"customer": "Ada"}),
            )
            .await;
        let run = rig.server.finished(&caller, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        let step = crate::toolkits::workflows::tests::step(&run, "tell");
        let delivery = step["output"]["id"]
            .as_str()
            .expect("a delivery id")
            .to_string();
        assert_eq!(step["output"]["status"], "pending", "{step:#}");
        let delivered = deliver_until_done(&rig, &delivery).await;
        assert_eq!(delivered["status"], "delivered", "{delivered:#}");
        let requests = received.requests.lock().expect("lock").clone();
        let sent: Value = serde_json::from_slice(&requests[0].1).expect("JSON");
        assert_eq!(sent["text"], "Welcome Ada aboard");
        assert_eq!(sent["subject"], "New customer");

        // A notify step's literal arguments are checked against notify's schema when
        // the template is saved.
        let refused = rig
            .server
            .save(
                &caller,
                json!({"id": "bad-notify", "name": "bad-notify", "steps": [
                    {"id": "tell", "kind": "notify", "arguments": {"channel": "team", "txt": "typo"}}]}),
            )
            .await
            .expect_err("unknown argument");
        assert!(refused.to_string().contains("tell"), "{refused}");
    }
}
