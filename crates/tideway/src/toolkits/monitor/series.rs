//! Samples kept over time: raw points as they are taken, rolled up into one-minute
//! and one-hour periods (mean, least, greatest, how many), each resolution deleted
//! after its retention, so the store holds a bounded amount however long the server
//! runs. Queries read the finest resolution that still covers the window asked.

use tideway_core::{HubError, Store, on_store};

/// One measured value: `metric` (`host.cpu_percent`) of `subject` (a server, a
/// mount, a tool, a component).
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub metric: String,
    pub subject: String,
    pub value: f64,
}

impl Point {
    pub fn new(metric: &str, subject: impl Into<String>, value: f64) -> Self {
        Point {
            metric: metric.to_string(),
            subject: subject.into(),
            value,
        }
    }
}

/// A metric's figures for one subject over a window.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Summary {
    pub metric: String,
    pub subject: String,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// How many raw samples the figures come from.
    pub samples: i64,
}

/// One period of a chart-ready series.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Bucket {
    pub subject: String,
    /// The period's index from the window's start.
    pub bucket: i64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

/// The resolutions kept, finest first: seconds one row covers (0 for raw).
pub const RESOLUTIONS: [i64; 3] = [0, 60, 3600];

/// Raw points per insert statement: few statements, each well under SQLite's limit
/// of bound values.
const ROWS_PER_STATEMENT: usize = 200;

#[derive(Clone)]
pub struct Series {
    store: Store,
    replica: String,
}

impl Series {
    pub fn new(store: Store, replica: String) -> Self {
        Series { store, replica }
    }

    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Records `points` taken at `at_ms`, in one transaction.
    pub async fn record(&self, at_ms: i64, points: &[Point]) -> Result<(), HubError> {
        if points.is_empty() {
            return Ok(());
        }
        let replica = &self.replica;
        on_store!(&self.store, pool => {
            async {
                let mut tx = pool.begin().await?;
                for chunk in points.chunks(ROWS_PER_STATEMENT) {
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO monitor_samples (replica, metric, subject, resolution, at_ms, value, min_value, max_value, count) ",
                    );
                    insert.push_values(chunk, |mut row, point| {
                        row.push_bind(replica)
                            .push_bind(&point.metric)
                            .push_bind(&point.subject)
                            .push_bind(0i64)
                            .push_bind(at_ms)
                            .push_bind(point.value)
                            .push_bind(point.value)
                            .push_bind(point.value)
                            .push_bind(1i64);
                    });
                    insert.push(" ON CONFLICT DO NOTHING");
                    insert.build().execute(&mut *tx).await?;
                }
                tx.commit().await
            }
            .await
        })?;
        Ok(())
    }

    /// Rolls complete periods up into each coarser resolution, from where the last
    /// rollup stopped to the last period that ended before `now_ms`. Answers how
    /// many rows were written.
    pub async fn roll_up(&self, now_ms: i64) -> Result<u64, HubError> {
        let mut written = 0;
        for pair in RESOLUTIONS.windows(2) {
            let (from, to) = (pair[0], pair[1]);
            let period = to * 1000;
            let upto = now_ms.div_euclid(period) * period;
            let done = match self.rolled_until(to).await? {
                Some(done) => done,
                None => match self.oldest(from).await? {
                    Some(oldest) => oldest.div_euclid(period) * period,
                    None => upto,
                },
            };
            if upto <= done {
                continue;
            }
            // The mean of means weighted by how many samples each holds is the mean of
            // the samples, so an hour's mean is right however its minutes were filled.
            let sql = format!(
                "INSERT INTO monitor_samples (replica, metric, subject, resolution, at_ms, value, min_value, max_value, count) \
                 SELECT replica, metric, subject, {to}, (at_ms / {period}) * {period}, \
                 SUM(value * count) / SUM(count), MIN(min_value), MAX(max_value), SUM(count) \
                 FROM monitor_samples WHERE replica = $1 AND resolution = {from} AND at_ms >= $2 AND at_ms < $3 \
                 GROUP BY replica, metric, subject, 5 ON CONFLICT DO NOTHING"
            );
            written += on_store!(&self.store, pool => {
                async {
                    let mut tx = pool.begin().await?;
                    // Only integers this function computed are formatted in.
                    let done_rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                        .bind(&self.replica)
                        .bind(done)
                        .bind(upto)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    sqlx::query(
                        "INSERT INTO monitor_rollups (replica, resolution, done_ms) VALUES ($1, $2, $3) \
                         ON CONFLICT (replica, resolution) DO UPDATE SET done_ms = excluded.done_ms",
                    )
                    .bind(&self.replica)
                    .bind(to)
                    .bind(upto)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await.map(|()| done_rows)
                }
                .await
            })?;
        }
        Ok(written)
    }

    async fn rolled_until(&self, resolution: i64) -> Result<Option<i64>, HubError> {
        let done: Option<i64> = on_store!(&self.store, pool => {
            sqlx::query_scalar(
                "SELECT done_ms FROM monitor_rollups WHERE replica = $1 AND resolution = $2",
            )
            .bind(&self.replica)
            .bind(resolution)
            .fetch_optional(pool)
            .await
        })?;
        Ok(done)
    }

    async fn oldest(&self, resolution: i64) -> Result<Option<i64>, HubError> {
        let oldest: Option<i64> = on_store!(&self.store, pool => {
            sqlx::query_scalar(
                "SELECT MIN(at_ms) FROM monitor_samples WHERE replica = $1 AND resolution = $2",
            )
            .bind(&self.replica)
            .bind(resolution)
            .fetch_one(pool)
            .await
        })?;
        Ok(oldest)
    }

    /// Deletes rows older than each resolution's retention (`(resolution, kept_ms)`),
    /// every server's alike: a server that is gone leaves nothing behind for good.
    pub async fn prune(&self, now_ms: i64, retention: &[(i64, i64)]) -> Result<u64, HubError> {
        let mut deleted = 0;
        for (resolution, kept) in retention {
            deleted += on_store!(&self.store, pool => {
                sqlx::query("DELETE FROM monitor_samples WHERE resolution = $1 AND at_ms < $2")
                    .bind(resolution)
                    .bind(now_ms - kept)
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected())
            })?;
        }
        Ok(deleted)
    }

    /// Rows kept at each resolution, for the tests of retention.
    #[cfg(test)]
    pub async fn rows(&self) -> Result<Vec<(i64, i64)>, HubError> {
        let rows: Vec<(i64, i64)> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT CAST(resolution AS BIGINT), COUNT(*) FROM monitor_samples GROUP BY resolution ORDER BY resolution",
            )
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Each of `metrics`' figures per subject over `[from_ms, to_ms)` at
    /// `resolution`, from this server's series, in one query; only `subject` when
    /// given.
    pub async fn summarize(
        &self,
        metrics: &[&str],
        subject: Option<&str>,
        resolution: i64,
        (from_ms, to_ms): (i64, i64),
    ) -> Result<Vec<Summary>, HubError> {
        if metrics.is_empty() {
            return Ok(Vec::new());
        }
        let list = (0..metrics.len())
            .map(|index| format!("${}", index + 6))
            .collect::<Vec<_>>()
            .join(", ");
        // Only placeholders are formatted in; every value is bound.
        let sql = format!(
            "SELECT metric, subject, SUM(value * count) / SUM(count) AS mean, MIN(min_value) AS min, \
             MAX(max_value) AS max, CAST(SUM(count) AS BIGINT) AS samples FROM monitor_samples \
             WHERE replica = $1 AND resolution = $2 AND at_ms >= $3 AND at_ms < $4 \
             AND ($5 IS NULL OR subject = $5) AND metric IN ({list}) \
             GROUP BY metric, subject ORDER BY metric, subject"
        );
        let rows: Vec<Summary> = on_store!(&self.store, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&self.replica)
                .bind(resolution)
                .bind(from_ms)
                .bind(to_ms)
                .bind(subject);
            for metric in metrics {
                query = query.bind(*metric);
            }
            query.fetch_all(pool).await
        })?;
        Ok(rows)
    }

    /// `metric` over `[from_ms, to_ms)` in periods of `step_ms`, per subject.
    pub async fn buckets(
        &self,
        metric: &str,
        subject: Option<&str>,
        resolution: i64,
        (from_ms, to_ms): (i64, i64),
        step_ms: i64,
    ) -> Result<Vec<Bucket>, HubError> {
        let step_ms = step_ms.max(1);
        let rows: Vec<Bucket> = on_store!(&self.store, pool => {
            // Only the step, an integer, is formatted in.
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT subject, (at_ms - $4) / {step_ms} AS bucket, SUM(value * count) / SUM(count) AS mean, \
                 MIN(min_value) AS min, MAX(max_value) AS max FROM monitor_samples \
                 WHERE replica = $1 AND metric = $2 AND resolution = $3 AND at_ms >= $4 AND at_ms < $5 \
                 AND ($6 IS NULL OR subject = $6) GROUP BY 1, 2 ORDER BY 1, 2"
            )))
            .bind(&self.replica)
            .bind(metric)
            .bind(resolution)
            .bind(from_ms)
            .bind(to_ms)
            .bind(subject)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// The latest raw value of each metric and subject since `since_ms`.
    pub async fn latest(&self, since_ms: i64) -> Result<Vec<(String, String, f64, i64)>, HubError> {
        let rows: Vec<(String, String, f64, i64)> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT s.metric, s.subject, s.value, s.at_ms FROM monitor_samples s \
                 JOIN (SELECT metric, subject, MAX(at_ms) AS at_ms FROM monitor_samples \
                       WHERE replica = $1 AND resolution = 0 AND at_ms >= $2 GROUP BY metric, subject) last \
                 ON s.metric = last.metric AND s.subject = last.subject AND s.at_ms = last.at_ms \
                 WHERE s.replica = $1 AND s.resolution = 0 ORDER BY s.metric, s.subject",
            )
            .bind(&self.replica)
            .bind(since_ms)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }
}

/// Rows per subject a query may read: enough for any chart, few enough that a
/// report over many metrics answers at once.
const MAX_ROWS_PER_SUBJECT: i64 = 2000;

/// The finest resolution whose retention still covers `from_ms` and that gives at
/// most `MAX_ROWS_PER_SUBJECT` rows per subject over the window, raw samples being
/// `interval_ms` apart.
pub fn resolution_for(
    now_ms: i64,
    (from_ms, to_ms): (i64, i64),
    retention: &[(i64, i64)],
    interval_ms: i64,
) -> i64 {
    let window = (to_ms - from_ms).max(0);
    for (resolution, kept) in retention {
        let covers = from_ms >= now_ms - kept;
        let spacing = if *resolution == 0 {
            interval_ms.max(1)
        } else {
            resolution * 1000
        };
        if covers && window / spacing <= MAX_ROWS_PER_SUBJECT {
            return *resolution;
        }
    }
    retention.last().map_or(3600, |(resolution, _)| *resolution)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETENTION: [(i64, i64); 3] = [
        (0, 86_400_000),
        (60, 7 * 86_400_000),
        (3600, 90 * 86_400_000),
    ];

    #[test]
    fn recent_short_windows_read_raw_samples_and_older_ones_read_rollups() {
        let now = 100 * 86_400_000;
        let hour = 3_600_000;
        let every_5s = 5_000;
        assert_eq!(
            resolution_for(now, (now - hour, now), &RETENTION, every_5s),
            0
        );
        // A day of samples 5 s apart is more than a chart needs: minutes.
        assert_eq!(
            resolution_for(now, (now - 24 * hour, now), &RETENTION, every_5s),
            60
        );
        // Thirty hours back is past the raw retention, however few samples there are.
        assert_eq!(
            resolution_for(now, (now - 30 * hour, now), &RETENTION, 600_000),
            60
        );
        // A week of minutes is too many rows; thirty days back is past their retention.
        assert_eq!(
            resolution_for(now, (now - 7 * 24 * hour, now), &RETENTION, every_5s),
            3600
        );
        assert_eq!(
            resolution_for(now, (now - 30 * 24 * hour, now), &RETENTION, every_5s),
            3600
        );
    }
}
