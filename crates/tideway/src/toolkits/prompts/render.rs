//! Rendering a template with minijinja, bounded so a template can neither loop nor
//! recurse without end nor grow without limit: strict undefined values, a fuel budget,
//! a recursion limit, an output cap. Arguments are checked against the template's
//! declaration first, so a missing, unknown or disallowed argument is named.
//!
//! `resource(uri)` inlines a resource the caller may read. minijinja calls functions
//! synchronously and reading a resource is not, so rendering takes two passes: the
//! first records which URIs the template asks for, they are read through the Hub
//! (with the caller's rights), and the second pass inlines them.
//!
//! Each pass runs in a child process with a memory budget (`sandbox.rs`): a
//! template can grow a value without bound (a macro doubling a string at every
//! level) and no output cap sees that in time. Filters whose size follows from an
//! argument are checked before they run (`filters.rs`).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex},
};

use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use tideway_core::{HubError, error::excerpt, mcp::JsonObject};

use super::{
    filters,
    model::{Contents, PromptArgument},
    sandbox::{self, Limits},
};

/// Instructions one render may execute.
const FUEL: u64 = 500_000;
/// Nesting of macro calls.
const RECURSION_LIMIT: usize = 32;
/// Largest rendered text, in bytes.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// Resources one render may inline, and how much of each.
const MAX_RESOURCES: usize = 8;
const MAX_RESOURCE_BYTES: usize = 256 * 1024;
/// What one render may use: its inputs are at most a few MB, so 128 MB leaves room
/// for any honest template and stops one that multiplies its text.
const RENDER_LIMITS: Limits = Limits {
    memory_bytes: 128 * 1024 * 1024,
    time: std::time::Duration::from_secs(10),
    answer_bytes: 2 * MAX_OUTPUT_BYTES + 64 * 1024,
};

/// Globals and functions minijinja itself offers; a template may use them freely.
const BUILTIN_NAMES: &[&str] = &[
    "range",
    "dict",
    "namespace",
    "debug",
    "lipsum",
    "cycler",
    "joiner",
    "loop",
    "resource",
];

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.set_keep_trailing_newline(true);
    filters::install(&mut env);
    env
}

fn describe(error: &minijinja::Error) -> String {
    let mut text = error.kind().to_string();
    if let Some(detail) = error.detail() {
        text = format!("{text}: {detail}");
    }
    match error.line() {
        Some(line) => format!("line {line}: {text}"),
        None => text,
    }
}

/// Compiles `body`, so a template that cannot render is refused when it is saved.
pub fn check_syntax(body: &str) -> Result<(), HubError> {
    let env = environment();
    env.template_from_str(body)
        .map(|_| ())
        .map_err(|error| HubError::invalid_argument("body", describe(&error)))
}

/// Refuses a body that uses a variable no argument declares (a typo would otherwise
/// fail every render).
pub fn check_variables(contents: &Contents) -> Result<(), HubError> {
    let env = environment();
    let template = env
        .template_from_str(&contents.body)
        .map_err(|error| HubError::invalid_argument("body", describe(&error)))?;
    let declared: HashSet<&str> = contents
        .arguments
        .iter()
        .map(|a| a.name.as_str())
        .chain(BUILTIN_NAMES.iter().copied())
        .collect();
    let mut unknown: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| !declared.contains(name.as_str()))
        .collect();
    unknown.sort();
    match unknown.first() {
        Some(name) => Err(HubError::invalid_argument(
            "body",
            format!("uses '{name}', which is not a declared argument (declare it under arguments)"),
        )),
        None => Ok(()),
    }
}

fn prompt_error(field: &str, message: impl Into<String>) -> HubError {
    HubError::InvalidPromptArguments {
        field: field.to_string(),
        message: message.into(),
    }
}

/// The values to render with: every declared argument, from `given` or its default
/// (an optional argument with neither is empty). Unknown, missing and disallowed
/// arguments are refused with the argument named.
pub fn resolve_arguments(
    declared: &[PromptArgument],
    given: &JsonObject,
) -> Result<BTreeMap<String, String>, HubError> {
    for name in given.keys() {
        if !declared.iter().any(|argument| &argument.name == name) {
            return Err(prompt_error(name, "is not an argument of this template"));
        }
    }
    let mut values = BTreeMap::new();
    for argument in declared {
        let value = match given.get(&argument.name) {
            Some(serde_json::Value::String(text)) => Some(text.clone()),
            Some(serde_json::Value::Null) | None => None,
            // Clients sometimes send numbers or booleans; their text is what a
            // template would print anyway.
            Some(other) => Some(other.to_string()),
        };
        let value = match (value, &argument.default) {
            (Some(value), _) => value,
            (None, Some(default)) => default.clone(),
            (None, None) if argument.required => {
                return Err(prompt_error(&argument.name, "is required"));
            }
            (None, None) => String::new(),
        };
        if !argument.allowed_values.is_empty()
            && !value.is_empty()
            && !argument.allowed_values.contains(&value)
        {
            return Err(prompt_error(
                &argument.name,
                format!(
                    "must be one of {}",
                    argument
                        .allowed_values
                        .iter()
                        .map(|v| format!("'{v}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        values.insert(argument.name.clone(), value);
    }
    Ok(values)
}

/// What one pass of a render produced: the text or why not, and the resources the
/// template asked for.
#[derive(Serialize, Deserialize)]
struct Pass {
    text: Result<String, String>,
    asked: Vec<String>,
}

/// One pass, run in the isolated child: with `contents` the resources are inlined;
/// without, the URIs the template asks for are recorded.
fn render_pass(
    body: &str,
    values: &BTreeMap<String, String>,
    contents: Option<&HashMap<String, String>>,
) -> Pass {
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorder = asked.clone();
    let contents = contents.cloned();
    let mut env = environment();
    env.add_function("resource", move |uri: String| {
        if let Some(contents) = &contents {
            return contents.get(&uri).cloned().ok_or_else(|| {
                minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!(
                        "resource '{}' was not asked for in the first pass",
                        excerpt(&uri)
                    ),
                )
            });
        }
        let mut asked = match recorder.lock() {
            Ok(asked) => asked,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !asked.contains(&uri) {
            asked.push(uri);
        }
        if asked.len() > MAX_RESOURCES {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("a template may inline at most {MAX_RESOURCES} resources"),
            ));
        }
        Ok(String::new())
    });
    let text = match env.render_str(body, values) {
        Ok(text) if text.len() > MAX_OUTPUT_BYTES => {
            Err(format!("renders to more than {MAX_OUTPUT_BYTES} bytes"))
        }
        Ok(text) => Ok(text),
        Err(error) => Err(describe(&error)),
    };
    let asked = match asked.lock() {
        Ok(asked) => asked.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    Pass { text, asked }
}

/// Runs one pass in a child process with a memory budget (`sandbox.rs`).
async fn isolated_pass(
    body: &str,
    values: &BTreeMap<String, String>,
    contents: Option<HashMap<String, String>>,
) -> Result<Pass, HubError> {
    let (body, values) = (body.to_string(), values.clone());
    let pass = tokio::task::spawn_blocking(move || {
        sandbox::run(RENDER_LIMITS, || {
            render_pass(&body, &values, contents.as_ref())
        })
    })
    .await
    .map_err(HubError::internal)?;
    pass.map_err(|error| {
        HubError::invalid_argument(
            "template",
            format!("the template cannot be rendered: {error}"),
        )
    })
}

/// Renders `body` with `values`, reading the resources it inlines with `read`.
pub async fn render<F, Fut>(
    body: &str,
    values: &BTreeMap<String, String>,
    read: F,
) -> Result<String, HubError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<String, HubError>>,
{
    let first = isolated_pass(body, values, None).await?;
    let text = first
        .text
        .map_err(|message| HubError::invalid_argument("template", message))?;
    if first.asked.is_empty() {
        return Ok(text);
    }
    let mut contents = HashMap::new();
    for uri in first.asked {
        let mut text = read(uri.clone()).await?;
        if text.len() > MAX_RESOURCE_BYTES {
            let mut cut = MAX_RESOURCE_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("\n[cut at 256 KiB]");
        }
        contents.insert(uri, text);
    }
    isolated_pass(body, values, Some(contents))
        .await?
        .text
        .map_err(|message| HubError::invalid_argument("template", message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn argument(name: &str, required: bool, default: Option<&str>) -> PromptArgument {
        PromptArgument {
            name: name.into(),
            description: None,
            required,
            default: default.map(str::to_string),
            allowed_values: vec![],
        }
    }

    fn given(value: serde_json::Value) -> JsonObject {
        serde_json::from_value(value).expect("object")
    }

    async fn no_resources(uri: String) -> Result<String, HubError> {
        Err(HubError::ResourceNotFound(uri))
    }

    fn field_of(error: HubError) -> String {
        match error {
            HubError::InvalidPromptArguments { field, .. }
            | HubError::InvalidArguments { field, .. } => field,
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn arguments_are_checked_and_defaults_filled() {
        let mut tone = argument("tone", false, Some("warm"));
        tone.allowed_values = vec!["warm".into(), "formal".into()];
        let declared = vec![
            argument("customer", true, None),
            tone,
            argument("note", false, None),
        ];
        let values = resolve_arguments(&declared, &given(json!({"customer": "Ada"}))).expect("ok");
        assert_eq!(values["tone"], "warm");
        assert_eq!(values["note"], "");
        let missing = resolve_arguments(&declared, &given(json!({}))).expect_err("missing");
        assert_eq!(field_of(missing), "customer");
        let unknown = resolve_arguments(&declared, &given(json!({"customer": "A", "mood": "x"})))
            .expect_err("unknown");
        assert_eq!(field_of(unknown), "mood");
        let disallowed =
            resolve_arguments(&declared, &given(json!({"customer": "A", "tone": "rude"})))
                .expect_err("disallowed");
        assert_eq!(field_of(disallowed), "tone");
        let number =
            resolve_arguments(&declared, &given(json!({"customer": 42}))).expect("coerced");
        assert_eq!(number["customer"], "42");
    }

    #[tokio::test]
    async fn text_is_not_escaped_and_runaway_templates_stop() {
        let values = BTreeMap::from([("name".to_string(), "<b>Ada & co</b>".to_string())]);
        let text = render("Hello {{ name }}!", &values, no_resources)
            .await
            .expect("render");
        assert_eq!(text, "Hello <b>Ada & co</b>!");
        // Arguments are data: template syntax inside a value is printed, not run.
        let values = BTreeMap::from([("name".to_string(), "{{ 7 * 7 }}".to_string())]);
        let text = render("{{ name }}", &values, no_resources)
            .await
            .expect("render");
        assert_eq!(text, "{{ 7 * 7 }}");

        let empty = BTreeMap::new();
        let looping = render(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            &empty,
            no_resources,
        )
        .await
        .expect_err("out of fuel");
        assert_eq!(field_of(looping), "template");
        let recursive = render(
            "{% macro down(n) %}{{ down(n + 1) }}{% endmacro %}{{ down(0) }}",
            &empty,
            no_resources,
        )
        .await
        .expect_err("too deep");
        assert_eq!(field_of(recursive), "template");
        let undefined = render("{{ nowhere }}", &empty, no_resources)
            .await
            .expect_err("strict");
        assert!(undefined.to_string().contains("undefined"), "{undefined}");
    }

    #[tokio::test]
    async fn templates_that_multiply_their_text_are_refused_not_a_crash() {
        let empty = BTreeMap::new();
        for body in [
            "{{ 'a'|indent(100000000000000, true) }}",
            "{{ '%0200000000d'|format(1) }}",
            // A macro doubling its argument at every level.
            "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}{{ d('x', 31) }}",
            // Repetition and concatenation past the budget.
            "{% set a = 'x' * 90000000 %}{% set b = a ~ a %}{{ (b ~ b)|length }}",
        ] {
            let refused = render(body, &empty, no_resources).await.expect_err(body);
            assert_eq!(field_of(refused), "template", "{body}");
        }
        // The server is still here, and rendering still works.
        let text = render("{{ 'ok'|upper }}", &empty, no_resources)
            .await
            .expect("render");
        assert_eq!(text, "OK");
    }

    #[tokio::test]
    async fn resources_are_read_once_each_and_inlined() {
        let reads = Arc::new(Mutex::new(Vec::new()));
        let seen = reads.clone();
        let read = move |uri: String| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("lock").push(uri.clone());
                Ok(format!("<contents of {uri}>"))
            }
        };
        let values = BTreeMap::from([("id".to_string(), "7".to_string())]);
        let text = render(
            "A: {{ resource('db://tickets/' ~ id) }} B: {{ resource('db://tickets/' ~ id) }}",
            &values,
            read,
        )
        .await
        .expect("render");
        assert_eq!(
            text,
            "A: <contents of db://tickets/7> B: <contents of db://tickets/7>"
        );
        assert_eq!(
            *reads.lock().expect("lock"),
            vec!["db://tickets/7".to_string()]
        );
        let refused = render("{{ resource('secret://x') }}", &values, no_resources)
            .await
            .expect_err("not readable");
        assert_eq!(refused.kind(), "resource-not-found");
    }

    #[test]
    fn undeclared_variables_are_refused_when_saved() {
        let contents = Contents {
            title: None,
            description: None,
            category: "general".into(),
            tags: vec![],
            arguments: vec![argument("customer", true, None)],
            body: "Dear {{ custmer }}, {% for i in range(2) %}{{ loop.index }}{% endfor %}".into(),
        };
        let error = check_variables(&contents).expect_err("typo");
        assert!(error.to_string().contains("custmer"), "{error}");
        let fixed = Contents {
            body: "Dear {{ customer }} {{ resource('db://x') }}".into(),
            ..contents
        };
        assert!(check_variables(&fixed).is_ok());
    }
}
