//! Workflows: templates with a start form made from each one's input schema, recent
//! executions, and an execution's steps drawn as its graph (each step in the column
//! after the last step it needs) with live status, cancel, and approve or reject for
//! a step that waits for a person.

use std::collections::BTreeMap;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde_json::{Value, json};

use super::{Action, Done, Session, done, field, refused};
use crate::console::{Shared, api::segment, schema_form};

/// A run in one of these states changes no more.
const FINAL: &[&str] = &["succeeded", "failed", "cancelled"];

pub async fn list(State(console): State<Shared>, session: Session) -> Response {
    let (caller, id) = (&session.caller, &session.request_id);
    let (templates, executions) = tokio::join!(
        console.api.get(caller, id, "/api/v1/workflows/templates"),
        console
            .api
            .get(caller, id, "/api/v1/workflows/executions?limit=50"),
    );
    let (templates, executions) = match (templates, executions) {
        (Ok(templates), Ok(executions)) => (templates, executions),
        (Err(refusal), _) | (_, Err(refusal)) => {
            return refused(&console, &session, "workflows", &refusal);
        }
    };
    console.views.page(
        "workflows.html",
        &session,
        "workflows",
        json!({
            "title": "Workflows",
            "templates": templates["templates"],
            "executions": executions["executions"],
        }),
    )
}

/// A template as the list gives it (with its input schema).
async fn summary(console: &Shared, session: &Session, id: &str) -> Result<Value, Response> {
    let list = console
        .api
        .get(
            &session.caller,
            &session.request_id,
            "/api/v1/workflows/templates",
        )
        .await
        .map_err(|refusal| refused(console, session, "workflows", &refusal))?;
    list["templates"]
        .as_array()
        .and_then(|templates| templates.iter().find(|t| t["id"] == id))
        .cloned()
        .ok_or_else(|| {
            let mut response = console.views.page(
                "message.html",
                session,
                "workflows",
                json!({"title": "No such template", "text": format!("There is no workflow template '{}'.", tideway_core::error::excerpt(id))}),
            );
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        })
}

fn template_page(
    console: &Shared,
    session: &Session,
    template: &Value,
    fields: &[schema_form::Field],
    error: Option<String>,
) -> Response {
    console.views.page(
        "template.html",
        session,
        "workflows",
        json!({
            "title": template["name"],
            "template": template,
            "fields": fields,
            "action": format!("/console/workflows/templates/{}", segment(template["id"].as_str().unwrap_or_default())),
            "outcome": error.map(|error| json!({"error": error})),
        }),
    )
}

pub async fn template(
    State(console): State<Shared>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    match summary(&console, &session, &id).await {
        Ok(template) => {
            let fields = schema_form::fields(&template["input_schema"]);
            template_page(&console, &session, &template, &fields, None)
        }
        Err(response) => response,
    }
}

/// Starts a run with the form as its input and goes to its page.
pub async fn start(
    State(console): State<Shared>,
    Path(id): Path<String>,
    Action { session, form }: Action,
) -> Response {
    let template = match summary(&console, &session, &id).await {
        Ok(template) => template,
        Err(response) => return response,
    };
    let mut fields = schema_form::fields(&template["input_schema"]);
    let input = schema_form::arguments(&fields, &form);
    schema_form::refill(&mut fields, &form);
    let refusal = match input {
        Err(error) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{}: {}", error.field, error.message),
        ),
        Ok(input) => {
            let path = format!("/api/v1/workflows/start/{}", segment(&id));
            match console
                .api
                .post(
                    &session.caller,
                    &session.request_id,
                    &path,
                    Value::Object(input),
                )
                .await
            {
                Ok(run) => {
                    let run_id = run["execution_id"].as_str().unwrap_or_default();
                    return Redirect::to(&format!(
                        "/console/workflows/executions/{}",
                        segment(run_id)
                    ))
                    .into_response();
                }
                Err(refusal) => (refusal.status, refusal.detail),
            }
        }
    };
    let mut response = template_page(&console, &session, &template, &fields, Some(refusal.1));
    *response.status_mut() = refusal.0;
    response
}

/// The steps of a run in columns: a step sits one column after the last of the
/// steps it needs, so the columns read left to right as the run proceeds.
fn layers(run: &Value, template: &Value) -> Vec<Vec<Value>> {
    let needs: BTreeMap<&str, Vec<&str>> = template["template"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|step| {
            let needs = step["needs"]
                .as_array()
                .map(|needs| needs.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            Some((step["id"].as_str()?, needs))
        })
        .collect();
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    // A template is a DAG (checked when saved); the bound keeps a bad one finite.
    for _ in 0..=needs.len() {
        let mut changed = false;
        for (step, before) in &needs {
            let at = before
                .iter()
                .map(|b| depth.get(b).map_or(1, |d| d + 1))
                .max()
                .unwrap_or(0);
            if depth.get(step) != Some(&at) {
                depth.insert(*step, at);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut columns: Vec<Vec<Value>> = Vec::new();
    for step in run["steps"].as_array().into_iter().flatten() {
        let id = step["id"].as_str().unwrap_or_default();
        let at = depth.get(id).copied().unwrap_or(0);
        if columns.len() <= at {
            columns.resize(at + 1, Vec::new());
        }
        let mut step = step.clone();
        step["needs"] = json!(needs.get(id).cloned().unwrap_or_default());
        columns[at].push(step);
    }
    columns.retain(|column| !column.is_empty());
    columns
}

async fn run_context(console: &Shared, session: &Session, id: &str) -> Result<Value, Response> {
    let path = format!("/api/v1/workflows/executions/{}", segment(id));
    let run = console
        .api
        .get(&session.caller, &session.request_id, &path)
        .await
        .map_err(|refusal| refused(console, session, "workflows", &refusal))?;
    let template_path = format!(
        "/api/v1/workflows/templates/{}?version={}",
        segment(run["template_id"].as_str().unwrap_or_default()),
        run["template_version"].as_i64().unwrap_or_default()
    );
    let template = console
        .api
        .get(&session.caller, &session.request_id, &template_path)
        .await
        .unwrap_or(Value::Null);
    let finished = FINAL.contains(&run["status"].as_str().unwrap_or_default());
    Ok(json!({
        "title": format!("Run {}", id),
        "run": run,
        "layers": layers(&run, &template),
        "finished": finished,
        "live": format!("/console/workflows/executions/{}/live", segment(id)),
        "follow": format!("/console/workflows/executions/{}/events", segment(id)),
        "base": format!("/console/workflows/executions/{}", segment(id)),
    }))
}

pub async fn execution(
    State(console): State<Shared>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<Done>,
) -> Response {
    match run_context(&console, &session, &id).await {
        Ok(mut context) => {
            context["done"] = query.word().into();
            console
                .views
                .page("execution.html", &session, "workflows", context)
        }
        Err(response) => response,
    }
}

/// The run's steps alone, which the page's script fetches until the run ends.
pub async fn execution_live(
    State(console): State<Shared>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    match run_context(&console, &session, &id).await {
        Ok(mut context) => {
            context["me"] = json!({"operator": session.role() >= tideway_core::Role::Operator});
            context["csrf"] = session.csrf.clone().into();
            console.views.fragment("execution_live.html", context)
        }
        Err(response) => response,
    }
}

/// The run's changes as they happen, from the API's event stream.
pub async fn execution_events(
    State(console): State<Shared>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/api/v1/workflows/executions/{}/events", segment(&id));
    super::pass_events(&console, &session, &path).await
}

pub async fn cancel(
    State(console): State<Shared>,
    Path(id): Path<String>,
    Action { session, .. }: Action,
) -> Response {
    let back = format!("/console/workflows/executions/{}", segment(&id));
    let path = format!("/api/v1/workflows/executions/{}/cancel", segment(&id));
    match console
        .api
        .post(&session.caller, &session.request_id, &path, json!({}))
        .await
    {
        Ok(_) => done(&back, "cancelled"),
        Err(refusal) => refused(&console, &session, "workflows", &refusal),
    }
}

/// Approves (or, with `approve=false`, rejects) a step waiting for a person.
pub async fn approve(
    State(console): State<Shared>,
    Path((id, step)): Path<(String, String)>,
    Action { session, form }: Action,
) -> Response {
    let back = format!("/console/workflows/executions/{}", segment(&id));
    let approve = field(&form, "approve") != Some("false");
    let mut body = json!({"approve": approve});
    if let Some(comment) = field(&form, "comment") {
        body["comment"] = comment.into();
    }
    let path = format!(
        "/api/v1/workflows/executions/{}/steps/{}/approve",
        segment(&id),
        segment(&step)
    );
    match console
        .api
        .post(&session.caller, &session.request_id, &path, body)
        .await
    {
        Ok(_) => done(&back, if approve { "approved" } else { "rejected" }),
        Err(refusal) => refused(&console, &session, "workflows", &refusal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_sit_one_column_after_what_they_need() {
        let template = json!({"template": {"steps": [
            {"id": "fetch", "needs": []},
            {"id": "left", "needs": ["fetch"]},
            {"id": "right", "needs": ["fetch"]},
            {"id": "join", "needs": ["left", "right"]},
            {"id": "late", "needs": ["fetch", "join"]},
        ]}});
        let run = json!({"steps": [
            {"id": "fetch", "status": "succeeded"}, {"id": "left", "status": "running"},
            {"id": "right", "status": "pending"}, {"id": "join", "status": "pending"},
            {"id": "late", "status": "pending"},
        ]});
        let columns = layers(&run, &template);
        let ids: Vec<Vec<&str>> = columns
            .iter()
            .map(|column| {
                column
                    .iter()
                    .map(|s| s["id"].as_str().unwrap_or("?"))
                    .collect()
            })
            .collect();
        assert_eq!(
            ids,
            vec![
                vec!["fetch"],
                vec!["left", "right"],
                vec!["join"],
                vec!["late"]
            ]
        );
        assert_eq!(columns[2][0]["needs"], json!(["left", "right"]));
        // Without its template (not readable), every step is in one column.
        assert_eq!(layers(&run, &Value::Null).len(), 1);
    }
}
