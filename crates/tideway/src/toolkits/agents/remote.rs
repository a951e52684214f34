//! Remote A2A agents: a tenant's admin registers one by its card's URL; the card is
//! fetched once and kept, its JSON-RPC endpoint read from it, and the credential
//! Tideway presents sealed under the master key. A remote agent then stands among
//! the tenant's agents (for `run_agent` and delegation), and its runs are carried
//! out by it over A2A (`Remotes::call`, `Remotes::stream`). Every connection is held
//! to the egress policy (`[agents] allow`): nothing internal is reached unless the
//! operator opened it.

use std::{sync::Arc, time::Duration};

use futures::{Stream, StreamExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tideway_core::{
    CallContext, HubError, Store, TenantId, error::excerpt, on_store, secrets::MasterKey,
    store::SealedColumn,
};
use url::Url;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::{
    definition::{AgentDefinition, Limits, default_concurrency},
    settings::AgentsConfig,
    store::{AgentVersion, now_ms},
};
use crate::egress::{CheckedResolver, Lookup, Policy, refusal_in};

/// Where remote agents' credentials are kept sealed.
pub static SEALED: SealedColumn = SealedColumn {
    what: "remote agent",
    table: "remote_agents",
    keys: &["tenant_id", "name"],
    column: "secret",
    context: "a2a",
};

const OPENED_BY: &str = "[agents] allow";
const WELL_KNOWN_CARD: &str = ".well-known/agent-card.json";

/// How Tideway proves itself to a remote agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    None,
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// The secret in a header of the remote's choosing (`X-API-Key` unless named).
    ApiKey,
}

impl CredentialKind {
    fn as_str(self) -> &'static str {
        match self {
            CredentialKind::None => "none",
            CredentialKind::Bearer => "bearer",
            CredentialKind::ApiKey => "api_key",
        }
    }

    fn parse(text: &str) -> CredentialKind {
        match text {
            "bearer" => CredentialKind::Bearer,
            "api_key" => CredentialKind::ApiKey,
            _ => CredentialKind::None,
        }
    }
}

/// A credential as an admin gives it (the secret is never shown again).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialInput {
    pub kind: CredentialKind,
    #[schemars(length(min = 1, max = 4096))]
    pub secret: String,
    /// For `api_key`: the header to send it in (default `X-API-Key`).
    pub header: Option<String>,
}

/// A registered remote agent, as its tenant sees it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct RemoteAgent {
    /// Its name among the tenant's agents.
    pub name: String,
    pub card_url: String,
    /// The JSON-RPC endpoint its card names.
    pub endpoint: String,
    /// The name its card gives itself.
    pub card_name: String,
    pub description: String,
    /// Its skills' names and tags, which delegation matches tasks against.
    pub capabilities: Vec<String>,
    pub streaming: bool,
    pub credential: CredentialKind,
    pub registered_by: String,
    pub registered_at_ms: i64,
}

impl RemoteAgent {
    /// The remote agent as one of the tenant's agents.
    pub fn as_agent(&self) -> AgentVersion {
        AgentVersion {
            version: 0,
            created_by: self.registered_by.clone(),
            agent: AgentDefinition {
                name: self.name.clone(),
                description: self.description.clone(),
                instructions: format!("Carried out by the remote A2A agent at {}", self.endpoint),
                capabilities: self.capabilities.clone(),
                tools: Vec::new(),
                exclude: Vec::new(),
                provider: None,
                model: None,
                // The time limit bounds how long Tideway follows the remote task.
                limits: Limits {
                    max_seconds: 3600,
                    ..Limits::default()
                },
                max_concurrent_runs: default_concurrency(),
                output_schema: None,
                remote: Some(self.name.clone()),
            },
        }
    }
}

/// What a call to a remote agent needs: where, and with what credential.
pub struct Connection {
    pub endpoint: Url,
    pub streaming: bool,
    credential: Option<(String, Zeroizing<String>)>,
}

/// The card's parts Tideway keeps to itself.
struct Card {
    name: String,
    description: String,
    endpoint: Url,
    capabilities: Vec<String>,
    streaming: bool,
}

const REMOTE_COLUMNS: &str = "name, card_url, endpoint, card, credential_kind, credential_header, \
     secret, created_by, created_at";

#[derive(sqlx::FromRow)]
struct RemoteRow {
    name: String,
    card_url: String,
    endpoint: String,
    card: String,
    credential_kind: String,
    credential_header: Option<String>,
    secret: Option<String>,
    created_by: String,
    created_at: i64,
}

impl RemoteRow {
    fn agent(&self) -> RemoteAgent {
        let card: Value = serde_json::from_str(&self.card).unwrap_or_default();
        let parsed = read_card(&card).ok();
        RemoteAgent {
            name: self.name.clone(),
            card_url: self.card_url.clone(),
            endpoint: self.endpoint.clone(),
            card_name: parsed.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
            description: parsed
                .as_ref()
                .map(|c| c.description.clone())
                .unwrap_or_default(),
            capabilities: parsed
                .as_ref()
                .map(|c| c.capabilities.clone())
                .unwrap_or_default(),
            streaming: parsed.as_ref().is_some_and(|c| c.streaming),
            credential: CredentialKind::parse(&self.credential_kind),
            registered_by: self.created_by.clone(),
            registered_at_ms: self.created_at,
        }
    }
}

/// Reads what Tideway needs from an A2A 1.x card: the JSON-RPC interface, what it
/// says of itself and its skills.
fn read_card(card: &Value) -> Result<Card, String> {
    let interfaces = card["supportedInterfaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let interface = interfaces
        .iter()
        .find(|interface| {
            interface["protocolBinding"] == "JSONRPC"
                && interface["protocolVersion"]
                    .as_str()
                    .is_none_or(|version| version.split('.').next() == Some("1"))
        })
        .ok_or_else(|| {
            if card.get("url").is_some() && interfaces.is_empty() {
                "the card is an A2A 0.x card; Tideway speaks A2A 1.0".to_string()
            } else {
                "the card offers no JSON-RPC interface of A2A 1.x".to_string()
            }
        })?;
    let endpoint = interface["url"]
        .as_str()
        .and_then(|url| Url::parse(url).ok())
        .ok_or("the card's JSON-RPC interface has no URL")?;
    let mut capabilities = Vec::new();
    for skill in card["skills"].as_array().into_iter().flatten() {
        for phrase in std::iter::once(&skill["name"])
            .chain(skill["tags"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
        {
            if !capabilities.iter().any(|known: &String| known == phrase) {
                capabilities.push(phrase.to_string());
            }
        }
    }
    Ok(Card {
        name: card["name"].as_str().unwrap_or_default().to_string(),
        description: card["description"].as_str().unwrap_or_default().to_string(),
        endpoint,
        capabilities,
        streaming: card["capabilities"]["streaming"].as_bool().unwrap_or(false),
    })
}

/// The card's URL for what an admin gave: a card's own URL, or the agent's base URL
/// (the card then is at its well-known path).
fn card_url(given: &str) -> Result<Url, HubError> {
    let url = Url::parse(given.trim()).map_err(|error| {
        HubError::invalid_argument(
            "card_url",
            format!("'{}' is not a URL: {error}", excerpt(given)),
        )
    })?;
    if url.path().ends_with(".json") {
        return Ok(url);
    }
    let mut base = url.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(WELL_KNOWN_CARD)
        .map_err(|error| HubError::invalid_argument("card_url", error.to_string()))
}

pub struct Remotes {
    store: Store,
    key: Arc<MasterKey>,
    policy: Arc<Policy>,
    client: reqwest::Client,
    settings: AgentsConfig,
}

impl Remotes {
    pub fn new(
        store: Store,
        key: Arc<MasterKey>,
        settings: AgentsConfig,
        lookup: Arc<dyn Lookup>,
    ) -> Result<Self, String> {
        let policy = Arc::new(Policy::new(&settings.allow, lookup, OPENED_BY)?);
        let client = crate::http_client::builder()
            // A redirect could lead anywhere; the card names where to go.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(CheckedResolver(policy.clone())))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| error.to_string())?;
        Ok(Remotes {
            store,
            key,
            policy,
            client,
            settings,
        })
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.settings.remote_timeout_secs)
    }

    /// What went wrong reaching `url`, said so an admin can act on it.
    fn unreachable(&self, field: &str, error: &reqwest::Error) -> HubError {
        if let Some(refusal) = refusal_in(error) {
            return HubError::invalid_argument(field, refusal.to_string());
        }
        let what = if error.is_timeout() {
            "it did not answer in time".to_string()
        } else if error.is_connect() {
            "the connection was refused or failed".to_string()
        } else {
            error.to_string()
        };
        HubError::Unavailable {
            component: "remote agent".into(),
            reason: what,
        }
    }

    fn checked(&self, field: &str, url: &Url) -> Result<(), HubError> {
        self.policy
            .check_url(url)
            .map_err(|refusal| HubError::invalid_argument(field, refusal.to_string()))
    }

    /// Fetches the card at `given` (with the credential, if any) and keeps the remote
    /// agent under `name`, replacing one of that name.
    pub async fn register(
        &self,
        ctx: &CallContext,
        name: &str,
        given: &str,
        credential: Option<CredentialInput>,
    ) -> Result<RemoteAgent, HubError> {
        let url = card_url(given)?;
        self.checked("card_url", &url)?;
        let header = match &credential {
            Some(CredentialInput {
                kind: CredentialKind::ApiKey,
                header,
                ..
            }) => {
                let header = header.clone().unwrap_or_else(|| "X-API-Key".into());
                if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                    return Err(HubError::invalid_argument(
                        "credential.header",
                        format!("'{}' is not a header name", excerpt(&header)),
                    ));
                }
                Some(header)
            }
            _ => None,
        };
        let presented = credential
            .as_ref()
            .and_then(|credential| match credential.kind {
                CredentialKind::None => None,
                CredentialKind::Bearer => Some((
                    "authorization".to_string(),
                    Zeroizing::new(format!("Bearer {}", credential.secret)),
                )),
                CredentialKind::ApiKey => Some((
                    header.clone().unwrap_or_default(),
                    Zeroizing::new(credential.secret.clone()),
                )),
            });
        let mut request = self.client.get(url.clone()).timeout(self.timeout());
        if let Some((header, value)) = &presented {
            request = request.header(header.as_str(), value.as_str());
        }
        let response = request
            .send()
            .await
            .map_err(|error| self.unreachable("card_url", &error))?;
        if !response.status().is_success() {
            return Err(HubError::invalid_argument(
                "card_url",
                format!(
                    "the card could not be read: HTTP {}",
                    response.status().as_u16()
                ),
            ));
        }
        let body = read_capped(response, self.settings.max_card_bytes)
            .await
            .map_err(|message| HubError::invalid_argument("card_url", message))?;
        let card: Value = serde_json::from_slice(&body).map_err(|error| {
            HubError::invalid_argument("card_url", format!("the card is not JSON: {error}"))
        })?;
        let parsed =
            read_card(&card).map_err(|message| HubError::invalid_argument("card_url", message))?;
        self.checked("card_url", &parsed.endpoint)?;
        // The credential goes to the endpoint: a card must not send it elsewhere.
        if presented.is_some() && url.origin() != parsed.endpoint.origin() {
            return Err(HubError::invalid_argument(
                "card_url",
                format!(
                    "the card names its endpoint at {}, another origin than the card's; Tideway sends a credential only where the card itself is served",
                    parsed.endpoint.origin().ascii_serialization()
                ),
            ));
        }
        let kind = credential.as_ref().map_or(CredentialKind::None, |c| c.kind);
        let secret = match &credential {
            Some(credential) if credential.kind != CredentialKind::None => Some(
                self.key
                    .seal(
                        &credential.secret,
                        &SEALED.at([ctx.tenant.as_str(), name]).context(),
                    )
                    .map_err(HubError::internal)?,
            ),
            _ => None,
        };
        let card_text = card.to_string();
        on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO remote_agents (tenant_id, name, card_url, endpoint, card, credential_kind, \
                 credential_header, secret, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (tenant_id, name) DO UPDATE SET card_url = excluded.card_url, \
                 endpoint = excluded.endpoint, card = excluded.card, credential_kind = excluded.credential_kind, \
                 credential_header = excluded.credential_header, secret = excluded.secret, \
                 created_by = excluded.created_by, created_at = excluded.created_at",
            )
            .bind(ctx.tenant.as_str())
            .bind(name)
            .bind(url.as_str())
            .bind(parsed.endpoint.as_str())
            .bind(&card_text)
            .bind(kind.as_str())
            .bind(header.as_deref())
            .bind(secret.as_deref())
            .bind(&ctx.principal.id)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        tracing::info!(name, endpoint = %parsed.endpoint, "remote agent registered");
        self.find(&ctx.tenant, name)
            .await?
            .ok_or_else(|| HubError::internal("the remote agent just registered is missing"))
    }

    async fn row(&self, tenant: &TenantId, name: &str) -> Result<Option<RemoteRow>, HubError> {
        Ok(on_store!(&self.store, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                // Only the constant column list is formatted in.
                "SELECT {REMOTE_COLUMNS} FROM remote_agents WHERE tenant_id = $1 AND name = $2"
            )))
            .bind(tenant.as_str())
            .bind(name)
            .fetch_optional(pool)
            .await
        })?)
    }

    pub async fn find(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<RemoteAgent>, HubError> {
        Ok(self.row(tenant, name).await?.map(|row| row.agent()))
    }

    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<RemoteAgent>, HubError> {
        let rows: Vec<RemoteRow> = on_store!(&self.store, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                // Only the constant column list is formatted in.
                "SELECT {REMOTE_COLUMNS} FROM remote_agents WHERE tenant_id = $1 ORDER BY name"
            )))
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.iter().map(RemoteRow::agent).collect())
    }

    /// Forgets a remote agent; whether there was one. Runs already going keep going.
    pub async fn remove(&self, tenant: &TenantId, name: &str) -> Result<bool, HubError> {
        let removed = on_store!(&self.store, pool => {
            sqlx::query("DELETE FROM remote_agents WHERE tenant_id = $1 AND name = $2")
                .bind(tenant.as_str())
                .bind(name)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(removed > 0)
    }

    /// How to reach remote agent `name` of `tenant`.
    pub async fn connection(&self, tenant: &TenantId, name: &str) -> Result<Connection, HubError> {
        let row = self.row(tenant, name).await?.ok_or_else(|| {
            HubError::NotFound(format!(
                "no remote agent '{}' (it was removed?)",
                excerpt(name)
            ))
        })?;
        let endpoint = Url::parse(&row.endpoint).map_err(HubError::internal)?;
        self.checked("endpoint", &endpoint)?;
        let credential = match (CredentialKind::parse(&row.credential_kind), &row.secret) {
            (CredentialKind::None, _) | (_, None) => None,
            (kind, Some(sealed)) => {
                let secret = self
                    .key
                    .open(sealed, &SEALED.at([tenant.as_str(), name]).context())
                    .map_err(|error| HubError::Unavailable {
                        component: format!("remote agent '{name}'"),
                        reason: format!("its stored credential cannot be opened: {error}"),
                    })?;
                Some(match kind {
                    CredentialKind::Bearer => (
                        "authorization".to_string(),
                        Zeroizing::new(format!("Bearer {}", secret.as_str())),
                    ),
                    _ => (
                        row.credential_header
                            .clone()
                            .unwrap_or_else(|| "X-API-Key".into()),
                        secret,
                    ),
                })
            }
        };
        let streaming = row.agent().streaming;
        Ok(Connection {
            endpoint,
            streaming,
            credential,
        })
    }

    fn request(
        &self,
        connection: &Connection,
        method: &str,
        params: Value,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .post(connection.endpoint.clone())
            .header("a2a-version", super::a2a::PROTOCOL_VERSION)
            .json(&json!({
                "jsonrpc": "2.0",
                "id": uuid::Uuid::new_v4().to_string(),
                "method": method,
                "params": params,
            }));
        if let Some((header, value)) = &connection.credential {
            request = request.header(header.as_str(), value.as_str());
        }
        request
    }

    /// One JSON-RPC call; its result, or the remote's error as a Hub error.
    pub async fn call(
        &self,
        connection: &Connection,
        method: &str,
        params: Value,
    ) -> Result<Value, HubError> {
        let response = self
            .request(connection, method, params)
            .timeout(self.timeout())
            .send()
            .await
            .map_err(|error| self.unreachable("endpoint", &error))?;
        let status = response.status();
        refused_by_status(status)?;
        let body = read_capped(response, 16 * 1024 * 1024)
            .await
            .map_err(|reason| remote_failure(&reason))?;
        let answer: Value = serde_json::from_slice(&body).map_err(|_| {
            remote_failure(&format!(
                "it answered HTTP {} without a JSON-RPC response",
                status.as_u16()
            ))
        })?;
        answer_of(answer)
    }

    /// A streaming JSON-RPC call: each event's result, in order, until the remote
    /// ends the stream. A remote that answers with plain JSON gives one result.
    pub async fn stream(
        &self,
        connection: &Connection,
        method: &str,
        params: Value,
    ) -> Result<impl Stream<Item = Result<Value, HubError>> + Send + use<>, HubError> {
        let response = self
            .request(connection, method, params)
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|error| self.unreachable("endpoint", &error))?;
        refused_by_status(response.status())?;
        let is_stream = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/event-stream"));
        if !is_stream {
            let body = read_capped(response, 16 * 1024 * 1024)
                .await
                .map_err(|reason| remote_failure(&reason))?;
            let answer: Value = serde_json::from_slice(&body).map_err(|_| {
                remote_failure(
                    "it answered a stream request without a stream or a JSON-RPC response",
                )
            })?;
            return Ok(futures::stream::iter(vec![answer_of(answer)]).left_stream());
        }
        let events = sse_stream::SseStream::from_bytes_stream(response.bytes_stream()).filter_map(
            |event| async move {
                match event {
                    Ok(event) => {
                        let data = event.data?;
                        let answer = serde_json::from_str::<Value>(&data)
                            .map_err(|_| remote_failure("it sent an event that is not JSON"));
                        Some(answer.and_then(answer_of))
                    }
                    Err(error) => Some(Err(remote_failure(&format!("its stream broke: {error}")))),
                }
            },
        );
        Ok(events.right_stream())
    }
}

/// An HTTP refusal (A2A answers its own errors inside a 200).
fn refused_by_status(status: reqwest::StatusCode) -> Result<(), HubError> {
    match status.as_u16() {
        200..=299 => Ok(()),
        401 | 403 => Err(remote_failure(&format!(
            "it refused Tideway's credential (HTTP {}); register it again with the right one",
            status.as_u16()
        ))),
        code => Err(remote_failure(&format!("it answered HTTP {code}"))),
    }
}

fn remote_failure(reason: &str) -> HubError {
    HubError::Unavailable {
        component: "remote agent".into(),
        reason: reason.to_string(),
    }
}

/// A JSON-RPC response's result; its error as what the remote said.
fn answer_of(answer: Value) -> Result<Value, HubError> {
    if let Some(error) = answer.get("error") {
        let message = error["message"].as_str().unwrap_or("no message");
        let code = error["code"].as_i64().unwrap_or_default();
        return Err(match code {
            -32001 => HubError::NotFound(format!("the remote agent: {}", excerpt(message))),
            -32602 | -32600 => HubError::invalid_argument(
                "task",
                format!("the remote agent refused it: {}", excerpt(message)),
            ),
            _ => remote_failure(&format!("it answered error {code}: {}", excerpt(message))),
        });
    }
    answer
        .get("result")
        .cloned()
        .ok_or_else(|| remote_failure("it answered without a result or an error"))
}

/// A response body, refused past `cap` bytes.
async fn read_capped(response: reqwest::Response, cap: usize) -> Result<Vec<u8>, String> {
    if response
        .content_length()
        .is_some_and(|length| length > cap as u64)
    {
        return Err(format!("the answer is larger than {cap} bytes"));
    }
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|error| format!("the answer broke off: {error}"))?;
        if body.len() + chunk.len() > cap {
            return Err(format!("the answer is larger than {cap} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_url_is_the_given_json_or_the_well_known_path_under_it() {
        assert_eq!(
            card_url("https://agents.example.com/billing")
                .expect("url")
                .as_str(),
            "https://agents.example.com/billing/.well-known/agent-card.json"
        );
        assert_eq!(
            card_url("https://agents.example.com/cards/billing.json")
                .expect("url")
                .as_str(),
            "https://agents.example.com/cards/billing.json"
        );
        assert!(card_url("not a url").is_err());
    }

    #[test]
    fn a_card_gives_its_json_rpc_endpoint_and_skills() {
        let card = json!({
            "name": "Billing", "description": "Answers billing questions.",
            "supportedInterfaces": [
                {"url": "https://b.example.com/grpc", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
                {"url": "https://b.example.com/rpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
            ],
            "capabilities": {"streaming": true},
            "skills": [{"id": "invoices", "name": "invoices", "tags": ["billing", "refunds"]}]
        });
        let parsed = read_card(&card).expect("card");
        assert_eq!(parsed.endpoint.as_str(), "https://b.example.com/rpc");
        assert_eq!(parsed.capabilities, ["invoices", "billing", "refunds"]);
        assert!(parsed.streaming);
        let old = json!({"name": "Old", "url": "https://o.example.com/", "preferredTransport": "JSONRPC"});
        assert!(read_card(&old).err().unwrap_or_default().contains("0.x"));
    }

    #[test]
    fn a_remote_error_is_told_as_the_remote_said_it() {
        let missing = answer_of(
            json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32001, "message": "Task not found"}}),
        );
        assert!(matches!(missing, Err(HubError::NotFound(_))));
        let ok = answer_of(json!({"jsonrpc": "2.0", "id": 1, "result": {"task": {}}}));
        assert_eq!(ok.ok(), Some(json!({"task": {}})));
    }
}
