//! A circuit breaker per upstream. After `threshold` failures in a row the circuit
//! opens and calls fail fast for `open_for`; then one call is let through as a
//! probe (half-open): success closes the circuit, failure opens it again. Time is
//! passed in, so the state machine is tested without sleeping.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<State>,
}

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            open_for,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Lets a call through, or says how long the circuit stays open.
    pub fn admit(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now < until => Err(until - now),
            State::Open { .. } => {
                *state = State::HalfOpen { probing: true };
                Ok(())
            }
            // One probe at a time; the others wait for its verdict.
            State::HalfOpen { probing: true } => Err(Duration::from_secs(1)),
            State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                Ok(())
            }
        }
    }

    pub fn success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    pub fn failure(&self, now: Instant) {
        let mut state = self.lock();
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: now + self.open_for,
            },
        };
    }

    pub fn state(&self, now: Instant) -> CircuitState {
        match *self.lock() {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { until } if now < until => CircuitState::Open,
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Failures in a row while closed.
    pub fn consecutive_failures(&self) -> u32 {
        match *self.lock() {
            State::Closed { failures } => failures,
            _ => self.threshold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_then_probes_once_and_closes_on_success() {
        let breaker = Breaker::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..2 {
            breaker.failure(t0);
            assert_eq!(breaker.admit(t0), Ok(()));
        }
        breaker.failure(t0);
        assert_eq!(breaker.state(t0), CircuitState::Open);
        let wait = breaker
            .admit(t0 + Duration::from_secs(4))
            .expect_err("open");
        assert_eq!(wait, Duration::from_secs(6));

        let later = t0 + Duration::from_secs(11);
        assert_eq!(breaker.state(later), CircuitState::HalfOpen);
        assert_eq!(breaker.admit(later), Ok(()), "the probe goes through");
        assert!(breaker.admit(later).is_err(), "only one probe at a time");
        breaker.success();
        assert_eq!(breaker.state(later), CircuitState::Closed);
        assert_eq!(breaker.admit(later), Ok(()));
    }

    #[test]
    fn a_failed_probe_opens_the_circuit_again() {
        let breaker = Breaker::new(1, Duration::from_secs(5));
        let t0 = Instant::now();
        breaker.failure(t0);
        let probe_at = t0 + Duration::from_secs(6);
        assert_eq!(breaker.admit(probe_at), Ok(()));
        breaker.failure(probe_at);
        assert_eq!(breaker.state(probe_at), CircuitState::Open);
        assert!(breaker.admit(probe_at + Duration::from_secs(4)).is_err());
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let breaker = Breaker::new(2, Duration::from_secs(5));
        let t0 = Instant::now();
        breaker.failure(t0);
        breaker.success();
        breaker.failure(t0);
        assert_eq!(breaker.state(t0), CircuitState::Closed);
        assert_eq!(breaker.consecutive_failures(), 1);
    }
}
