//! The guard alone, in every dialect: each attack is refused (or, for the few reads
//! that are merely expensive, passed to the database's timeout), and ordinary reads
//! pass.

use super::{
    super::{
        guard::{Mode, check},
        model::SourceKind,
    },
    ATTACKS, Expect, READS,
};

const KINDS: [SourceKind; 3] = [SourceKind::Postgres, SourceKind::Mysql, SourceKind::Sqlite];

#[test]
fn there_are_at_least_sixty_attacks() {
    assert!(ATTACKS.len() >= 60, "{} cases", ATTACKS.len());
}

#[test]
fn every_attack_is_refused_in_every_dialect() {
    for (sql, expect) in ATTACKS {
        for kind in KINDS {
            let outcome = check(kind, Mode::Read, sql);
            match expect {
                Expect::Refused => {
                    let refusal = outcome.expect_err(&format!("{kind:?} let through: {sql}"));
                    assert!(!refusal.0.is_empty());
                }
                // Postgres-only functions and syntax: what the dialect parses, it passes.
                Expect::Limited if kind == SourceKind::Postgres => {
                    assert!(outcome.is_ok(), "{sql}: {outcome:?}")
                }
                Expect::Limited => {}
            }
        }
    }
}

#[test]
fn ordinary_reads_pass_in_every_dialect() {
    for sql in READS {
        for kind in KINDS {
            // `$1` is PostgreSQL's and SQLite's placeholder, not MySQL's.
            if kind == SourceKind::Mysql && sql.contains("$1") {
                continue;
            }
            let checked = check(kind, Mode::Read, sql)
                .unwrap_or_else(|refusal| panic!("{kind:?} refused {sql}: {refusal}"));
            assert!(checked.is_query);
        }
    }
}

#[test]
fn refusals_say_why() {
    let reason = |sql| {
        check(SourceKind::Postgres, Mode::Read, sql)
            .expect_err("refused")
            .0
    };
    assert!(reason("SELECT 1; SELECT 2").contains("2 statements"));
    assert!(reason("DELETE FROM t").contains("read-only"));
    assert!(reason("SELECT pg_read_file('x')").contains("pg_read_file"));
    assert!(reason("SELECT * FROM t FOR UPDATE").contains("FOR UPDATE"));
    assert!(reason("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d").contains("read-only"));
    assert!(reason("SELEC 1").contains("could not be parsed"));
    assert!(reason("   ").contains("empty"));
}

#[test]
fn writes_on_read_write_sources_still_refuse_escapes() {
    for sql in [
        "INSERT INTO t (a) VALUES (1)",
        "UPDATE t SET a = 2",
        "DELETE FROM t",
        "CREATE TABLE u (a int)",
        "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
    ] {
        assert!(
            check(SourceKind::Postgres, Mode::Write, sql).is_ok(),
            "{sql}"
        );
    }
    for sql in [
        "COMMIT",
        "BEGIN",
        "ROLLBACK",
        "SET default_transaction_read_only = off",
        "COPY t FROM PROGRAM 'id'",
        "INSERT INTO t SELECT pg_read_file('/etc/passwd')",
        "GRANT ALL ON t TO PUBLIC",
        "SELECT 1; DELETE FROM t",
        "LOCK TABLE t",
    ] {
        assert!(
            check(SourceKind::Postgres, Mode::Write, sql).is_err(),
            "{sql}"
        );
    }
}

#[test]
fn deeply_nested_input_is_refused_not_a_crash() {
    let nested = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(check(SourceKind::Postgres, Mode::Read, &nested).is_err());
    let garbage = "\u{0}\u{1}SELECT\u{feff} ;;; '''";
    assert!(check(SourceKind::Sqlite, Mode::Read, garbage).is_err());
}
