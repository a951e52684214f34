//! A toolkit's parts: the things inside it that fail on their own (a tenant's
//! database source, Kafka cluster, cloud account or model provider). The monitor
//! asks each toolkit for the parts in use and their health, checked with the same
//! clients and credentials the calls use, so a part never shows down while calls to
//! it succeed. [`InUse`] is the memory a toolkit without a client cache keeps of
//! what its calls reached lately.

use std::{
    collections::HashMap,
    future::Future,
    sync::Mutex,
    time::{Duration, Instant},
};

use futures_util::future::join_all;

use crate::{context::TenantId, toolkit::Health};

/// How long a part a call reached counts as in use: long enough that a part used
/// now and then stays watched between calls, short enough that one nobody uses is
/// soon no longer probed with its owner's credentials.
pub const IN_USE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// One part's health.
#[derive(Clone, Debug)]
pub struct PartHealth {
    /// What kind of part: `source`, `cluster`, `account`, `provider`, `agent`.
    pub kind: &'static str,
    /// The tenant whose part it is: only that tenant sees it and alerts on it.
    pub tenant: TenantId,
    /// The part's name, unique within its toolkit and tenant.
    pub name: String,
    pub health: Health,
}

/// Checks each part with `check`, all at once, each within `timeout`; a check that
/// takes longer makes its part down rather than holding up the others.
pub async fn check_each<T, F, Fut>(
    kind: &'static str,
    parts: Vec<(TenantId, String, T)>,
    timeout: Duration,
    check: F,
) -> Vec<PartHealth>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    join_all(parts.into_iter().map(|(tenant, name, part)| {
        let checked = check(part);
        async move {
            let started = Instant::now();
            let health = match tokio::time::timeout(timeout, checked).await {
                Ok(Ok(())) => Health::healthy(),
                Ok(Err(detail)) => Health::down(detail),
                Err(_) => Health::down(format!("it did not answer within {timeout:?}")),
            };
            PartHealth {
                kind,
                tenant,
                name,
                health: health.with_latency(started.elapsed()),
            }
        }
    }))
    .await
}

/// The parts a toolkit's calls reached within the last `window`, with what it needs
/// to check each again (an opened account, a resolved provider). A part nobody
/// called for `window` is forgotten, so the monitor stops probing what is no longer
/// used.
pub struct InUse<T> {
    window: Duration,
    /// Keyed by (tenant, part name); one lock, held only to read or replace an entry.
    parts: Mutex<HashMap<(TenantId, String), (Instant, T)>>,
}

impl<T: Clone> InUse<T> {
    pub fn new(window: Duration) -> Self {
        InUse {
            window,
            parts: Mutex::new(HashMap::new()),
        }
    }

    fn parts(&self) -> std::sync::MutexGuard<'_, HashMap<(TenantId, String), (Instant, T)>> {
        self.parts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A call reached `name` of `tenant` through `part`.
    pub fn note(&self, tenant: &TenantId, name: &str, part: T) {
        self.parts()
            .insert((tenant.clone(), name.to_string()), (Instant::now(), part));
    }

    /// A call reached `name` of `tenant`: its record becomes `change` of the one
    /// kept (none when it was unused within the window).
    pub fn update(&self, tenant: &TenantId, name: &str, change: impl FnOnce(Option<T>) -> T) {
        let mut parts = self.parts();
        let key = (tenant.clone(), name.to_string());
        let kept = parts
            .remove(&key)
            .filter(|(used, _)| used.elapsed() < self.window)
            .map(|(_, part)| part);
        parts.insert(key, (Instant::now(), change(kept)));
    }

    /// The part was changed or removed: it is checked again only once a call uses it.
    pub fn forget(&self, tenant: &TenantId, name: &str) {
        self.parts().remove(&(tenant.clone(), name.to_string()));
    }

    /// The parts used within the window, by tenant and name.
    pub fn recent(&self) -> Vec<(TenantId, String, T)> {
        let mut parts = self.parts();
        parts.retain(|_, (used, _)| used.elapsed() < self.window);
        let mut recent: Vec<_> = parts
            .iter()
            .map(|((tenant, name), (_, part))| (tenant.clone(), name.clone(), part.clone()))
            .collect();
        recent.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        recent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_part_is_checked_within_its_own_timeout() {
        let tenant = TenantId::new("acme");
        let parts = vec![
            (tenant.clone(), "quick".to_string(), 0_u64),
            (tenant.clone(), "stuck".to_string(), 10_000),
            (tenant.clone(), "broken".to_string(), u64::MAX),
        ];
        let checked = check_each(
            "source",
            parts,
            Duration::from_millis(200),
            |wait| async move {
                if wait == u64::MAX {
                    return Err("refused".to_string());
                }
                tokio::time::sleep(Duration::from_millis(wait)).await;
                Ok(())
            },
        )
        .await;
        let status: Vec<_> = checked
            .iter()
            .map(|part| {
                (
                    part.name.as_str(),
                    part.health.status,
                    part.health.detail.clone(),
                )
            })
            .collect();
        assert_eq!(status[0].0, "quick");
        assert_eq!(status[0].1, crate::HealthStatus::Healthy);
        assert_eq!(status[1].1, crate::HealthStatus::Down);
        assert!(
            status[1]
                .2
                .as_deref()
                .unwrap_or("")
                .contains("did not answer")
        );
        assert_eq!(status[2].2.as_deref(), Some("refused"));
        assert!(checked.iter().all(|part| part.health.latency_ms.is_some()));
    }

    #[test]
    fn parts_unused_for_the_window_are_forgotten() {
        let in_use = InUse::new(Duration::from_millis(50));
        let acme = TenantId::new("acme");
        in_use.note(&acme, "old", 1);
        std::thread::sleep(Duration::from_millis(80));
        in_use.note(&acme, "new", 2);
        in_use.note(&TenantId::new("beta"), "other", 3);
        let recent: Vec<_> = in_use
            .recent()
            .into_iter()
            .map(|(tenant, name, part)| (tenant.to_string(), name, part))
            .collect();
        assert_eq!(
            recent,
            vec![
                ("acme".to_string(), "new".to_string(), 2),
                ("beta".to_string(), "other".to_string(), 3)
            ]
        );
        in_use.forget(&acme, "new");
        assert_eq!(in_use.recent().len(), 1);
        in_use.update(&acme, "counted", |kept| kept.unwrap_or(0) + 1);
        in_use.update(&acme, "counted", |kept| kept.unwrap_or(0) + 1);
        assert!(
            in_use
                .recent()
                .contains(&(acme.clone(), "counted".to_string(), 2))
        );
    }
}
