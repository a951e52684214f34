//! Argument validation against a tool's input schema, done once in the Hub for every
//! face. Errors name the offending field as a dotted path (`address.city`,
//! `items[2].sku`), so a person or a model can fix the call.

use jsonschema::{ValidationError, Validator, error::ValidationErrorKind};
use serde_json::Value;

use crate::{
    error::{HubError, bounded, excerpt, excerpt_value},
    mcp::JsonObject,
};

/// A compiled input schema.
pub struct ArgumentValidator {
    validator: Validator,
}

impl ArgumentValidator {
    /// Compiles `schema`; an invalid schema is a programming or upstream error,
    /// reported with the tool's name.
    pub fn compile(tool: &str, schema: &JsonObject) -> Result<Self, HubError> {
        let schema = Value::Object(schema.clone());
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|error| {
                HubError::Internal(format!(
                    "tool '{tool}' has an invalid input schema: {error}"
                ))
            })?;
        Ok(ArgumentValidator { validator })
    }

    pub fn validate(&self, arguments: &JsonObject) -> Result<(), HubError> {
        let instance = Value::Object(arguments.clone());
        match self.validator.iter_errors(&instance).next() {
            None => Ok(()),
            Some(error) => Err(describe(&error)),
        }
    }
}

fn describe(error: &ValidationError<'_>) -> HubError {
    let mut path = pointer_to_path(error.instance_path().as_str());
    let value = error.instance();
    let quoted = || excerpt_value(value);
    let message = match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            push_field(&mut path, name);
            "is required".to_string()
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            if let Some(name) = unexpected.first() {
                push_field(&mut path, &excerpt(name));
            }
            "is not an accepted argument".to_string()
        }
        ValidationErrorKind::MaxLength { limit } => format!(
            "is {} characters long; at most {limit} are allowed",
            value
                .as_str()
                .map(|text| text.chars().count())
                .unwrap_or_default()
        ),
        ValidationErrorKind::MinLength { limit } => {
            format!("is shorter than {limit} characters: {}", quoted())
        }
        ValidationErrorKind::Pattern { pattern } => {
            format!(
                "does not match the pattern {}: {}",
                excerpt(pattern),
                quoted()
            )
        }
        ValidationErrorKind::Format { format } => {
            format!("is not a valid {format}: {}", quoted())
        }
        ValidationErrorKind::Enum { options } => {
            format!(
                "must be one of {}; got {}",
                excerpt(&options.to_string()),
                quoted()
            )
        }
        ValidationErrorKind::Type { kind } => {
            format!("must be of type {}; got {}", describe_type(kind), quoted())
        }
        ValidationErrorKind::MaxItems { limit } => format!(
            "has {} items; at most {limit} are allowed",
            value.as_array().map(Vec::len).unwrap_or_default()
        ),
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => {
            format!("is {} but may be at most {limit}", quoted())
        }
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => {
            format!("is {} but must be at least {limit}", quoted())
        }
        // The library's own wording begins with the whole value; quote only its start.
        _ => {
            let text = error.to_string();
            let whole = value.to_string();
            match text.strip_prefix(whole.as_str()) {
                Some(rest) => format!("{}{}", quoted(), excerpt_long(rest)),
                None => excerpt_long(&text),
            }
        }
    };
    if path.is_empty() {
        path.push_str("arguments");
    }
    HubError::InvalidArguments {
        field: path,
        message,
    }
}

/// A rule's wording may be longer than a quotation, but not unbounded.
fn excerpt_long(text: &str) -> String {
    bounded(text, 512).into_owned()
}

fn describe_type(kind: &jsonschema::error::TypeKind) -> String {
    match kind {
        jsonschema::error::TypeKind::Single(single) => single.to_string(),
        jsonschema::error::TypeKind::Multiple(many) => many
            .iter()
            .map(|kind| kind.to_string())
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

fn push_field(path: &mut String, name: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(name);
}

/// `/items/2/sku` becomes `items[2].sku`.
fn pointer_to_path(pointer: &str) -> String {
    let mut path = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.parse::<usize>().is_ok() {
            path.push_str(&format!("[{segment}]"));
        } else {
            push_field(&mut path, &segment);
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn validator(schema: Value) -> ArgumentValidator {
        let Value::Object(schema) = schema else {
            panic!("schema must be an object")
        };
        ArgumentValidator::compile("t", &schema).expect("schema compiles")
    }

    fn args(value: Value) -> JsonObject {
        match value {
            Value::Object(object) => object,
            _ => panic!("arguments must be an object"),
        }
    }

    fn field_of(result: Result<(), HubError>) -> (String, String) {
        match result {
            Err(HubError::InvalidArguments { field, message }) => (field, message),
            other => panic!("expected InvalidArguments, got {other:?}"),
        }
    }

    #[test]
    fn missing_required_field_is_named() {
        let v = validator(
            json!({"type":"object","properties":{"email":{"type":"string"}},"required":["email"]}),
        );
        let (field, message) = field_of(v.validate(&args(json!({}))));
        assert_eq!(field, "email");
        assert_eq!(message, "is required");
    }

    #[test]
    fn nested_type_error_names_the_path() {
        let v = validator(
            json!({"type":"object","properties":{"items":{"type":"array","items":{"type":"object","properties":{"qty":{"type":"integer"}}}}}}),
        );
        let (field, _) = field_of(v.validate(&args(json!({"items":[{"qty":1},{"qty":"two"}]}))));
        assert_eq!(field, "items[1].qty");
    }

    #[test]
    fn unexpected_argument_is_named() {
        let v = validator(
            json!({"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}),
        );
        let (field, message) = field_of(v.validate(&args(json!({"a":"x","b":1}))));
        assert_eq!(field, "b");
        assert!(message.contains("not an accepted"));
    }

    #[test]
    fn a_huge_bad_value_is_quoted_by_its_start_only() {
        let v = validator(
            json!({"type":"object","properties":{"subject":{"type":"string","maxLength":200,"pattern":"^[a-z]*$"}}}),
        );
        let huge = "X".repeat(900_000);
        let (field, message) = field_of(v.validate(&args(json!({ "subject": huge }))));
        assert_eq!(field, "subject");
        assert!(message.len() < 200, "{} bytes: {message}", message.len());
        let v = validator(json!({"type":"object","properties":{"n":{"type":"integer"}}}));
        let (_, message) = field_of(v.validate(&args(json!({ "n": huge }))));
        assert!(
            message.len() < 200 && message.contains("900000 characters"),
            "{message}"
        );
        let v = validator(json!({"type":"object","properties":{"e":{"enum":["a","b"]}}}));
        let (_, message) = field_of(v.validate(&args(json!({ "e": huge }))));
        assert!(
            message.len() < 200 && message.contains("one of"),
            "{message}"
        );
        let v = validator(
            json!({"type":"object","properties":{"u":{"type":"string","format":"email"}}}),
        );
        let (_, message) = field_of(v.validate(&args(json!({ "u": huge }))));
        assert!(message.len() < 200, "{message}");
        let v = validator(json!({"type":"object","properties":{"s":{"const":"x"}}}));
        let (_, message) = field_of(v.validate(&args(json!({ "s": huge }))));
        assert!(message.len() < 700, "{message}");
    }

    #[test]
    fn valid_arguments_pass() {
        let v =
            validator(json!({"type":"object","properties":{"n":{"type":"integer","minimum":1}}}));
        assert!(v.validate(&args(json!({"n": 3}))).is_ok());
        let (field, _) = field_of(v.validate(&args(json!({"n": 0}))));
        assert_eq!(field, "n");
    }
}
