//! API keys (admins): the tenant's keys with their role, rules and last use; making
//! one (shown once, on the answer to the form, never again); revoking one.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use serde_json::{Value, json};

use super::{Action, Done, Session, done, field, refused};
use crate::console::{Shared, api::segment};

async fn render(
    console: &Shared,
    session: &Session,
    status: StatusCode,
    done: Option<String>,
    created: Option<Value>,
    error: Option<String>,
) -> Response {
    let keys = match console
        .api
        .get(&session.caller, &session.request_id, "/api/v1/keys")
        .await
    {
        Ok(keys) => keys,
        Err(refusal) => return refused(console, session, "keys", &refusal),
    };
    let mut response = console.views.page(
        "keys.html",
        session,
        "keys",
        json!({"title": "API keys", "keys": keys, "done": done, "created": created, "error": error}),
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
        None,
    )
    .await
}

/// Tool names, one per line or separated by commas.
fn names(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .split([',', '\n'])
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

pub async fn create(State(console): State<Shared>, Action { session, form }: Action) -> Response {
    let body = json!({
        "name": field(&form, "name").unwrap_or_default(),
        "role": field(&form, "role").unwrap_or("viewer"),
        "allow": names(field(&form, "allow")),
        "deny": names(field(&form, "deny")),
    });
    match console
        .api
        .post(&session.caller, &session.request_id, "/api/v1/keys", body)
        .await
    {
        // The key is in this answer only: the page is not a redirect, so it is not
        // kept in a URL or the history.
        Ok(created) => {
            render(
                &console,
                &session,
                StatusCode::CREATED,
                None,
                Some(created),
                None,
            )
            .await
        }
        Err(refusal) => {
            render(
                &console,
                &session,
                refusal.status,
                None,
                None,
                Some(refusal.detail),
            )
            .await
        }
    }
}

pub async fn revoke(
    State(console): State<Shared>,
    Path(key): Path<String>,
    Action { session, .. }: Action,
) -> Response {
    let path = format!("/api/v1/keys/{}", segment(&key));
    match console
        .api
        .delete(&session.caller, &session.request_id, &path)
        .await
    {
        Ok(_) => done("/console/keys", "revoked"),
        Err(refusal) => {
            render(
                &console,
                &session,
                refusal.status,
                None,
                None,
                Some(refusal.detail),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_are_read_from_lines_or_commas() {
        assert_eq!(
            names(Some("support.*, system.echo\n\n db.query ")),
            vec!["support.*", "system.echo", "db.query"]
        );
        assert!(names(None).is_empty());
    }
}
