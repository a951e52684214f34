//! How callers prove who they are: the auth modes, API keys' cache, JWT bearer
//! tokens (shared secret or JWKS, issuer, audience, claims) and the console's
//! sign-in through an OpenID Connect provider; each with its defaults and checks.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::access::Role;

/// How callers prove who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// No credential needed: the caller is the local user. Loopback listeners only.
    None,
    /// `Authorization: Bearer tw_…` (or `X-API-Key`), created with `tideway keys create`.
    ApiKey,
    /// `Authorization: Bearer <JWT>` from an identity provider or OAuth authorization server.
    Jwt,
}

impl std::str::FromStr for AuthMode {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "none" => Ok(AuthMode::None),
            "api-key" | "api_key" | "apikey" => Ok(AuthMode::ApiKey),
            "jwt" => Ok(AuthMode::Jwt),
            other => Err(format!(
                "unknown auth mode '{other}': use none, api-key or jwt"
            )),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Accepted ways to authenticate; several may be on at once. `none` lets requests
    /// without a credential through as the local user, and only on loopback.
    pub modes: Vec<AuthMode>,
    /// The role of the local user (stdio, and HTTP requests under `none`); the tenant
    /// is `default_tenant`.
    pub local_role: Role,
    /// This server's MCP resource identifier (its public `/mcp` URL), the audience
    /// OAuth tokens must be issued for. Default: `http://{bind}/mcp`.
    pub resource_url: Option<String>,
    /// OAuth authorization servers that issue tokens for this resource, advertised at
    /// `/.well-known/oauth-protected-resource`.
    pub authorization_servers: Vec<String>,
    /// Scopes advertised in the protected-resource metadata.
    pub scopes_supported: Vec<String>,
    /// How long a verified API key is trusted before it is looked up again; a key
    /// revoked by another process stops working within this time.
    pub key_cache_secs: u64,
    pub jwt: JwtConfig,
    /// Signing in to the console through an OpenID Connect provider.
    pub oidc: OidcConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// HS256 shared secret (prefer `hs256_secret_file` or TIDEWAY_AUTH__JWT__HS256_SECRET).
    pub hs256_secret: Option<String>,
    pub hs256_secret_file: Option<PathBuf>,
    /// RS256/ES256 public keys: a JWKS URL (cached, refetched on an unknown key id) ...
    pub jwks_url: Option<String>,
    /// ... or a JWKS file.
    pub jwks_file: Option<PathBuf>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Accepted `aud` values; empty means the resource URL.
    pub audience: Vec<String>,
    /// The claim holding the tenant id.
    pub tenant_claim: String,
    /// The claim holding roles (a string, a space-separated string, or an array);
    /// values may carry a prefix such as `tideway:admin`. The highest role wins.
    pub roles_claim: String,
    /// The role of a token without a recognised role (none: such tokens are refused).
    pub default_role: Option<Role>,
    /// The claim naming the principal.
    pub subject_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// How long fetched JWKS keys are kept before they are refetched.
    pub jwks_cache_secs: u64,
    /// The least time between two JWKS fetches triggered by unknown key ids, so
    /// tokens with made-up key ids cannot flood the identity provider.
    pub jwks_min_refetch_secs: u64,
}

/// Signing in to the console through an OpenID Connect provider: the authorization
/// code flow with PKCE. The token the provider issues is then checked as any bearer
/// token is, so `auth.modes` must include `jwt` with the provider's keys.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL; its discovery document is read from
    /// `{issuer}/.well-known/openid-configuration`. Unset: no provider sign-in.
    pub issuer: Option<String>,
    /// This server's client id at the provider.
    pub client_id: String,
    /// A confidential client's secret (prefer `client_secret_file` or
    /// TIDEWAY_AUTH__OIDC__CLIENT_SECRET); none for a public client.
    pub client_secret: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for; `openid` is always among them.
    pub scopes: Vec<String>,
    /// Where the provider sends the browser back, as registered with it. Default:
    /// the resource URL's origin followed by `/console/sign-in/oidc/callback`.
    pub redirect_url: Option<String>,
    /// Which of the provider's tokens the session keeps and checks.
    pub token: OidcToken,
    /// How the sign-in page names the provider ("Sign in with ...").
    pub name: String,
}

/// The token a console session made through the provider keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OidcToken {
    /// The access token, issued for this server (its audience is the resource URL).
    #[default]
    AccessToken,
    /// The ID token, whose audience is the client id: list the client id in
    /// `auth.jwt.audience`.
    IdToken,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuer: None,
            client_id: String::new(),
            client_secret: None,
            client_secret_file: None,
            scopes: vec!["openid".into()],
            redirect_url: None,
            token: OidcToken::AccessToken,
            name: "single sign-on".into(),
        }
    }
}

// Written by hand so the client secret never reaches a log.
impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<sealed>"),
            )
            .field("client_secret_file", &self.client_secret_file)
            .field("scopes", &self.scopes)
            .field("redirect_url", &self.redirect_url)
            .field("token", &self.token)
            .field("name", &self.name)
            .finish()
    }
}

impl OidcConfig {
    /// The client secret, from the configuration or its file.
    pub fn client_secret(&self) -> Result<Option<String>, ConfigError> {
        if let Some(secret) = &self.client_secret {
            return Ok(Some(secret.clone()));
        }
        match &self.client_secret_file {
            None => Ok(None),
            Some(path) => std::fs::read_to_string(path)
                .map(|text| Some(text.trim().to_string()))
                .map_err(|error| {
                    ConfigError::Invalid(format!(
                        "auth.oidc.client_secret_file {}: {error}",
                        path.display()
                    ))
                }),
        }
    }

    pub(super) fn validate(&self, modes: &[AuthMode]) -> Result<(), ConfigError> {
        let Some(issuer) = &self.issuer else {
            return Ok(());
        };
        let invalid = |text: String| Err(ConfigError::Invalid(text));
        if !modes.contains(&AuthMode::Jwt) {
            return invalid(
                "auth.oidc needs auth mode jwt, which checks the tokens the provider issues".into(),
            );
        }
        if self.client_id.trim().is_empty() {
            return invalid("auth.oidc.client_id is required with auth.oidc.issuer".into());
        }
        for (field, value) in [
            ("auth.oidc.issuer", Some(issuer)),
            ("auth.oidc.redirect_url", self.redirect_url.as_ref()),
        ] {
            if let Some(value) = value
                && !is_https_or_loopback(value)
            {
                let prefix: String = value.chars().take(60).collect();
                return invalid(format!(
                    "{field} must be an https URL (http only on loopback), not '{prefix}'"
                ));
            }
        }
        Ok(())
    }
}

/// Whether `url` is https, or http to a loopback host (for a provider on the same
/// machine): a sign-in code must not cross a network in the clear.
fn is_https_or_loopback(url: &str) -> bool {
    if url.starts_with("https://") {
        return url.len() > "https://".len();
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next() == Some("::1"),
        None => matches!(authority.split(':').next(), Some("localhost" | "127.0.0.1")),
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            modes: vec![AuthMode::None],
            local_role: Role::Admin,
            resource_url: None,
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            key_cache_secs: 10,
            jwt: JwtConfig::default(),
            oidc: OidcConfig::default(),
        }
    }
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            hs256_secret: None,
            hs256_secret_file: None,
            jwks_url: None,
            jwks_file: None,
            issuer: None,
            audience: Vec::new(),
            tenant_claim: "tenant".into(),
            roles_claim: "roles".into(),
            default_role: None,
            subject_claim: "sub".into(),
            leeway_secs: 30,
            jwks_cache_secs: 300,
            jwks_min_refetch_secs: 10,
        }
    }
}
