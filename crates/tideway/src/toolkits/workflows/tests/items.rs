//! A `for_each` step run again calls only the items that did not finish, whether the
//! retry policy runs it again, a person retries the run, or another server takes it
//! over after its own stopped; the items that finished keep their outputs and the
//! step's output lists every item's in order.

use serde_json::{Value, json};
use tideway_core::store::testing::test_stores;

use super::{Server, operator, step};

fn labels(output: &Value) -> Vec<Value> {
    output
        .as_array()
        .map(|items| items.iter().map(|item| item["label"].clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_for_each_step_run_again_calls_only_the_items_that_did_not_finish() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        for concurrency in [1, 3] {
            let name = |item: &str| format!("{item}-{concurrency}");
            // y fails its first call, which ends the first attempt; w fails its
            // first call too, which with one item at a time ends the second and
            // last attempt, so a person retries the run.
            let items = json!([
                {"label": name("x"), "failures": 0},
                {"label": name("y"), "failures": 1},
                {"label": name("z"), "failures": 0},
                {"label": name("w"), "failures": 1}
            ]);
            let id = server
                .run_template(
                    &acme,
                    json!({
                        "id": format!("each-{concurrency}"), "name": "Each",
                        "steps": [
                            {"id": "all", "tool": "probe_flaky", "for_each": "input.items", "concurrency": concurrency,
                             "arguments": {"label": "{{ item.label }}", "failures": "{{ item.failures }}"},
                             "retry": {"attempts": 2, "backoff_secs": 0.1}},
                            {"id": "count", "needs": ["all"], "tool": "probe_echo",
                             "arguments": {"value": "{{ steps.all.output | length }}"}}
                        ]
                    }),
                    json!({ "items": items }),
                )
                .await;
            let mut run = server.finished(&acme, &id).await;
            if concurrency == 1 {
                assert_eq!(run["status"], "failed", "{run:#}");
                assert_eq!(step(&run, "all")["attempt"], 2, "{run:#}");
                assert!(
                    step(&run, "all")["error"]
                        .as_str()
                        .is_some_and(|error| error.starts_with("item 3: ")),
                    "the error names the item: {run:#}"
                );
            }
            // With three at a time, w may have failed in the first attempt already,
            // and then the retry policy alone finished the run.
            if run["status"] == "failed" {
                server
                    .call(&acme, "retry_execution", json!({"execution_id": id}))
                    .await
                    .expect("retried");
                run = server.finished(&acme, &id).await;
            }
            assert_eq!(run["status"], "succeeded", "{run:#}");
            for (item, calls) in [("x", 1), ("y", 2), ("z", 1), ("w", 2)] {
                assert_eq!(
                    server.probe.calls_of(&name(item)).len(),
                    calls,
                    "{} was called {calls} time(s), concurrency {concurrency}",
                    name(item)
                );
            }
            // The kept outputs are the ones the items gave when they finished.
            assert_eq!(
                step(&run, "all")["output"],
                json!([
                    {"label": name("x"), "calls": 1},
                    {"label": name("y"), "calls": 2},
                    {"label": name("z"), "calls": 1},
                    {"label": name("w"), "calls": 2}
                ]),
                "{run:#}"
            );
            assert_eq!(step(&run, "count")["output"]["label"], 4);
            let kept: i64 = tideway_core::on_store!(&test.store, pool => {
                sqlx::query_scalar("SELECT COUNT(*) FROM workflow_items WHERE execution_id = $1")
                    .bind(&id)
                    .fetch_one(pool)
                    .await
            })
            .expect("count");
            assert_eq!(kept, 0, "a step that succeeded keeps no items apart");
        }
    }
}

#[tokio::test]
async fn a_server_taking_over_a_for_each_step_calls_only_the_items_that_did_not_finish() {
    for test in test_stores().await {
        let first_server = Server::start(&test.store).await;
        let acme = operator("acme");
        let names = ["ann", "ben", "cal", "dot", "eve", "fay"];
        let id = first_server
            .run_template(
                &acme,
                json!({
                    "id": "each", "name": "Each",
                    "steps": [
                        {"id": "all", "tool": "probe_read_slowly", "for_each": "input.names", "concurrency": 2,
                         "arguments": {"label": "{{ item }}", "ms": 500}}
                    ]
                }),
                json!({ "names": names }),
            )
            .await;
        // The step tells how many items finished while it runs.
        let run = first_server
            .wait_until(&acme, &id, "two items to finish", |run| {
                step(run, "all")["output"]["progress"]["progress"]
                    .as_f64()
                    .is_some_and(|done| done >= 2.0)
            })
            .await;
        let progress = &step(&run, "all")["output"]["progress"];
        assert_eq!(progress["total"], 6.0, "{run:#}");
        assert!(
            progress["message"]
                .as_str()
                .is_some_and(|message| message.ends_with(" of 6 items")),
            "{run:#}"
        );
        first_server.kill();

        let second_server = Server::start(&test.store).await;
        let run = second_server.finished(&acme, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(labels(&step(&run, "all")["output"]), names, "{run:#}");
        let mut finished_first = 0;
        for name in names {
            let on_first = first_server
                .probe
                .calls_of(name)
                .iter()
                .filter(|call| call.ended.is_some())
                .count();
            let on_second = second_server.probe.calls_of(name).len();
            assert_eq!(
                on_first + on_second,
                1,
                "{name} finished {on_first} time(s) on the stopped server and ran {on_second} time(s) on the other"
            );
            finished_first += on_first;
        }
        assert!(
            (2..names.len()).contains(&finished_first),
            "{finished_first} items finished before the server stopped"
        );
    }
}
