//! The sampler reads a real load: this process spins a core between two rounds, a
//! rule on the process's CPU fires with the figure it read, and resolves once the
//! process is idle again. Each test runs in its own process, so the load is ours.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::json;
use tideway_core::{context::Role, store::testing::test_stores};

use super::Rig;
use crate::toolkits::{automation::now_ms, testing::ctx};

/// Keeps one thread busy for `duration`.
fn spin(duration: Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut x = 0u64;
            while !stop.load(Ordering::Relaxed) {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        })
    };
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let _ = worker.join();
}

#[tokio::test]
async fn a_busy_process_fires_the_cpu_rule_with_the_figure_read_and_an_idle_one_resolves_it() {
    let Some(test) = test_stores().await.into_iter().next() else {
        return;
    };
    let rig = Rig::start(&test.store).await;
    let admin = ctx("acme", Role::Admin);
    rig.call(
        &admin,
        "create_alert_rule",
        json!({"name": "busy", "metric": "process.cpu_percent", "comparison": ">", "threshold": 50,
               "resolve_threshold": 25, "severity": "warning"}),
    )
    .await
    .expect("rule");
    let monitor = rig.state();
    monitor.tick(now_ms()).await.expect("baseline");
    let spinning = tokio::task::spawn_blocking(|| spin(Duration::from_millis(1500)));
    spinning.await.expect("spun");
    let round = monitor.tick(now_ms()).await.expect("tick");
    assert_eq!(round.fired.len(), 1, "{round:?}");
    let read = round.fired[0].value;
    assert!(read > 50.0, "the figure that fired it: {read}");

    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let round = monitor.tick(now_ms()).await.expect("tick");
    assert_eq!(
        round.resolved.len(),
        1,
        "idle for {:?}: {round:?}",
        started.elapsed()
    );
    let report = rig
        .call(
            &admin,
            "get_metric",
            json!({"metric": "process.cpu_percent"}),
        )
        .await
        .expect("latest");
    let idle = report["values"][0]["value"].as_f64().expect("a value");
    assert!(idle < 25.0, "{report}");
}
