//! Availability as time-weighted uptime: the share of a window a component spent
//! healthy or degraded, read from its state transitions, and whether that meets the
//! target. Time before the first state known in the window is not counted either way.

use serde::Serialize;

use super::components::Transition;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Uptime {
    /// Milliseconds of the window with a known state.
    pub observed_ms: i64,
    pub up_ms: i64,
    /// `up_ms` over `observed_ms`, in percent; 100 when nothing was observed down.
    pub percent: f64,
    /// How often it went down in the window.
    pub outages: u32,
}

/// The uptime over `[from_ms, to_ms)` from one component's transitions, oldest first
/// (the first may be before `from_ms`: the state the window opened in).
pub fn uptime(transitions: &[Transition], (from_ms, to_ms): (i64, i64)) -> Uptime {
    let (mut observed, mut up, mut outages) = (0i64, 0i64, 0u32);
    for (index, transition) in transitions.iter().enumerate() {
        let start = transition.at_ms.max(from_ms);
        let end = transitions
            .get(index + 1)
            .map_or(to_ms, |next| next.at_ms)
            .min(to_ms);
        if end <= start {
            continue;
        }
        observed += end - start;
        if transition.status == "down" {
            if transition.at_ms >= from_ms {
                outages += 1;
            }
        } else {
            up += end - start;
        }
    }
    Uptime {
        observed_ms: observed,
        up_ms: up,
        percent: if observed == 0 {
            100.0
        } else {
            up as f64 * 100.0 / observed as f64
        },
        outages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at_ms: i64, status: &str) -> Transition {
        Transition {
            component: "db".into(),
            at_ms,
            status: status.into(),
            detail: None,
        }
    }

    #[test]
    fn uptime_weighs_each_state_by_how_long_it_lasted_inside_the_window() {
        // Healthy from before the window, down for 15 of its 100 minutes, degraded
        // (which counts as up) for 10.
        let minute = 60_000;
        let transitions = [
            at(-50 * minute, "healthy"),
            at(20 * minute, "down"),
            at(35 * minute, "degraded"),
            at(45 * minute, "healthy"),
        ];
        let figures = uptime(&transitions, (0, 100 * minute));
        assert_eq!(figures.observed_ms, 100 * minute);
        assert_eq!(figures.up_ms, 85 * minute);
        assert!((figures.percent - 85.0).abs() < 1e-9);
        assert_eq!(figures.outages, 1);
    }

    #[test]
    fn time_before_the_first_known_state_is_not_counted() {
        let transitions = [at(50, "down"), at(75, "healthy")];
        let figures = uptime(&transitions, (0, 100));
        assert_eq!(figures.observed_ms, 50);
        assert_eq!(figures.up_ms, 25);
        assert_eq!(uptime(&[], (0, 100)).percent, 100.0);
    }
}
