//! A tenant's named HTTP connections: a base URL, headers sent with every request,
//! and a credential (a bearer token or an API key header) sealed under the master key
//! before it reaches the store. An agent calls `http_request` with
//! `connection: "crm"` and a path; the credential is added to requests below the base
//! URL only and is never shown, listed or logged. The table is this toolkit's
//! (`migrations/*/0011_http_connections.sql`).

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, header};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    CallContext, HubError, Store, on_store, secrets::MasterKey, store::SealedColumn,
};
use url::Url;
use utoipa::ToSchema;

use super::client::Credential;
use crate::egress::Policy;

/// Where a connection's credential is kept sealed.
pub static SEALED: SealedColumn = SealedColumn {
    what: "HTTP connection",
    table: "http_connections",
    keys: &["tenant_id", "name"],
    column: "secret",
    context: "http",
};

const MAX_HEADERS: usize = 32;

/// A connection as a tenant's admin stores it; the credential is given once and
/// never shown again.
#[derive(Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionInput {
    /// Every request through the connection goes to this URL or below it, e.g.
    /// `https://api.example.com/v2/`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <token>`; sealed at rest, never shown.
    #[serde(default)]
    #[schemars(extend("writeOnly" = true))]
    pub bearer_token: Option<String>,
    /// The header an API key travels in (e.g. `X-Api-Key`), with `api_key`.
    #[serde(default)]
    pub api_key_header: Option<String>,
    /// Sent in `api_key_header`; sealed at rest, never shown.
    #[serde(default)]
    #[schemars(extend("writeOnly" = true))]
    pub api_key: Option<String>,
    /// Headers sent with every request; not secret (they are listed).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A connection as listed: never its credential.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct ConnectionView {
    pub name: String,
    pub base_url: String,
    /// The header the credential is sent in, if there is one.
    pub auth_header: Option<String>,
    pub has_credential: bool,
    pub headers: BTreeMap<String, String>,
    pub description: Option<String>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
}

/// A connection ready for a request.
pub struct Connection {
    pub base_url: Url,
    pub headers: HeaderMap,
    pub credential: Option<Credential>,
}

impl Connection {
    /// The URL a request through the connection goes to: `target` below the base URL
    /// (a path like `v1/customers?limit=5`, or an absolute URL that starts with the
    /// base URL). Anything that would leave it (`..`, `//other.host`, another
    /// origin) is refused.
    pub fn url_for(&self, name: &str, target: &str) -> Result<Url, HubError> {
        let joined = match Url::parse(target) {
            Ok(absolute) => absolute,
            Err(_) if target.starts_with("//") || target.starts_with("\\\\") => {
                return Err(self.outside(name, target));
            }
            Err(_) => self
                .base_url
                .join(target.trim_start_matches('/'))
                .map_err(|_| {
                    HubError::invalid_argument(
                        "url",
                        format!("'{}' is not a path", tideway_core::error::excerpt(target)),
                    )
                })?,
        };
        if joined.origin() != self.base_url.origin()
            || !joined.path().starts_with(self.base_url.path())
        {
            return Err(self.outside(name, target));
        }
        Ok(joined)
    }

    fn outside(&self, name: &str, target: &str) -> HubError {
        HubError::invalid_argument(
            "url",
            format!(
                "'{}' leaves connection '{name}', which reaches {} and below only",
                tideway_core::error::excerpt(target),
                self.base_url
            ),
        )
    }
}

/// Headers a caller may set: a valid name and value, and not one that frames the
/// request or names the host (the client sets those).
pub fn caller_headers(
    field: &str,
    headers: &BTreeMap<String, String>,
) -> Result<HeaderMap, HubError> {
    if headers.len() > MAX_HEADERS {
        return Err(HubError::invalid_argument(
            field,
            format!("at most {MAX_HEADERS} headers"),
        ));
    }
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let quoted = tideway_core::error::excerpt(name);
        let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            HubError::invalid_argument(field, format!("'{quoted}' is not a header name"))
        })?;
        if [
            header::HOST,
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::CONNECTION,
            header::UPGRADE,
            header::TE,
        ]
        .contains(&header_name)
            || header_name.as_str() == "keep-alive"
            || header_name.as_str() == "proxy-connection"
        {
            return Err(HubError::invalid_argument(
                field,
                format!("'{quoted}' is set by Tideway, not by the caller"),
            ));
        }
        let header_value = HeaderValue::from_str(value).map_err(|_| {
            HubError::invalid_argument(
                field,
                format!("the value of '{quoted}' has characters a header cannot carry"),
            )
        })?;
        map.insert(header_name, header_value);
    }
    Ok(map)
}

/// One stored connection.
#[derive(sqlx::FromRow)]
struct Stored {
    name: String,
    base_url: String,
    auth_header: Option<String>,
    /// JSON object of header names to values.
    headers: String,
    /// The credential's header value, sealed.
    secret: Option<String>,
    description: Option<String>,
    created_by: String,
    updated_at: DateTime<Utc>,
}

pub struct Connections {
    store: Store,
    key: Arc<MasterKey>,
}

impl Connections {
    pub fn new(store: Store, key: Arc<MasterKey>) -> Self {
        Connections { store, key }
    }

    /// Stores (or replaces) a connection for the tenant, sealing its credential.
    pub async fn put(
        &self,
        ctx: &CallContext,
        name: &str,
        input: ConnectionInput,
        policy: &Policy,
    ) -> Result<(), HubError> {
        if !tideway_core::naming::is_valid_id(name, 64) {
            return Err(HubError::invalid_argument(
                "name",
                "must be 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
            ));
        }
        let base_url = base_url(&input.base_url, policy)?;
        caller_headers("headers", &input.headers)?;
        let (auth_header, value) =
            match (&input.bearer_token, &input.api_key_header, &input.api_key) {
                (Some(_), _, Some(_)) => {
                    return Err(HubError::invalid_argument(
                        "api_key",
                        "give a bearer_token or an api_key, not both",
                    ));
                }
                (Some(token), None, None) => (
                    Some("authorization".to_string()),
                    Some(format!("Bearer {token}")),
                ),
                (Some(_), Some(_), None) => {
                    return Err(HubError::invalid_argument(
                        "api_key_header",
                        "goes with api_key; a bearer_token is sent in Authorization",
                    ));
                }
                (None, Some(header_name), Some(key)) => {
                    let parsed = HeaderName::from_bytes(header_name.as_bytes()).map_err(|_| {
                        HubError::invalid_argument(
                            "api_key_header",
                            format!(
                                "'{}' is not a header name",
                                tideway_core::error::excerpt(header_name)
                            ),
                        )
                    })?;
                    (Some(parsed.as_str().to_string()), Some(key.clone()))
                }
                (None, None, Some(_)) => {
                    return Err(HubError::invalid_argument(
                        "api_key_header",
                        "is required with api_key (the header the key is sent in)",
                    ));
                }
                (None, _, None) => (None, None),
            };
        let secret = match &value {
            Some(value) => {
                // The credential is never quoted, not even in an error.
                if value.is_empty() || HeaderValue::from_str(value).is_err() {
                    let field = if input.bearer_token.is_some() {
                        "bearer_token"
                    } else {
                        "api_key"
                    };
                    return Err(HubError::invalid_argument(
                        field,
                        "must be non-empty printable text a header can carry",
                    ));
                }
                Some(
                    self.key
                        .seal(value, &SEALED.at([ctx.tenant.as_str(), name]).context())
                        .map_err(HubError::internal)?,
                )
            }
            None => None,
        };
        let headers = serde_json::to_string(&input.headers).map_err(HubError::internal)?;
        let now = tideway_core::store::now();
        on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO http_connections (tenant_id, name, base_url, auth_header, headers, secret, description, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (tenant_id, name) DO UPDATE SET \
                 base_url = excluded.base_url, auth_header = excluded.auth_header, headers = excluded.headers, \
                 secret = excluded.secret, description = excluded.description, updated_at = excluded.updated_at",
            )
            .bind(ctx.tenant.as_str())
            .bind(name)
            .bind(base_url.as_str())
            .bind(&auth_header)
            .bind(&headers)
            .bind(&secret)
            .bind(&input.description)
            .bind(&ctx.principal.id)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    async fn stored(&self, ctx: &CallContext, name: Option<&str>) -> Result<Vec<Stored>, HubError> {
        let rows: Vec<Stored> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT name, base_url, auth_header, headers, secret, description, created_by, updated_at \
                 FROM http_connections WHERE tenant_id = $1 AND ($2 IS NULL OR name = $2) ORDER BY name",
            )
            .bind(ctx.tenant.as_str())
            .bind(name)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// The tenant's connections, without their credentials.
    pub async fn list(&self, ctx: &CallContext) -> Result<Vec<ConnectionView>, HubError> {
        self.stored(ctx, None)
            .await?
            .into_iter()
            .map(|stored| {
                Ok(ConnectionView {
                    headers: serde_json::from_str(&stored.headers).map_err(HubError::internal)?,
                    name: stored.name,
                    base_url: stored.base_url,
                    auth_header: stored.auth_header,
                    has_credential: stored.secret.is_some(),
                    description: stored.description,
                    created_by: stored.created_by,
                    updated_at: stored.updated_at,
                })
            })
            .collect()
    }

    /// Removes a connection; `false` when the tenant has none of that name.
    pub async fn delete(&self, ctx: &CallContext, name: &str) -> Result<bool, HubError> {
        let deleted = on_store!(&self.store, pool => {
            sqlx::query("DELETE FROM http_connections WHERE tenant_id = $1 AND name = $2")
                .bind(ctx.tenant.as_str())
                .bind(name)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(deleted > 0)
    }

    /// The tenant's connection `name`, its credential opened.
    pub async fn open(&self, ctx: &CallContext, name: &str) -> Result<Connection, HubError> {
        let Some(stored) = self.stored(ctx, Some(name)).await?.into_iter().next() else {
            return Err(HubError::NotFound(format!(
                "no HTTP connection named '{}'",
                tideway_core::error::excerpt(name)
            )));
        };
        let base_url = Url::parse(&stored.base_url).map_err(HubError::internal)?;
        let headers: BTreeMap<String, String> =
            serde_json::from_str(&stored.headers).map_err(HubError::internal)?;
        let headers = caller_headers("headers", &headers)?;
        let credential = match (stored.auth_header, stored.secret) {
            (Some(header_name), Some(sealed)) => {
                let value = self
                    .key
                    .open(&sealed, &SEALED.at([ctx.tenant.as_str(), name]).context())
                    .map_err(HubError::internal)?;
                let mut value = HeaderValue::from_str(&value).map_err(HubError::internal)?;
                value.set_sensitive(true);
                Some(Credential {
                    origin: base_url.origin(),
                    header: HeaderName::from_bytes(header_name.as_bytes())
                        .map_err(HubError::internal)?,
                    value,
                })
            }
            _ => None,
        };
        Ok(Connection {
            base_url,
            headers,
            credential,
        })
    }
}

/// A connection's base URL: http(s), no credentials, query or fragment in it, not an
/// internal address unless the operator opened it; ends with `/` so paths join below.
fn base_url(text: &str, policy: &Policy) -> Result<Url, HubError> {
    let invalid = |message: String| HubError::invalid_argument("base_url", message);
    let mut url = Url::parse(text).map_err(|error| {
        invalid(format!(
            "'{}' is not a URL: {error}",
            tideway_core::error::excerpt(text)
        ))
    })?;
    policy
        .check_url(&url)
        .map_err(|refusal| invalid(refusal.to_string()))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or a fragment".into()));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}
