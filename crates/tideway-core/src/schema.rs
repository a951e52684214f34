//! Argument validation against a tool's input schema, done once in the Hub for every
//! face. Errors name the offending field as a dotted path (`address.city`,
//! `items[2].sku`), so a person or a model can fix the call.

use jsonschema::{ValidationError, Validator, error::ValidationErrorKind};
use serde_json::Value;

use crate::{error::HubError, mcp::JsonObject};

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
    let message = match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            push_field(&mut path, name);
            "is required".to_string()
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            if let Some(name) = unexpected.first() {
                push_field(&mut path, name);
            }
            "is not an accepted argument".to_string()
        }
        _ => error.to_string(),
    };
    if path.is_empty() {
        path.push_str("arguments");
    }
    HubError::InvalidArguments {
        field: path,
        message,
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
    fn valid_arguments_pass() {
        let v =
            validator(json!({"type":"object","properties":{"n":{"type":"integer","minimum":1}}}));
        assert!(v.validate(&args(json!({"n": 3}))).is_ok());
        let (field, _) = field_of(v.validate(&args(json!({"n": 0}))));
        assert_eq!(field, "n");
    }
}
