//! Running one statement on a source: a pooled connection, a transaction that is READ
//! ONLY unless the call writes, a server-side timeout no later than the call's
//! deadline, parameters bound over the extended protocol, rows streamed and turned
//! into JSON until the row or byte cap, and a real cancellation of the server-side
//! query when the call is cancelled, its deadline passes or the cap is reached.
//!
//! Cancellation is sent from a side connection (`pg_cancel_backend`, `KILL QUERY`) or,
//! for SQLite, by the progress handler; the working connection is held until its
//! query has ended, so a late cancel can never hit another call's query. A connection
//! left in doubt is closed rather than returned to the pool.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures::{Stream, StreamExt};
use serde_json::{Number, Value, json};
use sqlx::{
    AssertSqlSafe, Column, ConnectOptions, Connection, Row, SqlSafeStr, TypeInfo, ValueRef,
    mysql::MySqlRow, pool::PoolConnection, postgres::PgRow, sqlite::SqliteRow,
};
use tokio_util::sync::CancellationToken;

use super::{
    capping,
    model::{CutCell, QueryResult, ResultColumn},
    pools::SourcePool,
};

/// Why a statement did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the query ran past its time limit of {0:?} and was cancelled on the server")]
    Timeout(Duration),
    #[error("the call was cancelled; the query was cancelled on the server")]
    Cancelled,
    /// An error the database reported for the statement (syntax, permissions, a
    /// read-only transaction refusing a write): the caller's to fix.
    #[error("the database refused the query: {0}")]
    Database(String),
    /// The connection failed: the source's to fix.
    #[error("the database could not be reached: {0}")]
    Connection(String),
}

/// How one statement runs.
pub struct RunSpec<'a> {
    pub sql: &'a str,
    pub params: &'a [Value],
    /// Writes are allowed (a `read_write` source through `execute_statement`).
    pub write: bool,
    pub row_cap: usize,
    pub max_bytes: usize,
    /// Longer values are cut (`capping.rs`).
    pub max_value_bytes: usize,
    /// The statement's own text when it is one plain query, which PostgreSQL may
    /// then wrap to cut long values on the server.
    pub plain_query: Option<&'a str>,
    pub timeout: Duration,
    pub cancel: CancellationToken,
}

/// What a statement produced.
pub struct Output {
    pub columns: Vec<ResultColumn>,
    pub rows: Vec<Vec<Value>>,
    pub truncated: bool,
    pub rows_affected: Option<u64>,
    pub cut: Vec<CutCell>,
}

impl Output {
    pub fn into_result(self, source: &str, row_cap: usize, started: Instant) -> QueryResult {
        QueryResult {
            source: source.to_string(),
            row_count: self.rows.len(),
            columns: self.columns,
            rows: self.rows,
            truncated: self.truncated,
            cut: self.cut,
            row_cap,
            rows_affected: self.rows_affected,
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        }
    }
}

fn classify(error: sqlx::Error) -> RunError {
    match error {
        sqlx::Error::Database(db) => RunError::Database(db.message().to_string()),
        sqlx::Error::ColumnDecode { index, source } => {
            RunError::Database(format!("column {index} could not be decoded: {source}"))
        }
        sqlx::Error::PoolTimedOut => RunError::Connection(
            "no connection became free in time (the pool is busy or the server is down)".into(),
        ),
        other => RunError::Connection(other.to_string()),
    }
}

/// Binds a JSON value as the closest SQL type. Integers go as 64-bit integers,
/// other numbers as doubles, arrays and objects as JSON.
macro_rules! bind_json {
    ($query:expr, $value:expr) => {
        match $value {
            Value::Null => $query.bind(None::<String>),
            Value::Bool(flag) => $query.bind(*flag),
            Value::Number(number) => match (number.as_i64(), number.as_f64()) {
                (Some(integer), _) => $query.bind(integer),
                (None, Some(float)) if number.as_u64().is_none() => $query.bind(float),
                _ => $query.bind(number.to_string()),
            },
            Value::String(text) => $query.bind(text.as_str()),
            other => $query.bind(sqlx::types::Json(other)),
        }
    };
}

/// The rows of a `fetch_many` stream; each statement's rows-affected count is added
/// to `affected` as it passes.
fn rows_only<'a, Done, R>(
    stream: impl Stream<Item = Result<sqlx::Either<Done, R>, sqlx::Error>> + 'a,
    affected: &'a mut u64,
    count: fn(&Done) -> u64,
) -> impl Stream<Item = Result<R, sqlx::Error>> + 'a
where
    Done: 'a,
    R: 'a,
{
    stream.filter_map(move |item| {
        let row = match item {
            Ok(sqlx::Either::Left(done)) => {
                *affected += count(&done);
                None
            }
            Ok(sqlx::Either::Right(row)) => Some(Ok(row)),
            Err(error) => Some(Err(error)),
        };
        std::future::ready(row)
    })
}

/// What the stream loop should do once the cap is reached or the call must stop.
enum Stop {
    Cap,
    Cancelled,
    Deadline,
}

/// Drains `stream` into JSON rows. On cap, cancel or deadline it asks `interrupt` to
/// stop the server-side query and keeps reading (discarding) until the stream ends,
/// so the connection is quiet before it is released. Returns the rows, whether the
/// result was cut, and why the loop stopped early, if it did.
async fn drain<R, S, F, Fut>(
    stream: S,
    spec: &RunSpec<'_>,
    convert: impl Fn(&R) -> Vec<Value>,
    interrupt: F,
) -> Result<(Collected, bool, Option<Stop>, Option<R>), sqlx::Error>
where
    S: Stream<Item = Result<R, sqlx::Error>>,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut stream = std::pin::pin!(stream);
    let mut rows = Vec::new();
    let mut cut = Vec::new();
    let mut bytes = 0usize;
    let mut first = None;
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let stop = loop {
        let next = tokio::select! {
            next = stream.next() => next,
            () = spec.cancel.cancelled() => break Some(Stop::Cancelled),
            () = tokio::time::sleep_until(deadline) => break Some(Stop::Deadline),
        };
        let Some(row) = next else { break None };
        let row = row?;
        if rows.len() >= spec.row_cap {
            break Some(Stop::Cap);
        }
        let mut values = convert(&row);
        capping::cut_row(&mut values, rows.len(), spec.max_value_bytes, &mut cut);
        bytes += values.iter().map(approximate_size).sum::<usize>();
        if first.is_none() {
            first = Some(row);
        }
        if bytes > spec.max_bytes {
            break Some(Stop::Cap);
        }
        rows.push(values);
    };
    let truncated = matches!(stop, Some(Stop::Cap));
    if stop.is_some() {
        interrupt().await;
        // Bounded: the server ends the query at once after a cancel; if it does not,
        // the caller closes the connection.
        let quiet = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(item) = stream.next().await {
                if item.is_err() {
                    break;
                }
            }
        })
        .await;
        if quiet.is_err() {
            return Err(sqlx::Error::Protocol(
                "the server did not stop the query after it was cancelled".into(),
            ));
        }
    }
    Ok((Collected { rows, cut }, truncated, stop, first))
}

/// Rows as read, with the cells whose values were cut on the way.
struct Collected {
    rows: Vec<Vec<Value>>,
    cut: Vec<CutCell>,
}

fn approximate_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 12,
        Value::String(text) => text.len() + 2,
        other => other.to_string().len(),
    }
}

fn stop_error(stop: &Option<Stop>, timeout: Duration) -> Option<RunError> {
    match stop {
        Some(Stop::Cancelled) => Some(RunError::Cancelled),
        Some(Stop::Deadline) => Some(RunError::Timeout(timeout)),
        _ => None,
    }
}

/// Runs one statement (already checked by the guard) on `pool`.
pub async fn run(pool: &SourcePool, spec: &RunSpec<'_>) -> Result<Output, RunError> {
    let mut output = run_statement(pool, spec).await?;
    capping::cut_long_values(&mut output, spec.max_value_bytes);
    Ok(output)
}

async fn run_statement(pool: &SourcePool, spec: &RunSpec<'_>) -> Result<Output, RunError> {
    match pool {
        SourcePool::Postgres(pool) => {
            let connection = pool.acquire().await.map_err(classify)?;
            run_postgres(connection, pool.connect_options(), spec).await
        }
        SourcePool::Mysql(pool) => {
            let connection = pool.acquire().await.map_err(classify)?;
            run_mysql(connection, pool.connect_options(), spec).await
        }
        SourcePool::Sqlite(pool) => {
            let connection = pool.acquire().await.map_err(classify)?;
            run_sqlite(connection, spec).await
        }
    }
}

/// The server-side timeout for a spec, in whole milliseconds (at least 1).
fn timeout_ms(spec: &RunSpec<'_>) -> u128 {
    spec.timeout.as_millis().max(1)
}

async fn run_postgres(
    pooled: PoolConnection<sqlx::Postgres>,
    options: Arc<sqlx::postgres::PgConnectOptions>,
    spec: &RunSpec<'_>,
) -> Result<Output, RunError> {
    let begin = if spec.write {
        "BEGIN READ WRITE"
    } else {
        "BEGIN READ ONLY"
    };
    let setup = format!(
        "{begin}; SET LOCAL statement_timeout = {}; SET LOCAL lock_timeout = {}; SET LOCAL idle_in_transaction_session_timeout = {}",
        timeout_ms(spec),
        timeout_ms(spec),
        timeout_ms(spec) + 5000
    );
    let mut connection = Held::new(pooled);
    sqlx::raw_sql(AssertSqlSafe(setup))
        .execute(&mut **connection)
        .await
        .map_err(classify)?;
    let outcome = async {
        let (pid,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()")
            .fetch_one(&mut **connection)
            .await?;
        connection.on_abandon(cancel_postgres(options.clone(), pid));
        let wrapped = match spec.plain_query {
            Some(statement) => describe::<sqlx::Postgres>(&mut connection, statement)
                .await
                .map(|columns| capping::wrap_postgres(statement, &columns, spec.max_value_bytes))?,
            None => None,
        };
        let sql = wrapped
            .as_ref()
            .map_or(spec.sql, |wrapped| wrapped.sql.as_str());
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in spec.params {
            query = bind_json!(query, value);
        }
        let interrupt = || cancel_postgres(options.clone(), pid);
        let mut affected = 0u64;
        // The guard let exactly one statement through; fetch_many is the one call
        // that yields its rows and its rows-affected count.
        #[allow(deprecated)]
        let stream = rows_only(
            query.fetch_many(&mut **connection),
            &mut affected,
            sqlx::postgres::PgQueryResult::rows_affected,
        );
        let drained = drain(stream, spec, pg_row_values, interrupt).await;
        Ok::<_, sqlx::Error>(((drained, affected), wrapped))
    }
    .await;
    let (outcome, wrapped) = match outcome {
        Ok((drained, wrapped)) => (Ok(drained), wrapped),
        Err(error) => (Err(error), None),
    };
    let mut output = conclude(&mut connection, outcome, spec).await?;
    if let Some(wrapped) = wrapped {
        wrapped.unwrap(&mut output);
    }
    Ok(output)
}

/// Settles a drained statement, names its columns (from the first row, or from the
/// server's description of an empty result) and ends the transaction.
async fn conclude<DB, R>(
    connection: &mut Held<DB>,
    outcome: Result<Drained<R>, sqlx::Error>,
    spec: &RunSpec<'_>,
) -> Result<Output, RunError>
where
    DB: sqlx::Database,
    R: Row<Database = DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let settled = settle(connection, outcome, spec).await;
    let settled = connection.finish(settled)?;
    let columns = match &settled.first {
        Some(row) => result_columns(row.columns()),
        None => describe::<DB>(&mut **connection, spec.sql)
            .await
            .unwrap_or_default(),
    };
    let ended = end(connection, spec).await;
    connection.close_out(ended)?;
    let columns = typed_by_values(columns, &settled.rows);
    Ok(Output {
        columns,
        rows: settled.rows,
        truncated: settled.truncated,
        rows_affected: spec.write.then_some(settled.affected),
        cut: settled.cut,
    })
}

/// SQLite names no type for a column computed by an expression (`COUNT(*)`,
/// `a + b`): it says `NULL`. Such a column is named by its values' storage class
/// (`INTEGER`, `REAL`, `TEXT`) when all its values share one.
fn typed_by_values(mut columns: Vec<ResultColumn>, rows: &[Vec<Value>]) -> Vec<ResultColumn> {
    for (index, column) in columns.iter_mut().enumerate() {
        if column.type_name != "NULL" {
            continue;
        }
        let mut classes = rows.iter().filter_map(|row| match row.get(index)? {
            Value::Number(number) if number.is_i64() || number.is_u64() => Some("INTEGER"),
            Value::Number(_) => Some("REAL"),
            Value::String(_) => Some("TEXT"),
            Value::Bool(_) => Some("INTEGER"),
            _ => None,
        });
        if let Some(first) = classes.next()
            && classes.all(|class| class == first)
        {
            column.type_name = first.to_string();
        }
    }
    columns
}

fn result_columns<C: Column>(columns: &[C]) -> Vec<ResultColumn> {
    columns
        .iter()
        .map(|column| ResultColumn {
            name: column.name().to_string(),
            type_name: column.type_info().name().to_string(),
        })
        .collect()
}

/// The columns a statement would return, without running it.
async fn describe<DB>(
    connection: &mut PoolConnection<DB>,
    sql: &str,
) -> Result<Vec<ResultColumn>, sqlx::Error>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    use sqlx::Executor;
    let described = (&mut **connection)
        .describe(AssertSqlSafe(sql.to_string()).into_sql_str())
        .await?;
    Ok(result_columns(described.columns()))
}

type Drained<R> = (
    Result<(Collected, bool, Option<Stop>, Option<R>), sqlx::Error>,
    u64,
);

/// A pooled connection inside one of our transactions. The Hub drops a call's future
/// when its deadline passes or it is cancelled, so cleanup cannot rely on code after
/// an `await`: if this is dropped before `finish`, the statement still running is
/// cancelled on the server and the connection is closed instead of going back to the
/// pool with a transaction open.
struct Held<DB: sqlx::Database> {
    connection: PoolConnection<DB>,
    settled: bool,
    abandon: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

impl<DB: sqlx::Database> Held<DB> {
    fn new(connection: PoolConnection<DB>) -> Self {
        Held {
            connection,
            settled: false,
            abandon: None,
        }
    }

    /// What to run, detached, if the call is abandoned from here on.
    fn on_abandon(&mut self, cancel: impl std::future::Future<Output = ()> + Send + 'static) {
        self.abandon = Some(Box::pin(cancel));
    }

    /// The transaction is over (or the connection already marked to close) once an
    /// error or the final result has been produced.
    fn finish<T>(&mut self, outcome: Result<T, RunError>) -> Result<T, RunError> {
        if outcome.is_err() {
            self.settled = true;
            self.abandon = None;
        }
        outcome
    }
}

impl<DB: sqlx::Database> Held<DB> {
    /// The transaction has ended, committed or rolled back, whatever `outcome` says.
    fn close_out<T>(&mut self, outcome: Result<T, RunError>) -> Result<T, RunError> {
        self.settled = true;
        self.abandon = None;
        outcome
    }
}

impl<DB: sqlx::Database> std::ops::Deref for Held<DB> {
    type Target = PoolConnection<DB>;
    fn deref(&self) -> &Self::Target {
        &self.connection
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for Held<DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.connection
    }
}

impl<DB: sqlx::Database> Drop for Held<DB> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        self.connection.close_on_drop();
        if let Some(cancel) = self.abandon.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(cancel);
        }
    }
}

/// Cancels backend `pid`'s running statement from a side connection.
async fn cancel_postgres(options: Arc<sqlx::postgres::PgConnectOptions>, pid: i32) {
    if let Ok(mut side) = options.connect().await {
        let _ = sqlx::query("SELECT pg_cancel_backend($1)")
            .bind(pid)
            .execute(&mut side)
            .await;
        let _ = side.close().await;
    }
}

/// Kills connection `id`'s running statement from a side connection.
async fn cancel_mysql(options: Arc<sqlx::mysql::MySqlConnectOptions>, id: u64) {
    if let Ok(mut side) = options.connect().await {
        let _ = sqlx::raw_sql(AssertSqlSafe(format!("KILL QUERY {id}")))
            .execute(&mut side)
            .await;
        let _ = side.close().await;
    }
}

/// What `settle` leaves for the caller: the rows, and the first row to name the
/// columns (none when the statement returned no rows).
struct Settled<R> {
    rows: Vec<Vec<Value>>,
    cut: Vec<CutCell>,
    truncated: bool,
    first: Option<R>,
    affected: u64,
}

/// Turns a drained stream into rows or an error. On any error the transaction is
/// rolled back, and a connection whose state is in doubt is marked to close instead
/// of returning to the pool.
async fn settle<DB, R>(
    connection: &mut PoolConnection<DB>,
    outcome: Result<Drained<R>, sqlx::Error>,
    spec: &RunSpec<'_>,
) -> Result<Settled<R>, RunError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let failure = match outcome {
        Ok((Ok((rows, truncated, stop, first)), affected)) => match stop_error(&stop, spec.timeout)
        {
            None => {
                return Ok(Settled {
                    rows: rows.rows,
                    cut: rows.cut,
                    truncated,
                    first,
                    affected,
                });
            }
            Some(error) => error,
        },
        Ok((Err(error @ sqlx::Error::Protocol(_)), _)) => {
            connection.close_on_drop();
            return Err(classify(error));
        }
        Ok((Err(error), _)) | Err(error) => match classify(error) {
            // The server's own statement timeout: say so, as a deadline.
            RunError::Database(message) if is_server_timeout(&message) => {
                RunError::Timeout(spec.timeout)
            }
            other => other,
        },
    };
    rollback_or_close(connection).await;
    Err(failure)
}

fn is_server_timeout(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "statement timeout",
        "max_statement_time",
        "max_execution_time",
        "maximum statement execution time",
    ]
    .iter()
    .any(|marker| message.contains(marker))
}

/// Ends the transaction of a successful statement: commits a write, rolls a read back.
async fn end<DB>(connection: &mut PoolConnection<DB>, spec: &RunSpec<'_>) -> Result<(), RunError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let end = if spec.write { "COMMIT" } else { "ROLLBACK" };
    sqlx::raw_sql(end)
        .execute(&mut **connection)
        .await
        .map(|_| ())
        .map_err(|error| {
            connection.close_on_drop();
            classify(error)
        })
}

async fn rollback_or_close<DB>(connection: &mut PoolConnection<DB>)
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let rolled_back = tokio::time::timeout(
        Duration::from_secs(5),
        sqlx::raw_sql("ROLLBACK").execute(&mut **connection),
    )
    .await;
    if !matches!(rolled_back, Ok(Ok(_))) {
        connection.close_on_drop();
    }
}

async fn run_mysql(
    pooled: PoolConnection<sqlx::MySql>,
    options: Arc<sqlx::mysql::MySqlConnectOptions>,
    spec: &RunSpec<'_>,
) -> Result<Output, RunError> {
    // MariaDB names the limit max_statement_time (seconds), MySQL max_execution_time
    // (milliseconds, SELECT only); whichever the server lacks is an error to ignore.
    let seconds = spec.timeout.as_secs_f64().max(0.001);
    let mut connection = Held::new(pooled);
    let _ = sqlx::raw_sql(AssertSqlSafe(format!(
        "SET SESSION max_statement_time = {seconds:.3}"
    )))
    .execute(&mut **connection)
    .await;
    let _ = sqlx::raw_sql(AssertSqlSafe(format!(
        "SET SESSION max_execution_time = {}",
        timeout_ms(spec)
    )))
    .execute(&mut **connection)
    .await;
    let begin = if spec.write {
        "START TRANSACTION READ WRITE"
    } else {
        "START TRANSACTION READ ONLY"
    };
    sqlx::raw_sql(begin)
        .execute(&mut **connection)
        .await
        .map_err(classify)?;
    let outcome = async {
        let (id,): (u64,) = sqlx::query_as("SELECT CONNECTION_ID()")
            .fetch_one(&mut **connection)
            .await?;
        connection.on_abandon(cancel_mysql(options.clone(), id));
        let mut query = sqlx::query(AssertSqlSafe(spec.sql));
        for value in spec.params {
            query = bind_json!(query, value);
        }
        let interrupt = || cancel_mysql(options.clone(), id);
        let mut affected = 0u64;
        // The guard let exactly one statement through; fetch_many is the one call
        // that yields its rows and its rows-affected count.
        #[allow(deprecated)]
        let stream = rows_only(
            query.fetch_many(&mut **connection),
            &mut affected,
            sqlx::mysql::MySqlQueryResult::rows_affected,
        );
        let drained = drain(stream, spec, mysql_row_values, interrupt).await;
        Ok::<_, sqlx::Error>((drained, affected))
    }
    .await;
    conclude(&mut connection, outcome, spec).await
}

async fn run_sqlite(
    pooled: PoolConnection<sqlx::Sqlite>,
    spec: &RunSpec<'_>,
) -> Result<Output, RunError> {
    // SQLite has no server to cancel from outside: the progress handler, called every
    // few thousand virtual-machine steps, aborts the statement once asked to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + spec.timeout;
    let mut connection = Held::new(pooled);
    {
        let stop = stop.clone();
        connection.on_abandon(async move { stop.store(true, Ordering::Relaxed) });
    }
    {
        let stop = stop.clone();
        let mut handle = connection.lock_handle().await.map_err(classify)?;
        handle.set_progress_handler(4096, move || {
            !stop.load(Ordering::Relaxed) && Instant::now() < deadline
        });
    }
    let begin = if spec.write {
        "BEGIN IMMEDIATE"
    } else {
        "BEGIN"
    };
    if let Err(error) = sqlx::raw_sql(begin).execute(&mut **connection).await {
        clear_progress_handler(&mut connection).await;
        return connection.finish(Err(classify(error)));
    }
    let outcome = async {
        let mut query = sqlx::query(AssertSqlSafe(spec.sql));
        for value in spec.params {
            query = bind_json!(query, value);
        }
        let interrupt = || async {
            stop.store(true, Ordering::Relaxed);
        };
        let mut affected = 0u64;
        // The guard let exactly one statement through; fetch_many is the one call
        // that yields its rows and its rows-affected count.
        #[allow(deprecated)]
        let stream = rows_only(
            query.fetch_many(&mut **connection),
            &mut affected,
            sqlx::sqlite::SqliteQueryResult::rows_affected,
        );
        let drained = drain(stream, spec, sqlite_row_values, interrupt).await;
        Ok::<_, sqlx::Error>((drained, affected))
    }
    .await;
    // A statement the handler interrupted reports "interrupted"; say why instead.
    let outcome = match outcome {
        Ok((Err(sqlx::Error::Database(db)), affected))
            if db.message().contains("interrupted") && Instant::now() >= deadline =>
        {
            Ok((
                Ok((
                    Collected {
                        rows: Vec::new(),
                        cut: Vec::new(),
                    },
                    false,
                    Some(Stop::Deadline),
                    None,
                )),
                affected,
            ))
        }
        other => other,
    };
    clear_progress_handler(&mut connection).await;
    conclude(&mut connection, outcome, spec).await
}

async fn clear_progress_handler(connection: &mut PoolConnection<sqlx::Sqlite>) {
    if let Ok(mut handle) = connection.lock_handle().await {
        handle.remove_progress_handler();
    }
}

// ---- values -----------------------------------------------------------------------

/// `\x`-prefixed lower-case hex, as psql prints bytea.
pub fn hex_bytes(bytes: &[u8]) -> Value {
    let mut text = String::with_capacity(2 + bytes.len() * 2);
    text.push_str("\\x");
    for byte in bytes {
        text.push_str(&format!("{byte:02x}"));
    }
    Value::String(text)
}

fn float(value: f64) -> Value {
    Number::from_f64(value)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(value.to_string()))
}

fn text_or_hex(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_string()),
        Err(_) => hex_bytes(bytes),
    }
}

/// A column's value as JSON, by the column's PostgreSQL type.
fn pg_value(row: &PgRow, index: usize, type_name: &str) -> Value {
    use bigdecimal::BigDecimal;
    use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
    use sqlx::postgres::types::{PgInterval, PgMoney};
    macro_rules! get {
        ($t:ty, $map:expr) => {
            match row.try_get::<Option<$t>, _>(index) {
                Ok(Some(value)) => $map(value),
                Ok(None) => Value::Null,
                Err(_) => pg_raw(row, index),
            }
        };
    }
    macro_rules! array {
        ($t:ty, $map:expr) => {
            match row.try_get::<Option<Vec<Option<$t>>>, _>(index) {
                Ok(Some(items)) => Value::Array(
                    items
                        .into_iter()
                        .map(|item| item.map($map).unwrap_or(Value::Null))
                        .collect(),
                ),
                Ok(None) => Value::Null,
                Err(_) => pg_raw(row, index),
            }
        };
    }
    let string = |text: String| Value::String(text);
    match type_name {
        "BOOL" => get!(bool, Value::Bool),
        "INT2" => get!(i16, |v: i16| json!(v)),
        "INT4" => get!(i32, |v: i32| json!(v)),
        "INT8" => get!(i64, |v: i64| json!(v)),
        "OID" => get!(
            sqlx::postgres::types::Oid,
            |v: sqlx::postgres::types::Oid| { json!(v.0) }
        ),
        "FLOAT4" => get!(f32, |v: f32| float(f64::from(v))),
        "FLOAT8" => get!(f64, float),
        "NUMERIC" => get!(BigDecimal, |v: BigDecimal| string(numeric_text(
            row, index, v
        ))),
        "MONEY" => get!(PgMoney, |v: PgMoney| string(v.to_bigdecimal(2).to_string())),
        "TEXT" | "VARCHAR" | "BPCHAR" | "CHAR" | "NAME" | "\"CHAR\"" | "CITEXT" | "UNKNOWN" => {
            get!(String, string)
        }
        "UUID" => get!(uuid::Uuid, |v: uuid::Uuid| string(v.to_string())),
        "JSON" | "JSONB" => get!(Value, |v: Value| v),
        "BYTEA" => get!(Vec<u8>, |v: Vec<u8>| hex_bytes(&v)),
        "DATE" => get!(NaiveDate, |v: NaiveDate| string(v.to_string())),
        "TIME" => get!(NaiveTime, |v: NaiveTime| string(v.to_string())),
        "TIMESTAMP" => get!(NaiveDateTime, |v: NaiveDateTime| string(
            v.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
        )),
        "TIMESTAMPTZ" => get!(DateTime<Utc>, |v: DateTime<Utc>| string(
            v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        )),
        "INTERVAL" => get!(PgInterval, |v: PgInterval| json!({
            "months": v.months, "days": v.days, "microseconds": v.microseconds
        })),
        "BOOL[]" => array!(bool, Value::Bool),
        "INT2[]" => array!(i16, |v: i16| json!(v)),
        "INT4[]" => array!(i32, |v: i32| json!(v)),
        "INT8[]" => array!(i64, |v: i64| json!(v)),
        "FLOAT4[]" => array!(f32, |v: f32| float(f64::from(v))),
        "FLOAT8[]" => array!(f64, float),
        "NUMERIC[]" => array!(BigDecimal, |v: BigDecimal| string(v.to_string())),
        "TEXT[]" | "VARCHAR[]" | "BPCHAR[]" | "CHAR[]" | "NAME[]" => array!(String, string),
        "UUID[]" => array!(uuid::Uuid, |v: uuid::Uuid| string(v.to_string())),
        "JSON[]" | "JSONB[]" => array!(Value, |v: Value| v),
        "DATE[]" => array!(NaiveDate, |v: NaiveDate| string(v.to_string())),
        "TIMESTAMPTZ[]" => array!(DateTime<Utc>, |v: DateTime<Utc>| string(
            v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        )),
        "BYTEA[]" => array!(Vec<u8>, |v: Vec<u8>| hex_bytes(&v)),
        _ => pg_raw(row, index),
    }
}

/// NUMERIC as PostgreSQL prints it: the decoded value at the column's display scale
/// (the binary form carries it after ndigits, weight and sign), so `1.50` stays
/// `1.50` and no trailing zeros are invented.
fn numeric_text(row: &PgRow, index: usize, value: bigdecimal::BigDecimal) -> String {
    let scale = row
        .try_get_raw(index)
        .ok()
        .and_then(|raw| raw.as_bytes().ok().map(<[u8]>::to_vec))
        .and_then(|bytes| {
            bytes
                .get(6..8)
                .map(|b| i64::from(u16::from_be_bytes([b[0], b[1]])))
        });
    match scale {
        Some(scale) => value.with_scale(scale).to_string(),
        None => value.to_string(),
    }
}

/// A value of a type without a mapping: enums, domains over text and other text-like
/// types arrive as UTF-8; anything else is shown as hex of its binary form.
fn pg_raw(row: &PgRow, index: usize) -> Value {
    match row.try_get_raw(index) {
        Ok(raw) if raw.is_null() => Value::Null,
        Ok(raw) => match raw.as_bytes() {
            Ok(bytes) => text_or_hex(bytes),
            Err(_) => Value::Null,
        },
        Err(_) => Value::Null,
    }
}

fn pg_row_values(row: &PgRow) -> Vec<Value> {
    row.columns()
        .iter()
        .map(|column| pg_value(row, column.ordinal(), column.type_info().name()))
        .collect()
}

fn mysql_value(row: &MySqlRow, index: usize, type_name: &str) -> Value {
    use bigdecimal::BigDecimal;
    use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
    macro_rules! get {
        ($t:ty, $map:expr) => {
            match row.try_get::<Option<$t>, _>(index) {
                Ok(Some(value)) => $map(value),
                Ok(None) => Value::Null,
                Err(_) => mysql_raw(row, index),
            }
        };
    }
    let string = |text: String| Value::String(text);
    let upper = type_name.to_ascii_uppercase();
    let unsigned = upper.ends_with("UNSIGNED");
    match upper.split_whitespace().next().unwrap_or_default() {
        "BOOLEAN" => get!(bool, Value::Bool),
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "INTEGER" | "BIGINT" | "YEAR" => {
            if unsigned {
                get!(u64, |v: u64| json!(v))
            } else {
                get!(i64, |v: i64| json!(v))
            }
        }
        "FLOAT" => get!(f32, |v: f32| float(f64::from(v))),
        "DOUBLE" | "REAL" => get!(f64, float),
        "DECIMAL" | "NUMERIC" => get!(BigDecimal, |v: BigDecimal| string(v.to_string())),
        "DATE" => get!(NaiveDate, |v: NaiveDate| string(v.to_string())),
        "TIME" => get!(NaiveTime, |v: NaiveTime| string(v.to_string())),
        "DATETIME" => get!(NaiveDateTime, |v: NaiveDateTime| string(
            v.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
        )),
        "TIMESTAMP" => get!(DateTime<Utc>, |v: DateTime<Utc>| string(
            v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        )),
        "JSON" => get!(Value, |v: Value| v),
        "BINARY" | "VARBINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BIT"
        | "GEOMETRY" => get!(Vec<u8>, |v: Vec<u8>| hex_bytes(&v)),
        _ => get!(String, string),
    }
}

fn mysql_raw(row: &MySqlRow, index: usize) -> Value {
    match row.try_get_unchecked::<Option<Vec<u8>>, _>(index) {
        Ok(Some(bytes)) => text_or_hex(&bytes),
        _ => Value::Null,
    }
}

fn mysql_row_values(row: &MySqlRow) -> Vec<Value> {
    row.columns()
        .iter()
        .map(|column| mysql_value(row, column.ordinal(), column.type_info().name()))
        .collect()
}

/// SQLite types values, not columns: each value is read by its own storage class.
fn sqlite_value(row: &SqliteRow, index: usize) -> Value {
    let Ok(raw) = row.try_get_raw(index) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    let class = raw.type_info().name().to_string();
    match class.as_str() {
        "INTEGER" => row
            .try_get_unchecked::<i64, _>(index)
            .map(|v| json!(v))
            .unwrap_or(Value::Null),
        "REAL" => row
            .try_get_unchecked::<f64, _>(index)
            .map(float)
            .unwrap_or(Value::Null),
        "BLOB" => row
            .try_get_unchecked::<Vec<u8>, _>(index)
            .map(|v| hex_bytes(&v))
            .unwrap_or(Value::Null),
        _ => row
            .try_get_unchecked::<String, _>(index)
            .map(Value::String)
            .unwrap_or(Value::Null),
    }
}

fn sqlite_row_values(row: &SqliteRow) -> Vec<Value> {
    (0..row.columns().len())
        .map(|index| sqlite_value(row, index))
        .collect()
}
