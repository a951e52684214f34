//! Event triggers over the support desk on both store backends: a condition on the
//! ticket and its customer picks which changes start runs, each change starts one
//! run however often it is read (two servers, a cursor read again), SLA breaches
//! are changes too, a paused trigger lets changes pass, bad conditions are refused
//! when made, and a trigger sees only its own tenant's desk.

use std::sync::Arc;

use serde_json::{Value, json};
use tideway_core::{
    CallContext, HubError, Store, context::Role, on_store, store::testing::test_stores,
};

use super::{Rig, operator};
use crate::toolkits::{support::SupportToolkit, testing::ctx};

async fn with_desk(store: &Store) -> Rig {
    let rig = Rig::start(store).await;
    rig.server
        .hub
        .register(Arc::new(SupportToolkit::new(
            store.clone(),
            Arc::downgrade(&rig.server.hub),
        )))
        .expect("support registered");
    rig
}

async fn support(rig: &Rig, ctx: &CallContext, tool: &str, arguments: Value) -> Value {
    let arguments = serde_json::from_value(arguments).expect("object");
    let result = rig
        .server
        .hub
        .call(ctx, "support", tool, Some(arguments))
        .await
        .expect(tool);
    assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
    crate::toolkits::testing::structured(&rig.server.hub, "support", tool, result)
}

async fn customer(rig: &Rig, ctx: &CallContext, email: &str, tier: &str) -> i64 {
    let made = support(
        rig,
        ctx,
        "create_customer",
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": email, "tier": tier}),
    )
    .await;
    made["id"].as_i64().expect("customer id")
}

async fn ticket(rig: &Rig, ctx: &CallContext, customer: i64, priority: &str) -> i64 {
    let made = support(
        rig,
        ctx,
        "create_ticket",
        json!({"customer_id": customer, "subject": "It is down", "description": "Nothing loads.", "priority": priority}),
    )
    .await;
    made["id"].as_i64().expect("ticket id")
}

/// The runs a trigger started, by its view's latest firings.
async fn firings(rig: &Rig, name: &str) -> Vec<Value> {
    let list = rig
        .call(&operator("acme"), "list_event_triggers", json!({}))
        .await
        .expect("list");
    list["event_triggers"]
        .as_array()
        .and_then(|triggers| triggers.iter().find(|t| t["name"] == name))
        .and_then(|trigger| trigger["last_firings"].as_array().cloned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_matching_change_starts_one_run_and_others_start_none() {
    for test in test_stores().await {
        let rig = with_desk(&test.store).await;
        let acme = operator("acme");
        rig.save_echo(&acme, "escalate").await;
        let premium = customer(&rig, &acme, "ada@premium.test", "premium").await;
        let free = customer(&rig, &acme, "bob@free.test", "free").await;
        // Made before the trigger: not followed.
        let before = ticket(&rig, &acme, premium, "urgent").await;

        let made = rig
            .call(&acme, "create_event_trigger", json!({
                "name": "escalate-premium",
                "on": "ticket_created",
                "if": "ticket.customer_tier == 'premium' and ticket.priority in ['high', 'urgent']",
                "target": {"workflow": "escalate", "input": {"label": "ticket {{ ticket.id }}"}}
            }))
            .await
            .expect("trigger made");
        assert_eq!(made["on"], "ticket_created");
        assert_eq!(made["paused"], false);

        let urgent = ticket(&rig, &acme, premium, "urgent").await;
        ticket(&rig, &acme, free, "urgent").await;
        ticket(&rig, &acme, premium, "low").await;
        // Another tenant's desk is not this trigger's.
        let globex = operator("globex");
        let theirs = customer(&rig, &globex, "eve@premium.test", "premium").await;
        ticket(&rig, &globex, theirs, "urgent").await;

        let cursor_before: String = on_store!(&test.store, pool => {
            sqlx::query_scalar("SELECT cursor FROM automation_event_triggers WHERE name = 'escalate-premium'")
                .fetch_one(pool)
                .await
        })
        .expect("cursor");
        let started = rig
            .state()
            .watch(super::super::now_ms(), 0)
            .await
            .expect("watch");
        assert_eq!(started, 1, "{}", test.store.backend());
        let label = format!("\"ticket {urgent}\"");
        rig.server.wait_for_call(&label).await;
        assert!(
            rig.server
                .probe
                .calls_of(&format!("\"ticket {before}\""))
                .is_empty()
        );

        // Read again (the cursor moved on): nothing new.
        assert_eq!(
            rig.state()
                .watch(super::super::now_ms(), 0)
                .await
                .expect("watch"),
            0
        );
        // A server that died before moving the cursor on: the changes are read
        // again, and the run already started is found, not started again.
        on_store!(&test.store, pool => {
            sqlx::query("UPDATE automation_event_triggers SET cursor = $1 WHERE name = 'escalate-premium'")
                .bind(&cursor_before)
                .execute(pool)
                .await
                .map(|_| ())
        })
        .expect("cursor put back");
        assert_eq!(
            rig.state()
                .watch(super::super::now_ms(), 0)
                .await
                .expect("watch"),
            0
        );
        let fired = firings(&rig, "escalate-premium").await;
        assert_eq!(fired.len(), 1, "{fired:#?}");
        assert_eq!(fired[0]["status"], "started");
        assert!(fired[0]["execution_id"].is_string());
        assert_eq!(rig.server.probe.calls_of(&label).len(), 1);
    }
}

#[tokio::test]
async fn two_servers_reading_the_same_trigger_start_each_change_once() {
    for test in test_stores().await {
        let first = with_desk(&test.store).await;
        let second = with_desk(&test.store).await;
        let acme = operator("acme");
        first.save_echo(&acme, "escalate").await;
        first
            .call(
                &acme,
                "create_event_trigger",
                json!({
                    "name": "every-ticket", "on": "ticket_created",
                    "target": {"workflow": "escalate", "input": {"label": "new {{ ticket.id }}"}}
                }),
            )
            .await
            .expect("trigger made");
        let someone = customer(&first, &acme, "cy@desk.test", "standard").await;
        let mut tickets = Vec::new();
        for _ in 0..5 {
            tickets.push(ticket(&first, &acme, someone, "medium").await);
        }
        let now = super::super::now_ms();
        let (a, b) = tokio::join!(first.state().watch(now, 0), second.state().watch(now, 0));
        let total = a.expect("first") + b.expect("second");
        assert_eq!(total, 5, "{}", test.store.backend());
        // Both servers' engines share the store, so either may carry a run; each
        // ticket's run is one, and its step is called once between them.
        let listed = first
            .server
            .call(&acme, "list_executions", json!({"template_id": "escalate"}))
            .await
            .expect("executions");
        let executions = listed["executions"].as_array().cloned().unwrap_or_default();
        assert_eq!(executions.len(), 5, "{listed:#}");
        for execution in &executions {
            let id = execution["execution_id"].as_str().expect("an id");
            let run = first.server.finished(&acme, id).await;
            assert_eq!(run["status"], "succeeded", "{run:#}");
        }
        for id in tickets {
            let label = format!("\"new {id}\"");
            let calls = first.server.probe.calls_of(&label).len()
                + second.server.probe.calls_of(&label).len();
            assert_eq!(calls, 1, "{label}");
        }
    }
}

#[tokio::test]
async fn an_sla_breach_is_a_change_and_a_paused_trigger_lets_changes_pass() {
    for test in test_stores().await {
        let rig = with_desk(&test.store).await;
        let acme = operator("acme");
        rig.call(
            &acme,
            "create_event_trigger",
            json!({
                "name": "breaches", "on": "sla_breached",
                "if": "ticket.customer_tier == 'enterprise'",
                "target": {"tool": "probe_echo", "input": {"value": "breach {{ ticket.id }}"}}
            }),
        )
        .await
        .expect("trigger made");
        let big = customer(&rig, &acme, "dee@big.test", "enterprise").await;
        let late = ticket(&rig, &acme, big, "high").await;
        let solved = ticket(&rig, &acme, big, "high").await;
        let pending = ticket(&rig, &acme, big, "high").await;
        // Time passes: the first two fall due (after the trigger was made, which
        // follows breaches from then on); the second was resolved in time.
        let past = tideway_core::store::now();
        let resolved = past - chrono::Duration::milliseconds(5);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        on_store!(&test.store, pool => {
            async {
                sqlx::query("UPDATE support_tickets SET sla_due_at = $1 WHERE id IN ($2, $3)")
                    .bind(past)
                    .bind(late)
                    .bind(solved)
                    .execute(pool)
                    .await?;
                sqlx::query("UPDATE support_tickets SET status = 'resolved', resolved_at = $1 WHERE id = $2")
                    .bind(resolved)
                    .bind(solved)
                    .execute(pool)
                    .await
                    .map(|_| ())
            }
            .await
        })
        .expect("time passed");
        assert_eq!(
            rig.state()
                .watch(super::super::now_ms(), 0)
                .await
                .expect("watch"),
            1
        );
        rig.server
            .wait_for_call(&format!("\"breach {late}\""))
            .await;
        assert!(
            rig.server
                .probe
                .calls_of(&format!("\"breach {solved}\""))
                .is_empty()
        );

        // Paused, the third ticket's breach passes by; resumed, it is not started.
        let paused = rig
            .call(&acme, "pause_event_trigger", json!({"name": "breaches"}))
            .await
            .expect("paused");
        assert_eq!(paused["paused"], true);
        let due = tideway_core::store::now();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        on_store!(&test.store, pool => {
            sqlx::query("UPDATE support_tickets SET sla_due_at = $1 WHERE id = $2")
                .bind(due)
                .bind(pending)
                .execute(pool)
                .await
                .map(|_| ())
        })
        .expect("time passed");
        assert_eq!(
            rig.state()
                .watch(super::super::now_ms(), 0)
                .await
                .expect("watch"),
            0
        );
        rig.call(&acme, "resume_event_trigger", json!({"name": "breaches"}))
            .await
            .expect("resumed");
        assert_eq!(
            rig.state()
                .watch(super::super::now_ms(), 0)
                .await
                .expect("watch"),
            0
        );
        assert!(
            rig.server
                .probe
                .calls_of(&format!("\"breach {pending}\""))
                .is_empty()
        );
    }
}

#[tokio::test]
async fn a_trigger_that_cannot_work_is_refused_when_made() {
    for test in test_stores().await {
        let rig = with_desk(&test.store).await;
        let acme = operator("acme");
        let cases = [
            (
                json!({"name": "bad-if", "on": "ticket_created", "if": "ticket.priority ==",
                    "target": {"tool": "probe_echo", "input": {"value": "x"}}}),
                "if",
            ),
            (
                json!({"name": "bad-input", "on": "ticket_created",
                    "target": {"tool": "probe_echo", "input": {"value": "{{ ticket.id +}}"}}}),
                "target.input",
            ),
            (
                json!({"name": "Bad Name", "on": "ticket_created",
                    "target": {"tool": "probe_echo", "input": {"value": "x"}}}),
                "name",
            ),
        ];
        for (input, field) in cases {
            let error = rig
                .call(&acme, "create_event_trigger", input)
                .await
                .expect_err(field);
            assert!(
                matches!(&error, HubError::InvalidArguments { field: f, .. } if f == field),
                "{field}: {error:?}"
            );
        }
        let unknown = rig
            .call(
                &acme,
                "create_event_trigger",
                json!({"name": "x", "on": "ticket_exploded",
                "target": {"tool": "probe_echo"}}),
            )
            .await
            .expect_err("unknown event");
        assert!(unknown.to_string().contains("on"), "{unknown}");
        // A viewer may not make one: it would act with their rights, which do not
        // reach further than reading.
        let viewer = ctx("acme", Role::Viewer);
        assert!(
            rig.call(
                &viewer,
                "create_event_trigger",
                json!({"name": "peek", "on": "ticket_created",
                "target": {"tool": "probe_echo", "input": {"value": "x"}}})
            )
            .await
            .is_err()
        );
    }
}
