//! Agents: the tenant's agent definitions, recent runs, a task delegated to an agent
//! (named, or chosen by the capabilities the task needs), and a run's transcript
//! (each model turn, tool call and result in order), live until the run ends.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde_json::{Value, json};

use super::{Action, Session, field, refused};
use crate::console::{Shared, api::segment};

/// A run in one of these states changes no more.
const FINAL: &[&str] = &["succeeded", "limited", "failed", "cancelled"];

async fn list_page(
    console: &Shared,
    session: &Session,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let (caller, id) = (&session.caller, &session.request_id);
    let (agents, runs) = tokio::join!(
        console.api.get(caller, id, "/api/v1/agents"),
        console.api.get(caller, id, "/api/v1/agent-runs?limit=50"),
    );
    let (agents, runs) = match (agents, runs) {
        (Ok(agents), Ok(runs)) => (agents, runs),
        (Err(refusal), _) | (_, Err(refusal)) => {
            return refused(console, session, "agents", &refusal);
        }
    };
    let mut response = console.views.page(
        "agents.html",
        session,
        "agents",
        json!({"title": "Agents", "agents": agents["agents"], "runs": runs["runs"], "error": error}),
    );
    *response.status_mut() = status;
    response
}

pub async fn list(State(console): State<Shared>, session: Session) -> Response {
    list_page(&console, &session, StatusCode::OK, None).await
}

/// Delegates a task and goes to its run, which works in the background.
pub async fn delegate(State(console): State<Shared>, Action { session, form }: Action) -> Response {
    let mut body = json!({"task": field(&form, "task").unwrap_or_default(), "wait_secs": 0});
    if let Some(agent) = field(&form, "agent") {
        body["agent"] = agent.into();
    }
    let capabilities: Vec<&str> = field(&form, "capabilities")
        .map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if !capabilities.is_empty() {
        body["capabilities"] = json!(capabilities);
    }
    match console
        .api
        .post(
            &session.caller,
            &session.request_id,
            "/api/v1/integration/agents/delegate",
            body,
        )
        .await
    {
        Ok(delegated) => {
            let run = delegated["run"]["id"].as_str().unwrap_or_default();
            Redirect::to(&format!("/console/agents/runs/{}", segment(run))).into_response()
        }
        Err(refusal) => list_page(&console, &session, refusal.status, Some(refusal.detail)).await,
    }
}

/// The kinds of event an agent run's stream sends (what the runners record, and the
/// status): the script reloads the transcript on any of them.
const FOLLOWED_EVENTS: &str = "model call result text send remote_status remote_artifact status";

async fn run_context(console: &Shared, session: &Session, id: &str) -> Result<Value, Response> {
    let path = format!("/api/v1/agent-runs/{}", segment(id));
    let view = console
        .api
        .get(&session.caller, &session.request_id, &path)
        .await
        .map_err(|refusal| refused(console, session, "agents", &refusal))?;
    let finished = FINAL.contains(&view["run"]["status"].as_str().unwrap_or_default());
    Ok(json!({
        "title": format!("Agent run {id}"),
        "run": view["run"],
        "events": view["events"],
        "finished": finished,
        "live": format!("/console/agents/runs/{}/live", segment(id)),
        "follow": format!("/console/agents/runs/{}/events", segment(id)),
        "follow_events": FOLLOWED_EVENTS,
    }))
}

pub async fn run(
    State(console): State<Shared>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    match run_context(&console, &session, &id).await {
        Ok(context) => console
            .views
            .page("agent_run.html", &session, "agents", context),
        Err(response) => response,
    }
}

/// The run's status and transcript alone, which the page's script fetches until the
/// run ends.
pub async fn run_live(
    State(console): State<Shared>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    match run_context(&console, &session, &id).await {
        Ok(context) => console.views.fragment("agent_run_live.html", context),
        Err(response) => response,
    }
}

/// The run's events as they happen, from the API's event stream.
pub async fn run_events(
    State(console): State<Shared>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/api/v1/agent-runs/{}/events", segment(&id));
    super::pass_events(&console, &session, &path).await
}
