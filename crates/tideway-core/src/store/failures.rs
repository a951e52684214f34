//! What toolkits share when they write to the store: the time at the precision both
//! backends keep, and reading a failed statement for what it says about the data (a
//! unique key taken, a concurrent writer) so it becomes the caller's error rather
//! than a store failure. A store failure itself converts with `?`
//! (`From<sqlx::Error> for HubError`).

use chrono::{DateTime, SubsecRound, Utc};

use crate::error::HubError;

/// Now, at the precision both stores keep (microseconds): a time written and read
/// back compares equal to the one kept in memory.
pub fn now() -> DateTime<Utc> {
    at_store_precision(Utc::now())
}

/// `at` cut to the precision both stores keep.
pub fn at_store_precision(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// Whether the statement broke a unique key (the same name or email twice).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Whether SQLite refused because another writer held the database: worth one
/// more try.
pub fn is_busy(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.message().contains("locked"))
}

/// Turns a unique-key violation into the caller's error, any other failure into a
/// store error.
pub trait OnUniqueViolation<T> {
    fn on_unique_violation(self, conflict: impl FnOnce() -> HubError) -> Result<T, HubError>;
}

impl<T> OnUniqueViolation<T> for Result<T, sqlx::Error> {
    fn on_unique_violation(self, conflict: impl FnOnce() -> HubError) -> Result<T, HubError> {
        self.map_err(|error| {
            if is_unique_violation(&error) {
                conflict()
            } else {
                HubError::from(error)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_keep_microseconds_and_no_more() {
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("a time");
        assert_eq!(at_store_precision(at).timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(now().timestamp_subsec_nanos() % 1000, 0);
    }

    #[test]
    fn a_failure_that_is_not_a_unique_violation_stays_a_store_error() {
        let failed: Result<(), sqlx::Error> = Err(sqlx::Error::RowNotFound);
        let error = failed
            .on_unique_violation(|| HubError::Conflict("taken".into()))
            .expect_err("failed");
        assert!(matches!(error, HubError::Store(_)), "{error:?}");
        assert!(!is_busy(&sqlx::Error::RowNotFound));
    }
}
