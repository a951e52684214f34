//! Signed requests to AWS's JSON and REST APIs (Lambda, SSM, S3's bucket list), with
//! the object store library's SigV4 signer, so no AWS SDK is needed; other clouds'
//! signed requests go out through the same clients (`send_signed`). One HTTP client
//! for tenants' accounts (held to `[cloud] allow` through `crate::egress`) and one for
//! the operator's; each answer's body is read up to a cap, and an error answer becomes
//! a classified [`Failure`].

use std::{sync::Arc, time::Duration};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use object_store::{
    aws::{AmazonS3Builder, AwsAuthorizer, AwsCredential},
    client::{HttpRequest, HttpRequestBody},
};
use tideway_core::HubError;
use url::Url;

use super::{
    accounts::{AwsAccount, Credentials},
    connector::Connector,
    diagnosis::{Failure, of_service, of_transport, read_error_body},
    settings::CloudConfig,
};
use crate::egress::{CheckedResolver, Policy};

/// One request to one service.
pub struct Call {
    /// The signing name: `lambda`, `ssm`, `s3`.
    pub service: &'static str,
    pub method: Method,
    /// The path and query below the service's endpoint, starting with `/`.
    pub target: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// The most bytes of the answer read; beyond it the answer is `truncated`.
    pub max_body: u64,
}

/// A service's successful answer.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub truncated: bool,
}

pub struct Clients {
    guarded: reqwest::Client,
    trusted: reqwest::Client,
}

impl Clients {
    pub fn new(config: &CloudConfig, policy: Arc<Policy>) -> Result<Self, String> {
        let builder = || {
            crate::http_client::builder()
                .timeout(Duration::from_secs(config.timeout_secs))
                .connect_timeout(Duration::from_secs(config.timeout_secs.min(10)))
                .redirect(reqwest::redirect::Policy::none())
        };
        Ok(Clients {
            guarded: builder()
                .dns_resolver(Arc::new(CheckedResolver(policy)))
                .build()
                .map_err(|error| error.to_string())?,
            trusted: builder().build().map_err(|error| error.to_string())?,
        })
    }

    /// The client a tenant's own account (`guarded`) or the operator's goes through.
    pub fn for_guard(&self, guarded: bool) -> &reqwest::Client {
        if guarded {
            &self.guarded
        } else {
            &self.trusted
        }
    }

    /// The object store library's connector for an account.
    pub fn connector(&self, guarded: bool) -> Connector {
        Connector {
            client: self.for_guard(guarded).clone(),
        }
    }

    /// The account's credentials for signing.
    pub async fn credential(&self, aws: &AwsAccount) -> Result<Arc<AwsCredential>, Failure> {
        match &aws.credentials {
            Credentials::Static { key_id, secret } => Ok(Arc::new(AwsCredential {
                key_id: key_id.clone(),
                secret_key: secret.to_string(),
                token: None,
            })),
            Credentials::ProviderChain => {
                // The library's S3 builder reads the environment, profile, web
                // identity and instance metadata; its provider serves any service.
                let store = AmazonS3Builder::from_env()
                    .with_region(&aws.region)
                    .with_bucket_name("tideway-credentials")
                    .with_http_connector(self.connector(aws.guarded))
                    .build()
                    .map_err(|error| Failure {
                        kind: "auth",
                        detail: error.to_string(),
                        hint: "the server's environment gives no usable AWS credentials",
                    })?;
                store
                    .credentials()
                    .get_credential()
                    .await
                    .map_err(|error| Failure {
                        kind: "auth",
                        detail: tideway_core::error::bounded(&error.to_string(), 300).into_owned(),
                        hint: "the server's environment gives no usable AWS credentials",
                    })
            }
        }
    }

    /// Signs and sends `call`; an error answer becomes a [`Failure`].
    pub async fn send(&self, aws: &AwsAccount, call: Call) -> Result<Reply, Failure> {
        let base = endpoint(aws, call.service);
        let url = base.join(&call.target).map_err(|error| Failure {
            kind: "invalid",
            detail: error.to_string(),
            hint: "the request's path does not form a URL",
        })?;
        let credential = self.credential(aws).await?;
        let mut request: HttpRequest = http::Request::builder()
            .method(call.method)
            .uri(url.as_str())
            .body(HttpRequestBody::from(call.body.clone()))
            .map_err(|error| Failure {
                kind: "invalid",
                detail: error.to_string(),
                hint: "the request could not be built",
            })?;
        for (name, value) in call.headers {
            request.headers_mut().insert(name, value);
        }
        AwsAuthorizer::new(&credential, call.service, &aws.region).authorize(&mut request, None);
        self.send_signed(aws.guarded, request, call.body, call.max_body)
            .await
    }

    /// Sends a request already signed (by any cloud's signer) through the client
    /// `guarded` picks; reads the answer up to `max_body`, and an error answer's code
    /// from AWS's or Azure's error header or from the body.
    pub async fn send_signed(
        &self,
        guarded: bool,
        request: HttpRequest,
        body: Bytes,
        max_body: u64,
    ) -> Result<Reply, Failure> {
        let (parts, _) = request.into_parts();
        let url = Url::parse(&parts.uri.to_string()).map_err(|error| Failure {
            kind: "invalid",
            detail: error.to_string(),
            hint: "the request's path does not form a URL",
        })?;
        let mut outgoing = reqwest::Request::new(parts.method, url);
        *outgoing.headers_mut() = parts.headers;
        *outgoing.body_mut() = Some(body.into());
        let mut response = self
            .for_guard(guarded)
            .execute(outgoing)
            .await
            .map_err(|error| of_transport(&error))?;
        let status = response.status();
        let headers = response.headers().clone();
        let cap = if status.is_success() {
            max_body
        } else {
            64 * 1024
        };
        let mut body = BytesMut::new();
        let mut truncated = false;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| of_transport(&error))?
        {
            let room = cap.saturating_sub(body.len() as u64) as usize;
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let error_type = ["x-amzn-errortype", "x-ms-error-code"]
                .iter()
                .find_map(|name| headers.get(*name))
                .and_then(|value| value.to_str().ok());
            let (code, message) = read_error_body(error_type, &body);
            return Err(of_service(status.as_u16(), &code, &message));
        }
        Ok(Reply {
            status,
            headers,
            body: body.freeze(),
            truncated,
        })
    }

    /// An AWS JSON 1.1 action (SSM): `X-Amz-Target: <prefix>.<action>`.
    pub async fn json_action(
        &self,
        aws: &AwsAccount,
        service: &'static str,
        target_prefix: &str,
        action: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, Failure> {
        let reply = self
            .send(
                aws,
                Call {
                    service,
                    method: Method::POST,
                    target: "/".into(),
                    headers: vec![
                        (
                            HeaderName::from_static("x-amz-target"),
                            HeaderValue::from_str(&format!("{target_prefix}.{action}")).map_err(
                                |error| Failure {
                                    kind: "invalid",
                                    detail: error.to_string(),
                                    hint: "the action name",
                                },
                            )?,
                        ),
                        (
                            http::header::CONTENT_TYPE,
                            HeaderValue::from_static("application/x-amz-json-1.1"),
                        ),
                    ],
                    body: Bytes::from(body.to_string()),
                    max_body: 16 * 1024 * 1024,
                },
            )
            .await?;
        serde_json::from_slice(&reply.body).map_err(|error| Failure {
            kind: "service",
            detail: format!("the answer is not JSON: {error}"),
            hint: "the endpoint may not serve this service",
        })
    }
}

/// The service's endpoint: the account's own, or AWS's regional one.
pub fn endpoint(aws: &AwsAccount, service: &str) -> Url {
    match &aws.endpoint {
        Some(endpoint) => endpoint.clone(),
        None => Url::parse(&format!("https://{service}.{}.amazonaws.com/", aws.region))
            .unwrap_or_else(|_| Url::parse("https://amazonaws.com/").expect("a fixed URL")),
    }
}

/// A failure as a tool's error.
pub fn hub(account: &str) -> impl Fn(Failure) -> HubError + '_ {
    move |failure| failure.into_hub(account)
}
