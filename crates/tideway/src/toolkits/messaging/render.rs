//! Messages as a model reads them: the value as JSON when it parses, else text,
//! else base64, cut at a cap with a flag; the key and headers as text where they
//! are text. Message content is written by whoever published it, so the text a
//! model sees fences it as data.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::toolkits::support::tools::untrusted;

/// One message as a tool returns it.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct MessageView {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    /// `text` or `base64`.
    pub key_encoding: Option<&'static str>,
    pub headers: Vec<HeaderView>,
    /// When the message was produced (or appended), if the broker says.
    pub timestamp: Option<DateTime<Utc>>,
    /// The value: JSON when it parses as JSON, else text, else base64.
    #[schema(value_type = Object)]
    pub value: Value,
    /// `json`, `text`, `base64` or `null` (no value: a tombstone).
    pub encoding: &'static str,
    /// The value's size in bytes.
    pub size: usize,
    /// Whether the value was cut at the cap (its rest is left out).
    pub truncated: bool,
}

#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct HeaderView {
    pub name: String,
    pub value: Option<String>,
}

fn text_or_base64(bytes: &[u8]) -> (String, &'static str) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), "text"),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(bytes),
            "base64",
        ),
    }
}

pub fn view(message: tideway_kafka::Message, max_value_bytes: usize) -> MessageView {
    let (key, key_encoding) = match &message.key {
        Some(key) => {
            let (text, encoding) = text_or_base64(key);
            (Some(text), Some(encoding))
        }
        None => (None, None),
    };
    let headers = message
        .headers
        .iter()
        .map(|(name, value)| HeaderView {
            name: name.clone(),
            value: value.as_deref().map(|bytes| text_or_base64(bytes).0),
        })
        .collect();
    let size = message.value.as_ref().map_or(0, Vec::len);
    let (value, encoding, truncated) = match message.value {
        None => (Value::Null, "null", false),
        Some(bytes) if bytes.len() > max_value_bytes => {
            // Cut at a character boundary when it is text.
            let mut cut = &bytes[..max_value_bytes];
            match std::str::from_utf8(&bytes) {
                Ok(text) => {
                    let mut end = max_value_bytes;
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    (Value::String(text[..end].to_string()), "text", true)
                }
                Err(_) => {
                    if let Err(error) = std::str::from_utf8(cut)
                        && error.valid_up_to() > 0
                        && error.error_len().is_none()
                    {
                        cut = &cut[..error.valid_up_to()];
                    }
                    let (text, encoding) = text_or_base64(cut);
                    (Value::String(text), encoding, true)
                }
            }
        }
        Some(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(json) => (json, "json", false),
            Err(_) => {
                let (text, encoding) = text_or_base64(&bytes);
                (Value::String(text), encoding, false)
            }
        },
    };
    MessageView {
        partition: message.partition,
        offset: message.offset,
        key,
        key_encoding,
        headers,
        timestamp: message
            .timestamp_ms
            .and_then(DateTime::<Utc>::from_timestamp_millis),
        value,
        encoding,
        size,
        truncated,
    }
}

/// The messages as text for the model, each value fenced as data.
pub fn text(messages: &[MessageView]) -> String {
    if messages.is_empty() {
        return "no messages".into();
    }
    messages
        .iter()
        .map(|message| {
            let value = match &message.value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            format!(
                "partition {} offset {}{}{}:\n{}",
                message.partition,
                message.offset,
                message
                    .key
                    .as_deref()
                    .map(|key| format!(" key {key}"))
                    .unwrap_or_default(),
                if message.truncated {
                    " (value cut)"
                } else {
                    ""
                },
                untrusted("kafka", &value)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
