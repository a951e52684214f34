//! The guard alone, in every dialect: each attack is refused (or, for the few reads
//! that are merely expensive, passed to the database's timeout), and ordinary reads
//! pass. The guard's own rules are tested in `tideway-sqlguard`; this is the suite
//! the live tests replay against real databases.

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
            let outcome = check(kind, Mode::Read, false, sql);
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
            let checked = check(kind, Mode::Read, false, sql)
                .unwrap_or_else(|refusal| panic!("{kind:?} refused {sql}: {refusal}"));
            assert!(checked.returns_rows);
        }
    }
}
