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

/// A client with `reqwest`'s defaults on the shared store. A failure is the caller's
/// to report: falling back to another client would quietly trust another store.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    builder().build()
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
    use std::{io::Read, net::TcpListener};

    use rustls::{
        ServerConfig, ServerConnection,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    };

    use super::*;

    /// A certificate for localhost and 127.0.0.1 that no authority signed, made for
    /// this test with openssl and valid until 2126. Its key is public on purpose: it
    /// guards nothing.
    const SELF_SIGNED: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBnDCCAUGgAwIBAgIUBihLmmObV3s6fvUnXlkRLpEYg4YwCgYIKoZIzj0EAwIw\n\
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwODAyMjQzMloYDzIxMjYxMTE0\n\
MDIyNDMyWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO\n\
PQMBBwNCAAS6gORPeT9eUnFkw81enU5plEQVZi8x4v7l31ANm7RjVuk3ENTqFhli\n\
GMREs8a34OPXbouuPEzNdvsSD9VOFxE/o28wbTAdBgNVHQ4EFgQU2A2hCJgrF1Gx\n\
ZY21lgErxNjm4lcwHwYDVR0jBBgwFoAU2A2hCJgrF1GxZY21lgErxNjm4lcwDwYD\n\
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI\n\
zj0EAwIDSQAwRgIhAJrKgzmyQGH5rG91DIrloYwmnx7w6pqsEiA30AiHBu7wAiEA\n\
kTbIur3+ZCFxEqwM2b/DMMiTeVQ7SsrEhyHInJT8ucU=\n\
-----END CERTIFICATE-----\n";
    const SELF_SIGNED_KEY: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/s1UkrpQT14uADhQ\n\
Y3UOfYG4flQOX4kvDT5ooovStUShRANCAAS6gORPeT9eUnFkw81enU5plEQVZi8x\n\
4v7l31ANm7RjVuk3ENTqFhliGMREs8a34OPXbouuPEzNdvsSD9VOFxE/\n\
-----END PRIVATE KEY-----\n";

    /// One TLS handshake on loopback with the self-signed certificate; whatever the
    /// client does, the server thread ends with it.
    fn self_signed_server() -> (u16, std::thread::JoinHandle<()>) {
        let certificate = CertificateDer::from_pem_slice(SELF_SIGNED.as_bytes()).expect("cert");
        let key = PrivateKeyDer::from_pem_slice(SELF_SIGNED_KEY.as_bytes()).expect("key");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![certificate], key)
            .expect("server config");
        let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
        let port = listener.local_addr().expect("address").port();
        let server = std::thread::spawn(move || {
            let Ok((mut socket, _)) = listener.accept() else {
                return;
            };
            let Ok(mut connection) = ServerConnection::new(Arc::new(config)) else {
                return;
            };
            let mut stream = rustls::Stream::new(&mut connection, &mut socket);
            let _ = stream.read(&mut [0; 64]);
        });
        (port, server)
    }

    #[tokio::test]
    async fn the_shared_client_refuses_a_certificate_no_authority_signed() {
        let config = shared_config().expect("the system's trust store");
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()],
            "both HTTP versions are offered"
        );
        let (port, server) = self_signed_server();
        let error = client()
            .expect("a client on the shared store")
            .get(format!("https://127.0.0.1:{port}/"))
            .send()
            .await
            .expect_err("an unknown issuer is refused");
        server.join().expect("server thread");
        let mut chain = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            chain.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        assert!(
            chain.contains("invalid peer certificate"),
            "the refusal is the certificate's: {chain}"
        );
    }
}
