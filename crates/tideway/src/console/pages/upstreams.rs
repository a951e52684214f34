//! Upstreams: the federated MCP servers with their health, and (for admins) adding
//! one and removing one, through `/api/v1/upstreams`.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use serde_json::{Map, Value, json};

use super::{Action, Done, Session, done, field, refused};
use crate::console::{Shared, api::segment};

async fn render(
    console: &Shared,
    session: &Session,
    status: StatusCode,
    done: Option<String>,
    error: Option<String>,
    form: &[(String, String)],
) -> Response {
    let upstreams = match console
        .api
        .get(&session.caller, &session.request_id, "/api/v1/upstreams")
        .await
    {
        Ok(list) => list,
        Err(refusal) => return refused(console, session, "upstreams", &refusal),
    };
    let sent: Map<String, Value> = form
        .iter()
        .filter(|(name, _)| name != "csrf")
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    let mut response = console.views.page(
        "upstreams.html",
        session,
        "upstreams",
        json!({
            "title": "Upstreams",
            "upstreams": upstreams,
            "done": done,
            "error": error,
            "sent": sent,
        }),
    );
    *response.status_mut() = status;
    response
}

pub async fn list(
    State(console): State<Shared>,
    session: Session,
    Query(query): Query<Done>,
) -> Response {
    render(
        &console,
        &session,
        StatusCode::OK,
        query.word().map(str::to_string),
        None,
        &[],
    )
    .await
}

/// The definition a form describes, as `POST /api/v1/upstreams` takes it.
fn spec(form: &[(String, String)]) -> Value {
    let mut spec = Map::new();
    for name in ["name", "transport", "description", "command", "url"] {
        if let Some(value) = field(form, name) {
            spec.insert(name.into(), Value::String(value.to_string()));
        }
    }
    // One argument per line, so an argument may hold spaces.
    let args: Vec<Value> = field(form, "args")
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(|line| Value::String(line.to_string()))
                .collect()
        })
        .unwrap_or_default();
    if !args.is_empty() {
        spec.insert("args".into(), Value::Array(args));
    }
    Value::Object(spec)
}

pub async fn add(State(console): State<Shared>, Action { session, form }: Action) -> Response {
    match console
        .api
        .post(
            &session.caller,
            &session.request_id,
            "/api/v1/upstreams",
            spec(&form),
        )
        .await
    {
        Ok(_) => done("/console/upstreams", "added"),
        Err(refusal) => {
            render(
                &console,
                &session,
                refusal.status,
                None,
                Some(refusal.detail),
                &form,
            )
            .await
        }
    }
}

pub async fn remove(
    State(console): State<Shared>,
    Path(name): Path<String>,
    Action { session, .. }: Action,
) -> Response {
    let path = format!("/api/v1/upstreams/{}", segment(&name));
    match console
        .api
        .delete(&session.caller, &session.request_id, &path)
        .await
    {
        Ok(_) => done("/console/upstreams", "removed"),
        Err(refusal) => {
            render(
                &console,
                &session,
                refusal.status,
                None,
                Some(refusal.detail),
                &[],
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_becomes_an_upstream_definition() {
        let form: Vec<(String, String)> = [
            ("csrf", "t"),
            ("name", "files"),
            ("transport", "stdio"),
            ("command", "node"),
            ("args", "server.js\n\n  /tmp/my dir  \n"),
            ("url", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            spec(&form),
            json!({"name": "files", "transport": "stdio", "command": "node",
                   "args": ["server.js", "/tmp/my dir"]})
        );
    }
}
