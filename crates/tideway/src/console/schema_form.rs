//! Forms generated from a JSON Schema (a tool's input schema, a workflow's input) and
//! the arguments read back from a submitted form. Each top-level property is one
//! field: text, number, whole number, a yes/no box, a choice from an `enum`, or JSON
//! for anything nested. What a form cannot check (a pattern, a range) is left to the
//! schema check on the call path, whose error names the field.

use serde::Serialize;
use serde_json::{Map, Number, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Text,
    Number,
    Integer,
    Boolean,
    Choice,
    Json,
}

#[derive(Debug, Serialize)]
pub struct Field {
    pub name: String,
    pub kind: Kind,
    pub required: bool,
    pub description: Option<String>,
    pub choices: Vec<String>,
    /// What the field shows: the value sent last, else the schema's default.
    pub value: Option<String>,
}

/// A submitted value that does not fit its field.
#[derive(Debug, PartialEq)]
pub struct FormError {
    pub field: String,
    pub message: String,
}

/// The fields of `schema`'s properties, required ones first, then by name.
pub fn fields(schema: &Value) -> Vec<Field> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields: Vec<Field> = schema["properties"]
        .as_object()
        .map(|properties| {
            properties
                .iter()
                .map(|(name, property)| field(name, property, required.contains(&name.as_str())))
                .collect()
        })
        .unwrap_or_default();
    fields.sort_by(|a, b| {
        b.required
            .cmp(&a.required)
            .then_with(|| a.name.cmp(&b.name))
    });
    fields
}

/// The type a property names, skipping `null` in a list of types.
fn type_of(property: &Value) -> Option<&str> {
    match &property["type"] {
        Value::String(kind) => Some(kind),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null"),
        _ => None,
    }
}

fn field(name: &str, property: &Value, required: bool) -> Field {
    let choices: Vec<String> = property["enum"]
        .as_array()
        .map(|values| {
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let kind = if !choices.is_empty() {
        Kind::Choice
    } else {
        match type_of(property) {
            Some("string") => Kind::Text,
            Some("number") => Kind::Number,
            Some("integer") => Kind::Integer,
            Some("boolean") => Kind::Boolean,
            _ => Kind::Json,
        }
    };
    let value = match &property["default"] {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other if kind == Kind::Json => serde_json::to_string_pretty(other).ok(),
        other => Some(other.to_string()),
    };
    Field {
        name: name.to_string(),
        kind,
        required,
        description: property["description"].as_str().map(str::to_string),
        choices,
        value,
    }
}

/// Shows what was sent in the fields again (after a refusal, so nothing typed is lost).
pub fn refill(fields: &mut [Field], form: &[(String, String)]) {
    for field in fields {
        let sent = sent(form, &field.name);
        if field.kind == Kind::Boolean {
            field.value = Some(sent.is_some().to_string());
        } else if let Some(text) = sent {
            field.value = Some(text.to_string());
        }
    }
}

fn sent<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(key, _)| key == &format!("arg.{name}"))
        .map(|(_, value)| value.as_str())
}

/// The arguments a submitted form gives: fields are posted as `arg.<name>`; an empty
/// optional field is left out.
pub fn arguments(
    fields: &[Field],
    form: &[(String, String)],
) -> Result<Map<String, Value>, FormError> {
    let mut arguments = Map::new();
    for field in fields {
        let error = |message: &str| FormError {
            field: field.name.clone(),
            message: message.to_string(),
        };
        let text = sent(form, &field.name).map(str::trim).unwrap_or_default();
        let value = match field.kind {
            Kind::Boolean => Value::Bool(!text.is_empty()),
            _ if text.is_empty() => continue,
            Kind::Text | Kind::Choice => Value::String(text.to_string()),
            Kind::Integer => text
                .parse::<i64>()
                .map(|n| Value::Number(n.into()))
                .map_err(|_| error("must be a whole number"))?,
            Kind::Number => text
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| error("must be a number"))?,
            Kind::Json => {
                serde_json::from_str(text).map_err(|e| error(&format!("is not JSON: {e}")))?
            }
        };
        // An unticked box says nothing unless the schema needs an answer.
        if field.kind == Kind::Boolean && value == Value::Bool(false) && !field.required {
            continue;
        }
        arguments.insert(field.name.clone(), value);
    }
    Ok(arguments)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["query"],
            "properties": {
                "query": {"type": "string", "description": "What to look for"},
                "limit": {"type": ["integer", "null"], "default": 10},
                "score": {"type": "number"},
                "exact": {"type": "boolean"},
                "order": {"type": "string", "enum": ["newest", "oldest"]},
                "filters": {"type": "object"},
            }
        })
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (format!("arg.{k}"), v.to_string()))
            .collect()
    }

    #[test]
    fn each_property_becomes_a_field_of_its_kind() {
        let fields = fields(&schema());
        let kinds: Vec<(&str, Kind, bool)> = fields
            .iter()
            .map(|f| (f.name.as_str(), f.kind, f.required))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("query", Kind::Text, true),
                ("exact", Kind::Boolean, false),
                ("filters", Kind::Json, false),
                ("limit", Kind::Integer, false),
                ("order", Kind::Choice, false),
                ("score", Kind::Number, false),
            ]
        );
        assert_eq!(fields[3].value.as_deref(), Some("10"));
        assert_eq!(fields[4].choices, vec!["newest", "oldest"]);
        assert_eq!(fields[0].description.as_deref(), Some("What to look for"));
    }

    #[test]
    fn a_form_gives_typed_arguments_and_leaves_empty_ones_out() {
        let fields = fields(&schema());
        let sent = form(&[
            ("query", " refund "),
            ("limit", "5"),
            ("score", "0.5"),
            ("exact", "on"),
            ("order", "oldest"),
            ("filters", r#"{"status": "open"}"#),
        ]);
        assert_eq!(
            Value::Object(arguments(&fields, &sent).expect("arguments")),
            json!({"query": "refund", "limit": 5, "score": 0.5, "exact": true,
                   "order": "oldest", "filters": {"status": "open"}})
        );
        let sparse = form(&[("query", "x"), ("limit", "")]);
        assert_eq!(
            Value::Object(arguments(&fields, &sparse).expect("arguments")),
            json!({"query": "x"})
        );
    }

    #[test]
    fn a_value_that_does_not_fit_names_its_field() {
        let fields = fields(&schema());
        let error = arguments(&fields, &form(&[("limit", "ten")])).expect_err("refused");
        assert_eq!(error.field, "limit");
        let error = arguments(&fields, &form(&[("filters", "{oops")])).expect_err("refused");
        assert_eq!(error.field, "filters");
        assert!(
            error.message.starts_with("is not JSON"),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_refused_form_is_shown_again_as_it_was_sent() {
        let mut fields = fields(&schema());
        refill(&mut fields, &form(&[("query", "kept"), ("exact", "on")]));
        assert_eq!(fields[0].value.as_deref(), Some("kept"));
        assert_eq!(fields[1].value.as_deref(), Some("true"));
    }
}
