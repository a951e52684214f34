//! Why a connection to a source failed, in words a person can act on: the one-off
//! connection test, the kind of each failure, and a hint with the source's own
//! settings filled in.

use std::time::{Duration, Instant};

use tideway_core::net::AddressError;

use super::{
    model::{ConnectFailure, ConnectionTest, FailureKind, SourceKind},
    pools::{Checks, ProbeError, Target},
    service::Source,
};

/// Connects once (not through the pool, so a broken pool cannot mask the cause),
/// to addresses the caller may reach (`external_only`: no internal ones), and checks
/// the role's privileges; a failure says what failed and what to check.
pub async fn test_connection(
    source: &Source,
    external_only: bool,
    timeout: Duration,
) -> ConnectionTest {
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, async {
        match Target::checked(source, external_only).await {
            Ok(target) => target
                .probe(Checks::for_source(source))
                .await
                .map_err(Refused::Probe),
            Err(address) => Err(Refused::Address(address)),
        }
    })
    .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let failure = |kind, message: String| ConnectionTest {
        source: source.name.clone(),
        ok: false,
        server_version: None,
        latency_ms,
        failure: Some(ConnectFailure {
            kind,
            hint: hint(kind, source),
            message: source.redact(&message),
        }),
    };
    match outcome {
        Ok(Ok(version)) => ConnectionTest {
            source: source.name.clone(),
            ok: true,
            server_version: Some(version),
            latency_ms,
            failure: None,
        },
        Ok(Err(Refused::Probe(ProbeError::Connect(error)))) => {
            let (kind, message) = classify_connect_error(&error, source);
            failure(kind, message)
        }
        Ok(Err(Refused::Probe(ProbeError::Privileged(privileged)))) => {
            failure(FailureKind::Privileged, privileged.to_string())
        }
        Ok(Err(Refused::Address(error @ AddressError::Unresolved { .. }))) => {
            failure(FailureKind::Dns, error.to_string())
        }
        Ok(Err(Refused::Address(error @ AddressError::Internal { .. }))) => {
            failure(FailureKind::Blocked, error.to_string())
        }
        Err(_) => failure(
            FailureKind::Timeout,
            format!("no answer within {} s", timeout.as_secs()),
        ),
    }
}

/// Why a connection test did not get to connect or was refused after connecting.
enum Refused {
    Address(AddressError),
    Probe(ProbeError),
}

/// Sorts a connection error into a kind a person can act on.
fn classify_connect_error(error: &sqlx::Error, source: &Source) -> (FailureKind, String) {
    let message = error.to_string();
    let lower = message.to_ascii_lowercase();
    let kind = match error {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|code| code.to_string()).unwrap_or_default();
            match (source.kind, code.as_str()) {
                (SourceKind::Postgres, "28P01" | "28000") => FailureKind::Auth,
                (SourceKind::Postgres, "3D000") => FailureKind::DatabaseMissing,
                (SourceKind::Postgres, "42501") => FailureKind::Permission,
                (SourceKind::Mysql, "28000") if lower.contains("access denied") => {
                    FailureKind::Auth
                }
                (SourceKind::Mysql, "42000") if lower.contains("unknown database") => {
                    FailureKind::DatabaseMissing
                }
                (SourceKind::Mysql, "42000") if lower.contains("access denied") => {
                    FailureKind::Permission
                }
                (SourceKind::Sqlite, _) if lower.contains("unable to open") => {
                    FailureKind::FileMissing
                }
                (SourceKind::Sqlite, _) if lower.contains("not a database") => {
                    FailureKind::FileMissing
                }
                _ if lower.contains("password") || lower.contains("access denied") => {
                    FailureKind::Auth
                }
                _ => FailureKind::Other,
            }
        }
        // rustls reports a refused certificate through the I/O error.
        sqlx::Error::Io(_)
            if ["certificate", "tls", "handshake"]
                .iter()
                .any(|marker| lower.contains(marker)) =>
        {
            FailureKind::Tls
        }
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => FailureKind::Refused,
            std::io::ErrorKind::TimedOut => FailureKind::Timeout,
            std::io::ErrorKind::NotFound if source.kind == SourceKind::Sqlite => {
                FailureKind::FileMissing
            }
            _ if lower.contains("lookup")
                || lower.contains("resolve")
                || lower.contains("name or service") =>
            {
                FailureKind::Dns
            }
            _ => FailureKind::Other,
        },
        sqlx::Error::Tls(_) => FailureKind::Tls,
        sqlx::Error::PoolTimedOut => FailureKind::Timeout,
        _ if lower.contains("tls") || lower.contains("ssl") || lower.contains("certificate") => {
            FailureKind::Tls
        }
        _ if lower.contains("lookup") || lower.contains("resolve") => FailureKind::Dns,
        _ => FailureKind::Other,
    };
    (kind, message)
}

/// What to check for a failure of `kind`, with the source's own settings filled in.
fn hint(kind: FailureKind, source: &Source) -> String {
    let (host, port) = source.host_and_port();
    let database = source.settings.database.as_deref().unwrap_or("?");
    let user = source.settings.user.as_deref().unwrap_or("?");
    match kind {
        FailureKind::Dns => format!(
            "The host name '{host}' does not resolve from the Tideway server. Check the spelling, or use an IP address; a name that works on your laptop may not exist in the server's network."
        ),
        FailureKind::Refused => format!(
            "Nothing accepts connections on {host}:{port}. Is the database running, on that port, and listening on a network address (not only on localhost of its own machine)? A firewall that rejects also looks like this."
        ),
        FailureKind::Timeout => format!(
            "{host}:{port} did not answer in time. A firewall or security group dropping packets, a wrong address, or a server too busy to accept connections are the usual causes."
        ),
        FailureKind::Tls => format!(
            "TLS failed with ssl_mode {}. If the server has no TLS, use ssl_mode disable (only on a trusted network); if its certificate is self-signed, use require instead of verify-ca or verify-full.",
            source.settings.ssl_mode.unwrap_or_default()
        ),
        FailureKind::Auth => format!(
            "The server refused user '{user}'. Check the password (re-register the source with replace: true to change it) and that the server allows this user to connect from the Tideway host (pg_hba.conf for PostgreSQL, the user's host part for MySQL)."
        ),
        FailureKind::DatabaseMissing => format!(
            "The server has no database named '{database}'. Database names are case-sensitive on PostgreSQL; list them with \\l in psql or SHOW DATABASES in MySQL."
        ),
        FailureKind::FileMissing => format!(
            "The SQLite file {} cannot be opened as a database. Check the path is absolute and right, that the file exists and is a SQLite database, and that the Tideway process may read it.",
            source.settings.path.as_deref().unwrap_or("?")
        ),
        FailureKind::Permission => format!(
            "Connected as '{user}', but the user lacks a privilege it needs. Grant CONNECT on the database and USAGE/SELECT on the schemas to query."
        ),
        FailureKind::Privileged => format!(
            "Connect as a role with only what the source needs. For a read-only source, a role that may only read, e.g. on PostgreSQL: CREATE ROLE tideway_reader LOGIN PASSWORD '…'; GRANT CONNECT ON DATABASE {database} TO tideway_reader; GRANT USAGE ON SCHEMA public TO tideway_reader; GRANT SELECT ON ALL TABLES IN SCHEMA public TO tideway_reader. The README shows the statements for each database."
        ),
        FailureKind::Blocked => format!(
            "'{host}' is an internal address, which this tenant's sources may not reach. Use the database's public address, or ask the operator to allow private database hosts for this tenant (tenants.<id>.allow_private_database_hosts)."
        ),
        FailureKind::Other => {
            "Read the message above; test_connection again after changing one thing at a time."
                .into()
        }
    }
}
