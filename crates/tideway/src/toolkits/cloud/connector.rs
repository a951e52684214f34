//! The HTTP client the object store library uses for a tenant's accounts: ours, so
//! its connections go through the same egress check as every other request Tideway
//! makes for a tenant (`crate::egress`: names are resolved once, internal answers are
//! refused, and the connection goes only to the checked addresses).

use async_trait::async_trait;
use http_body_util::BodyExt;
use object_store::{
    ClientOptions,
    client::{
        HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
        HttpResponseBody, HttpService,
    },
};

/// Hands the object store library `client` for every store it builds.
#[derive(Clone, Debug)]
pub struct Connector {
    pub client: reqwest::Client,
}

impl HttpConnector for Connector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(Service(self.client.clone())))
    }
}

#[derive(Debug)]
struct Service(reqwest::Client);

fn kind_of(error: &reqwest::Error) -> HttpErrorKind {
    if error.is_timeout() {
        HttpErrorKind::Timeout
    } else if error.is_connect() {
        HttpErrorKind::Connect
    } else if error.is_body() || error.is_decode() {
        HttpErrorKind::Decode
    } else if error.is_request() {
        HttpErrorKind::Request
    } else {
        HttpErrorKind::Unknown
    }
}

#[async_trait]
impl HttpService for Service {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let url = reqwest::Url::parse(&parts.uri.to_string())
            .map_err(|error| HttpError::new(HttpErrorKind::Request, error))?;
        let mut outgoing = reqwest::Request::new(parts.method, url);
        *outgoing.headers_mut() = parts.headers;
        *outgoing.body_mut() = Some(reqwest::Body::wrap(body));
        let response = self
            .0
            .execute(outgoing)
            .await
            .map_err(|error| HttpError::new(kind_of(&error), error))?;
        let response: http::Response<reqwest::Body> = response.into();
        let (parts, body) = response.into_parts();
        let body = body.map_err(|error| HttpError::new(kind_of(&error), error));
        Ok(HttpResponse::from_parts(parts, HttpResponseBody::new(body)))
    }
}
