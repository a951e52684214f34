//! Azure Blob Storage: a container as an object store (the object store library's
//! Azure client, on our HTTP client so a tenant's account stays behind the egress
//! check), and the one account-level call that library does not make, listing
//! containers (also `test_account`'s probe), signed with the account's shared key.

use std::time::Duration;

use bytes::Bytes;
use object_store::{
    ClientOptions, RetryConfig,
    azure::{
        AzureAccessKey, AzureAuthorizer, AzureCredential, MicrosoftAzure, MicrosoftAzureBuilder,
    },
    client::{HttpRequest, HttpRequestBody},
};

use super::{
    CloudState,
    accounts::AzureAccount,
    diagnosis::{Failure, of_object_store},
};

impl CloudState {
    /// The store for one container of an Azure account.
    pub(super) fn azure_container(
        &self,
        azure: &AzureAccount,
        container: &str,
    ) -> Result<MicrosoftAzure, Failure> {
        MicrosoftAzureBuilder::new()
            .with_account(&azure.storage_account)
            .with_access_key(azure.key.as_str())
            .with_container_name(container)
            .with_endpoint(azure.url.as_str().trim_end_matches('/').to_string())
            .with_http_connector(self.clients.connector(azure.guarded))
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(Duration::from_secs(self.config.timeout_secs))
                    .with_allow_http(azure.url.scheme() == "http"),
            )
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(self.config.timeout_secs),
                ..RetryConfig::default()
            })
            .build()
            .map_err(|error| of_object_store(&error))
    }

    /// The names of the account's containers (one page of up to `max`, Azure's
    /// default 5,000). Azure does not say when a container was created.
    pub(super) async fn azure_containers(
        &self,
        azure: &AzureAccount,
        max: Option<u32>,
    ) -> Result<Vec<String>, Failure> {
        let mut target = format!("{}/?comp=list", azure.url.as_str().trim_end_matches('/'));
        if let Some(max) = max {
            target.push_str(&format!("&maxresults={max}"));
        }
        let key = AzureAccessKey::try_new(&azure.key).map_err(|_| Failure {
            kind: "auth",
            detail: "the account key is not base64".into(),
            hint: "store the key as the Azure portal shows it",
        })?;
        let credential = AzureCredential::AccessKey(key);
        let mut request: HttpRequest = http::Request::builder()
            .method(http::Method::GET)
            .uri(&target)
            .body(HttpRequestBody::from(Bytes::new()))
            .map_err(|error| Failure {
                kind: "invalid",
                detail: error.to_string(),
                hint: "the account's URL does not form a request",
            })?;
        AzureAuthorizer::new(&credential, &azure.storage_account).authorize(&mut request);
        let reply = self
            .clients
            .send_signed(azure.guarded, request, Bytes::new(), 8 * 1024 * 1024)
            .await?;
        let xml = String::from_utf8_lossy(&reply.body);
        Ok(super::listing::xml_values(&xml, "Container")
            .into_iter()
            .filter_map(|block| {
                super::listing::xml_values(block, "Name")
                    .first()
                    .map(|name| name.to_string())
            })
            .collect())
    }
}
