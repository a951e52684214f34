//! The monitor's background work on each server: a round of checks, samples and
//! rule evaluation every interval (the next round is timed from the start of the
//! last, so a slow check does not drift the series), and once a minute the rollups
//! and the deletion of history past its retention. It stops with the toolkit.

use std::{sync::Arc, time::Duration};

use super::service::{Monitor, now_ms};

/// How often samples are rolled up and old history deleted.
const MAINTAIN_EVERY_MS: i64 = 60_000;

pub fn spawn(monitor: &Arc<Monitor>) {
    let interval = Duration::from_secs(monitor.config.interval_secs);
    let stop = monitor.stop.clone();
    let weak = Arc::downgrade(monitor);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut started = false;
        let mut last_maintained = 0i64;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let Some(monitor) = weak.upgrade() else {
                return;
            };
            if !started {
                match monitor.start().await {
                    Ok(()) => started = true,
                    Err(error) => {
                        tracing::warn!(%error, "the monitor could not read its state; trying again");
                        continue;
                    }
                }
            }
            let now = now_ms();
            match monitor.tick(now).await {
                Ok(round) => tracing::debug!(
                    points = round.points,
                    fired = round.fired.len(),
                    resolved = round.resolved.len(),
                    "monitor round"
                ),
                Err(error) => {
                    tracing::warn!(%error, "a monitor round failed; trying again next interval")
                }
            }
            if now - last_maintained >= MAINTAIN_EVERY_MS {
                last_maintained = now;
                if let Err(error) = monitor.maintain(now).await {
                    tracing::warn!(%error, "rolling up or deleting monitor history failed");
                }
            }
        }
    });
}
