//! Wake-ups for whoever waits on a run on this server (a `Prefer: wait` call, a
//! live stream): the store announces each change it makes to a run, and a waiter
//! wakes at once instead of at its next poll. The announcement is a hint only: a
//! run carried on another server changes without one, so every waiter still polls,
//! and a waiter that falls behind simply reads the run again.

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use tokio::sync::broadcast::{self, error::RecvError};

/// Announcements kept for slow waiters; one that falls further behind re-reads.
const BACKLOG: usize = 1024;

// One channel for the process rather than one per toolkit instance: the waiters
// (REST and A2A streams among them) hold only the call path, not the toolkit,
// and run ids are unique, so servers sharing a process cannot confuse them.
static CHANGES: LazyLock<broadcast::Sender<Arc<str>>> =
    LazyLock::new(|| broadcast::channel(BACKLOG).0);

/// Tells this server's waiters that run `id` changed.
pub fn announce(id: &str) {
    // Fails only when no one is listening, which is no one's loss.
    let _ = CHANGES.send(Arc::from(id));
}

/// A waiter's ear; made before the waiter first reads the run, so a change
/// between that read and the wait is not missed.
pub struct Changes(broadcast::Receiver<Arc<str>>);

impl Changes {
    pub fn listen() -> Self {
        Changes(CHANGES.subscribe())
    }

    /// Returns when run `id` changed on this server or `poll` passed.
    pub async fn wait(&mut self, id: &str, poll: Duration) {
        let heard = async {
            loop {
                match self.0.recv().await {
                    Ok(changed) if &*changed == id => return,
                    Ok(_) => {}
                    // Missed announcements may have been this run's.
                    Err(RecvError::Lagged(_)) => return,
                    // The sender lives as long as the process.
                    Err(RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        };
        let _ = tokio::time::timeout(poll, heard).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[tokio::test]
    async fn a_waiter_wakes_for_its_run_and_not_for_others() {
        let mut changes = Changes::listen();
        let waiter = tokio::spawn(async move {
            let started = Instant::now();
            changes.wait("run-a", Duration::from_secs(30)).await;
            started.elapsed()
        });
        announce("run-b");
        tokio::task::yield_now().await;
        assert!(
            !waiter.is_finished(),
            "another run's change woke the waiter"
        );
        announce("run-a");
        let waited = waiter.await.expect("waiter");
        assert!(
            waited < Duration::from_secs(30),
            "the waiter slept to its poll"
        );
    }

    #[tokio::test]
    async fn without_an_announcement_the_wait_ends_at_the_poll() {
        let mut changes = Changes::listen();
        let started = Instant::now();
        changes.wait("run-quiet", Duration::from_millis(20)).await;
        assert!(started.elapsed() >= Duration::from_millis(20));
    }
}
