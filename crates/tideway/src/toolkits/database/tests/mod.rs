//! Tests of the database toolkit: the SQL guard's attack cases (no database needed),
//! and the toolkit against real databases: SQLite always, PostgreSQL and MariaDB when
//! the test command provides them (`TIDEWAY_TEST_POSTGRES_URL`,
//! `TIDEWAY_TEST_MYSQL_URL`; `TIDEWAY_REQUIRE_*` makes their absence a failure).

mod desk;
mod guard;
mod live;

/// What must become of an attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The guard refuses it before it reaches the database.
    Refused,
    /// The guard lets it through by design (a read that is merely expensive); the
    /// statement timeout ends it on the server.
    Limited,
}

use Expect::{Limited, Refused};

/// The read-only attack suite: each case must be refused, or, for reads that only
/// burn time, cut off by the server-side timeout. The live tests run every case
/// against each real database and check its state is unchanged afterwards.
pub const ATTACKS: &[(&str, Expect)] = &[
    // Plain writes and DDL
    ("DELETE FROM customers", Refused),
    ("UPDATE customers SET name = 'x'", Refused),
    (
        "INSERT INTO customers (id, name) VALUES (999, 'x')",
        Refused,
    ),
    ("DROP TABLE customers", Refused),
    ("TRUNCATE customers", Refused),
    ("ALTER TABLE customers ADD COLUMN x int", Refused),
    ("CREATE TABLE evil (id int)", Refused),
    ("CREATE TEMP TABLE evil AS SELECT 1", Refused),
    ("CREATE INDEX evil ON customers (name)", Refused),
    (
        "MERGE INTO customers c USING (SELECT 1 AS id) s ON c.id = s.id WHEN MATCHED THEN DELETE",
        Refused,
    ),
    ("REPLACE INTO customers (id, name) VALUES (1, 'x')", Refused),
    (
        "INSERT OR REPLACE INTO customers (id, name) VALUES (1, 'x')",
        Refused,
    ),
    ("DeLeTe FrOm customers", Refused),
    // Stacked statements
    ("SELECT 1; DELETE FROM customers", Refused),
    ("SELECT 1; DROP TABLE customers;", Refused),
    ("SELECT 1 UNION SELECT 2; TRUNCATE customers", Refused),
    ("VALUES (1); DELETE FROM customers", Refused),
    (
        "SELECT * FROM customers WHERE id = 1 OR 1 = 1; UPDATE customers SET name = 'x'",
        Refused,
    ),
    // Transaction escapes
    ("COMMIT; DELETE FROM customers", Refused),
    ("ROLLBACK; DELETE FROM customers", Refused),
    ("BEGIN; DELETE FROM customers; COMMIT", Refused),
    ("END; DELETE FROM customers", Refused),
    ("COMMIT", Refused),
    ("SET TRANSACTION READ WRITE", Refused),
    ("SET default_transaction_read_only = off", Refused),
    (
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        Refused,
    ),
    ("SAVEPOINT s", Refused),
    // Comment and quoting tricks
    ("SELECT 1 /* ; */; DELETE FROM customers", Refused),
    ("SELECT 1 -- harmless\n; DELETE FROM customers", Refused),
    ("SELECT 'a;'; DELETE FROM customers", Refused),
    ("SELECT $$;$$; DELETE FROM customers", Refused),
    ("/* a comment first */ DELETE FROM customers", Refused),
    (
        "SELECT \"name\" FROM customers; DELETE FROM \"customers\"",
        Refused,
    ),
    // CTEs and subqueries that write or lock
    (
        "WITH gone AS (DELETE FROM customers RETURNING *) SELECT * FROM gone",
        Refused,
    ),
    (
        "WITH x AS (UPDATE customers SET name = 'x' RETURNING id) SELECT count(*) FROM x",
        Refused,
    ),
    (
        "WITH x AS (INSERT INTO customers (id, name) VALUES (1000, 'x') RETURNING id) SELECT * FROM x",
        Refused,
    ),
    ("SELECT * INTO copy_of_customers FROM customers", Refused),
    ("SELECT * FROM customers FOR UPDATE", Refused),
    ("SELECT * FROM customers FOR SHARE", Refused),
    ("SELECT * FROM customers FOR NO KEY UPDATE NOWAIT", Refused),
    ("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE", Refused),
    // Functions with side effects
    (
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        Refused,
    ),
    ("SELECT nextval('customers_id_seq')", Refused),
    ("SELECT setval('customers_id_seq', 1)", Refused),
    ("SELECT pg_terminate_backend(pg_backend_pid())", Refused),
    ("SELECT pg_cancel_backend(1)", Refused),
    ("SELECT pg_reload_conf()", Refused),
    ("SELECT pg_advisory_lock(42)", Refused),
    ("SELECT pg_try_advisory_xact_lock(42)", Refused),
    (
        "SELECT query_to_xml('DELETE FROM customers', true, true, '')",
        Refused,
    ),
    ("SELECT pg_notify('channel', 'payload')", Refused),
    ("SELECT txid_current()", Refused),
    (
        "SELECT name FROM customers WHERE id = (SELECT nextval('customers_id_seq'))",
        Refused,
    ),
    ("SELECT GET_LOCK('x', 10)", Refused),
    // File and network access
    ("SELECT pg_read_file('/etc/passwd')", Refused),
    ("SELECT pg_read_binary_file('/etc/passwd')", Refused),
    ("SELECT * FROM pg_ls_dir('.')", Refused),
    ("SELECT pg_stat_file('postgresql.conf')", Refused),
    ("SELECT lo_import('/etc/passwd')", Refused),
    ("SELECT lo_export(1234, '/tmp/tideway-evil')", Refused),
    (
        "SELECT * FROM dblink('host=127.0.0.1', 'DELETE FROM customers') AS t(x text)",
        Refused,
    ),
    (
        "SELECT dblink_exec('host=127.0.0.1', 'DELETE FROM customers')",
        Refused,
    ),
    ("SELECT PG_CATALOG.PG_READ_FILE('/etc/passwd')", Refused),
    ("COPY customers TO '/tmp/tideway-evil.csv'", Refused),
    ("COPY customers FROM PROGRAM 'rm -rf /'", Refused),
    (
        "COPY (SELECT 1) TO PROGRAM 'touch /tmp/tideway-pwned'",
        Refused,
    ),
    ("SELECT LOAD_FILE('/etc/passwd')", Refused),
    (
        "SELECT * FROM customers INTO OUTFILE '/tmp/tideway-evil'",
        Refused,
    ),
    (
        "LOAD DATA INFILE '/etc/passwd' INTO TABLE customers",
        Refused,
    ),
    ("ATTACH DATABASE '/tmp/tideway-evil.db' AS evil", Refused),
    ("PRAGMA writable_schema = ON", Refused),
    ("SELECT load_extension('/tmp/evil.so')", Refused),
    ("SELECT writefile('/tmp/tideway-evil', 'x')", Refused),
    ("SELECT readfile('/etc/passwd')", Refused),
    ("VACUUM INTO '/tmp/tideway-copy.db'", Refused),
    // Server and session management
    ("VACUUM customers", Refused),
    ("ANALYZE customers", Refused),
    ("GRANT ALL ON customers TO PUBLIC", Refused),
    ("CREATE ROLE evil SUPERUSER", Refused),
    ("ALTER SYSTEM SET fsync = off", Refused),
    ("DO $$ BEGIN DELETE FROM customers; END $$", Refused),
    ("CALL some_procedure()", Refused),
    ("PREPARE p AS DELETE FROM customers", Refused),
    ("EXECUTE p", Refused),
    ("DEALLOCATE ALL", Refused),
    ("LISTEN channel", Refused),
    ("NOTIFY channel", Refused),
    (
        "CREATE FUNCTION evil() RETURNS int AS 'DELETE FROM customers; SELECT 1' LANGUAGE sql",
        Refused,
    ),
    ("REFRESH MATERIALIZED VIEW mv", Refused),
    ("EXPLAIN ANALYZE DELETE FROM customers", Refused),
    ("EXPLAIN DELETE FROM customers", Refused),
    ("SELECT BENCHMARK(100000000, MD5('x'))", Refused),
    // Spellings that escaped the earlier denylist: attribute notation, Unicode
    // escapes, quoting, SQL run from text, and sessions of their own (dblink).
    ("SELECT ('/etc/hostname'::text).pg_read_file", Refused),
    (
        "SELECT (pid).pg_terminate_backend FROM pg_stat_activity",
        Refused,
    ),
    ("SELECT (8::bigint).pg_advisory_lock", Refused),
    (
        r#"SELECT U&"pg\005fread\005ffile"('/etc/hostname')"#,
        Refused,
    ),
    (r#"SELECT U&"pg\005freload\005fconf"()"#, Refused),
    (r#"SELECT U&"lo\005fimport"('/etc/hostname')"#, Refused),
    (
        r#"SELECT U&"set\005fconfig"('default_transaction_read_only', 'off', false)"#,
        Refused,
    ),
    (r#"SELECT "pg_read_file"('/etc/hostname')"#, Refused),
    (
        "SELECT ts_stat($q$SELECT to_tsvector(dblink_exec('dbname=tideway_test', 'DELETE FROM customers')::text)$q$)",
        Refused,
    ),
    (
        "SELECT ts_rewrite('a'::tsquery, $q$SELECT 'a'::tsquery, 'b'::tsquery FROM (SELECT dblink_exec('dbname=tideway_test', 'DELETE FROM customers')) x$q$)",
        Refused,
    ),
    (
        "SELECT * FROM ROWS FROM (dblink_exec('dbname=tideway_test', 'DELETE FROM customers')) AS x",
        Refused,
    ),
    (
        "EXPLAIN ANALYZE SELECT dblink_exec('dbname=tideway_test', 'DELETE FROM customers')",
        Refused,
    ),
    ("EXPLAIN (ANALYZE) SELECT 1", Refused),
    ("SELECT public.lower('x')", Refused),
    (
        "SELECT * FROM pragma_table_info('customers') JOIN fsdir('.')",
        Refused,
    ),
    // Resource exhaustion: reads the server's timeout ends
    ("SELECT pg_sleep(3600)", Limited),
    (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        Limited,
    ),
];

/// Reads that must pass the guard.
pub const READS: &[&str] = &[
    "SELECT 1",
    "SELECT * FROM customers",
    "select id, name from customers where name like 'A%' order by id limit 5",
    "SELECT 1;",
    "WITH recent AS (SELECT * FROM orders WHERE total > 10) SELECT count(*) FROM recent",
    "SELECT c.name, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name",
    "VALUES (1, 'a'), (2, 'b')",
    "SELECT 'DELETE FROM customers' AS text_that_looks_like_a_write",
    "SELECT name FROM customers WHERE id = $1",
    "SELECT * FROM customers UNION ALL SELECT * FROM customers",
    "SELECT count(*) FROM (SELECT id FROM customers) AS t",
    "SELECT lower(name), length(name), coalesce(name, '') FROM customers",
];
