//! The `Follower`: how one live connection hears of its upstream's changes
//! (list_changed and resource updates) and keeps the upstream subscribed to what
//! clients asked for, in both protocol eras.

use std::{collections::BTreeSet, time::Duration};

use rmcp::{
    Peer, RoleClient,
    model::{ProtocolVersion, ServerNotification, SubscribeRequestParams, SubscriptionFilter},
    service::Subscription,
};

use super::{Upstream, lock};

/// How a connection hears of the upstream's changes. A 2025-11-25 upstream sends
/// list_changed on its own and resource updates after `resources/subscribe`; a
/// 2026-07-28 one sends them only on a `subscriptions/listen` stream, which is opened
/// again whenever the set of subscribed URIs grows.
pub(super) struct Follower {
    peer: Peer<RoleClient>,
    modern: bool,
    can_subscribe: bool,
    subscribed: BTreeSet<String>,
    listening: Option<Subscription>,
}

impl Follower {
    pub(super) fn new(peer: &Peer<RoleClient>) -> Self {
        let info = peer.peer_info();
        Follower {
            peer: peer.clone(),
            modern: info
                .as_ref()
                .is_some_and(|info| info.protocol_version == ProtocolVersion::V_2026_07_28),
            can_subscribe: info.as_ref().is_some_and(|info| {
                info.capabilities
                    .resources
                    .as_ref()
                    .is_some_and(|resources| resources.subscribe == Some(true))
            }),
            subscribed: BTreeSet::new(),
            listening: None,
        }
    }

    /// Brings the upstream's subscriptions up to the upstream's current interest,
    /// then tells waiting subscribers it was acted on (taken or not: nothing more
    /// will come of waiting).
    pub(super) async fn follow(&mut self, upstream: &Upstream) {
        let wanted = lock(&upstream.interest).clone();
        self.apply(upstream, wanted.clone()).await;
        upstream.followed.send_replace(wanted);
    }

    async fn apply(&mut self, upstream: &Upstream, wanted: BTreeSet<String>) {
        let limit = upstream.call_timeout();
        if self.modern {
            if self.listening.is_some() && wanted == self.subscribed {
                return;
            }
            let mut filter = SubscriptionFilter::builder()
                .tools_list_changed()
                .prompts_list_changed()
                .resources_list_changed()
                .build();
            if self.can_subscribe && !wanted.is_empty() {
                filter.resource_subscriptions = Some(wanted.iter().cloned().collect());
            }
            // The new stream opens before the old one is dropped (which cancels it),
            // so no update falls between the two.
            match tokio::time::timeout(limit, self.peer.listen(filter)).await {
                Ok(Ok(subscription)) => {
                    self.listening = Some(subscription);
                    self.subscribed = wanted;
                }
                Ok(Err(error)) => {
                    tracing::warn!(upstream = %upstream.name(), %error, "cannot listen for the upstream's changes")
                }
                Err(_) => {
                    tracing::warn!(upstream = %upstream.name(), "listening for the upstream's changes timed out")
                }
            }
        } else if self.can_subscribe {
            for uri in wanted.difference(&self.subscribed.clone()) {
                #[allow(deprecated)] // resources/subscribe is how 2025-11-25 does it.
                let outcome = tokio::time::timeout(
                    limit,
                    self.peer
                        .subscribe(SubscribeRequestParams::new(uri.clone())),
                )
                .await;
                match outcome {
                    Ok(Ok(())) => {
                        self.subscribed.insert(uri.clone());
                    }
                    _ => {
                        tracing::warn!(upstream = %upstream.name(), %uri, "cannot subscribe upstream")
                    }
                }
            }
        }
    }

    /// Cancels the listen stream, if any, and gives the server a moment to end it.
    /// A server that reads the end of its input while that request is still open
    /// waits for it (rmcp servers up to 5 s) and is then killed; the pause lets the
    /// cancellation be handled first, so the child exits at once.
    pub(super) async fn close(&mut self) {
        if let Some(mut listening) = self.listening.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), listening.cancel()).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The next notification on the listen stream; never resolves without one, and
    /// `None` once the stream has ended.
    pub(super) async fn next(&mut self) -> Option<ServerNotification> {
        let Some(listening) = self.listening.as_mut() else {
            return std::future::pending().await;
        };
        match listening.next().await {
            Ok(Some(notification)) => Some(notification),
            Ok(None) | Err(_) => {
                self.listening = None;
                None
            }
        }
    }
}
