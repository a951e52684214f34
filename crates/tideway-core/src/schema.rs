//! Argument validation against a tool's input schema, done once in the Hub for every
//! face. Errors name the offending field as a dotted path (`address.city`,
//! `items[2].sku`), so a person or a model can fix the call.

use jsonschema::{ValidationError, Validator, error::ValidationErrorKind};
use serde_json::Value;

use crate::{
    error::{HubError, bounded, excerpt, excerpt_value},
    mcp::JsonObject,
};

/// Argument names that mean the same thing in every toolkit. A call may use either
/// name of a pair: the tool receives the one its schema declares, so a model that
/// learned `table` from one toolkit is not refused by another that says `table_name`.
const SYNONYMS: &[(&str, &str)] = &[("table_name", "table")];

/// A compiled input schema.
pub struct ArgumentValidator {
    validator: Validator,
    /// The schema's top-level property names, for the synonyms above.
    properties: Vec<String>,
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
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|properties| properties.keys().cloned().collect())
            .unwrap_or_default();
        Ok(ArgumentValidator {
            validator,
            properties,
        })
    }

    /// Renames an argument given under the synonym of a name the schema declares
    /// (and does not declare itself), unless both names were given.
    pub fn accept_synonyms(&self, arguments: &mut JsonObject) {
        let declares = |name: &str| self.properties.iter().any(|p| p == name);
        for (one, other) in SYNONYMS {
            for (declared, given) in [(one, other), (other, one)] {
                if declares(declared)
                    && !declares(given)
                    && !arguments.contains_key(*declared)
                    && let Some(value) = arguments.remove(*given)
                {
                    arguments.insert(declared.to_string(), value);
                }
            }
        }
    }

    pub fn validate(&self, arguments: &JsonObject) -> Result<(), HubError> {
        if let Some(field) = first_nul(arguments) {
            return Err(HubError::invalid_argument(
                field,
                "contains a NUL character (\\u0000); text with NUL cannot be stored",
            ));
        }
        let instance = Value::Object(arguments.clone());
        match self.validator.iter_errors(&instance).next() {
            None => Ok(()),
            Some(error) => Err(describe(&error)),
        }
    }
}

/// Where `value` departs from a tool's output schema, as `path: what`; `None` when it
/// fits. Clients validate structured results against the declared schema and refuse
/// a result that does not fit, so a toolkit's tests check every answer with this.
pub fn output_mismatch(schema: &JsonObject, value: &Value) -> Option<String> {
    let schema = Value::Object(schema.clone());
    let validator = match jsonschema::options().build(&schema) {
        Ok(validator) => validator,
        Err(error) => return Some(format!("the output schema itself is invalid: {error}")),
    };
    validator
        .iter_errors(value)
        .next()
        .map(|error| describe(&error).to_string())
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
            let options = options.as_array().map(Vec::as_slice).unwrap_or_default();
            format!("must be one of {}; got {}", alternatives(options), quoted())
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            if let Some(error) = union_error(context, &path) {
                return error;
            }
            library_wording(error, value)
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
        _ => library_wording(error, value),
    };
    if path.is_empty() {
        path.push_str("arguments");
    }
    HubError::InvalidArguments {
        field: path,
        message,
    }
}

/// The path of the first string (or object key) holding a NUL character. PostgreSQL
/// refuses NUL in text, and SQLite and files take it, so a value would store on one
/// backend and fail on another; it is refused for every tool alike, before any
/// backend sees it.
fn first_nul(arguments: &JsonObject) -> Option<String> {
    fn walk(value: &Value, path: &mut String) -> bool {
        match value {
            Value::String(text) => text.contains('\0'),
            Value::Array(items) => items.iter().enumerate().any(|(index, item)| {
                let length = path.len();
                path.push_str(&format!("[{index}]"));
                let found = walk(item, path);
                if !found {
                    path.truncate(length);
                }
                found
            }),
            Value::Object(object) => object_has_nul(object, path),
            _ => false,
        }
    }
    fn object_has_nul(object: &JsonObject, path: &mut String) -> bool {
        object.iter().any(|(key, value)| {
            let length = path.len();
            push_field(path, &excerpt(&key.replace('\0', "\\u0000")));
            let found = key.contains('\0') || walk(value, path);
            if !found {
                path.truncate(length);
            }
            found
        })
    }
    let mut path = String::new();
    object_has_nul(arguments, &mut path).then_some(path)
}

/// The library's own wording, which begins with the whole value: only its start is
/// quoted.
fn library_wording(error: &ValidationError<'_>, value: &Value) -> String {
    let text = error.to_string();
    let whole = value.to_string();
    match text.strip_prefix(whole.as_str()) {
        Some(rest) => format!("{}{}", excerpt_value(value), excerpt_long(rest)),
        None => excerpt_long(&text),
    }
}

/// Every allowed value, as a reader lists them: `"low", "medium" or "high"`.
fn alternatives(options: &[Value]) -> String {
    let quoted: Vec<String> = options.iter().map(excerpt_value).collect();
    let listed = match quoted.split_last() {
        None => "nothing".to_string(),
        Some((only, [])) => only.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    };
    excerpt_long(&listed)
}

/// A clearer error for a value that fits none of a union's branches (`anyOf`,
/// `oneOf`), when the branches say something together:
/// - an optional value (`T` or `null`): the error of the `T` branch, as if the
///   union were not there;
/// - a tagged union (each branch fixes one field, such as `kind`, to a constant):
///   that field and every value it may take.
///
/// `None` leaves the library's general wording.
fn union_error(context: &[Vec<ValidationError<'static>>], path: &str) -> Option<HubError> {
    let is_null_branch = |errors: &Vec<ValidationError<'static>>| {
        matches!(
            errors.as_slice(),
            [only] if matches!(only.kind(), ValidationErrorKind::Type { kind }
                if matches!(kind, jsonschema::error::TypeKind::Single(single)
                    if single.to_string() == "null"))
        )
    };
    let branches: Vec<&Vec<ValidationError<'static>>> = context
        .iter()
        .filter(|errors| !is_null_branch(errors))
        .collect();
    if let [only] = branches.as_slice()
        && let Some(first) = only.first()
    {
        return Some(describe(first));
    }
    // The values a branch would take at its tag: its `const`, or its `enum` (schemars
    // writes the variants without a doc comment as one `enum` branch).
    let constant_of = |errors: &Vec<ValidationError<'static>>| {
        errors.iter().find_map(|error| match error.kind() {
            ValidationErrorKind::Constant { expected_value } => Some((
                error.instance_path().as_str().to_string(),
                vec![expected_value.as_ref().clone()],
            )),
            ValidationErrorKind::Enum { options } => Some((
                error.instance_path().as_str().to_string(),
                options.as_array().cloned().unwrap_or_default(),
            )),
            _ => None,
        })
    };
    // A tagged union whose tag matched one branch: that branch's own error.
    let untagged: Vec<_> = branches
        .iter()
        .filter(|errors| constant_of(errors).is_none())
        .collect();
    if let [matched] = untagged.as_slice()
        && branches.len() > 1
        && let Some(first) = matched.first()
    {
        return Some(describe(first));
    }
    // A tagged union whose tag matched none: every branch refuses the same field
    // for not being its constant.
    let mut tag: Option<String> = None;
    let mut allowed = Vec::new();
    for errors in &branches {
        let (pointer, values) = constant_of(errors)?;
        match &tag {
            Some(seen) if *seen != pointer => return None,
            _ => tag = Some(pointer),
        }
        allowed.extend(values);
    }
    let pointer = tag?;
    let field = pointer_to_path(&pointer);
    let got = branches
        .first()
        .and_then(|errors| {
            errors
                .iter()
                .find(|e| e.instance_path().as_str() == pointer)
        })
        .map(|error| excerpt_value(error.instance()))
        .unwrap_or_default();
    Some(HubError::InvalidArguments {
        field: if field.is_empty() {
            path.to_string()
        } else {
            field
        },
        message: format!("must be one of {}; got {got}", alternatives(&allowed)),
    })
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
    fn a_synonym_is_renamed_to_the_declared_name_unless_both_are_given() {
        let v = validator(json!({
            "type": "object",
            "properties": {"table_name": {"type": "string"}},
            "required": ["table_name"],
            "additionalProperties": false
        }));
        let mut given = args(json!({"table": "orders"}));
        v.accept_synonyms(&mut given);
        assert_eq!(
            Value::Object(given.clone()),
            json!({"table_name": "orders"})
        );
        assert!(v.validate(&given).is_ok());
        // Both names given: nothing is guessed, and the extra one is refused.
        let mut both = args(json!({"table": "a", "table_name": "b"}));
        v.accept_synonyms(&mut both);
        assert_eq!(field_of(v.validate(&both)).0, "table");
        // The other direction, for a schema that declares `table`.
        let other = validator(json!({"type": "object", "properties": {"table": {}}}));
        let mut given = args(json!({"table_name": "orders"}));
        other.accept_synonyms(&mut given);
        assert_eq!(Value::Object(given), json!({"table": "orders"}));
        // A schema that declares both keeps each as given.
        let both_declared =
            validator(json!({"type": "object", "properties": {"table": {}, "table_name": {}}}));
        let mut given = args(json!({"table": "x"}));
        both_declared.accept_synonyms(&mut given);
        assert_eq!(Value::Object(given), json!({"table": "x"}));
    }

    #[test]
    fn a_nul_character_anywhere_is_refused_naming_where() {
        let v = validator(json!({"type": "object"}));
        for (arguments, expected) in [
            (json!({"name": "a\u{0}b"}), "name"),
            (
                json!({"metadata": {"tags": ["ok", "bad\u{0}"]}}),
                "metadata.tags[1]",
            ),
            (json!({"filters": {"key\u{0}": 1}}), "filters.key\\u0000"),
        ] {
            let (field, message) = field_of(v.validate(&args(arguments)));
            assert_eq!(field, expected);
            assert!(message.contains("NUL"), "{message}");
        }
        assert!(
            v.validate(&args(json!({"name": "fine", "n": [1, {"x": "y"}]})))
                .is_ok()
        );
    }

    #[test]
    fn an_enum_error_lists_every_allowed_value() {
        let v = validator(json!({"type": "object", "properties": {"priority": {
            "anyOf": [{"type": "string", "enum": ["low", "medium", "high", "urgent", "critical", "whenever"]},
                      {"type": "null"}]}}}));
        let (field, message) = field_of(v.validate(&args(json!({"priority": "asap"}))));
        assert_eq!(field, "priority");
        assert_eq!(
            message,
            "must be one of 'low', 'medium', 'high', 'urgent', 'critical' or 'whenever'; got 'asap'"
        );
    }

    #[test]
    fn a_tagged_union_names_its_tag_and_every_kind() {
        let branch = |kind: &str, required: &str| {
            json!({"type": "object", "properties": {"kind": {"const": kind}, required: {"type": "string"}},
                   "required": ["kind", required]})
        };
        let v = validator(
            json!({"type": "object", "properties": {"source": {"oneOf": [
            branch("postgres", "url"), branch("mysql", "url"), branch("sqlite", "path")]}}}),
        );
        let (field, message) =
            field_of(v.validate(&args(json!({"source": {"kind": "oracle", "url": "x"}}))));
        assert_eq!(field, "source.kind");
        assert_eq!(
            message,
            "must be one of 'postgres', 'mysql' or 'sqlite'; got 'oracle'"
        );
        // The tag matched a branch: that branch's own complaint.
        let (field, message) = field_of(v.validate(&args(json!({"source": {"kind": "sqlite"}}))));
        assert_eq!(field, "source.path");
        assert_eq!(message, "is required");
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
