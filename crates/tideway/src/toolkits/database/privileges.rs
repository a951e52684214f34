//! Least privilege: a source's role must hold no more than the source needs. A
//! read-only source's role must not be a superuser nor able to write to any table,
//! and no source's role may reach the server's files or programs, create roles or
//! replicate. The guard keeps statements read-only; a role that cannot write makes
//! that true twice. Checked when a source is registered or tested, and on every new
//! pooled connection, so a role granted more later stops working; only the operator
//! may accept such a role for a source (`allow_privileged_role`).
//!
//! MySQL roles activated with `SET ROLE` or a default role are not looked into; the
//! user's own grants are.

use sqlx::{MySqlConnection, PgConnection, Row};

use super::pools::Checks;

/// The role can do more than the source needs; the text says what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the database role can {0}, which this source must not allow; connect as a role with only the privileges it needs, or have the operator accept it (allow_privileged_role)"
)]
pub struct Privileged(pub String);

/// What a PostgreSQL role may do that matters here.
const POSTGRES_ROLE: &str = "\
SELECT r.rolsuper, r.rolcreaterole, r.rolreplication, \
  EXISTS (SELECT 1 FROM pg_roles s \
          WHERE s.rolname IN ('pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program') \
            AND pg_has_role(current_user, s.oid, 'USAGE')) AS server_files, \
  EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
            AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
            AND n.nspname NOT LIKE 'pg\\_%' \
            AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')) AS writes \
FROM pg_roles r WHERE r.rolname = current_user";

pub async fn postgres(
    connection: &mut PgConnection,
    checks: Checks,
) -> Result<(), super::pools::ProbeError> {
    if !checks.refuse_privileged {
        return Ok(());
    }
    let row = sqlx::query(POSTGRES_ROLE).fetch_one(connection).await?;
    let flag = |name: &str| row.try_get::<bool, _>(name).unwrap_or(true);
    let mut found = Vec::new();
    if flag("rolsuper") {
        found.push("act as a superuser");
    }
    if flag("rolcreaterole") {
        found.push("create roles");
    }
    if flag("rolreplication") {
        found.push("replicate the database");
    }
    if flag("server_files") {
        found.push("read or write server files or run programs");
    }
    if !checks.read_write && flag("writes") {
        found.push("write to tables");
    }
    refuse_if(found)
}

/// The privileges a MySQL user holds, globally, per schema and per table.
const MYSQL_GRANTS: &str = "\
SELECT PRIVILEGE_TYPE AS privilege, IS_GRANTABLE AS grantable FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = @tideway_grantee \
UNION ALL SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = @tideway_grantee \
UNION ALL SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = @tideway_grantee";

/// Privileges a read-only source's user may hold.
const MYSQL_READ: &[&str] = &["SELECT", "SHOW VIEW", "USAGE"];

/// Further privileges a read_write source's user may hold: data and tables only.
const MYSQL_WRITE: &[&str] = &[
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "DROP",
    "ALTER",
    "INDEX",
    "REFERENCES",
    "CREATE VIEW",
    "CREATE TEMPORARY TABLES",
    "LOCK TABLES",
    "DELETE HISTORY",
];

pub async fn mysql(
    connection: &mut MySqlConnection,
    checks: Checks,
) -> Result<(), super::pools::ProbeError> {
    if !checks.refuse_privileged {
        return Ok(());
    }
    // CURRENT_USER() is `user@host`; the grant tables write it as `'user'@'host'`.
    sqlx::query(
        "SET @tideway_grantee = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')",
    )
    .execute(&mut *connection)
    .await?;
    let rows = sqlx::query(MYSQL_GRANTS)
        .fetch_all(&mut *connection)
        .await?;
    let mut found: Vec<String> = Vec::new();
    for row in rows {
        let privilege: String = row
            .try_get::<String, _>(0)
            .unwrap_or_default()
            .to_ascii_uppercase();
        let grantable: String = row.try_get::<String, _>(1).unwrap_or_default();
        let allowed = MYSQL_READ.contains(&privilege.as_str())
            || (checks.read_write && MYSQL_WRITE.contains(&privilege.as_str()));
        if !allowed && !found.contains(&privilege) {
            found.push(privilege);
        }
        if grantable.eq_ignore_ascii_case("YES") && !found.iter().any(|p| p == "GRANT OPTION") {
            found.push("GRANT OPTION".into());
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    found.sort();
    let shown: Vec<&str> = found.iter().take(6).map(String::as_str).collect();
    let more = found.len().saturating_sub(shown.len());
    let mut text = format!("hold {}", shown.join(", "));
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    Err(Privileged(text).into())
}

fn refuse_if(found: Vec<&str>) -> Result<(), super::pools::ProbeError> {
    match found.as_slice() {
        [] => Ok(()),
        [one] => Err(Privileged((*one).to_string()).into()),
        [init @ .., last] => Err(Privileged(format!("{} and {last}", init.join(", "))).into()),
    }
}
