//! Schedules on the store, under the test's clock: a due time fires once, as the
//! schedule's maker, and two servers sharing the store fire it once between them; a
//! missed time follows the misfire policy; pause, resume, run now and delete; a
//! firing a stopped server claimed is started by another.

use serde_json::{Value, json};
use tideway_core::{HubError, context::Role, store::testing::test_stores};

use super::{Rig, operator, quiet};
use crate::toolkits::{
    automation::{now_ms, settings::AutomationConfig},
    testing::ctx,
};

fn every_minute(name: &str, target: Value) -> Value {
    json!({"name": name, "timing": {"every_secs": 60}, "target": target})
}

/// The creation time of a schedule due every `every_ms`, from its first fire time.
fn created_every(schedule: &Value, every_ms: i64) -> i64 {
    let next = schedule["next_fire_times"][0]
        .as_str()
        .expect("a next fire time");
    chrono::DateTime::parse_from_rfc3339(next)
        .expect("a time")
        .timestamp_millis()
        - every_ms
}

fn created_ms(schedule: &Value) -> i64 {
    created_every(schedule, 60_000)
}

async fn executions_of(rig: &Rig, name: &str) -> Vec<String> {
    let listed = rig
        .call(&operator("acme"), "list_schedules", json!({}))
        .await
        .expect("listed");
    let schedule = listed["schedules"]
        .as_array()
        .expect("schedules")
        .iter()
        .find(|schedule| schedule["name"] == name)
        .cloned()
        .expect("the schedule");
    schedule["last_firings"]
        .as_array()
        .expect("firings")
        .iter()
        .filter_map(|firing| firing["execution_id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_due_time_fires_once_as_the_schedules_maker() {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let acme = operator("acme");
        rig.save_echo(&acme, "echo-run").await;
        let schedule = rig
            .call(
                &acme,
                "create_schedule",
                every_minute(
                    "hourly-report",
                    json!({"workflow": "echo-run", "input": {"label": "from-schedule"}}),
                ),
            )
            .await
            .expect("created");
        assert_eq!(
            schedule["next_fire_times"].as_array().map(Vec::len),
            Some(5)
        );
        let created = created_ms(&schedule);

        assert_eq!(
            rig.state().tick(created + 59_000).await.expect("tick"),
            0,
            "not due yet"
        );
        assert_eq!(rig.state().tick(created + 60_100).await.expect("tick"), 1);
        assert_eq!(
            rig.state().tick(created + 60_200).await.expect("tick"),
            0,
            "fired already"
        );

        let executions = executions_of(&rig, "hourly-report").await;
        assert_eq!(executions.len(), 1, "{executions:?}");
        let run = rig.server.finished(&acme, &executions[0]).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(
            run["started_by"], "acme-operator",
            "the run acts as the maker"
        );
        assert_eq!(run["steps"][0]["output"]["label"], "from-schedule");

        // Another tenant sees none of it.
        let globex = rig
            .call(&operator("globex"), "list_schedules", json!({}))
            .await
            .expect("listed");
        assert_eq!(globex["schedules"], json!([]));
    }
}

#[tokio::test]
async fn two_servers_on_one_store_fire_each_due_time_once() {
    for test in test_stores().await {
        let first = Rig::start(&test.store).await;
        let second = Rig::start(&test.store).await;
        let acme = operator("acme");
        first.save_echo(&acme, "echo-run").await;
        let schedule = first
            .call(
                &acme,
                "create_schedule",
                every_minute(
                    "race",
                    json!({"workflow": "echo-run", "input": {"label": "race"}}),
                ),
            )
            .await
            .expect("created");
        let created = created_ms(&schedule);
        let mut started = 0;
        for minute in 1..=6 {
            let now = created + minute * 60_000 + 50;
            let (a, b) = tokio::join!(first.state().tick(now), second.state().tick(now));
            let (a, b) = (a.expect("tick"), b.expect("tick"));
            assert!(
                a + b <= 1,
                "minute {minute}: both servers fired ({a} and {b})"
            );
            started += a + b;
        }
        assert_eq!(started, 6, "one run per due time between the two servers");
        let mut executions = executions_of(&first, "race").await;
        executions.sort();
        executions.dedup();
        assert_eq!(
            executions.len(),
            5,
            "the view shows the latest five, all distinct"
        );
    }
}

#[tokio::test]
async fn missed_times_follow_the_schedules_misfire_policy() {
    for test in test_stores().await {
        let rig = Rig::start_with(
            &test.store,
            AutomationConfig {
                max_catch_up: 3,
                ..quiet()
            },
        )
        .await;
        let acme = operator("acme");
        rig.save_echo(&acme, "echo-run").await;
        let mut created = 0;
        for (name, misfire) in [
            ("skipper", "skip"),
            ("once", "run_once"),
            ("all", "run_all"),
        ] {
            let mut spec = every_minute(
                name,
                json!({"workflow": "echo-run", "input": {"label": name}}),
            );
            spec["timing"] = json!({"every_secs": 300});
            spec["misfire"] = json!(misfire);
            created = created_every(
                &rig.call(&acme, "create_schedule", spec)
                    .await
                    .expect("created"),
                300_000,
            );
        }
        // 52 minutes with no server running: each schedule (made within a second
        // of the others) missed ten due times, the latest two minutes ago, longer
        // than a firing may be late and still count as on time.
        let started = rig.state().tick(created + 52 * 60_000).await.expect("tick");
        assert_eq!(
            started, 4,
            "skip fires none, run_once one, run_all its cap of three"
        );
        assert_eq!(executions_of(&rig, "skipper").await.len(), 0);
        assert_eq!(executions_of(&rig, "once").await.len(), 1);
        assert_eq!(executions_of(&rig, "all").await.len(), 3);
    }
}

#[tokio::test]
async fn pause_resume_run_now_and_delete() {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let acme = operator("acme");
        rig.save_echo(&acme, "echo-run").await;
        let schedule = rig
            .call(
                &acme,
                "create_schedule",
                every_minute(
                    "nightly",
                    json!({"workflow": "echo-run", "input": {"label": "n"}}),
                ),
            )
            .await
            .expect("created");
        let created = created_ms(&schedule);
        let paused = rig
            .call(&acme, "pause_schedule", json!({"name": "nightly"}))
            .await
            .expect("paused");
        assert_eq!(paused["paused"], true);
        assert_eq!(paused["next_fire_times"], json!([]));
        assert_eq!(
            rig.state().tick(created + 5 * 60_000).await.expect("tick"),
            0
        );

        let resumed = rig
            .call(&acme, "resume_schedule", json!({"name": "nightly"}))
            .await
            .expect("resumed");
        let next = resumed["next_fire_times"][0].as_str().expect("next");
        let next = chrono::DateTime::parse_from_rfc3339(next)
            .expect("time")
            .timestamp_millis();
        assert!(
            next > now_ms(),
            "resumed from after now, not from the paused times"
        );

        let fired = rig
            .call(&acme, "run_schedule_now", json!({"name": "nightly"}))
            .await
            .expect("ran");
        assert_eq!(fired["status"], "started", "{fired:#}");
        let run = rig
            .server
            .finished(&acme, fired["execution_id"].as_str().expect("an execution"))
            .await;
        assert_eq!(run["status"], "succeeded");

        rig.call(&acme, "delete_schedule", json!({"name": "nightly"}))
            .await
            .expect("deleted");
        let missing = rig
            .call(&acme, "pause_schedule", json!({"name": "nightly"}))
            .await
            .expect_err("gone");
        assert!(matches!(missing, HubError::NotFound(_)), "{missing}");
    }
}

#[tokio::test]
async fn a_tool_target_runs_as_a_background_call() {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let acme = operator("acme");
        let schedule = rig
            .call(
                &acme,
                "create_schedule",
                every_minute(
                    "ping",
                    json!({"tool": "probe_echo", "input": {"value": "pinged"}}),
                ),
            )
            .await
            .expect("created");
        assert_eq!(
            rig.state()
                .tick(created_ms(&schedule) + 60_100)
                .await
                .expect("tick"),
            1
        );
        let executions = executions_of(&rig, "ping").await;
        let run = rig.server.finished(&acme, &executions[0]).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(rig.server.probe.calls_of("\"pinged\"").len(), 1);
    }
}

#[tokio::test]
async fn a_firing_a_stopped_server_claimed_is_started_by_another() {
    for test in test_stores().await {
        let first = Rig::start(&test.store).await;
        let acme = operator("acme");
        first.save_echo(&acme, "echo-run").await;
        let schedule = first
            .call(
                &acme,
                "create_schedule",
                every_minute(
                    "lost",
                    json!({"workflow": "echo-run", "input": {"label": "lost"}}),
                ),
            )
            .await
            .expect("created");
        let created = created_ms(&schedule);
        // The first server claims the due time and dies before starting the run.
        let row = first
            .state()
            .schedules
            .get(&acme.tenant, "lost")
            .await
            .expect("row");
        let due = created + 60_000;
        assert!(
            first
                .state()
                .schedules
                .claim(&row, Some(due + 60_000), &[due])
                .await
                .expect("claimed")
        );
        assert!(executions_of(&first, "lost").await.is_empty());

        let second = Rig::start(&test.store).await;
        // Too soon: the first server might still be starting it.
        second.state().recover(now_ms()).await.expect("recover");
        assert!(executions_of(&second, "lost").await.is_empty());
        second
            .state()
            .recover(now_ms() + 31_000)
            .await
            .expect("recover");
        let executions = executions_of(&second, "lost").await;
        assert_eq!(executions.len(), 1);
        // Looking again starts nothing more.
        second
            .state()
            .recover(now_ms() + 62_000)
            .await
            .expect("recover");
        assert_eq!(executions_of(&second, "lost").await, executions);
    }
}

#[tokio::test]
async fn a_schedule_is_refused_what_its_maker_could_not_start() {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let acme = operator("acme");
        let cases = [
            (json!({"workflow": "no-such-template"}), "target.workflow"),
            (json!({"tool": "probe_no_such_tool"}), "probe_no_such_tool"),
            (json!({"tool": "probe_manage"}), "not available"),
            (json!({"workflow": "a", "tool": "probe_echo"}), "target"),
        ];
        for (target, expected) in cases {
            let error = rig
                .call(
                    &acme,
                    "create_schedule",
                    every_minute("refused", target.clone()),
                )
                .await
                .expect_err("refused");
            assert!(error.to_string().contains(expected), "{target}: {error}");
        }
        let viewer = rig
            .call(
                &ctx("acme", Role::Viewer),
                "create_schedule",
                every_minute(
                    "viewer",
                    json!({"tool": "probe_echo", "input": {"value": 1}}),
                ),
            )
            .await
            .expect_err("a viewer may not");
        assert!(matches!(viewer, HubError::Forbidden(_)), "{viewer}");
    }
}
