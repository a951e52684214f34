//! The models toolkit's part of the configuration file, `[models]`: the provider
//! tenants use by default, providers declared in the file, deadlines, retries and
//! budgets. A tenant's own choice lives under `[tenants.<id>.models]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tideway_core::{Config, config::ConfigError};

/// The key it owns in the configuration file.
pub const KEY: &str = "models";

/// Its settings as the configuration gives them.
pub fn from_config(config: &Config) -> Result<ModelsConfig, ConfigError> {
    config.section(KEY)
}

/// The key it owns under each `[tenants.<id>]`.
pub const TENANT_KEY: &str = "models";

/// Each declared tenant's own choice of model and budgets.
pub fn tenants_from_config(config: &Config) -> Result<BTreeMap<String, TenantModels>, ConfigError> {
    config.tenant_sections(TENANT_KEY)
}

/// For the descriptor: reads the section and every tenant's.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    let models = from_config(config)?;
    for (name, provider) in &models.providers {
        super::service::check_prices(provider.input_usd_per_mtok, provider.output_usd_per_mtok)
            .map_err(|error| ConfigError::Invalid(format!("models.providers.{name}: {error}")))?;
    }
    tenants_from_config(config).map(|_| ())
}

/// A tenant's own choice of model and budgets; unset fields follow `[models]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantModels {
    pub provider: Option<String>,
    pub tokens_per_day: Option<u64>,
    pub requests_per_minute: Option<u32>,
}

/// How AI-assisted features reach a language model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// The provider tenants use unless they choose another: `sampling` (ask the
    /// calling MCP client's model; no key needed), `none`, or a name under
    /// `[models.providers]` (or one a tenant's admin stored).
    pub provider: String,
    /// Providers declared here, by name.
    pub providers: BTreeMap<String, ModelProviderConfig>,
    /// Deadline for one request to a provider.
    pub timeout_secs: u64,
    /// Extra attempts after a 429 or 5xx answer, with exponential backoff (a
    /// `Retry-After` the provider sends is honoured).
    pub max_retries: u32,
    /// Tokens (in and out) each tenant may use per UTC day (0: no limit).
    pub tokens_per_day: u64,
    /// Requests each tenant may make per minute (0: no limit).
    pub requests_per_minute: u32,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            provider: "sampling".into(),
            providers: BTreeMap::new(),
            timeout_secs: 60,
            max_retries: 3,
            tokens_per_day: 0,
            requests_per_minute: 0,
        }
    }
}

/// The HTTP API a provider speaks.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI's chat completions, which vLLM, llama.cpp, Ollama and others also speak.
    #[default]
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
}

/// A language-model provider declared in the configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelProviderConfig {
    pub kind: ProviderKind,
    /// The API's base URL, e.g. `https://api.openai.com/v1` or
    /// `http://localhost:11434/v1`; each kind has its vendor's as a default.
    pub base_url: Option<String>,
    pub model: String,
    /// The environment variable holding the API key (keys are never written in the file).
    pub api_key_env: Option<String>,
    /// Largest answer asked for, in tokens, when a call does not say.
    pub max_tokens: u32,
    /// Stream answers (server-sent events) instead of waiting for the whole reply.
    pub stream: bool,
    /// Its prices in US dollars per million input and output tokens (both or
    /// neither), for the cost of answers that report none.
    pub input_usd_per_mtok: Option<f64>,
    pub output_usd_per_mtok: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_provider_gives_both_prices_or_neither() {
        let mut config = Config::default();
        config
            .update_section(KEY, |models: &mut ModelsConfig| {
                models.providers.insert(
                    "half".into(),
                    ModelProviderConfig {
                        model: "m".into(),
                        input_usd_per_mtok: Some(1.0),
                        ..ModelProviderConfig::default()
                    },
                );
            })
            .expect("models");
        let error = check(&config).expect_err("one price only").to_string();
        assert!(error.contains("models.providers.half"), "{error}");
        assert!(error.contains("output_usd_per_mtok"), "{error}");
    }
}
