//! Tool calls that outlive their request. A call over REST (`POST /api/v1/tools/…`, a
//! lakehouse sync) starts a job when the request says `Prefer: respond-async`: it
//! answers 202 with the job's URL at once, the call runs through the Hub as any other
//! (tenant, roles, audit), under `limits.job_timeout_secs` rather than the request's
//! deadline, and its progress lands on the job. `GET /api/v1/jobs/{id}` shows status,
//! progress and, when done, the result or the problem; `DELETE` cancels.
//!
//! With the workflows toolkit on (the default), jobs are runs of its durable engine
//! (the Hub's background runner): they survive a restart, and a job cut off mid-call
//! runs again only if its tool only reads or is idempotent, otherwise it is `unknown`.
//! Without it, jobs live in memory and a restart forgets them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use axum::{
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tideway_core::{
    CallContext, ClientChannel, HubError, TenantId,
    background::{BackgroundCall, BackgroundStatus},
    context::{Face, LogLevel},
    mcp::JsonObject,
};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::{
        problem::{ApiJson, Problem},
        tool_routes::Calls,
        toolkits::{call_context, request_id},
    },
    app::App,
    auth::Caller,
};

/// Finished jobs kept per tenant for polling; older ones are forgotten first.
const KEPT_PER_TENANT: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// The server running it stopped mid-call and the tool changes data, so it was
    /// not run again: cancel it, or retry its run knowingly.
    Unknown,
}

impl From<BackgroundStatus> for JobStatus {
    fn from(status: BackgroundStatus) -> Self {
        match status {
            BackgroundStatus::Running => JobStatus::Running,
            BackgroundStatus::Succeeded => JobStatus::Succeeded,
            BackgroundStatus::Failed => JobStatus::Failed,
            BackgroundStatus::Cancelled => JobStatus::Cancelled,
            BackgroundStatus::Unknown => JobStatus::Unknown,
            // Only an MCP task's client can answer; over REST the call is still going.
            BackgroundStatus::InputRequired => JobStatus::Running,
        }
    }
}

/// A job as polled.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub toolkit: String,
    pub tool: String,
    pub status: JobStatus,
    /// The last progress the call reported (rows so far, for a sync).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The tool's structured result, once it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// What went wrong, as a problem (RFC 9457), once it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<BackgroundCall> for JobView {
    fn from(call: BackgroundCall) -> Self {
        let (progress, total, message) = match call.progress {
            Some((progress, total, message)) => (Some(progress), total, message),
            None => (None, None, None),
        };
        JobView {
            id: call.id,
            toolkit: call.toolkit,
            tool: call.tool,
            status: call.status.into(),
            progress,
            total,
            message,
            result: call.result,
            error: call.error,
            created_at: call.created_at,
            finished_at: call.finished_at,
        }
    }
}

struct Job {
    tenant: TenantId,
    cancel: CancellationToken,
    view: Mutex<JobView>,
}

impl Job {
    fn update(&self, change: impl FnOnce(&mut JobView)) {
        if let Ok(mut view) = self.view.lock() {
            change(&mut view);
        }
    }

    fn view(&self) -> Option<JobView> {
        self.view.lock().ok().map(|view| view.clone())
    }
}

/// The jobs of every tenant.
#[derive(Default)]
pub struct Jobs {
    entries: Mutex<HashMap<String, Arc<Job>>>,
}

/// Progress from the call, kept on the job; a job has no client to ask anything.
struct JobChannel(Arc<Job>);

#[async_trait]
impl ClientChannel for JobChannel {
    async fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        self.0.update(|view| {
            view.progress = Some(progress);
            view.total = total;
            view.message = message;
        });
    }

    async fn log(&self, _level: LogLevel, _logger: &str, _data: Value) {}

    async fn request(&self, method: &str, _params: JsonObject) -> Result<Value, HubError> {
        Err(HubError::Unsupported(format!(
            "a background job cannot answer '{method}'; call the tool over MCP for that"
        )))
    }
}

impl Jobs {
    fn get(&self, tenant: &TenantId, id: &str) -> Option<Arc<Job>> {
        let entries = self.entries.lock().ok()?;
        entries.get(id).filter(|job| &job.tenant == tenant).cloned()
    }

    /// Forgets the oldest finished jobs of `tenant` beyond the number kept.
    fn prune(&self, tenant: &TenantId) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let mut finished: Vec<(DateTime<Utc>, String)> = entries
            .iter()
            .filter(|(_, job)| &job.tenant == tenant)
            .filter_map(|(id, job)| {
                let view = job.view()?;
                (view.status != JobStatus::Running).then(|| (view.created_at, id.clone()))
            })
            .collect();
        if finished.len() > KEPT_PER_TENANT {
            finished.sort();
            for (_, id) in finished.iter().take(finished.len() - KEPT_PER_TENANT) {
                entries.remove(id);
            }
        }
    }

    /// Starts `toolkit.tool` for `caller` in the background: on the Hub's durable
    /// runner when there is one, otherwise in memory.
    pub async fn start(
        calls: &Calls,
        caller: Caller,
        request_id: &str,
        (toolkit, tool): (&str, &str),
        arguments: JsonObject,
    ) -> Result<JobView, HubError> {
        let Some(runner) = calls.hub.background_calls() else {
            return Ok(Self::start_in_memory(
                calls,
                caller,
                request_id,
                (toolkit, tool),
                arguments,
            ));
        };
        let ctx = call_context(calls, caller, request_id);
        let call = runner
            .start(&ctx, (toolkit, tool), arguments, calls.job_timeout)
            .await?;
        Ok(call.into())
    }

    fn start_in_memory(
        calls: &Calls,
        caller: Caller,
        request_id: &str,
        (toolkit, tool): (&str, &str),
        arguments: JsonObject,
    ) -> JobView {
        let id = uuid::Uuid::now_v7().to_string();
        let cancel = CancellationToken::new();
        let view = JobView {
            id: id.clone(),
            toolkit: toolkit.to_string(),
            tool: tool.to_string(),
            status: JobStatus::Running,
            progress: None,
            total: None,
            message: None,
            result: None,
            error: None,
            created_at: Utc::now(),
            finished_at: None,
        };
        let job = Arc::new(Job {
            tenant: caller.tenant.clone(),
            cancel: cancel.clone(),
            view: Mutex::new(view.clone()),
        });
        if let Ok(mut entries) = calls.jobs.entries.lock() {
            entries.insert(id.clone(), job.clone());
        }
        let ctx = CallContext::new(caller.tenant, caller.principal, request_id)
            .with_face(Face::Rest)
            .with_timeout(calls.job_timeout)
            .with_cancellation(cancel)
            .with_client(Arc::new(JobChannel(job.clone())));
        let calls = calls.clone();
        let (toolkit, tool) = (toolkit.to_string(), tool.to_string());
        let request_id = request_id.to_string();
        tokio::spawn(async move {
            let outcome = calls.hub.call(&ctx, &toolkit, &tool, Some(arguments)).await;
            job.update(|view| {
                view.finished_at = Some(Utc::now());
                match outcome {
                    Ok(result) if result.is_error != Some(true) => {
                        view.status = JobStatus::Succeeded;
                        view.result = result.structured_content;
                    }
                    Ok(result) => {
                        view.status = JobStatus::Failed;
                        view.error = serde_json::to_value(&result.content).ok();
                    }
                    Err(HubError::Cancelled) => view.status = JobStatus::Cancelled,
                    Err(error) => {
                        view.status = JobStatus::Failed;
                        view.error =
                            serde_json::to_value(Problem::from_hub(error, &request_id)).ok();
                    }
                }
            });
            calls.jobs.prune(&job.tenant);
        });
        view
    }
}

/// Whether the request asked to be answered before the work is done.
pub fn wants_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|preference| preference.trim().eq_ignore_ascii_case("respond-async"))
}

/// 202 with the job and where to poll it, or the problem that kept it from starting.
pub fn accepted(started: Result<JobView, HubError>, request_id: &str) -> Response {
    let view = match started {
        Ok(view) => view,
        Err(error) => return Problem::from_hub(error, request_id).into_response(),
    };
    let mut response = (StatusCode::ACCEPTED, ApiJson(&view)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/jobs/{}", view.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn not_found(id: &str, headers: &HeaderMap) -> Response {
    Problem::from_hub(
        HubError::NotFound(format!("no job {id}")),
        &request_id(headers),
    )
    .into_response()
}

/// A job's status, progress and outcome (only the caller's tenant's jobs).
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 404, body = Problem)))]
async fn get_job(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(runner) = calls.hub.background_calls() {
        let request_id = request_id(&headers);
        let ctx = call_context(&calls, caller, &request_id);
        return answer(runner.get(&ctx, &id).await, StatusCode::OK, &request_id);
    }
    match calls
        .jobs
        .get(&caller.tenant, &id)
        .and_then(|job| job.view())
    {
        Some(view) => (StatusCode::OK, ApiJson(&view)).into_response(),
        None => not_found(&id, &headers),
    }
}

/// A durable job as `status`, or its problem.
fn answer(
    call: Result<BackgroundCall, HubError>,
    status: StatusCode,
    request_id: &str,
) -> Response {
    match call {
        Ok(call) => (status, ApiJson(&JobView::from(call))).into_response(),
        Err(error) => Problem::from_hub(error, request_id).into_response(),
    }
}

/// Cancels a running job; its write, if any, is not committed.
#[utoipa::path(delete, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path)),
    responses((status = 202, body = JobView), (status = 404, body = Problem)))]
async fn cancel_job(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(runner) = calls.hub.background_calls() {
        let request_id = request_id(&headers);
        let ctx = call_context(&calls, caller, &request_id);
        return answer(
            runner.cancel(&ctx, &id).await,
            StatusCode::ACCEPTED,
            &request_id,
        );
    }
    match calls.jobs.get(&caller.tenant, &id) {
        Some(job) => {
            job.cancel.cancel();
            match job.view() {
                Some(view) => (StatusCode::ACCEPTED, ApiJson(&view)).into_response(),
                None => not_found(&id, &headers),
            }
        }
        None => not_found(&id, &headers),
    }
}

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(get_job, cancel_job))
}
