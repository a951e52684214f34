//! Connections: the things an admin registers so toolkits can reach the outside
//! (database sources, Kafka clusters, cloud accounts, model providers) and the prompt
//! templates, each listed with its settings (never a secret), tested, added with a
//! form made from the adding tool's input schema, and removed. One table describes
//! them all, since each is a list tool, an add tool, a test tool and a remove tool of
//! its toolkit; every action is that tool's call through the REST API.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use futures::StreamExt;
use serde_json::{Map, Value, json};

use super::{Action, Done, Session, done, refused, toolkit_tools};
use crate::console::{Shared, api::segment, schema_form};

pub struct Collection {
    slug: &'static str,
    title: &'static str,
    about: &'static str,
    toolkit: &'static str,
    /// The tool that lists them, and the field of its answer that holds the list.
    list: (&'static str, &'static str),
    /// The field that names one.
    key: &'static str,
    /// The columns: heading and field.
    columns: &'static [(&'static str, &'static str)],
    /// The tool whose input schema is the add form.
    add: Option<&'static str>,
    /// The tools that test and remove one, with the argument that takes its name.
    test: Option<(&'static str, &'static str)>,
    remove: Option<(&'static str, &'static str)>,
}

pub const COLLECTIONS: &[Collection] = &[
    Collection {
        slug: "sources",
        title: "Database sources",
        about: "Databases the database toolkit may query (read-only unless a source says otherwise).",
        toolkit: "database",
        list: ("list_sources", "sources"),
        key: "id",
        columns: &[
            ("Source", "id"),
            ("Kind", "kind"),
            ("Host", "host"),
            ("Database", "database"),
            ("User", "user"),
        ],
        add: Some("connect_source"),
        test: Some(("test_connection", "connection_id")),
        remove: Some(("remove_source", "connection_id")),
    },
    Collection {
        slug: "clusters",
        title: "Kafka clusters",
        about: "Brokers the messaging toolkit publishes to and consumes from.",
        toolkit: "messaging",
        list: ("list_clusters", "clusters"),
        key: "name",
        columns: &[
            ("Cluster", "name"),
            ("Bootstrap servers", "bootstrap_servers"),
            ("Security", "security"),
            ("Topics", "topics"),
        ],
        add: Some("set_cluster"),
        test: Some(("test_cluster", "cluster")),
        remove: Some(("delete_cluster", "name")),
    },
    Collection {
        slug: "accounts",
        title: "Cloud accounts",
        about: "Object stores, functions and parameters the cloud toolkit may reach.",
        toolkit: "cloud",
        list: ("list_accounts", "accounts"),
        key: "name",
        columns: &[
            ("Account", "name"),
            ("Kind", "kind"),
            ("Region", "region"),
            ("Buckets", "buckets"),
            ("Functions", "functions"),
        ],
        add: Some("set_account"),
        test: Some(("test_account", "account")),
        remove: Some(("delete_account", "name")),
    },
    Collection {
        slug: "providers",
        title: "Model providers",
        about: "Language models the models and agents toolkits may ask.",
        toolkit: "models",
        list: ("list_model_providers", "providers"),
        key: "name",
        columns: &[
            ("Provider", "name"),
            ("Kind", "kind"),
            ("Model", "model"),
            ("Base URL", "base_url"),
            ("Default", "default"),
        ],
        add: Some("set_model_provider"),
        test: Some(("test_model_provider", "name")),
        remove: Some(("delete_model_provider", "name")),
    },
    Collection {
        slug: "prompts",
        title: "Prompt templates",
        about: "Prompts served over MCP and REST, versioned.",
        toolkit: "prompts",
        list: ("list_prompt_templates", "templates"),
        key: "name",
        columns: &[
            ("Prompt", "name"),
            ("Title", "title"),
            ("Category", "category"),
            ("Version", "version"),
            ("Updated by", "updated_by"),
        ],
        add: Some("create_prompt_template"),
        test: None,
        remove: Some(("delete_prompt_template", "name")),
    },
];

fn collection(slug: &str) -> Option<&'static Collection> {
    COLLECTIONS.iter().find(|c| c.slug == slug)
}

/// A value as a table cell: text as it is, lists joined, yes/no, JSON for the rest.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::String(text) => text.clone(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Array(items) if items.is_empty() => "—".into(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The tools of `toolkit` the caller may call, by name, with their input schemas
/// (none when the toolkit is not enabled here).
async fn callable(console: &Shared, session: &Session, toolkit: &str) -> Map<String, Value> {
    toolkit_tools(console, session, toolkit)
        .await
        .into_iter()
        .filter_map(|tool| {
            Some((
                tool["name"].as_str()?.to_string(),
                tool["input_schema"].clone(),
            ))
        })
        .collect()
}

async fn call(
    console: &Shared,
    session: &Session,
    (toolkit, tool): (&str, &str),
    arguments: Value,
) -> Result<Value, crate::console::api::Refusal> {
    let path = format!("/api/v1/tools/{}/{}", segment(toolkit), segment(tool));
    console
        .api
        .post(&session.caller, &session.request_id, &path, arguments)
        .await
}

/// What a page shows besides the list: a notice, a test's outcome, a refused form.
#[derive(Default)]
struct Extra {
    done: Option<String>,
    error: Option<String>,
    tested: Option<Value>,
    /// Each entry's health, by key, after "Check all".
    health: Option<Map<String, Value>>,
    form: Vec<(String, String)>,
}

async fn render(
    console: &Shared,
    session: &Session,
    c: &Collection,
    status: StatusCode,
    extra: Extra,
) -> Response {
    let tools = callable(console, session, c.toolkit).await;
    if !tools.contains_key(c.list.0) {
        let mut response = console.views.page(
            "message.html",
            session,
            "connections",
            json!({"title": c.title, "text": format!("The {} toolkit is not enabled here, or your role may not list its {}.", c.toolkit, c.title.to_lowercase())}),
        );
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    let listed = match call(console, session, (c.toolkit, c.list.0), json!({})).await {
        Ok(listed) => listed,
        Err(refusal) => return refused(console, session, "connections", &refusal),
    };
    let rows: Vec<Value> = listed["structuredContent"][c.list.1]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            let key = cell(&item[c.key]);
            let health = extra
                .health
                .as_ref()
                .and_then(|health| health.get(&key))
                .cloned();
            json!({
                "key": key,
                "cells": c.columns.iter().map(|(_, field)| cell(&item[*field])).collect::<Vec<_>>(),
                "health": health,
            })
        })
        .collect();
    let mut fields = c
        .add
        .and_then(|tool| tools.get(tool))
        .map(schema_form::fields)
        .unwrap_or_default();
    schema_form::refill(&mut fields, &extra.form);
    let mut response = console.views.page(
        "collection.html",
        session,
        "connections",
        json!({
            "title": c.title,
            "about": c.about,
            "slug": c.slug,
            "headings": c.columns.iter().map(|(heading, _)| *heading).collect::<Vec<_>>(),
            "rows": rows,
            "can_add": c.add.is_some_and(|tool| tools.contains_key(tool)),
            "can_test": c.test.is_some_and(|(tool, _)| tools.contains_key(tool)),
            "can_remove": c.remove.is_some_and(|(tool, _)| tools.contains_key(tool)),
            "fields": fields,
            "done": extra.done,
            "error": extra.error,
            "tested": extra.tested,
            "checked": extra.health.is_some(),
        }),
    );
    *response.status_mut() = status;
    response
}

fn unknown(console: &Shared, session: &Session) -> Response {
    let mut response = console.views.page(
        "message.html",
        session,
        "connections",
        json!({"title": "Not found", "text": "There is no such page of connections."}),
    );
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// The index: each kind of connection whose toolkit this server runs.
pub async fn index(State(console): State<Shared>, session: Session) -> Response {
    let catalog = console
        .api
        .get(&session.caller, &session.request_id, "/api/v1/toolkits")
        .await
        .unwrap_or(Value::Null);
    let enabled: Vec<&str> = catalog
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let kinds: Vec<Value> = COLLECTIONS
        .iter()
        .map(|c| json!({"slug": c.slug, "title": c.title, "about": c.about, "enabled": enabled.contains(&c.toolkit)}))
        .collect();
    console.views.page(
        "connections.html",
        &session,
        "connections",
        json!({"title": "Connections", "kinds": kinds}),
    )
}

pub async fn list(
    State(console): State<Shared>,
    session: Session,
    Path(slug): Path<String>,
    Query(query): Query<Done>,
) -> Response {
    match collection(&slug) {
        Some(c) => {
            let extra = Extra {
                done: query.word().map(str::to_string),
                ..Extra::default()
            };
            render(&console, &session, c, StatusCode::OK, extra).await
        }
        None => unknown(&console, &session),
    }
}

pub async fn add(
    State(console): State<Shared>,
    Path(slug): Path<String>,
    Action { session, form }: Action,
) -> Response {
    let back = format!("/console/connections/{}", segment(&slug));
    let Some((c, tool)) = collection(&slug).and_then(|c| Some((c, c.add?))) else {
        return unknown(&console, &session);
    };
    let tools = callable(&console, &session, c.toolkit).await;
    let fields = tools.get(tool).map(schema_form::fields).unwrap_or_default();
    let outcome = match schema_form::arguments(&fields, &form) {
        Err(error) => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{}: {}", error.field, error.message),
        )),
        Ok(arguments) => call(
            &console,
            &session,
            (c.toolkit, tool),
            Value::Object(arguments),
        )
        .await
        .map_err(|refusal| (refusal.status, refusal.detail)),
    };
    match outcome {
        Ok(_) => done(&back, "saved"),
        Err((status, error)) => {
            let extra = Extra {
                error: Some(error),
                form,
                ..Extra::default()
            };
            render(&console, &session, c, status, extra).await
        }
    }
}

/// Tests or removes one.
pub async fn act(
    State(console): State<Shared>,
    Path((slug, key, action)): Path<(String, String, String)>,
    Action { session, .. }: Action,
) -> Response {
    let back = format!("/console/connections/{}", segment(&slug));
    let Some(c) = collection(&slug) else {
        return unknown(&console, &session);
    };
    let (tool, argument) = match (action.as_str(), c.test, c.remove) {
        ("test", Some(test), _) => test,
        ("remove", _, Some(remove)) => remove,
        _ => return unknown(&console, &session),
    };
    let outcome = call(
        &console,
        &session,
        (c.toolkit, tool),
        json!({ argument: key }),
    )
    .await;
    match (action.as_str(), outcome) {
        ("remove", Ok(_)) => done(&back, "removed"),
        ("test", Ok(result)) => {
            let extra = Extra {
                tested: Some(json!({"name": key, "result": result["structuredContent"]})),
                ..Extra::default()
            };
            render(&console, &session, c, StatusCode::OK, extra).await
        }
        (_, Err(refusal)) => {
            let extra = Extra {
                error: Some(refusal.detail),
                ..Extra::default()
            };
            render(&console, &session, c, refusal.status, extra).await
        }
        _ => unknown(&console, &session),
    }
}

/// How many entries "Check all" tests at once: enough that a page of slow sources
/// answers in the time of the slowest few, few enough to spare the remote ends.
const CHECKS_AT_ONCE: usize = 4;

/// Tests every entry and shows each one's health beside it.
pub async fn check(
    State(console): State<Shared>,
    Path(slug): Path<String>,
    Action { session, .. }: Action,
) -> Response {
    let Some((c, (tool, argument))) = collection(&slug).and_then(|c| Some((c, c.test?))) else {
        return unknown(&console, &session);
    };
    let listed = match call(&console, &session, (c.toolkit, c.list.0), json!({})).await {
        Ok(listed) => listed,
        Err(refusal) => return refused(&console, &session, "connections", &refusal),
    };
    let keys: Vec<String> = listed["structuredContent"][c.list.1]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| cell(&item[c.key]))
        .collect();
    let console_ref = &console;
    let session_ref = &session;
    let health: Map<String, Value> = futures::stream::iter(keys)
        .map(|key| async move {
            let outcome = call(
                console_ref,
                session_ref,
                (c.toolkit, tool),
                json!({ argument: key }),
            )
            .await;
            let health = health_of(outcome);
            (key, health)
        })
        .buffer_unordered(CHECKS_AT_ONCE)
        .collect()
        .await;
    let extra = Extra {
        health: Some(health),
        ..Extra::default()
    };
    render(&console, &session, c, StatusCode::OK, extra).await
}

/// A test tool's answer as a health cell: whether it worked, how long it took, and
/// what went wrong. The test tools answer `ok` (`reachable` for model providers) and
/// `latency_ms`, and say why in `detail`, `failure.message`, `failure` or `error`; a
/// refused call says why itself.
fn health_of(outcome: Result<Value, crate::console::api::Refusal>) -> Value {
    match outcome {
        Err(refusal) => json!({"ok": false, "problem": refusal.detail}),
        Ok(answer) => {
            let test = &answer["structuredContent"];
            let ok = test["ok"]
                .as_bool()
                .or_else(|| test["reachable"].as_bool())
                .unwrap_or(answer["isError"] != true);
            let problem = [
                &test["detail"],
                &test["failure"]["message"],
                &test["failure"],
                &test["error"],
            ]
            .into_iter()
            .find_map(|value| value.as_str())
            .map(str::to_string);
            json!({
                "ok": ok,
                "latency_ms": test["latency_ms"].as_f64().map(|ms| (ms * 10.0).round() / 10.0),
                "problem": if ok { None } else { problem },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_as_text() {
        assert_eq!(cell(&json!(null)), "—");
        assert_eq!(cell(&json!(["a", "b"])), "a, b");
        assert_eq!(cell(&json!([])), "—");
        assert_eq!(cell(&json!(true)), "yes");
        assert_eq!(cell(&json!(9092)), "9092");
        assert_eq!(cell(&json!({"k": 1})), "{\"k\":1}");
    }

    #[test]
    fn a_tests_answer_reads_as_health() {
        let database = json!({"structuredContent": {"ok": false, "latency_ms": 3.04159,
            "failure": {"kind": "refused", "message": "connection refused"}}});
        assert_eq!(
            health_of(Ok(database)),
            json!({"ok": false, "latency_ms": 3.0, "problem": "connection refused"})
        );
        let cluster =
            json!({"structuredContent": {"ok": true, "latency_ms": 12.0, "detail": null}});
        assert_eq!(
            health_of(Ok(cluster)),
            json!({"ok": true, "latency_ms": 12.0, "problem": null})
        );
        let account = json!({"structuredContent": {"ok": false, "latency_ms": 1.0,
            "failure": "auth", "detail": "the signature does not match"}});
        assert_eq!(
            health_of(Ok(account))["problem"],
            "the signature does not match"
        );
        let provider = json!({"structuredContent": {"provider": "p", "reachable": false,
            "latency_ms": 0.5, "error": "it cannot be reached"}});
        assert_eq!(
            health_of(Ok(provider)),
            json!({"ok": false, "latency_ms": 0.5, "problem": "it cannot be reached"})
        );
        let refused = crate::console::api::Refusal {
            status: StatusCode::FORBIDDEN,
            detail: "not allowed".into(),
        };
        assert_eq!(
            health_of(Err(refused)),
            json!({"ok": false, "problem": "not allowed"})
        );
    }

    #[test]
    fn every_collection_names_distinct_pages() {
        let mut slugs: Vec<&str> = COLLECTIONS.iter().map(|c| c.slug).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), COLLECTIONS.len());
        assert!(collection("sources").is_some() && collection("nope").is_none());
    }
}
