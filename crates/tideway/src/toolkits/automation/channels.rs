//! Outbound notification channels: a tenant's named destinations (a generic webhook,
//! signed with Tideway's scheme; a Slack-compatible incoming webhook; email over SMTP
//! through `lettre`), their URLs and secrets sealed under the master key, and sending
//! one notification to one. Every connection is held to the egress policy
//! (`[automation] allow`): HTTP through a client whose resolver checks each address,
//! SMTP to an address resolved and checked here (the TLS name stays the host's), so a
//! channel cannot be pointed at the server's network.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
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
    now_ms,
    schedules::check_name,
    signature::{DELIVERY_ID, new_secret, outbound_headers},
};
use crate::egress::{CheckedResolver, Policy};

/// Where a channel's URL and signing secret are kept sealed.
pub static SEALED: SealedColumn = SealedColumn {
    what: "notification channel",
    table: "automation_channels",
    keys: &["tenant_id", "name"],
    column: "secret",
    context: "automation-channel",
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A JSON POST of the notification, signed with Tideway's scheme
    /// (`X-Signature`, `X-Timestamp`, `X-Delivery-Id`).
    Webhook,
    /// A Slack-compatible incoming webhook (`{"text": …}`); its URL is its secret.
    Slack,
    /// Email over SMTP (`url`: `smtp://host[:port]`), to `to` from `from`.
    Email,
}

/// How an email channel's connection is protected.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// STARTTLS, required (port 587 by default).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465 by default).
    Implicit,
    /// None: for a relay on a network the operator opened; never with a password.
    None,
}

impl ChannelKind {
    fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Email => "email",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "webhook" => Some(ChannelKind::Webhook),
            "slack" => Some(ChannelKind::Slack),
            "email" => Some(ChannelKind::Email),
            _ => None,
        }
    }
}

/// A channel as the tenant's admin gives it.
#[derive(Clone, Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    /// 1-64 lower-case letters, digits, '_' or '-'.
    pub name: String,
    pub kind: ChannelKind,
    /// Where notifications are posted (http or https), or for email the SMTP
    /// server, `smtp://host[:port]`.
    pub url: String,
    /// Email: the sender's address.
    #[serde(default)]
    pub from: Option<String>,
    /// Email: the recipients' addresses.
    #[serde(default)]
    pub to: Vec<String>,
    /// Email: the SMTP user name, if the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// Email: the SMTP password; sealed at rest, never shown.
    #[serde(default)]
    pub password: Option<String>,
    /// Email: `starttls` (default), `implicit` or `none`.
    #[serde(default)]
    pub tls: SmtpTls,
    #[serde(default)]
    pub description: Option<String>,
}

/// A channel as shown: a Slack URL only by its host, never a secret.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct ChannelView {
    pub name: String,
    pub kind: ChannelKind,
    pub url: String,
    pub description: Option<String>,
    pub created_by: String,
    pub created_at: Option<DateTime<Utc>>,
}

/// A new channel; a webhook channel's signing secret is shown this once.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct ChannelWithSecret {
    #[serde(flatten)]
    pub channel: ChannelView,
    /// The secret the receiver checks `X-Signature` with (webhook channels).
    pub signing_secret: Option<String>,
}

/// What is sealed: the URL (a Slack URL carries its token), the signing secret, and
/// an email channel's addresses and SMTP login.
#[derive(Serialize, Deserialize)]
struct Sealed {
    url: String,
    signing_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<Email>,
}

#[derive(Serialize, Deserialize)]
struct Email {
    from: String,
    to: Vec<String>,
    username: Option<String>,
    password: Option<String>,
    tls: SmtpTls,
}

#[derive(Clone, Debug, sqlx::FromRow)]
struct ChannelRow {
    tenant_id: String,
    name: String,
    kind: String,
    shown_url: String,
    secret: String,
    description: Option<String>,
    created_by: String,
    created_ms: i64,
}

impl ChannelRow {
    fn view(&self) -> ChannelView {
        ChannelView {
            name: self.name.clone(),
            kind: ChannelKind::parse(&self.kind).unwrap_or(ChannelKind::Webhook),
            url: self.shown_url.clone(),
            description: self.description.clone(),
            created_by: self.created_by.clone(),
            created_at: DateTime::from_timestamp_millis(self.created_ms),
        }
    }
}

/// One notification as posted to a channel.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct Notification {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub text: String,
    /// Structured details for receivers that read them (webhook channels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub data: Option<Value>,
}

/// How one attempt went: the receiver's status (HTTP, or the SMTP reply code), or
/// why there was none.
pub struct Attempt {
    pub delivered: bool,
    pub status: Option<u16>,
    pub error: Option<String>,
}

impl Attempt {
    pub fn failed(error: String) -> Self {
        Attempt {
            delivered: false,
            status: None,
            error: Some(error),
        }
    }
}

macro_rules! columns {
    () => {
        "tenant_id, name, kind, shown_url, secret, description, created_by, created_ms"
    };
}

fn missing(name: &str) -> HubError {
    HubError::NotFound(format!("no channel '{}'", excerpt(name)))
}

pub struct Channels {
    store: Store,
    key: Arc<MasterKey>,
    policy: Arc<Policy>,
    client: reqwest::Client,
    timeout: Duration,
}

impl Channels {
    pub fn new(
        store: Store,
        key: Arc<MasterKey>,
        policy: Arc<Policy>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let client = crate::http_client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(CheckedResolver(policy.clone())))
            .user_agent(concat!("Tideway/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .timeout(timeout)
            .build()
            .map_err(|error| format!("the notification HTTP client: {error}"))?;
        Ok(Channels {
            store,
            key,
            policy,
            client,
            timeout,
        })
    }

    /// Stores a channel for `ctx`'s tenant.
    pub async fn create(
        &self,
        ctx: &CallContext,
        input: &ChannelInput,
    ) -> Result<ChannelWithSecret, HubError> {
        check_name(&input.name)?;
        let url = Url::parse(input.url.trim()).map_err(|error| {
            HubError::invalid_argument(
                "url",
                format!("'{}' is not a URL: {error}", excerpt(&input.url)),
            )
        })?;
        let email = match input.kind {
            ChannelKind::Email => Some(self.email(&url, input).await?),
            _ => {
                if input.from.is_some()
                    || !input.to.is_empty()
                    || input.username.is_some()
                    || input.password.is_some()
                {
                    return Err(HubError::invalid_argument(
                        "from",
                        "from, to, username and password belong to an email channel",
                    ));
                }
                self.policy
                    .check_url(&url)
                    .map_err(|refusal| HubError::invalid_argument("url", refusal.to_string()))?;
                None
            }
        };
        let signing_secret = match input.kind {
            ChannelKind::Webhook => Some(Zeroizing::new(new_secret().map_err(HubError::Internal)?)),
            ChannelKind::Slack | ChannelKind::Email => None,
        };
        let shown_url = match input.kind {
            ChannelKind::Webhook | ChannelKind::Email => url.to_string(),
            ChannelKind::Slack => format!(
                "{}://{}/…",
                url.scheme(),
                url.host_str().unwrap_or_default()
            ),
        };
        let sealed = serde_json::to_string(&Sealed {
            url: url.to_string(),
            signing_secret: signing_secret.as_ref().map(|secret| secret.to_string()),
            email,
        })
        .map_err(HubError::internal)?;
        let sealed = self
            .key
            .seal(
                &sealed,
                &SEALED
                    .at([ctx.tenant.as_str(), input.name.as_str()])
                    .context(),
            )
            .map_err(HubError::internal)?;
        let now = now_ms();
        let inserted = on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO automation_channels (tenant_id, name, kind, shown_url, secret, description, created_by, created_ms, updated_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING",
            )
            .bind(ctx.tenant.as_str())
            .bind(&input.name)
            .bind(input.kind.as_str())
            .bind(&shown_url)
            .bind(&sealed)
            .bind(&input.description)
            .bind(&ctx.principal.id)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if inserted == 0 {
            return Err(HubError::Conflict(format!(
                "a channel named '{}' exists; delete it first or choose another name",
                input.name
            )));
        }
        Ok(ChannelWithSecret {
            channel: self.row(&ctx.tenant, &input.name).await?.view(),
            signing_secret: signing_secret.map(|secret| secret.to_string()),
        })
    }

    /// Checks an email channel's settings; the parts that are sealed.
    async fn email(&self, url: &Url, input: &ChannelInput) -> Result<Email, HubError> {
        if url.scheme() != "smtp"
            || url.host_str().is_none()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(HubError::invalid_argument(
                "url",
                "an email channel's url is smtp://host[:port] (the login goes in username and password)",
            ));
        }
        let from = input.from.clone().ok_or_else(|| {
            HubError::invalid_argument("from", "an email channel needs a sender address")
        })?;
        mailbox("from", &from)?;
        if input.to.is_empty() || input.to.len() > 50 {
            return Err(HubError::invalid_argument(
                "to",
                "give 1-50 recipient addresses",
            ));
        }
        for address in &input.to {
            mailbox("to", address)?;
        }
        if input.tls == SmtpTls::None && input.password.is_some() {
            return Err(HubError::invalid_argument(
                "tls",
                "a password is never sent without TLS; use starttls or implicit",
            ));
        }
        if input.password.is_some() != input.username.is_some() {
            return Err(HubError::invalid_argument(
                "username",
                "give both username and password, or neither",
            ));
        }
        smtp_address(&self.policy, url, input.tls).await?;
        Ok(Email {
            from,
            to: input.to.clone(),
            username: input.username.clone(),
            password: input.password.clone(),
            tls: input.tls,
        })
    }

    async fn row(&self, tenant: &TenantId, name: &str) -> Result<ChannelRow, HubError> {
        let row: Option<ChannelRow> = on_store!(&self.store, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM automation_channels WHERE tenant_id = $1 AND name = $2"))
                .bind(tenant.as_str())
                .bind(name)
                .fetch_optional(pool)
                .await
        })?;
        row.ok_or_else(|| missing(name))
    }

    pub async fn get(&self, tenant: &TenantId, name: &str) -> Result<ChannelView, HubError> {
        Ok(self.row(tenant, name).await?.view())
    }

    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<ChannelView>, HubError> {
        let rows: Vec<ChannelRow> = on_store!(&self.store, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM automation_channels WHERE tenant_id = $1 ORDER BY name"))
                .bind(tenant.as_str())
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.iter().map(ChannelRow::view).collect())
    }

    pub async fn delete(&self, tenant: &TenantId, name: &str) -> Result<(), HubError> {
        let deleted = on_store!(&self.store, pool => {
            sqlx::query("DELETE FROM automation_channels WHERE tenant_id = $1 AND name = $2")
                .bind(tenant.as_str())
                .bind(name)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        if deleted == 0 {
            return Err(missing(name));
        }
        Ok(())
    }

    /// Posts `notification` to the tenant's channel once, as delivery `id`.
    pub async fn send(
        &self,
        tenant: &TenantId,
        name: &str,
        id: &str,
        notification: &Notification,
    ) -> Attempt {
        let failed = Attempt::failed;
        let row = match self.row(tenant, name).await {
            Ok(row) => row,
            Err(error) => return failed(error.to_string()),
        };
        let sealed = match self.key.open(
            &row.secret,
            &SEALED
                .at([row.tenant_id.as_str(), row.name.as_str()])
                .context(),
        ) {
            Ok(text) => text,
            Err(error) => return failed(format!("the channel's secret does not open: {error}")),
        };
        let sealed: Sealed = match serde_json::from_str(&sealed) {
            Ok(sealed) => sealed,
            Err(error) => return failed(format!("the channel's secret does not read: {error}")),
        };
        let kind = ChannelKind::parse(&row.kind).unwrap_or(ChannelKind::Webhook);
        if let (ChannelKind::Email, Some(email)) = (kind, &sealed.email) {
            return self.send_email(&sealed.url, email, notification).await;
        }
        let body = match kind {
            ChannelKind::Email => return failed("the email channel's settings are missing".into()),
            ChannelKind::Webhook => json!({
                "id": id,
                "channel": row.name,
                "subject": notification.subject,
                "text": notification.text,
                "data": notification.data,
            }),
            ChannelKind::Slack => json!({"text": match &notification.subject {
                Some(subject) => format!("*{subject}*\n{}", notification.text),
                None => notification.text.clone(),
            }}),
        };
        let body = body.to_string();
        let mut request = self
            .client
            .post(&sealed.url)
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = &sealed.signing_secret {
            for (name, value) in
                outbound_headers(secret.as_bytes(), body.as_bytes(), now_ms() / 1000)
            {
                request = request.header(name, value);
            }
            request = request.header(DELIVERY_ID, id);
        }
        match request.body(body).send().await {
            Ok(response) => {
                let status = response.status();
                let error =
                    (!status.is_success()).then(|| format!("the receiver answered {status}"));
                Attempt {
                    delivered: status.is_success(),
                    status: Some(status.as_u16()),
                    error,
                }
            }
            Err(error) => {
                let reason = match crate::egress::refusal_in(&error) {
                    Some(refusal) => refusal.to_string(),
                    None if error.is_timeout() => "the receiver did not answer in time".into(),
                    None if error.is_connect() => "the receiver could not be reached".into(),
                    None => format!("the request failed: {error}"),
                };
                failed(reason)
            }
        }
    }

    /// Sends one email through the channel's SMTP server.
    async fn send_email(&self, url: &str, email: &Email, notification: &Notification) -> Attempt {
        use lettre::{
            AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
            message::header::ContentType,
            transport::smtp::{
                authentication::Credentials,
                client::{Tls, TlsParameters},
            },
        };
        let Ok(url) = Url::parse(url) else {
            return Attempt::failed("the channel's SMTP URL does not read".into());
        };
        let (host, address) = match smtp_address(&self.policy, &url, email.tls).await {
            Ok(found) => found,
            Err(error) => return Attempt::failed(error.to_string()),
        };
        let tls = match email.tls {
            SmtpTls::None => Tls::None,
            mode => match TlsParameters::new(host.clone()) {
                Ok(parameters) if mode == SmtpTls::Implicit => Tls::Wrapper(parameters),
                Ok(parameters) => Tls::Required(parameters),
                Err(error) => return Attempt::failed(format!("TLS for {host}: {error}")),
            },
        };
        // Connect to the address the policy checked; TLS still verifies the host name.
        let mut transport =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(address.ip().to_string())
                .port(address.port())
                .tls(tls)
                .timeout(Some(self.timeout));
        if let (Some(username), Some(password)) = (&email.username, &email.password) {
            transport = transport.credentials(Credentials::new(username.clone(), password.clone()));
        }
        let mut message = Message::builder()
            .subject(
                notification
                    .subject
                    .clone()
                    .unwrap_or_else(|| "Tideway notification".into()),
            )
            .header(ContentType::TEXT_PLAIN);
        match email.from.parse() {
            Ok(from) => message = message.from(from),
            Err(error) => return Attempt::failed(format!("from: {error}")),
        }
        for to in &email.to {
            match to.parse() {
                Ok(to) => message = message.to(to),
                Err(error) => return Attempt::failed(format!("to: {error}")),
            }
        }
        let message = match message.body(notification.text.clone()) {
            Ok(message) => message,
            Err(error) => return Attempt::failed(format!("the message: {error}")),
        };
        match transport.build().send(message).await {
            Ok(response) => Attempt {
                delivered: response.is_positive(),
                status: response.code().to_string().parse().ok(),
                error: (!response.is_positive())
                    .then(|| format!("the SMTP server answered {}", response.code())),
            },
            Err(error) => Attempt {
                delivered: false,
                status: error
                    .status()
                    .and_then(|code| code.to_string().parse().ok()),
                error: Some(format!("SMTP: {error}")),
            },
        }
    }
}

/// An address a message may carry, or the refusal naming `field`.
fn mailbox(field: &str, address: &str) -> Result<(), HubError> {
    address
        .parse::<lettre::message::Mailbox>()
        .map(|_| ())
        .map_err(|error| {
            HubError::invalid_argument(
                field,
                format!("'{}' is not an email address: {error}", excerpt(address)),
            )
        })
}

/// The SMTP server's host name and the checked address to connect to.
async fn smtp_address(
    policy: &Policy,
    url: &Url,
    tls: SmtpTls,
) -> Result<(String, std::net::SocketAddr), HubError> {
    let refused =
        |refusal: crate::egress::Refusal| HubError::invalid_argument("url", refusal.to_string());
    let host = url
        .host_str()
        .ok_or_else(|| HubError::invalid_argument("url", "the SMTP URL has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port().unwrap_or(match tls {
        SmtpTls::Implicit => 465,
        _ => 587,
    });
    let address = match host.parse::<std::net::IpAddr>() {
        Ok(ip) if policy.address_allowed(ip) => ip,
        Ok(_) => {
            return Err(refused(crate::egress::Refusal::InternalAddress {
                host: host.clone(),
                opened_by: "[automation] allow",
            }));
        }
        Err(_) => *policy
            .resolve(&host)
            .await
            .map_err(refused)?
            .first()
            .ok_or_else(|| HubError::invalid_argument("url", format!("{host} has no address")))?,
    };
    Ok((host, std::net::SocketAddr::new(address, port)))
}
