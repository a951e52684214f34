//! Audit records: one per tool call (whatever the face) and per REST mutation that is
//! not a tool call. The Hub hands records to an [`AuditSink`] without waiting, so
//! auditing never slows or fails the call it describes; the sink (the store-backed
//! writer in the binary) batches them and flushes on shutdown.
//!
//! Arguments are kept as a redacted digest: secrets (by name, or marked `writeOnly`
//! or `format: password` in the tool's schema) become `"[redacted]"`, long strings
//! are shortened, and the SHA-256 of the redacted form lets two calls be compared
//! without storing more.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::mcp::JsonObject;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    pub tenant: String,
    pub principal: String,
    /// `mcp`, `rest` or `internal`.
    pub face: String,
    pub request_id: String,
    /// The toolkit, or `admin` for management endpoints.
    pub toolkit: String,
    /// The tool, or the management action (`keys.create`).
    pub tool: String,
    /// The redacted, shortened arguments as JSON text.
    pub arguments: String,
    pub arguments_sha256: String,
    /// `ok`, `tool_error` or `error`.
    pub outcome: String,
    /// The error's stable kind when the outcome is not `ok`.
    pub error_kind: Option<String>,
    pub latency_ms: f64,
}

/// Where audit records go. `record` must not block: it is called on the call path.
pub trait AuditSink: Send + Sync {
    fn record(&self, record: AuditRecord);
}

tokio::task_local! {
    /// Set when the Hub audits something inside a [`tracking`] scope.
    static AUDITED: std::cell::Cell<bool>;
}

/// Runs `work` and says whether anything it did on this task was audited. The REST
/// face wraps each request that changes something in it, so a request refused before
/// it reached the Hub (a malformed body, an unknown id in the path) still leaves a
/// record of its own.
pub async fn tracking<F: std::future::Future>(work: F) -> (F::Output, bool) {
    AUDITED
        .scope(std::cell::Cell::new(false), async {
            let output = work.await;
            (output, AUDITED.with(std::cell::Cell::get))
        })
        .await
}

/// Notes, for an enclosing [`tracking`] scope, that a record was made.
pub(crate) fn mark_audited() {
    // Outside a scope there is nobody to tell.
    let _ = AUDITED.try_with(|audited| audited.set(true));
}

const REDACTED: &str = "[redacted]";
const MAX_STRING_CHARS: usize = 256;
const MAX_DIGEST_BYTES: usize = 4096;

/// Whether a field name says it holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('-', "_");
    const EXACT: &[&str] = &["key", "pass", "pwd", "auth", "dsn"];
    const PARTS: &[&str] = &[
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "access_key",
        "private_key",
        "credential",
        "authorization",
        "cookie",
        "session_key",
        "master_key",
        "connection_string",
    ];
    EXACT.contains(&name.as_str()) || PARTS.iter().any(|part| name.contains(part))
}

/// Whether a property's schema marks it as secret.
fn schema_marks_secret(schema: Option<&Map<String, Value>>) -> bool {
    schema.is_some_and(|schema| {
        schema.get("writeOnly") == Some(&Value::Bool(true))
            || schema.get("format").and_then(Value::as_str) == Some("password")
    })
}

/// The schema of `key` under an object schema's `properties`.
fn property<'a>(
    schema: Option<&'a Map<String, Value>>,
    key: &str,
) -> Option<&'a Map<String, Value>> {
    schema?.get("properties")?.get(key)?.as_object()
}

fn redact_object(object: &Map<String, Value>, schema: Option<&Map<String, Value>>) -> Value {
    let mut out = Map::new();
    for (key, item) in object {
        let property = property(schema, key);
        let redacted = if is_secret_name(key) || schema_marks_secret(property) {
            Value::String(REDACTED.into())
        } else {
            redact_value(item, property)
        };
        out.insert(key.clone(), redacted);
    }
    Value::Object(out)
}

fn redact_value(value: &Value, schema: Option<&Map<String, Value>>) -> Value {
    match value {
        Value::Object(object) => redact_object(object, schema),
        Value::Array(items) => {
            let item_schema = schema
                .and_then(|s| s.get("items"))
                .and_then(Value::as_object);
            Value::Array(
                items
                    .iter()
                    .map(|item| redact_value(item, item_schema))
                    .collect(),
            )
        }
        Value::String(text) if text.len() > MAX_STRING_CHARS => {
            let count = text.chars().count();
            if count <= MAX_STRING_CHARS {
                return value.clone();
            }
            let short: String = text.chars().take(MAX_STRING_CHARS).collect();
            Value::String(format!("{short}… ({count} chars)"))
        }
        other => other.clone(),
    }
}

/// The arguments with secrets removed (guided by the tool's input schema), as a
/// bounded JSON text, and the SHA-256 (hex) of the redacted form.
pub fn argument_digest(
    arguments: &JsonObject,
    input_schema: Option<&JsonObject>,
) -> (String, String) {
    let mut text = redact_object(arguments, input_schema).to_string();
    let hash = hex(&Sha256::digest(text.as_bytes()));
    if text.len() > MAX_DIGEST_BYTES {
        let mut cut = MAX_DIGEST_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    (text, hash)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn tracking_sees_records_made_on_its_task_only() {
        let ((), seen) = tracking(async { mark_audited() }).await;
        assert!(seen);
        let ((), seen) = tracking(async {}).await;
        assert!(!seen);
        // Work handed to another task (a background job) is that task's to record.
        let ((), seen) = tracking(async {
            let _ = tokio::spawn(async { mark_audited() }).await;
        })
        .await;
        assert!(!seen);
        // Outside any scope, marking is harmless.
        mark_audited();
    }

    fn object(value: Value) -> JsonObject {
        match value {
            Value::Object(object) => object,
            _ => JsonObject::new(),
        }
    }

    #[test]
    fn secrets_are_redacted_by_name_and_by_schema() {
        let arguments = object(json!({
            "host": "db.internal",
            "password": "hunter2",
            "nested": {"api_key": "sk-123", "Client-Secret": "s3", "note": "fine"},
            "list": [{"token": "t"}],
            "pin": "0000",
        }));
        let schema = object(json!({
            "type": "object",
            "properties": {"pin": {"type": "string", "writeOnly": true}}
        }));
        let (text, hash) = argument_digest(&arguments, Some(&schema));
        for secret in ["hunter2", "sk-123", "s3\"", "\"t\"", "0000"] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
        assert!(
            text.contains("db.internal") && text.contains("fine"),
            "{text}"
        );
        assert_eq!(hash.len(), 64);
        let (_, again) = argument_digest(&arguments, Some(&schema));
        assert_eq!(hash, again, "the digest is deterministic");
    }

    #[test]
    fn long_values_are_shortened_and_the_digest_is_bounded() {
        let arguments = object(json!({
            "body": "x".repeat(10_000),
            "many": (0..2000).map(|i| format!("item-{i}")).collect::<Vec<_>>(),
        }));
        let (text, _) = argument_digest(&arguments, None);
        assert!(
            text.len() <= MAX_DIGEST_BYTES + '…'.len_utf8(),
            "{}",
            text.len()
        );
        assert!(text.contains("(10000 chars)"));
    }

    #[test]
    fn ordinary_names_are_not_taken_for_secrets() {
        for name in ["keyword", "monkey", "ticket_id", "query", "author"] {
            assert!(!is_secret_name(name), "{name}");
        }
        for name in ["key", "password", "X-Api-Key", "refresh_token", "dsn"] {
            assert!(is_secret_name(name), "{name}");
        }
    }
}
