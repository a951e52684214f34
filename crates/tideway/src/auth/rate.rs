//! Request rate limits: a token bucket (GCRA, from `governor`) per credential and
//! one per tenant. A request must pass both; the answer to one that does not is 429
//! with `Retry-After`. The local user (authentication off, loopback) is not limited:
//! it is the machine's own operator.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{
    Quota, RateLimiter, clock::Clock, clock::DefaultClock, state::keyed::DefaultKeyedStateStore,
};
use tideway_core::config::LimitsConfig;

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

pub struct RateLimits {
    per_key: Option<Keyed>,
    per_tenant: Option<Keyed>,
    clock: DefaultClock,
}

/// Which bucket ran dry, and when to come back.
#[derive(Debug, PartialEq)]
pub struct Limited {
    pub scope: &'static str,
    pub retry_after: Duration,
}

fn limiter(per_second: f64, burst: u32) -> Option<Keyed> {
    if per_second <= 0.0 {
        return None;
    }
    let period = Duration::from_secs_f64(1.0 / per_second);
    let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst.max(1))?);
    Some(RateLimiter::keyed(quota))
}

impl RateLimits {
    pub fn new(limits: &LimitsConfig) -> Arc<Self> {
        Arc::new(RateLimits {
            per_key: limiter(limits.key_requests_per_second, limits.key_burst),
            per_tenant: limiter(limits.tenant_requests_per_second, limits.tenant_burst),
            clock: DefaultClock::default(),
        })
    }

    /// Takes one request from the credential's and the tenant's buckets.
    pub fn check(&self, principal: &str, tenant: &str) -> Result<(), Limited> {
        let buckets = [
            ("key", &self.per_key, principal),
            ("tenant", &self.per_tenant, tenant),
        ];
        for (scope, limiter, key) in buckets {
            if let Some(limiter) = limiter
                && let Err(not_until) = limiter.check_key(&key.to_string())
            {
                return Err(Limited {
                    scope,
                    retry_after: not_until.wait_time_from(self.clock.now()),
                });
            }
        }
        Ok(())
    }

    /// Drops the state of buckets that are full again, so idle keys cost nothing.
    pub fn forget_idle(&self) {
        for limiter in [&self.per_key, &self.per_tenant].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(key_rate: f64, key_burst: u32, tenant_rate: f64, tenant_burst: u32) -> LimitsConfig {
        LimitsConfig {
            key_requests_per_second: key_rate,
            key_burst,
            tenant_requests_per_second: tenant_rate,
            tenant_burst,
            ..LimitsConfig::default()
        }
    }

    #[test]
    fn a_key_gets_its_burst_then_is_told_when_to_return() {
        let limits = RateLimits::new(&limits(1.0, 3, 0.0, 0));
        for _ in 0..3 {
            assert!(limits.check("key:a", "t").is_ok());
        }
        let limited = limits
            .check("key:a", "t")
            .expect_err("fourth request is limited");
        assert_eq!(limited.scope, "key");
        assert!(
            limited.retry_after > Duration::ZERO && limited.retry_after <= Duration::from_secs(1)
        );
        assert!(
            limits.check("key:b", "t").is_ok(),
            "another key has its own bucket"
        );
    }

    #[test]
    fn the_tenant_bucket_is_shared_by_its_keys() {
        let limits = RateLimits::new(&limits(0.0, 0, 1.0, 2));
        assert!(limits.check("key:a", "acme").is_ok());
        assert!(limits.check("key:b", "acme").is_ok());
        let limited = limits.check("key:c", "acme").expect_err("tenant is out");
        assert_eq!(limited.scope, "tenant");
        assert!(limits.check("key:d", "other").is_ok());
    }

    #[test]
    fn zero_means_unlimited() {
        let limits = RateLimits::new(&limits(0.0, 0, 0.0, 0));
        for _ in 0..10_000 {
            assert!(limits.check("key:a", "t").is_ok());
        }
    }
}
