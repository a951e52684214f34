//! Agents: the tenant's agent definitions, recent runs, and a run's transcript (each
//! model turn, tool call and result in order).

use axum::{
    extract::{Path, State},
    response::Response,
};
use serde_json::json;

use super::{Session, refused};
use crate::console::{Shared, api::segment};

pub async fn list(State(console): State<Shared>, session: Session) -> Response {
    let (caller, id) = (&session.caller, &session.request_id);
    let (agents, runs) = tokio::join!(
        console.api.get(caller, id, "/api/v1/agents"),
        console.api.get(caller, id, "/api/v1/agent-runs?limit=50"),
    );
    let (agents, runs) = match (agents, runs) {
        (Ok(agents), Ok(runs)) => (agents, runs),
        (Err(refusal), _) | (_, Err(refusal)) => {
            return refused(&console, &session, "agents", &refusal);
        }
    };
    console.views.page(
        "agents.html",
        &session,
        "agents",
        json!({"title": "Agents", "agents": agents["agents"], "runs": runs["runs"]}),
    )
}

pub async fn run(
    State(console): State<Shared>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/api/v1/agent-runs/{}", segment(&id));
    match console
        .api
        .get(&session.caller, &session.request_id, &path)
        .await
    {
        Ok(view) => console.views.page(
            "agent_run.html",
            &session,
            "agents",
            json!({"title": format!("Agent run {id}"), "run": view["run"], "events": view["events"]}),
        ),
        Err(refusal) => refused(&console, &session, "agents", &refusal),
    }
}
