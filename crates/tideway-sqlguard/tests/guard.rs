//! The guard against the spellings that escaped the earlier denylist, and the reads
//! and writes that must keep working. The toolkit's live suite runs the same attacks
//! against real databases and compares their state before and after.

use tideway_sqlguard::{Dialect, Policy, check};

fn refused(dialect: Dialect, policy: Policy, sql: &str) -> String {
    match check(dialect, policy, sql) {
        Ok(checked) => panic!("{dialect:?} let through {sql:?} ({checked:?})"),
        Err(refusal) => refusal.0,
    }
}

fn read_refused(sql: &str) -> String {
    refused(Dialect::Postgres, Policy::read(), sql)
}

/// Every spelling of a function outside the allowlist, in PostgreSQL.
const POSTGRES_BYPASSES: &[&str] = &[
    // Attribute notation: `(x).f` is `f(x)` when x has no field f.
    "SELECT ('/etc/hostname'::text).pg_read_file",
    "SELECT (pid).pg_terminate_backend FROM pg_stat_activity",
    "SELECT (8::bigint).pg_advisory_lock",
    "SELECT ((8::bigint)).pg_advisory_lock",
    "SELECT (x).set_config FROM (SELECT 'a' AS x) s",
    // Unicode-escaped and quoted identifiers
    r#"SELECT U&"pg\005fread\005ffile"('/etc/hostname')"#,
    r#"SELECT U&"pg\005freload\005fconf"()"#,
    r#"SELECT U&"lo\005fimport"('/etc/hostname')"#,
    r#"SELECT U&"set\005fconfig"('default_transaction_read_only', 'off', false)"#,
    r#"SELECT "pg_read_file"('/etc/hostname')"#,
    r#"SELECT pg_catalog."pg_read_file"('/etc/hostname')"#,
    "SELECT PG_CATALOG.PG_READ_FILE('/etc/passwd')",
    // Schema-qualified names that are not pg_catalog's
    "SELECT public.lower('x')",
    "SELECT evil.pg_read_file('/etc/passwd')",
    // SQL run from text, and other sessions
    "SELECT ts_stat($q$SELECT to_tsvector(dblink_exec('dbname=x', 'UPDATE canary SET v = 1'))$q$)",
    "SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, ''b''::tsquery')",
    "SELECT dblink_exec('dbname=x', 'UPDATE canary SET v = 1')",
    "SELECT * FROM dblink('dbname=x', 'SELECT 1') AS t(x int)",
    "SELECT query_to_xml('DELETE FROM t', true, true, '')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT * FROM pg_ls_dir('.')",
    "SELECT pg_notify('c', 'p')",
    "SELECT nextval('s')",
    // Functions hidden in other places
    "SELECT * FROM t TABLESAMPLE evil_method(10)",
    "SELECT * FROM ROWS FROM (pg_ls_dir('.')) AS x",
    "SELECT 1 FROM t ORDER BY pg_read_file('x')",
    "SELECT 1 FROM t GROUP BY 1 HAVING pg_read_file('x') IS NULL",
    "SELECT count(*) FILTER (WHERE pg_read_file('x') IS NULL) FROM t",
    "SELECT 1 WHERE EXISTS (SELECT pg_read_file('x'))",
    "SELECT ARRAY[pg_read_file('x')]",
    "SELECT CASE WHEN true THEN pg_read_file('x') END",
    "SELECT 1 OPERATOR(evil.+) 1",
    "SELECT xmltable.* FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x text)",
    // EXPLAIN ANALYZE runs the statement; not allowed unless the source says so
    "EXPLAIN ANALYZE SELECT 1",
    "EXPLAIN (ANALYZE) SELECT 1",
    "EXPLAIN (ANALYZE true, FORMAT JSON) SELECT 1",
    "EXPLAIN SELECT pg_read_file('x')",
    "EXPLAIN DELETE FROM t",
    // Writes and session changes
    "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
    "SELECT * INTO copy FROM t",
    "SELECT * FROM t FOR UPDATE",
    "SET default_transaction_read_only = off",
    "COPY t TO PROGRAM 'id'",
    "DO $$ BEGIN PERFORM 1; END $$",
    "SELECT 1; SELECT 2",
];

#[test]
fn every_bypass_of_the_old_denylist_is_refused() {
    for sql in POSTGRES_BYPASSES {
        let reason = read_refused(sql);
        assert!(!reason.is_empty(), "{sql}");
    }
}

#[test]
fn refusals_name_what_was_refused() {
    assert!(read_refused("SELECT ('/etc/hostname'::text).pg_read_file").contains("pg_read_file"));
    assert!(read_refused(r#"SELECT U&"pg\005fread\005ffile"('x')"#).contains("`pg_read_file`"));
    assert!(read_refused("SELECT 1; SELECT 2").contains("2 statements"));
    assert!(read_refused("DELETE FROM t").contains("read-only"));
    assert!(read_refused("SELECT * FROM t FOR UPDATE").contains("FOR UPDATE"));
    assert!(read_refused("EXPLAIN ANALYZE SELECT 1").contains("explain_analyze"));
    assert!(read_refused("SELEC 1").contains("could not be parsed"));
    assert!(read_refused("   ").contains("empty"));
}

#[test]
fn refusals_quote_only_a_short_piece() {
    let long_name = "f".repeat(5000);
    let reason = read_refused(&format!("SELECT {long_name}(1)"));
    assert!(reason.len() < 400, "{} bytes: {reason}", reason.len());
    // PostgreSQL cuts identifiers at 63 bytes itself; MySQL's reader does not.
    let reason = refused(
        Dialect::Mysql,
        Policy::read(),
        &format!("SELECT {long_name}(1)"),
    );
    assert!(reason.len() < 400, "{} bytes: {reason}", reason.len());
    assert!(reason.contains("5000 characters"), "{reason}");
    let huge = format!("SELECT '{}'", "x".repeat(300 * 1024));
    assert!(read_refused(&huge).contains("at most"));
}

/// Analysis people really run: joins, windows, JSON, dates, text search, the
/// catalog, EXPLAIN and SHOW.
const POSTGRES_READS: &[&str] = &[
    "SELECT 1",
    "SELECT * FROM customers",
    "TABLE customers",
    "VALUES (1, 'a'), (2, 'b')",
    "SELECT c.name, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY 2 DESC LIMIT 5",
    "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '7 days') SELECT count(*) FROM recent",
    "SELECT id, rank() OVER (PARTITION BY region ORDER BY total DESC) FROM orders",
    "SELECT date_trunc('month', created_at), count(*) FROM orders GROUP BY 1",
    "SELECT EXTRACT(YEAR FROM created_at), to_char(created_at, 'YYYY-MM') FROM orders",
    "SELECT payload->>'email', jsonb_array_length(payload->'items') FROM events",
    "SELECT * FROM jsonb_to_recordset('[{\"a\":1}]'::jsonb) AS x(a int)",
    "SELECT lower(name), length(name), coalesce(name, ''), trim(name), substring(name FROM 1 FOR 3) FROM customers",
    "SELECT pg_catalog.lower(name) FROM customers",
    "SELECT name FROM customers WHERE id = $1",
    "SELECT name FROM customers WHERE name ILIKE '%ada%' AND id IN (1, 2, 3)",
    "SELECT to_tsvector('english', body) @@ plainto_tsquery('refund') FROM articles",
    "SELECT x FROM generate_series(1, 10) AS x",
    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total) FROM orders",
    "SELECT count(*) FILTER (WHERE total > 10) FROM orders",
    "SELECT CASE WHEN total > 100 THEN 'big' ELSE 'small' END, total::numeric(10,2) FROM orders",
    "SELECT (ARRAY[1,2,3])[2], ('{\"a\":1}'::jsonb)['a']",
    "SELECT c.relname, pg_size_pretty(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'",
    "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attnum > 0",
    "SELECT current_date, current_user, now() AT TIME ZONE 'UTC'",
    "SELECT * FROM customers TABLESAMPLE BERNOULLI (10)",
    "SELECT JSON_OBJECT('a': 1), JSON_ARRAY(1, 2)",
    "SELECT 'DELETE FROM customers' AS text_that_looks_like_a_write",
    "SELECT * FROM customers UNION ALL SELECT * FROM customers",
    "SELECT pg_sleep(0)",
    "EXPLAIN SELECT * FROM customers",
    "EXPLAIN (FORMAT JSON, VERBOSE) SELECT * FROM customers",
    "SHOW server_version",
    "SHOW timezone",
];

#[test]
fn analysis_queries_pass() {
    for sql in POSTGRES_READS {
        if let Err(refusal) = check(Dialect::Postgres, Policy::read(), sql) {
            panic!("refused {sql}: {refusal}");
        }
    }
    let explain = Policy::read().with_explain_analyze(true);
    assert!(check(Dialect::Postgres, explain, "EXPLAIN ANALYZE SELECT 1").is_ok());
    assert!(check(Dialect::Postgres, explain, "EXPLAIN ANALYZE DELETE FROM t").is_err());
}

#[test]
fn what_the_guard_learns_about_a_statement() {
    let query = check(Dialect::Postgres, Policy::read(), "SELECT 1").expect("query");
    assert!(query.returns_rows && query.is_plain_query);
    let explain = check(Dialect::Postgres, Policy::read(), "EXPLAIN SELECT 1").expect("explain");
    assert!(explain.returns_rows && !explain.is_plain_query);
    let insert = check(
        Dialect::Postgres,
        Policy::write(),
        "INSERT INTO t VALUES (1)",
    )
    .expect("w");
    assert!(!insert.returns_rows);
    let returning = check(
        Dialect::Postgres,
        Policy::write(),
        "INSERT INTO t VALUES (1) RETURNING id",
    )
    .expect("returning");
    assert!(returning.returns_rows);
}

#[test]
fn writes_on_read_write_sources_keep_to_data_and_tables() {
    for sql in [
        "INSERT INTO t (a) VALUES (1)",
        "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = excluded.a",
        "UPDATE t SET a = 2 WHERE b = lower('X')",
        "DELETE FROM t WHERE a = 1",
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a",
        "CREATE TABLE u (a int PRIMARY KEY, b text NOT NULL DEFAULT '')",
        "CREATE INDEX u_b ON u (b)",
        "CREATE VIEW v AS SELECT a FROM u",
        "ALTER TABLE u ADD COLUMN c int",
        "DROP TABLE u",
        "TRUNCATE u",
        "INSERT INTO t (id) VALUES (nextval('t_id_seq'))",
        "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
    ] {
        if let Err(refusal) = check(Dialect::Postgres, Policy::write(), sql) {
            panic!("refused {sql}: {refusal}");
        }
    }
    for sql in [
        "COMMIT",
        "BEGIN",
        "SET default_transaction_read_only = off",
        "COPY t FROM PROGRAM 'id'",
        "INSERT INTO t SELECT pg_read_file('/etc/passwd')",
        "INSERT INTO t SELECT (x).pg_read_file FROM s",
        "CREATE TABLE u (a text DEFAULT pg_read_file('/etc/passwd'))",
        "GRANT ALL ON t TO PUBLIC",
        "CREATE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql",
        "CREATE TRIGGER tr AFTER INSERT ON t EXECUTE FUNCTION f()",
        "CREATE EXTENSION dblink",
        "DROP SCHEMA public CASCADE",
        "DROP ROLE r",
        "SELECT 1; DELETE FROM t",
        "LOCK TABLE t",
        "ALTER SYSTEM SET fsync = off",
    ] {
        assert!(
            check(Dialect::Postgres, Policy::write(), sql).is_err(),
            "let through {sql}"
        );
    }
}

#[test]
fn nesting_beyond_the_parsers_limit_is_refused_not_a_crash() {
    for dialect in [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite] {
        // PostgreSQL's grammar drops parentheses, so only the others see depth here.
        let nested = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
        let outcome = check(dialect, Policy::read(), &nested);
        assert!(
            dialect == Dialect::Postgres || outcome.is_err(),
            "{dialect:?}"
        );
        let negations = format!("SELECT {}1{}", "-(".repeat(5000), ")".repeat(5000));
        assert!(
            check(dialect, Policy::read(), &negations).is_err(),
            "{dialect:?}"
        );
        let nested = format!("SELECT {}1{}", "(".repeat(500), ")".repeat(500));
        let _ = check(dialect, Policy::read(), &nested);
        let subqueries = format!(
            "{}SELECT 1{}",
            "SELECT * FROM (".repeat(200),
            ") AS s".repeat(200)
        );
        let _ = check(dialect, Policy::read(), &subqueries);
    }
    let garbage = "\u{0}\u{1}SELECT\u{feff} ;;; '''";
    assert!(check(Dialect::Sqlite, Policy::read(), garbage).is_err());
}

#[test]
fn mysql_text_the_server_reads_differently_is_refused() {
    let mysql = |sql: &str| check(Dialect::Mysql, Policy::read(), sql);
    assert!(mysql("SELECT 1 /*! ; DELETE FROM t */").is_err());
    assert!(mysql("SELECT 1 /*!50000 , LOAD_FILE('/etc/passwd') */").is_err());
    assert!(mysql("SELECT 1 /*M! , LOAD_FILE('/etc/passwd') */").is_err());
    // `--` needs a space after it to start a comment in MySQL.
    assert!(mysql("SELECT 1 --1").is_ok());
    assert!(mysql("SELECT 1 --1\n; DELETE FROM t").is_err());
    assert!(mysql("SELECT 1 -- a comment").is_ok());
    assert!(mysql("SELECT 'a\\'; DELETE FROM t; --'").is_ok_and(|c| c.is_plain_query));
    assert!(mysql("SELECT LOAD_FILE('/etc/passwd')").is_err());
    assert!(mysql("SELECT `load_file`('/etc/passwd')").is_err());
    assert!(mysql("SELECT mydb.evil()").is_err());
    assert!(mysql("SELECT BENCHMARK(100000000, MD5('x'))").is_err());
    assert!(mysql("SELECT SLEEP(1)").is_ok());
    assert!(
        mysql("SELECT DATE_FORMAT(NOW(), '%Y'), JSON_EXTRACT('{}', '$.a'), GROUP_CONCAT(x) FROM t")
            .is_ok()
    );
    assert!(mysql("SHOW TABLES").is_ok());
    assert!(mysql("EXPLAIN SELECT 1").is_ok());
    assert!(mysql("EXPLAIN ANALYZE SELECT 1").is_err());
    assert!(mysql("SELECT * FROM t INTO OUTFILE '/tmp/x'").is_err());
}

#[test]
fn sqlite_reaches_no_file() {
    let sqlite = |sql: &str| check(Dialect::Sqlite, Policy::read(), sql);
    for sql in [
        "SELECT load_extension('/tmp/evil.so')",
        "SELECT readfile('/etc/passwd')",
        "SELECT writefile('/tmp/x', 'y')",
        "SELECT * FROM fsdir('.')",
        "SELECT edit('x')",
        "ATTACH DATABASE '/tmp/x.db' AS x",
        "PRAGMA writable_schema = ON",
        "VACUUM INTO '/tmp/x.db'",
    ] {
        assert!(sqlite(sql).is_err(), "let through {sql}");
    }
    for sql in [
        "SELECT date('now'), strftime('%Y', created_at), json_extract(payload, '$.a') FROM t",
        "SELECT key, value FROM json_each('{\"a\":1}')",
        "SELECT group_concat(name, ', ') FROM customers",
        "EXPLAIN QUERY PLAN SELECT 1",
    ] {
        if let Err(refusal) = sqlite(sql) {
            panic!("refused {sql}: {refusal}");
        }
    }
}

#[test]
fn the_statement_span_leaves_out_a_trailing_semicolon_and_comment() {
    let sql = "  SELECT 1 AS one ; -- done";
    let checked = check(Dialect::Postgres, Policy::read(), sql).expect("query");
    let span = checked.statement.expect("span");
    assert_eq!(sql[span].trim(), "SELECT 1 AS one");
}
