//! The TLS set-up every outbound HTTP client of Tideway starts from. Left to itself,
//! each `reqwest` client reads and parses the system's trust store when it is built
//! (every file under `/etc/ssl/certs`, a few hundred); the toolkits build one client
//! each at start, so the server read the store several times before its first call
//! and held a copy of it per client. Here it is read once, on first use, and shared.

use std::sync::{Arc, OnceLock};

use rustls::{ClientConfig, crypto::CryptoProvider};
use rustls_platform_verifier::Verifier;

/// A client builder on the shared trust store. Where the store cannot be read (a
/// system without CA certificates), the builder is `reqwest`'s own, so the failure
/// surfaces where it always did: from `build()`, naming the client. `reqwest` takes
/// a preconfigured TLS set-up as it is: TLS options set on this builder afterwards
/// (extra roots, TLS versions, `http1_only`'s ALPN) are not applied, so a client that
/// needs them starts from `reqwest::Client::builder()` instead.
pub fn builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match shared_config() {
        Some(config) => builder.tls_backend_preconfigured(config.clone()),
        None => builder,
    }
}

/// A client with `reqwest`'s defaults on the shared store. Should that fail, the
/// client is `reqwest::Client::new()`'s, which is what these call sites used before.
pub fn client() -> reqwest::Client {
    builder().build().unwrap_or_else(|_| reqwest::Client::new())
}

fn shared_config() -> Option<&'static ClientConfig> {
    static CONFIG: OnceLock<Option<ClientConfig>> = OnceLock::new();
    CONFIG.get_or_init(build_config).as_ref()
}

/// What `reqwest` itself would build: the platform verifier on the process's crypto
/// provider (aws-lc-rs unless one was installed), safe protocol versions, and both
/// HTTP versions offered in ALPN (a preconfigured set-up is taken as it is).
fn build_config() -> Option<ClientConfig> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = match Verifier::new(provider.clone()) {
        Ok(verifier) => verifier,
        Err(error) => {
            tracing::warn!(%error, "the system's trust store could not be read");
            return None;
        }
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Some(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_shares_one_verifier() {
        let first = shared_config().expect("the system's trust store");
        let second = shared_config().expect("the system's trust store");
        assert!(std::ptr::eq(first, second));
        assert_eq!(
            first.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()],
            "both HTTP versions are offered"
        );
        builder().build().expect("a client on the shared store");
    }
}
