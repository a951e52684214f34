//! The automation toolkit's background work on each server: one loop fires due
//! schedules (sleeping until the soonest due time or the poll interval, whichever
//! comes first, and woken when a schedule changes) and starts firings a stopped
//! server left pending; another reads on for event triggers (each at most once a
//! poll interval among all servers; a look at a Kafka topic waits seconds, which
//! must not hold schedules up); a third sends due notifications, several at once,
//! so a slow receiver delays neither schedules nor other channels. All stop with
//! the toolkit.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use super::{now_ms, service::Automation};

/// How often firings left pending and old history are looked at.
const RECOVER_EVERY_MS: i64 = 10_000;
const SWEEP_EVERY_MS: i64 = 3_600_000;

pub fn spawn(automation: &Arc<Automation>) {
    let poll = Duration::from_millis(automation.config.poll_ms);
    let stop = automation.stop.clone();
    let weak = Arc::downgrade(automation);
    tokio::spawn({
        let stop = stop.clone();
        let weak = weak.clone();
        async move {
            let mut last_recover = 0i64;
            let mut last_sweep = 0i64;
            loop {
                let sleep = match weak.upgrade() {
                    Some(automation) => {
                        let now = now_ms();
                        if let Err(error) = automation.tick(now).await {
                            tracing::warn!(%error, "firing due schedules failed; trying again");
                        }
                        if now - last_recover >= RECOVER_EVERY_MS {
                            last_recover = now;
                            if let Err(error) = automation.recover(now).await {
                                tracing::warn!(%error, "starting pending firings failed; trying again");
                            }
                        }
                        if now - last_sweep >= SWEEP_EVERY_MS {
                            last_sweep = now;
                            sweep(&automation, now).await;
                        }
                        until_due(&automation, poll).await
                    }
                    None => return,
                };
                if !wait(&weak, &stop, sleep, |automation| {
                    &automation.schedules_changed
                })
                .await
                {
                    return;
                }
            }
        }
    });
    tokio::spawn({
        let stop = stop.clone();
        let weak = weak.clone();
        async move {
            let read_every = i64::try_from(poll.as_millis()).unwrap_or(i64::MAX);
            loop {
                match weak.upgrade() {
                    Some(automation) => {
                        if let Err(error) = automation.watch(now_ms(), read_every).await {
                            tracing::warn!(%error, "reading event triggers failed; trying again");
                        }
                    }
                    None => return,
                }
                if !wait(&weak, &stop, poll, |automation| {
                    &automation.triggers_changed
                })
                .await
                {
                    return;
                }
            }
        }
    });
    tokio::spawn(async move {
        loop {
            match weak.upgrade() {
                Some(automation) => {
                    if let Err(error) = deliver(&automation).await {
                        tracing::warn!(%error, "sending notifications failed; trying again");
                    }
                }
                None => return,
            }
            if !wait(&weak, &stop, poll, |automation| &automation.deliveries_due).await {
                return;
            }
        }
    });
}

/// Sleeps for `duration` or until `bell` rings; `false` when the toolkit stopped.
async fn wait(
    weak: &Weak<Automation>,
    stop: &tokio_util::sync::CancellationToken,
    duration: Duration,
    bell: fn(&Automation) -> &tokio::sync::Notify,
) -> bool {
    let Some(automation) = weak.upgrade() else {
        return false;
    };
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(duration) => true,
        _ = bell(&automation).notified() => true,
    }
}

/// The time to the soonest due schedule, at most `poll`.
async fn until_due(automation: &Automation, poll: Duration) -> Duration {
    match automation.schedules.soonest().await {
        Ok(Some(due)) => {
            let wait = u64::try_from(due - now_ms()).unwrap_or(0);
            poll.min(Duration::from_millis(wait.max(5)))
        }
        _ => poll,
    }
}

/// Sends due notifications until none are left, a batch at a time, concurrently.
async fn deliver(automation: &Automation) -> Result<(), tideway_core::HubError> {
    loop {
        let sent = automation.deliver_due(now_ms()).await?;
        if sent == 0 {
            return Ok(());
        }
    }
}

async fn sweep(automation: &Automation, now: i64) {
    let Some(kept) = automation.config.kept_for() else {
        return;
    };
    let before = now - kept.as_millis() as i64;
    match (
        automation.firings.sweep(before).await,
        automation.deliveries.sweep(before).await,
    ) {
        (Ok(firings), Ok(deliveries)) if firings + deliveries > 0 => {
            tracing::info!(firings, deliveries, "deleted old automation history");
        }
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(%error, "deleting old automation history failed")
        }
        _ => {}
    }
}
