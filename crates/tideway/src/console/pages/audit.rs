//! The audit log (admins): newest first, filtered by principal, toolkit, tool and
//! outcome, a page at a time.

use axum::{
    extract::{Query, State, rejection::QueryRejection},
    response::Response,
};
use serde::Deserialize;
use serde_json::json;

use super::{Session, refused};
use crate::console::{Shared, api::segment};

#[derive(Deserialize, Default)]
pub struct Filters {
    principal: Option<String>,
    toolkit: Option<String>,
    tool: Option<String>,
    outcome: Option<String>,
    before: Option<i64>,
}

const PAGE: usize = 50;

/// The filters that are set, as a query string (without `before`).
fn query(filters: &Filters) -> String {
    [
        ("principal", &filters.principal),
        ("toolkit", &filters.toolkit),
        ("tool", &filters.tool),
        ("outcome", &filters.outcome),
    ]
    .iter()
    .filter_map(|(name, value)| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| format!("{name}={}", segment(v)))
    })
    .collect::<Vec<_>>()
    .join("&")
}

pub async fn page(
    State(console): State<Shared>,
    session: Session,
    filters: Result<Query<Filters>, QueryRejection>,
) -> Response {
    let Query(filters) = match filters {
        Ok(filters) => filters,
        Err(rejection) => {
            return console.views.page(
                "message.html",
                &session,
                "audit",
                json!({"title": "Filters not understood", "text": rejection.body_text()}),
            );
        }
    };
    let filter_query = query(&filters);
    let mut path = format!("/api/v1/audit?limit={PAGE}");
    if !filter_query.is_empty() {
        path.push('&');
        path.push_str(&filter_query);
    }
    if let Some(before) = filters.before {
        path.push_str(&format!("&before={before}"));
    }
    match console
        .api
        .get(&session.caller, &session.request_id, &path)
        .await
    {
        Ok(page) => console.views.page(
            "audit.html",
            &session,
            "audit",
            json!({
                "title": "Audit log",
                "entries": page["entries"],
                "next": page["next"],
                "filters": {
                    "principal": filters.principal, "toolkit": filters.toolkit,
                    "tool": filters.tool, "outcome": filters.outcome,
                },
                "filter_query": filter_query,
            }),
        ),
        Err(refusal) => refused(&console, &session, "audit", &refusal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_filters_become_an_escaped_query() {
        let filters = Filters {
            principal: Some("key:abc def".into()),
            tool: Some(" ".into()),
            outcome: Some("error".into()),
            ..Default::default()
        };
        assert_eq!(query(&filters), "principal=key%3Aabc%20def&outcome=error");
        assert_eq!(query(&Filters::default()), "");
    }
}
