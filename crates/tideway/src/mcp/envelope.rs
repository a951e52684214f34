//! The first look at an incoming MCP message, shared by Streamable HTTP and stdio:
//! text that is not JSON, JSON that is not one JSON-RPC message (a batch included),
//! and requests whose params cannot be what their method takes. Each gets the
//! JSON-RPC error the specification names (-32700, -32600, -32602) with the reason,
//! where the protocol library would answer in plain text, with "method not found",
//! or not at all. The look keeps no values: only the shapes of the few fields it
//! checks, and the request id to answer with.

use std::fmt;

use serde::{
    Deserialize, Deserializer,
    de::{IgnoredAny, MapAccess, SeqAccess, Visitor},
};
use serde_json::{Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const INVALID_PARAMS: i64 = -32602;

/// Why a message was refused, as the JSON-RPC error to answer with.
#[derive(Debug)]
pub struct Refusal {
    pub code: i64,
    /// The request's id, when one could be read.
    pub id: Value,
    pub message: String,
}

impl Refusal {
    pub fn answer(&self) -> Value {
        json!({"jsonrpc": "2.0", "id": self.id, "error": {"code": self.code, "message": self.message}})
    }
}

/// What kind of JSON value a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Null => "null",
            Shape::Bool => "a boolean",
            Shape::Number => "a number",
            Shape::String => "a string",
            Shape::Array => "an array",
            Shape::Object => "an object",
        }
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Null)
    }
    fn visit_none<E>(self) -> Result<Shape, E> {
        Ok(Shape::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Bool)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Number)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Number)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Number)
    }
    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::String)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Shape::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Shape::Object)
    }
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Shape, D::Error> {
        deserializer.deserialize_any(ShapeVisitor)
    }
}

/// The shapes of the params fields the common requests take.
#[derive(Debug, Default)]
struct Params {
    shape: Option<Shape>,
    name: Option<Shape>,
    arguments: Option<Shape>,
    uri: Option<Shape>,
}

struct ParamsVisitor;

impl<'de> Visitor<'de> for ParamsVisitor {
    type Value = Params;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("params")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params, A::Error> {
        let mut params = Params {
            shape: Some(Shape::Object),
            ..Params::default()
        };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let shape = map.next_value::<Shape>()?;
            match key.as_ref() {
                "name" => params.name = Some(shape),
                "arguments" => params.arguments = Some(shape),
                "uri" => params.uri = Some(shape),
                _ => {}
            }
        }
        Ok(params)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Params, A::Error> {
        Ok(Params {
            shape: Some(ShapeVisitor.visit_seq(seq)?),
            ..Params::default()
        })
    }
    fn visit_unit<E>(self) -> Result<Params, E> {
        Ok(Params {
            shape: Some(Shape::Null),
            ..Params::default()
        })
    }
    fn visit_bool<E>(self, _: bool) -> Result<Params, E> {
        Ok(other(Shape::Bool))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Params, E> {
        Ok(other(Shape::Number))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Params, E> {
        Ok(other(Shape::Number))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Params, E> {
        Ok(other(Shape::Number))
    }
    fn visit_str<E>(self, _: &str) -> Result<Params, E> {
        Ok(other(Shape::String))
    }
}

fn other(shape: Shape) -> Params {
    Params {
        shape: Some(shape),
        ..Params::default()
    }
}

impl<'de> Deserialize<'de> for Params {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Params, D::Error> {
        deserializer.deserialize_any(ParamsVisitor)
    }
}

/// One JSON-RPC message as far as it is checked here.
#[derive(Deserialize)]
struct Message {
    jsonrpc: Option<Value>,
    id: Option<Value>,
    method: Option<String>,
    params: Option<Params>,
    result: Option<IgnoredAny>,
    error: Option<IgnoredAny>,
}

/// The protocol era a message comes in, as far as the check cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// 2025-11-25 and before (sessions, stdio).
    Sessions,
    /// 2026-07-28: the methods it removed (`resources/subscribe`, `…/unsubscribe`)
    /// are left, whatever their params, for the protocol library to answer as not
    /// found.
    Stateless,
}

/// Checks one incoming message (an HTTP body or a stdio line).
pub fn check(bytes: &[u8], era: Era) -> Result<(), Refusal> {
    let refusal = |code, id: &Option<Value>, message: String| Refusal {
        code,
        id: id.clone().unwrap_or(Value::Null),
        message,
    };
    let parse_error = |error: serde_json::Error| {
        refusal(
            PARSE_ERROR,
            &None,
            format!("Parse error: the message is not valid JSON ({error})"),
        )
    };
    // One pass: the first byte tells an object from the rest, and the parse into
    // the message tells bad syntax (a parse error) from a bad shape.
    match bytes.iter().find(|byte| !byte.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(b'[') => {
            serde_json::from_slice::<IgnoredAny>(bytes).map_err(parse_error)?;
            return Err(refusal(
                INVALID_REQUEST,
                &None,
                "Invalid Request: batches are not part of this protocol; send one message at a time"
                    .into(),
            ));
        }
        _ => {
            let shape: Shape = serde_json::from_slice(bytes).map_err(parse_error)?;
            return Err(refusal(
                INVALID_REQUEST,
                &None,
                format!(
                    "Invalid Request: a JSON-RPC message is an object, not {}",
                    shape.name()
                ),
            ));
        }
    }
    let message: Message = serde_json::from_slice(bytes).map_err(|error| {
        if error.is_data() {
            refusal(INVALID_REQUEST, &None, format!("Invalid Request: {error}"))
        } else {
            parse_error(error)
        }
    })?;
    let id = &message.id;
    if message.jsonrpc.as_ref().and_then(Value::as_str) != Some("2.0") {
        return Err(refusal(
            INVALID_REQUEST,
            id,
            "Invalid Request: \"jsonrpc\" must be \"2.0\"".into(),
        ));
    }
    let Some(method) = &message.method else {
        if message.result.is_some() || message.error.is_some() {
            return Ok(());
        }
        return Err(refusal(
            INVALID_REQUEST,
            id,
            "Invalid Request: a request needs a \"method\"".into(),
        ));
    };
    // A notification is never answered, so there is no one to tell of bad params:
    // it goes on to be ignored as the protocol library ignores it.
    if id.is_none() {
        return Ok(());
    }
    let params = message.params.unwrap_or_default();
    if let Some(shape) = params.shape
        && shape != Shape::Object
    {
        return Err(refusal(
            INVALID_PARAMS,
            id,
            format!(
                "Invalid params: params must be an object, not {}",
                shape.name()
            ),
        ));
    }
    let required = |field: &str, shape: Option<Shape>, wanted: Shape| match shape {
        Some(found) if found == wanted => Ok(()),
        Some(found) => Err(refusal(
            INVALID_PARAMS,
            id,
            format!(
                "Invalid params: '{field}' must be {}, not {}",
                wanted.name(),
                found.name()
            ),
        )),
        None => Err(refusal(
            INVALID_PARAMS,
            id,
            format!("Invalid params: {method} needs '{field}'"),
        )),
    };
    let optional_object = |field: &str, shape: Option<Shape>| match shape {
        None | Some(Shape::Object) => Ok(()),
        Some(found) => Err(refusal(
            INVALID_PARAMS,
            id,
            format!(
                "Invalid params: '{field}' must be an object, not {}",
                found.name()
            ),
        )),
    };
    match method.as_str() {
        "tools/call" | "prompts/get" => {
            required("name", params.name, Shape::String)?;
            optional_object("arguments", params.arguments)
        }
        "resources/subscribe" | "resources/unsubscribe" if era == Era::Stateless => Ok(()),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            required("uri", params.uri, Shape::String)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> Refusal {
        check(text.as_bytes(), Era::Sessions).expect_err(text)
    }

    #[test]
    fn what_is_not_one_json_rpc_message_is_refused_with_its_code() {
        for (text, code, says) in [
            ("{not json", PARSE_ERROR, "not valid JSON"),
            (
                "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]",
                INVALID_REQUEST,
                "batches",
            ),
            ("42", INVALID_REQUEST, "not a number"),
            ("{\"id\":1,\"method\":\"ping\"}", INVALID_REQUEST, "\"2.0\""),
            ("{\"jsonrpc\":\"2.0\",\"id\":1}", INVALID_REQUEST, "method"),
            (
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":[1]}",
                INVALID_PARAMS,
                "an array",
            ),
        ] {
            let refusal = refused(text);
            assert_eq!(refusal.code, code, "{text}");
            assert!(
                refusal.message.contains(says),
                "{text}: {}",
                refusal.message
            );
        }
    }

    #[test]
    fn bad_params_of_the_common_requests_are_invalid_params_with_the_id() {
        for (text, says) in [
            (
                r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":{}}}"#,
                "needs 'name'",
            ),
            (
                r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":"x"}}"#,
                "'arguments' must be an object, not a string",
            ),
            (
                r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":5}}"#,
                "'name' must be a string, not a number",
            ),
            (
                r#"{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{}}"#,
                "needs 'uri'",
            ),
        ] {
            let refusal = refused(text);
            assert_eq!(refusal.code, INVALID_PARAMS, "{text}");
            assert_eq!(refusal.id, json!(7));
            assert!(
                refusal.message.contains(says),
                "{text}: {}",
                refusal.message
            );
            assert_eq!(refusal.answer()["error"]["code"], INVALID_PARAMS);
        }
    }

    #[test]
    fn good_messages_pass() {
        for text in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"a":[1,{"b":null}]}}}"#,
            r#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"echo"}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":[]}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#,
        ] {
            assert!(check(text.as_bytes(), Era::Sessions).is_ok(), "{text}");
        }
    }

    #[test]
    fn a_removed_method_is_left_to_be_answered_as_not_found_in_2026() {
        let subscribe = r#"{"jsonrpc":"2.0","id":4,"method":"resources/subscribe","params":{}}"#;
        assert_eq!(refused(subscribe).code, INVALID_PARAMS);
        assert!(check(subscribe.as_bytes(), Era::Stateless).is_ok());
        let read = r#"{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{}}"#;
        assert!(check(read.as_bytes(), Era::Stateless).is_err());
    }
}
