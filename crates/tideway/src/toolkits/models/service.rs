//! The model service: which model a tenant uses, within which budgets, and the record
//! of every generation. A tenant's provider is, in order: the one its admin stored and
//! marked default, the one its `[tenants.X.models]` names, or `[models] provider`.
//! A name resolves to `sampling`, `none`, a provider the tenant's admin stored (API key
//! sealed under the master key) or one declared in the configuration (key from an
//! environment variable). Budgets are checked before a request is sent: requests per
//! minute (counted here) and tokens per UTC day (summed from the stored generations).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    CallContext, HubError, PartHealth, Store, on_store,
    parts::{self, InUse},
    secrets::MasterKey,
    store::SealedColumn,
};

use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::{
    backends::{self, Backend, HttpProvider, Prices, Retries, default_base_url},
    model::{ModelRequest, ModelResponse},
    settings::{ModelsConfig, ProviderKind, TenantModels},
};

/// Where a stored provider's API key is kept sealed.
pub static SEALED: SealedColumn = SealedColumn {
    what: "model provider",
    table: "model_providers",
    keys: &["tenant_id", "name"],
    column: "secret",
    context: "model",
};

/// Bounds on one request, so a caller cannot make Tideway send (and store) megabytes.
const MAX_MESSAGES: usize = 200;
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// A provider a tenant's admin stores (the key is given once and never shown).
#[derive(Clone, Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderInput {
    #[schema(value_type = String)]
    pub kind: ProviderKind,
    /// The API's base URL; each kind's vendor URL when absent.
    #[serde(default)]
    pub base_url: Option<String>,
    pub model: String,
    /// The API key; sealed at rest, never returned.
    #[serde(default)]
    #[schemars(extend("writeOnly" = true))]
    pub api_key: Option<String>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub stream: bool,
    /// Make it the tenant's model.
    #[serde(default)]
    pub default: bool,
    /// Its price for input tokens, in US dollars per million; with the output
    /// price, gives each generation's cost when the answers report none.
    #[serde(default)]
    pub input_usd_per_mtok: Option<f64>,
    /// Its price for output tokens, in US dollars per million.
    #[serde(default)]
    pub output_usd_per_mtok: Option<f64>,
}

/// Which provider and model one generation uses, when not the tenant's default.
#[derive(Clone, Debug, Default)]
pub struct ModelChoice {
    /// A provider stored for the tenant or declared, or `sampling`.
    pub provider: Option<String>,
    /// A model of that provider other than the one it names.
    pub model: Option<String>,
}

/// Whether a provider answered when asked, and how quickly.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct ProviderCheck {
    pub provider: String,
    pub reachable: bool,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How long a provider has to answer a check.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Refuses prices that would make costs meaningless, naming the field.
pub fn check_prices(input: Option<f64>, output: Option<f64>) -> Result<(), HubError> {
    for (field, price) in [
        ("input_usd_per_mtok", input),
        ("output_usd_per_mtok", output),
    ] {
        if let Some(price) = price
            && !(price.is_finite() && price >= 0.0)
        {
            return Err(HubError::invalid_argument(
                field,
                "must be a price of zero or more US dollars per million tokens",
            ));
        }
    }
    if input.is_some() != output.is_some() {
        return Err(HubError::invalid_argument(
            if input.is_none() {
                "input_usd_per_mtok"
            } else {
                "output_usd_per_mtok"
            },
            "give both prices or neither",
        ));
    }
    Ok(())
}

/// A provider as listed: never its key.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct ProviderView {
    pub name: String,
    #[schema(value_type = String)]
    pub kind: ProviderKind,
    pub base_url: String,
    pub model: String,
    pub max_tokens: u32,
    pub stream: bool,
    pub has_api_key: bool,
    /// `stored` (by the tenant's admin) or `config`.
    pub origin: &'static str,
    pub default: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_usd_per_mtok: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_usd_per_mtok: Option<f64>,
}

/// A stored generation.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct Generation {
    pub id: i64,
    pub principal: String,
    pub face: String,
    pub provider: String,
    pub model: Option<String>,
    #[schema(value_type = Object)]
    pub request: serde_json::Value,
    #[schema(value_type = Option<Object>)]
    pub response: Option<serde_json::Value>,
    /// `ok` or `error`.
    pub outcome: String,
    pub error: Option<String>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    /// In US dollars, when the provider reported it or its prices are declared.
    pub cost_usd: Option<f64>,
    pub latency_ms: f64,
    pub created_at: DateTime<Utc>,
}

type GenerationRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<f64>,
    f64,
    DateTime<Utc>,
);

const GENERATION_COLUMNS: &str = "id, principal, face, provider, model, request, response, outcome, error, tokens_in, tokens_out, cost_usd, latency_ms, created_at";

fn generation_from_row(row: GenerationRow) -> Generation {
    let (
        id,
        principal,
        face,
        provider,
        model,
        request,
        response,
        outcome,
        error,
        tokens_in,
        tokens_out,
        cost_usd,
        latency_ms,
        created_at,
    ) = row;
    Generation {
        id,
        principal,
        face,
        provider,
        model,
        request: serde_json::from_str(&request).unwrap_or(serde_json::Value::Null),
        response: response.and_then(|text| serde_json::from_str(&text).ok()),
        outcome,
        error,
        tokens_in,
        tokens_out,
        cost_usd,
        latency_ms,
        created_at,
    }
}

/// A provider as its tenant's admin stored it.
#[derive(sqlx::FromRow)]
struct StoredProvider {
    name: String,
    kind: String,
    base_url: Option<String>,
    model: String,
    max_tokens: i64,
    stream: bool,
    secret: Option<String>,
    is_default: bool,
    input_usd_per_mtok: Option<f64>,
    output_usd_per_mtok: Option<f64>,
}

pub struct ModelService {
    store: Store,
    key: Arc<MasterKey>,
    config: ModelsConfig,
    tenants: BTreeMap<String, TenantModels>,
    http: reqwest::Client,
    /// Requests in the current minute, per tenant.
    minutes: Mutex<HashMap<String, (Instant, u32)>>,
    /// The HTTP providers calls resolved lately, which the monitor probes.
    in_use: InUse<HttpProvider>,
}

impl ModelService {
    pub fn new(
        store: Store,
        key: Arc<MasterKey>,
        config: ModelsConfig,
        tenants: BTreeMap<String, TenantModels>,
    ) -> Result<Self, reqwest::Error> {
        Ok(ModelService {
            store,
            key,
            config,
            tenants,
            http: crate::http_client::client()?,
            minutes: Mutex::new(HashMap::new()),
            in_use: InUse::new(parts::IN_USE_WINDOW),
        })
    }

    fn tenant_settings(&self, ctx: &CallContext) -> TenantModels {
        self.tenants
            .get(ctx.tenant.as_str())
            .cloned()
            .unwrap_or_default()
    }

    async fn stored_providers(&self, ctx: &CallContext) -> Result<Vec<StoredProvider>, HubError> {
        on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT name, kind, base_url, model, max_tokens, stream, secret, is_default, input_usd_per_mtok, output_usd_per_mtok FROM model_providers WHERE tenant_id = $1 ORDER BY name",
            )
            .bind(ctx.tenant.as_str())
            .fetch_all(pool)
            .await
        })
        .map_err(HubError::from)
    }

    /// The name of the provider `ctx`'s tenant uses.
    async fn chosen(&self, ctx: &CallContext) -> Result<String, HubError> {
        let stored = self.stored_providers(ctx).await?;
        if let Some(row) = stored.iter().find(|row| row.is_default) {
            return Ok(row.name.clone());
        }
        Ok(self
            .tenant_settings(ctx)
            .provider
            .unwrap_or_else(|| self.config.provider.clone()))
    }

    /// The backend `ctx`'s tenant uses (or the one `choice` names), ready to call.
    pub async fn backend(
        &self,
        ctx: &CallContext,
        choice: &ModelChoice,
    ) -> Result<Backend, HubError> {
        let mut backend = self.named_backend(ctx, choice.provider.as_deref()).await?;
        if let Backend::Http(provider) = &backend {
            self.in_use
                .note(&ctx.tenant, &provider.name, provider.clone());
        }
        if let (Some(model), Backend::Http(provider)) = (&choice.model, &mut backend) {
            if model.trim().is_empty() || model.len() > 200 {
                return Err(HubError::invalid_argument(
                    "model",
                    "must be a model name of 1 to 200 characters",
                ));
            }
            provider.model.clone_from(model);
        }
        Ok(backend)
    }

    async fn named_backend(
        &self,
        ctx: &CallContext,
        provider: Option<&str>,
    ) -> Result<Backend, HubError> {
        let name = match provider {
            Some("none") => {
                return Err(HubError::invalid_argument(
                    "provider",
                    "'none' is not a provider to ask",
                ));
            }
            Some(name) => name.to_string(),
            None => self.chosen(ctx).await?,
        };
        match name.as_str() {
            "sampling" => return Ok(Backend::Sampling),
            "none" => {
                return Err(HubError::Unavailable {
                    component: "language model".into(),
                    reason: format!(
                        "tenant '{}' has no model configured: set [models] provider, or store one with PUT /api/v1/models/providers/{{name}}",
                        ctx.tenant
                    ),
                });
            }
            _ => {}
        }
        let stored = self.stored_providers(ctx).await?;
        if let Some(row) = stored.into_iter().find(|row| row.name == name) {
            let StoredProvider {
                name,
                kind,
                base_url,
                model,
                max_tokens,
                stream,
                secret,
                input_usd_per_mtok,
                output_usd_per_mtok,
                ..
            } = row;
            let kind = parse_kind(&kind)?;
            let api_key = match secret {
                Some(sealed) => Some(
                    self.key
                        .open(
                            &sealed,
                            &SEALED.at([ctx.tenant.as_str(), name.as_str()]).context(),
                        )
                        .map_err(|error| HubError::Unavailable {
                            component: format!("model provider '{name}'"),
                            reason: format!("its stored API key cannot be opened: {error}"),
                        })?,
                ),
                None => None,
            };
            return Ok(Backend::Http(HttpProvider {
                base_url: base_url.unwrap_or_else(|| default_base_url(kind).to_string()),
                name,
                kind,
                model,
                api_key,
                max_tokens: u32::try_from(max_tokens).unwrap_or(u32::MAX),
                stream,
                prices: Prices::from_parts(input_usd_per_mtok, output_usd_per_mtok),
            }));
        }
        let declared = self.config.providers.get(&name).ok_or_else(|| {
            let reason = format!(
                "the model provider '{}' is neither stored for this tenant nor declared under [models.providers]",
                tideway_core::error::excerpt(&name)
            );
            // A name the caller gave is their mistake; the tenant's own default
            // naming a provider that is gone is the server's state.
            match provider {
                Some(_) => HubError::invalid_argument("provider", reason),
                None => HubError::Unavailable {
                    component: "language model".into(),
                    reason,
                },
            }
        })?;
        let api_key = match &declared.api_key_env {
            Some(var) => Some(Zeroizing::new(std::env::var(var).map_err(|_| {
                HubError::Unavailable {
                    component: format!("model provider '{name}'"),
                    reason: format!("its API key variable {var} is not set"),
                }
            })?)),
            None => None,
        };
        Ok(Backend::Http(HttpProvider {
            name: name.clone(),
            kind: declared.kind,
            base_url: declared
                .base_url
                .clone()
                .unwrap_or_else(|| default_base_url(declared.kind).to_string()),
            model: declared.model.clone(),
            api_key,
            max_tokens: if declared.max_tokens == 0 {
                1024
            } else {
                declared.max_tokens
            },
            stream: declared.stream,
            prices: Prices::from_parts(declared.input_usd_per_mtok, declared.output_usd_per_mtok),
        }))
    }

    /// Asks the provider `name` (the tenant's own when absent) whether it answers.
    pub async fn check_provider(
        &self,
        ctx: &CallContext,
        name: Option<String>,
    ) -> Result<ProviderCheck, HubError> {
        let choice = ModelChoice {
            provider: name,
            model: None,
        };
        let backend = self.backend(ctx, &choice).await?;
        let started = Instant::now();
        let outcome = match &backend {
            Backend::Http(provider) => backends::probe(provider, &self.http, PROBE_TIMEOUT).await,
            Backend::Sampling => Err(
                "the calling client's model is reached within a client's own call, not checked from here"
                    .into(),
            ),
        };
        Ok(ProviderCheck {
            provider: backend.name().to_string(),
            reachable: outcome.is_ok(),
            latency_ms: started.elapsed().as_secs_f64() * 1e3,
            error: outcome.err(),
        })
    }

    /// Each HTTP provider a call used lately, asked whether it answers as
    /// `check_provider` asks (its model list, with its key: no tokens spent).
    pub async fn parts(&self, timeout: Duration) -> Vec<PartHealth> {
        let http = &self.http;
        parts::check_each(
            "provider",
            self.in_use.recent(),
            timeout,
            |provider| async move { backends::probe(&provider, http, timeout).await },
        )
        .await
    }

    /// Refuses the request if the tenant is over a budget, saying which and until when.
    async fn within_budgets(&self, ctx: &CallContext) -> Result<(), HubError> {
        let tenant = self.tenant_settings(ctx);
        let per_minute = tenant
            .requests_per_minute
            .unwrap_or(self.config.requests_per_minute);
        if per_minute > 0 {
            let mut minutes = match self.minutes.lock() {
                Ok(minutes) => minutes,
                Err(poisoned) => poisoned.into_inner(),
            };
            let now = Instant::now();
            let window = minutes.entry(ctx.tenant.to_string()).or_insert((now, 0));
            if now.duration_since(window.0) >= Duration::from_secs(60) {
                *window = (now, 0);
            }
            if window.1 >= per_minute {
                let wait = Duration::from_secs(60).saturating_sub(now.duration_since(window.0));
                return Err(HubError::RateLimited {
                    message: format!(
                        "tenant '{}' has made its {per_minute} model requests for this minute (models.requests_per_minute)",
                        ctx.tenant
                    ),
                    retry_after: wait.max(Duration::from_secs(1)),
                });
            }
            window.1 += 1;
        }
        if let Some((used, per_day)) = self.tokens_today(ctx).await?
            && used >= per_day
        {
            let tomorrow = midnight()? + chrono::Duration::days(1);
            let wait = (tomorrow - Utc::now())
                .to_std()
                .unwrap_or(Duration::from_secs(60));
            return Err(HubError::RateLimited {
                message: format!(
                    "tenant '{}' has used {used} of its {per_day} model tokens for today (models.tokens_per_day); the budget resets at 00:00 UTC",
                    ctx.tenant
                ),
                retry_after: wait,
            });
        }
        Ok(())
    }

    /// The tokens the tenant used today and its daily budget, when it has one.
    pub async fn tokens_today(&self, ctx: &CallContext) -> Result<Option<(u64, u64)>, HubError> {
        let per_day = self
            .tenant_settings(ctx)
            .tokens_per_day
            .unwrap_or(self.config.tokens_per_day);
        if per_day == 0 {
            return Ok(None);
        }
        let since = midnight()?;
        let used: i64 = on_store!(&self.store, pool => {
            sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(COALESCE(tokens_in, 0) + COALESCE(tokens_out, 0)), 0) AS BIGINT) FROM model_generations WHERE tenant_id = $1 AND created_at >= $2",
            )
            .bind(ctx.tenant.as_str())
            .bind(since)
            .fetch_one(pool)
            .await
        })?;
        Ok(Some((u64::try_from(used).unwrap_or(0), per_day)))
    }

    /// Sends `request` to the tenant's model and records the generation, whatever
    /// its outcome. Returns the answer and the generation's id.
    pub async fn generate(
        &self,
        ctx: &CallContext,
        request: &ModelRequest,
        choice: &ModelChoice,
    ) -> Result<(ModelResponse, i64, String), HubError> {
        if request.messages.is_empty() {
            return Err(HubError::invalid_argument(
                "messages",
                "at least one message",
            ));
        }
        if request.messages.len() > MAX_MESSAGES {
            return Err(HubError::invalid_argument(
                "messages",
                format!("at most {MAX_MESSAGES}"),
            ));
        }
        let request_json = serde_json::to_string(request).map_err(HubError::internal)?;
        if request_json.len() > MAX_REQUEST_BYTES {
            return Err(HubError::invalid_argument(
                "messages",
                format!("the request is larger than {MAX_REQUEST_BYTES} bytes"),
            ));
        }
        let backend = self.backend(ctx, choice).await?;
        self.within_budgets(ctx).await?;
        let retries = Retries {
            max_retries: self.config.max_retries,
            timeout: Duration::from_secs(self.config.timeout_secs.max(1)),
        };
        let started = Instant::now();
        let mut outcome = backends::generate(&backend, &self.http, retries, ctx, request).await;
        // A 2026-07-28 client answers sampling on its next call, which generates
        // again: that call is the generation to record, not this one.
        if let Err(error @ HubError::InputRequired { .. }) = outcome {
            return Err(error);
        }
        if let (Ok(response), Backend::Http(provider)) = (&mut outcome, &backend)
            && let (Some(usage), Some(prices)) = (&mut response.usage, provider.prices)
            && usage.cost_usd.is_none()
        {
            usage.cost_usd = Some(prices.cost(usage));
        }
        let latency_ms = started.elapsed().as_secs_f64() * 1e3;
        let (response_json, model, error, usage) = match &outcome {
            Ok(response) => (
                Some(serde_json::to_string(response).map_err(HubError::internal)?),
                Some(response.model.clone()),
                None,
                response.usage,
            ),
            Err(error) => (None, None, Some(error.to_string()), None),
        };
        let id: i64 = on_store!(&self.store, pool => {
            sqlx::query_scalar(
                "INSERT INTO model_generations (tenant_id, principal, face, provider, model, request, response, outcome, error, tokens_in, tokens_out, cost_usd, latency_ms, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
            )
            .bind(ctx.tenant.as_str())
            .bind(&ctx.principal.id)
            .bind(ctx.face.as_str())
            .bind(backend.name())
            .bind(&model)
            .bind(&request_json)
            .bind(&response_json)
            .bind(if outcome.is_ok() { "ok" } else { "error" })
            .bind(&error)
            .bind(usage.map(|u| i64::try_from(u.input_tokens).unwrap_or(i64::MAX)))
            .bind(usage.map(|u| i64::try_from(u.output_tokens).unwrap_or(i64::MAX)))
            .bind(usage.and_then(|u| u.cost_usd))
            .bind(latency_ms)
            .bind(tideway_core::store::now())
            .fetch_one(pool)
            .await
        })?;
        outcome.map(|response| (response, id, backend.name().to_string()))
    }

    /// The tenant's generations, newest first, before `before` (an id) if given.
    pub async fn generations(
        &self,
        ctx: &CallContext,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<Generation>, HubError> {
        let sql = format!(
            "SELECT {GENERATION_COLUMNS} FROM model_generations WHERE tenant_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<GenerationRow> = on_store!(&self.store, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(ctx.tenant.as_str())
                .bind(before.unwrap_or(i64::MAX))
                .bind(i64::from(limit.clamp(1, 200)))
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(generation_from_row).collect())
    }

    pub async fn generation(
        &self,
        ctx: &CallContext,
        id: i64,
    ) -> Result<Option<Generation>, HubError> {
        let sql = format!(
            "SELECT {GENERATION_COLUMNS} FROM model_generations WHERE tenant_id = $1 AND id = $2"
        );
        let row: Option<GenerationRow> = on_store!(&self.store, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(ctx.tenant.as_str())
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(generation_from_row))
    }

    /// The providers the tenant may use, and which one it uses.
    pub async fn providers(
        &self,
        ctx: &CallContext,
    ) -> Result<(String, Vec<ProviderView>), HubError> {
        let chosen = self.chosen(ctx).await?;
        let mut views = Vec::new();
        for row in self.stored_providers(ctx).await? {
            let kind = parse_kind(&row.kind)?;
            views.push(ProviderView {
                default: row.name == chosen,
                base_url: row
                    .base_url
                    .unwrap_or_else(|| default_base_url(kind).to_string()),
                name: row.name,
                kind,
                model: row.model,
                max_tokens: u32::try_from(row.max_tokens).unwrap_or(u32::MAX),
                stream: row.stream,
                has_api_key: row.secret.is_some(),
                origin: "stored",
                input_usd_per_mtok: row.input_usd_per_mtok,
                output_usd_per_mtok: row.output_usd_per_mtok,
            });
        }
        for (name, declared) in &self.config.providers {
            if views.iter().any(|view| &view.name == name) {
                continue;
            }
            views.push(ProviderView {
                name: name.clone(),
                kind: declared.kind,
                base_url: declared
                    .base_url
                    .clone()
                    .unwrap_or_else(|| default_base_url(declared.kind).to_string()),
                model: declared.model.clone(),
                max_tokens: declared.max_tokens,
                stream: declared.stream,
                has_api_key: declared.api_key_env.is_some(),
                origin: "config",
                default: *name == chosen,
                input_usd_per_mtok: declared.input_usd_per_mtok,
                output_usd_per_mtok: declared.output_usd_per_mtok,
            });
        }
        Ok((chosen, views))
    }

    /// Stores (or replaces) a provider for the tenant, sealing its key.
    pub async fn put_provider(
        &self,
        ctx: &CallContext,
        name: &str,
        input: ProviderInput,
    ) -> Result<(), HubError> {
        self.in_use.forget(&ctx.tenant, name);
        let valid =
            tideway_core::naming::is_valid_id(name, 64) && !["sampling", "none"].contains(&name);
        if !valid {
            return Err(HubError::invalid_argument(
                "name",
                "must be 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit, and not 'sampling' or 'none'",
            ));
        }
        if input.model.trim().is_empty() {
            return Err(HubError::invalid_argument("model", "is required"));
        }
        check_prices(input.input_usd_per_mtok, input.output_usd_per_mtok)?;
        if let Some(url) = &input.base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(HubError::invalid_argument(
                "base_url",
                "must start with http:// or https://",
            ));
        }
        let secret = match &input.api_key {
            Some(key) if !key.is_empty() => Some(
                self.key
                    .seal(key, &SEALED.at([ctx.tenant.as_str(), name]).context())
                    .map_err(HubError::internal)?,
            ),
            _ => None,
        };
        let now = tideway_core::store::now();
        let kind = match input.kind {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
        };
        let begin = self.store.begin_write_sql();
        on_store!(&self.store, pool => {
            async {
                let mut tx = pool.begin_with(begin).await?;
                if input.default {
                    sqlx::query("UPDATE model_providers SET is_default = FALSE WHERE tenant_id = $1")
                        .bind(ctx.tenant.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "INSERT INTO model_providers (tenant_id, name, kind, base_url, model, max_tokens, stream, secret, is_default, created_by, created_at, updated_at, input_usd_per_mtok, output_usd_per_mtok) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13) ON CONFLICT (tenant_id, name) DO UPDATE SET \
                     kind = excluded.kind, base_url = excluded.base_url, model = excluded.model, max_tokens = excluded.max_tokens, \
                     stream = excluded.stream, secret = excluded.secret, is_default = excluded.is_default, updated_at = excluded.updated_at, \
                     input_usd_per_mtok = excluded.input_usd_per_mtok, output_usd_per_mtok = excluded.output_usd_per_mtok",
                )
                .bind(ctx.tenant.as_str())
                .bind(name)
                .bind(kind)
                .bind(&input.base_url)
                .bind(&input.model)
                .bind(i64::from(input.max_tokens.unwrap_or(1024)))
                .bind(input.stream)
                .bind(&secret)
                .bind(input.default)
                .bind(&ctx.principal.id)
                .bind(now)
                .bind(input.input_usd_per_mtok)
                .bind(input.output_usd_per_mtok)
                .execute(&mut *tx)
                .await?;
                tx.commit().await
            }
            .await
        })
        .map_err(HubError::from)
    }

    pub async fn delete_provider(&self, ctx: &CallContext, name: &str) -> Result<bool, HubError> {
        self.in_use.forget(&ctx.tenant, name);
        let deleted = on_store!(&self.store, pool => {
            sqlx::query("DELETE FROM model_providers WHERE tenant_id = $1 AND name = $2")
                .bind(ctx.tenant.as_str())
                .bind(name)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(deleted > 0)
    }
}

fn parse_kind(kind: &str) -> Result<ProviderKind, HubError> {
    match kind {
        "openai" => Ok(ProviderKind::Openai),
        "anthropic" => Ok(ProviderKind::Anthropic),
        other => Err(HubError::internal(format!(
            "stored provider kind '{other}'"
        ))),
    }
}

/// The start of today, UTC: when daily budgets reset.
fn midnight() -> Result<DateTime<Utc>, HubError> {
    Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .ok_or_else(|| HubError::internal("date out of range"))
}
