//! The console's pages, one file per section. Each handler takes the signed-in
//! [`Session`] (or, for a form that acts, the [`Action`] that also proved its CSRF
//! token), reads or acts through the REST API, and renders a template.

pub mod agents;
pub mod audit;
pub mod collections;
pub mod keys;
pub mod lakehouse;
pub mod overview;
pub mod tools;
pub mod upstreams;
pub mod workflows;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

pub use super::session::{Action, Session};
use super::{
    Shared,
    api::{Refusal, segment},
};

/// A page that says the API refused, with the API's status and reason.
pub fn refused(console: &Shared, session: &Session, section: &str, refusal: &Refusal) -> Response {
    let status = if refusal.status.is_client_error() || refusal.status.is_server_error() {
        refusal.status
    } else {
        StatusCode::BAD_GATEWAY
    };
    let mut response = console.views.page(
        "message.html",
        session,
        section,
        json!({
            "title": if status == StatusCode::FORBIDDEN { "Not allowed" } else { "Refused" },
            "text": refusal.detail,
        }),
    );
    *response.status_mut() = status;
    response
}

/// The API's server-sent events at `path`, passed on to the page's script, which
/// reloads the page's live part when one arrives instead of asking every few seconds.
pub async fn pass_events(console: &Shared, session: &Session, path: &str) -> Response {
    match console
        .api
        .stream(&session.caller, &session.request_id, path)
        .await
    {
        Ok(events) => events.into_response(),
        Err(refusal) => (refusal.status, refusal.detail).into_response(),
    }
}

/// The tools of `toolkit` the caller may call, as `GET /api/v1/toolkits/{name}` lists
/// them: one toolkit's entry, not the whole catalog. None when the toolkit is not
/// enabled here or the caller may call none of its tools.
pub async fn toolkit_tools(console: &Shared, session: &Session, toolkit: &str) -> Vec<Value> {
    let path = format!("/api/v1/toolkits/{}", segment(toolkit));
    match console
        .api
        .get(&session.caller, &session.request_id, &path)
        .await
    {
        Ok(Value::Object(mut entry)) => match entry.remove("tools") {
            Some(Value::Array(tools)) => tools,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// A field of a submitted form.
pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The words a page may say were done, after an action led back to it.
const DONE_WORDS: &[&str] = &[
    "acknowledged",
    "resolved",
    "added",
    "removed",
    "saved",
    "revoked",
    "cancelled",
    "approved",
    "rejected",
];

/// `?done=` on a page an action led back to.
#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

impl Done {
    /// The word, if it is one an action writes: a link someone else made cannot put
    /// text of its own on the page.
    pub fn word(&self) -> Option<&'static str> {
        DONE_WORDS
            .iter()
            .copied()
            .find(|word| self.done.as_deref() == Some(*word))
    }
}

/// After an action, back to a page that says it was done.
pub fn done(path: &str, what: &'static str) -> Response {
    let join = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{join}done={what}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_says_only_the_words_actions_write() {
        let said = |text: &str| {
            Done {
                done: Some(text.to_string()),
            }
            .word()
        };
        assert_eq!(said("revoked"), Some("revoked"));
        assert_eq!(said("hacked; call 555-0100"), None);
        assert_eq!(Done { done: None }.word(), None);
    }
}
