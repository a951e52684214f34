//! The one expression language of workflow templates: minijinja expressions, never
//! statements and never code, each bounded by a fuel budget. In a step's arguments a
//! string that is exactly one `{{ … }}` becomes the expression's value (a number
//! stays a number, an object an object); a string with `{{ … }}` among other text
//! becomes text. A step's `if` is one expression, taken as true or false.
//!
//! Expressions see `input` (the run's input), `steps` (each finished step's
//! `status`, `output` and `error`, by id), `execution` (`id`, `started_by`) and, in
//! a `for_each` step's arguments, `item` and `index`. A missing attribute is undefined rather than an error, so a condition can test
//! `steps.lookup.output.customer.tier == "enterprise"` on any output.

use std::collections::BTreeSet;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

/// The names an expression may start from.
pub const VARIABLES: &[&str] = &["input", "steps", "execution"];

/// Instructions one expression may execute: plenty for a comparison or a filter
/// chain, too few for a runaway one.
const FUEL: u64 = 20_000;

/// The largest text an argument string may render to.
const MAX_RENDERED_BYTES: usize = 1024 * 1024;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(16);
    env
}

fn describe(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

/// A piece of an argument string: literal text, or the source of one expression.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Expression(&'a str),
}

fn pieces(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a '{{' is not closed by '}}'".to_string())?;
        let source = after[..end].trim();
        if source.is_empty() {
            return Err("'{{ }}' holds no expression".into());
        }
        pieces.push(Piece::Expression(source));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// Every expression in an argument value (strings at any depth), in order.
pub fn expressions_in(value: &Value) -> Result<Vec<String>, String> {
    fn walk(value: &Value, into: &mut Vec<String>) -> Result<(), String> {
        match value {
            Value::String(text) => {
                for piece in pieces(text)? {
                    if let Piece::Expression(source) = piece {
                        into.push(source.to_string());
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, into)?;
                }
            }
            Value::Object(object) => {
                for item in object.values() {
                    walk(item, into)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    let mut found = Vec::new();
    walk(value, &mut found)?;
    Ok(found)
}

/// Compiles `source` and returns the steps it reads (`steps.<id>…`); a starting name
/// other than [`VARIABLES`] and `extra` is an error naming it.
pub fn step_references(source: &str, extra: &[&str]) -> Result<BTreeSet<String>, String> {
    let env = environment();
    let expression = env
        .compile_expression(source)
        .map_err(|error| format!("'{}': {}", excerpt(source), describe(&error)))?;
    let mut steps = BTreeSet::new();
    for name in expression.undeclared_variables(true) {
        let mut parts = name.split('.');
        let root = parts.next().unwrap_or_default();
        if !VARIABLES.contains(&root) && !extra.contains(&root) {
            let known: Vec<&str> = VARIABLES.iter().chain(extra).copied().collect();
            return Err(format!(
                "'{}' uses '{root}'; expressions start from {}",
                excerpt(source),
                known.join(", ")
            ));
        }
        if root == "steps" {
            match parts.next() {
                Some(step) => {
                    steps.insert(step.to_string());
                }
                // `steps` alone (e.g. `steps | length`) reads every step.
                None => {
                    steps.insert("*".to_string());
                }
            }
        }
    }
    Ok(steps)
}

/// The value of one expression.
pub fn evaluate(source: &str, scope: &Value) -> Result<Value, String> {
    let env = environment();
    let expression = env
        .compile_expression(source)
        .map_err(|error| format!("'{}': {}", excerpt(source), describe(&error)))?;
    let value = expression
        .eval(scope)
        .map_err(|error| format!("'{}': {}", excerpt(source), describe(&error)))?;
    if value.is_undefined() {
        return Ok(Value::Null);
    }
    serde_json::to_value(&value).map_err(|error| format!("'{}': {error}", excerpt(source)))
}

/// Whether a condition holds.
pub fn holds(source: &str, scope: &Value) -> Result<bool, String> {
    let env = environment();
    let expression = env
        .compile_expression(source)
        .map_err(|error| format!("'{}': {}", excerpt(source), describe(&error)))?;
    expression
        .eval(scope)
        .map(|value| value.is_true())
        .map_err(|error| format!("'{}': {}", excerpt(source), describe(&error)))
}

/// `value` with every expression in its strings replaced by what it evaluates to.
pub fn resolve(value: &Value, scope: &Value) -> Result<Value, String> {
    match value {
        Value::String(text) => {
            let pieces = pieces(text)?;
            match pieces.as_slice() {
                [] => Ok(value.clone()),
                [Piece::Expression(source)] => evaluate(source, scope),
                _ if pieces.iter().all(|piece| matches!(piece, Piece::Text(_))) => {
                    Ok(value.clone())
                }
                _ => {
                    let mut rendered = String::new();
                    for piece in pieces {
                        match piece {
                            Piece::Text(text) => rendered.push_str(text),
                            Piece::Expression(source) => match evaluate(source, scope)? {
                                Value::String(text) => rendered.push_str(&text),
                                Value::Null => {}
                                other => rendered.push_str(&other.to_string()),
                            },
                        }
                        if rendered.len() > MAX_RENDERED_BYTES {
                            return Err(format!(
                                "'{}' renders to more than {MAX_RENDERED_BYTES} bytes",
                                excerpt(text)
                            ));
                        }
                    }
                    Ok(Value::String(rendered))
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .map(|item| resolve(item, scope))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Value::Object(object) => object
            .iter()
            .map(|(key, item)| Ok((key.clone(), resolve(item, scope)?)))
            .collect::<Result<_, String>>()
            .map(Value::Object),
        _ => Ok(value.clone()),
    }
}

fn excerpt(text: &str) -> String {
    tideway_core::error::excerpt(text).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scope() -> Value {
        json!({
            "input": {"customer_id": 7, "name": "Ada"},
            "steps": {"lookup": {"status": "succeeded", "output": {"tier": "enterprise", "open": 3}}},
            "execution": {"id": "x", "started_by": "key:1"},
        })
    }

    #[test]
    fn a_whole_expression_keeps_its_type_and_text_around_one_becomes_text() {
        let resolved = resolve(
            &json!({
                "customer_id": "{{ input.customer_id }}",
                "subject": "Welcome, {{ input.name }} ({{ steps.lookup.output.open }} open)",
                "nested": ["{{ steps.lookup.output }}", 5, "plain"],
            }),
            &scope(),
        )
        .expect("resolves");
        assert_eq!(
            resolved,
            json!({
                "customer_id": 7,
                "subject": "Welcome, Ada (3 open)",
                "nested": [{"tier": "enterprise", "open": 3}, 5, "plain"],
            })
        );
    }

    #[test]
    fn conditions_hold_or_not_and_missing_attributes_are_false() {
        assert!(holds("steps.lookup.output.tier == 'enterprise'", &scope()).expect("ok"));
        assert!(!holds("input.customer_id > 10", &scope()).expect("ok"));
        assert!(!holds("steps.lookup.output.missing.deeper", &scope()).expect("ok"));
    }

    #[test]
    fn references_name_the_steps_read_and_refuse_unknown_roots() {
        let steps = step_references("steps.lookup.output.tier == input.tier", &[]).expect("ok");
        assert_eq!(steps.into_iter().collect::<Vec<_>>(), vec!["lookup"]);
        let error = step_references("secrets.token", &[]).expect_err("unknown root");
        assert!(error.contains("'secrets'"), "{error}");
        assert!(step_references("input.x ==", &[]).is_err());
        assert!(step_references("item.id", &[]).is_err());
        assert!(step_references("item.id", &["item", "index"]).is_ok());
    }

    #[test]
    fn unclosed_and_empty_braces_are_errors() {
        assert!(expressions_in(&json!("{{ input.x")).is_err());
        assert!(expressions_in(&json!("{{ }}")).is_err());
    }

    #[test]
    fn values_that_grow_without_bound_are_refused() {
        let error = evaluate("'x' * 200000000", &scope()).expect_err("too large");
        assert!(error.contains("too large"), "{error}");
        let error =
            resolve(&json!("{{ 'x' * 2000000 }} and more"), &scope()).expect_err("too long");
        assert!(error.contains("bytes"), "{error}");
    }
}
