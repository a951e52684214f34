//! The object tools (upload, download, presign, describe, delete; listing is in
//! `listing.rs`) over every backend the object store library serves: S3 and
//! S3-compatible stores and Azure Blob Storage (through our HTTP client, so tenants'
//! accounts stay behind the egress check) and local folders the operator grants. Bucket and key names are
//! checked before any store is touched; downloads stream and stop at the cap, so a
//! large object is never held whole; large uploads go up in parts.

use std::{sync::Arc, time::Duration};

use base64::Engine;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use http::Method;
use object_store::{
    Attribute, Attributes, ClientOptions, GetOptions, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, PutOptions, PutPayload, RetryConfig, StaticCredentialProvider,
    aws::{AmazonS3, AmazonS3Builder},
    azure::MicrosoftAzure,
    local::LocalFileSystem,
    path::Path,
    signer::Signer,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{HubError, error::excerpt, typed::ToolText};

use super::{
    CloudState,
    accounts::{Account, AwsAccount, Backend, Credentials, missing},
    aws::hub,
    diagnosis::of_object_store,
};

/// Bodies above this go up as a multipart upload, in parts of this size.
const MULTIPART_PART_BYTES: usize = 8 * 1024 * 1024;
const MAX_KEY_BYTES: usize = 1024;

/// A store for one bucket of one account.
pub enum Bucket {
    S3(AmazonS3),
    Azure(MicrosoftAzure),
    Local(LocalFileSystem),
}

impl Bucket {
    pub(super) fn store(&self) -> &dyn ObjectStore {
        match self {
            Bucket::S3(store) => store,
            Bucket::Azure(store) => store,
            Bucket::Local(store) => store,
        }
    }

    /// Whether it keeps an object's media type (a local folder keeps bytes only).
    fn keeps_content_type(&self) -> bool {
        !matches!(self, Bucket::Local(_))
    }

    /// Its presigning side; a local folder has no web endpoint to presign for.
    fn signer(&self) -> Option<&dyn Signer> {
        match self {
            Bucket::S3(store) => Some(store),
            Bucket::Azure(store) => Some(store),
            Bucket::Local(_) => None,
        }
    }
}

/// A bucket name as S3 defines it (3-63 lower-case letters, digits, '.' and '-',
/// starting and ending with a letter or digit); for a local account it is also a
/// folder name, so this keeps it inside the account's folder.
pub fn check_bucket_name(bucket: &str) -> Result<(), HubError> {
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !bucket.contains("..");
    if valid {
        Ok(())
    } else {
        Err(HubError::invalid_argument(
            "bucket",
            format!(
                "'{}' is not a bucket name (3-63 lower-case letters, digits, '.' and '-')",
                excerpt(bucket)
            ),
        ))
    }
}

/// An object key as a path: '/'-separated parts, none empty, '.' or '..', no
/// control characters, at most 1,024 bytes.
pub fn object_path(field: &str, key: &str) -> Result<Path, HubError> {
    let invalid =
        |reason: &str| HubError::invalid_argument(field, format!("'{}' {reason}", excerpt(key)));
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(invalid("must be 1-1024 bytes"));
    }
    if key.starts_with('/') || key.ends_with('/') {
        return Err(invalid("must not start or end with '/'"));
    }
    if key.chars().any(char::is_control) {
        return Err(invalid("has control characters"));
    }
    Path::parse(key).map_err(|_| {
        invalid("is not a key: its '/'-separated parts must not be empty, '.' or '..'")
    })
}

pub(super) fn prefix_path(prefix: &str) -> Result<Option<Path>, HubError> {
    if prefix.is_empty() {
        return Ok(None);
    }
    object_path("prefix", prefix.trim_end_matches('/')).map(Some)
}

impl CloudState {
    /// The store for `bucket` of `account`, after the bucket passes the account's
    /// restriction (a bucket outside it answers as missing).
    pub async fn bucket(&self, account: &Account, bucket: &str) -> Result<Bucket, HubError> {
        check_bucket_name(bucket)?;
        account.check_bucket(bucket)?;
        match &account.backend {
            Backend::Local { root } => {
                let folder = root.join(bucket);
                if !tokio::fs::metadata(&folder)
                    .await
                    .is_ok_and(|meta| meta.is_dir())
                {
                    return Err(missing("bucket", bucket, &account.name));
                }
                LocalFileSystem::new_with_prefix(&folder)
                    .map(Bucket::Local)
                    .map_err(|error| of_object_store(&error).into_hub(&account.name))
            }
            Backend::Aws(aws) => self
                .s3(aws, bucket)
                .map(Bucket::S3)
                .map_err(hub(&account.name)),
            Backend::Azure(azure) => self
                .azure_container(azure, bucket)
                .map(Bucket::Azure)
                .map_err(hub(&account.name)),
        }
    }

    fn s3(&self, aws: &AwsAccount, bucket: &str) -> Result<AmazonS3, super::diagnosis::Failure> {
        let mut builder = match &aws.credentials {
            Credentials::ProviderChain => AmazonS3Builder::from_env(),
            Credentials::Static { key_id, secret } => {
                AmazonS3Builder::new().with_credentials(Arc::new(StaticCredentialProvider::new(
                    object_store::aws::AwsCredential {
                        key_id: key_id.clone(),
                        secret_key: secret.to_string(),
                        token: None,
                    },
                )))
            }
        };
        builder = builder
            .with_region(&aws.region)
            .with_bucket_name(bucket)
            .with_http_connector(self.clients.connector(aws.guarded))
            .with_client_options(
                ClientOptions::new().with_timeout(Duration::from_secs(self.config.timeout_secs)),
            )
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(self.config.timeout_secs),
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &aws.endpoint {
            builder = builder
                .with_endpoint(endpoint.as_str().trim_end_matches('/'))
                .with_allow_http(endpoint.scheme() == "http")
                .with_virtual_hosted_style_request(false);
        }
        builder.build().map_err(|error| of_object_store(&error))
    }
}

pub(super) fn store_error(
    account: &Account,
    bucket: &str,
    key: Option<&str>,
) -> impl Fn(object_store::Error) -> HubError + use<> {
    let account = account.name.clone();
    let bucket = bucket.to_string();
    let key = key.map(str::to_string);
    move |error| {
        let failure = of_object_store(&error);
        match (failure.kind, &key) {
            ("not_found", Some(key)) if !failure.detail.contains("NoSuchBucket") => {
                HubError::NotFound(format!(
                    "no object '{}' in bucket '{bucket}' of account '{account}'",
                    excerpt(key)
                ))
            }
            ("not_found", _) => missing("bucket", &bucket, &account),
            _ => failure.into_hub(&account),
        }
    }
}

// ---- upload ----------------------------------------------------------------

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// UTF-8 text, stored as given.
    #[default]
    Text,
    /// Base64 of the bytes.
    Base64,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadArgs {
    /// The account (default: the tenant's only one).
    #[serde(default)]
    pub account: Option<String>,
    pub bucket: String,
    pub key: String,
    /// The object's body, as text or base64 (see `encoding`).
    pub content: String,
    #[serde(default)]
    pub encoding: Encoding,
    /// Its media type (guessed from the key when absent).
    #[serde(default)]
    pub content_type: Option<String>,
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct Uploaded {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub content_type: String,
    pub etag: Option<String>,
    pub version: Option<String>,
    /// Whether it went up in parts.
    pub multipart: bool,
}

impl ToolText for Uploaded {
    fn text(&self) -> String {
        format!(
            "stored {} bytes at {}/{} ({})",
            self.size, self.bucket, self.key, self.content_type
        )
    }
}

fn guess_type(key: &str) -> String {
    mime_guess::from_path(key)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_string()
}

pub async fn upload(
    state: &CloudState,
    account: &Account,
    args: UploadArgs,
) -> Result<Uploaded, HubError> {
    let path = object_path("key", &args.key)?;
    let body = match args.encoding {
        Encoding::Text => Bytes::from(args.content.into_bytes()),
        Encoding::Base64 => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(args.content.as_bytes())
                .map_err(|error| {
                    HubError::invalid_argument("content", format!("is not base64: {error}"))
                })?,
        ),
    };
    let limit = state.config.max_upload_bytes;
    if body.len() as u64 > limit {
        return Err(HubError::invalid_argument(
            "content",
            format!(
                "is {} bytes; objects up to {limit} bytes are accepted ([cloud] max_upload_bytes)",
                body.len()
            ),
        ));
    }
    let content_type = match args.content_type {
        Some(given) => {
            if given.parse::<mime_guess::mime::Mime>().is_err() {
                return Err(HubError::invalid_argument(
                    "content_type",
                    format!("'{}' is not a media type", excerpt(&given)),
                ));
            }
            given
        }
        None => guess_type(&args.key),
    };
    let bucket = state.bucket(account, &args.bucket).await?;
    let fail = store_error(account, &args.bucket, None);
    // A local folder keeps bytes only; its media type is guessed from the key.
    let mut attributes = Attributes::new();
    if bucket.keeps_content_type() {
        attributes.insert(Attribute::ContentType, content_type.clone().into());
    }
    let size = body.len() as u64;
    let multipart = body.len() > 2 * MULTIPART_PART_BYTES;
    let done = if multipart {
        let upload = bucket
            .store()
            .put_multipart_opts(
                &path,
                PutMultipartOptions {
                    attributes,
                    ..Default::default()
                },
            )
            .await
            .map_err(&fail)?;
        let mut writer =
            object_store::WriteMultipart::new_with_chunk_size(upload, MULTIPART_PART_BYTES);
        writer.put(body);
        writer.finish().await.map_err(&fail)?
    } else {
        bucket
            .store()
            .put_opts(
                &path,
                PutPayload::from(body),
                PutOptions {
                    attributes,
                    ..Default::default()
                },
            )
            .await
            .map_err(&fail)?
    };
    Ok(Uploaded {
        bucket: args.bucket,
        key: args.key,
        size,
        content_type,
        etag: done.e_tag,
        version: done.version,
        multipart,
    })
}

// ---- download --------------------------------------------------------------

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadArgs {
    #[serde(default)]
    pub account: Option<String>,
    pub bucket: String,
    pub key: String,
    /// The most bytes returned (capped by the server's limit).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_bytes: Option<u64>,
    /// Return a presigned URL instead of the content, so a large object does not
    /// fill the conversation.
    #[serde(default)]
    pub presign: bool,
    /// How long the presigned URL stays valid (default 900 s).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub expires_secs: Option<u64>,
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct Downloaded {
    pub bucket: String,
    pub key: String,
    /// The whole object's size.
    pub size: u64,
    pub content_type: String,
    /// `text`, `base64`, or `url` (presigned).
    pub encoding: &'static str,
    /// The content (or its first `max_bytes`), or the presigned URL.
    pub content: String,
    /// Whether the content stops before the object's end.
    pub truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl ToolText for Downloaded {
    fn text(&self) -> String {
        match self.encoding {
            "text" if !self.truncated => self.content.clone(),
            "text" => format!(
                "{}\n[truncated: {} of {} bytes shown]",
                self.content,
                self.content.len(),
                self.size
            ),
            "url" => format!(
                "presigned URL (until {:?}): {}",
                self.expires_at, self.content
            ),
            _ => format!(
                "{} bytes of {} ({}), base64{}:\n{}",
                self.size,
                self.key,
                self.content_type,
                if self.truncated { ", truncated" } else { "" },
                self.content
            ),
        }
    }
}

fn looks_textual(content_type: &str, bytes: &[u8]) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let declared_text = essence.starts_with("text/")
        || matches!(
            essence,
            "application/json"
                | "application/xml"
                | "application/yaml"
                | "application/x-yaml"
                | "application/javascript"
                | "application/csv"
                | "application/x-ndjson"
        )
        || essence.ends_with("+json")
        || essence.ends_with("+xml");
    let declared_binary = essence.starts_with("image/")
        || essence.starts_with("audio/")
        || essence.starts_with("video/")
        || essence == "application/pdf"
        || essence == "application/zip";
    if declared_binary {
        return false;
    }
    // A cut may split a character: judge the complete part.
    let valid = match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none() && error.valid_up_to() + 4 > bytes.len(),
    };
    valid && (declared_text || !bytes.contains(&0))
}

pub async fn download(
    state: &CloudState,
    account: &Account,
    args: DownloadArgs,
) -> Result<Downloaded, HubError> {
    let path = object_path("key", &args.key)?;
    let bucket = state.bucket(account, &args.bucket).await?;
    let fail = store_error(account, &args.bucket, Some(&args.key));
    if args.presign {
        let meta = bucket.store().head(&path).await.map_err(&fail)?;
        let (url, expires_at) =
            presigned(state, &bucket, Method::GET, &path, args.expires_secs).await?;
        return Ok(Downloaded {
            bucket: args.bucket,
            size: meta.size,
            content_type: guess_type(&args.key),
            key: args.key,
            encoding: "url",
            content: url,
            truncated: false,
            expires_at: Some(expires_at),
        });
    }
    let cap = args
        .max_bytes
        .unwrap_or(state.config.max_download_bytes)
        .min(state.config.max_download_bytes);
    let got = bucket
        .store()
        .get_opts(&path, GetOptions::default())
        .await
        .map_err(&fail)?;
    let size = got.meta.size;
    let content_type = got
        .attributes
        .get(&Attribute::ContentType)
        .map(|value| value.to_string())
        .unwrap_or_else(|| guess_type(&args.key));
    // Read up to the cap and drop the rest of the stream unread.
    let mut stream = got.into_stream();
    let mut body = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(&fail)?;
        let room = (cap as usize).saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() as u64 >= cap {
            break;
        }
    }
    let truncated = (body.len() as u64) < size;
    let (encoding, content) = if looks_textual(&content_type, &body) {
        let text = match std::str::from_utf8(&body) {
            Ok(text) => text.to_string(),
            Err(error) => String::from_utf8_lossy(&body[..error.valid_up_to()]).into_owned(),
        };
        ("text", text)
    } else {
        (
            "base64",
            base64::engine::general_purpose::STANDARD.encode(&body),
        )
    };
    Ok(Downloaded {
        bucket: args.bucket,
        key: args.key,
        size,
        content_type,
        encoding,
        content,
        truncated,
        expires_at: None,
    })
}

// ---- presign ---------------------------------------------------------------

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresignMethod {
    #[default]
    Get,
    Put,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PresignArgs {
    #[serde(default)]
    pub account: Option<String>,
    pub bucket: String,
    pub key: String,
    /// `get` (download) or `put` (upload).
    #[serde(default)]
    pub method: PresignMethod,
    /// How long the URL stays valid (default 900 s).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub expires_secs: Option<u64>,
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct Presigned {
    pub url: String,
    pub method: &'static str,
    pub expires_at: DateTime<Utc>,
}

impl ToolText for Presigned {
    fn text(&self) -> String {
        format!(
            "{} {} (valid until {})",
            self.method, self.url, self.expires_at
        )
    }
}

async fn presigned(
    state: &CloudState,
    bucket: &Bucket,
    method: Method,
    path: &Path,
    expires_secs: Option<u64>,
) -> Result<(String, DateTime<Utc>), HubError> {
    let secs = expires_secs.unwrap_or(900);
    if secs > state.config.max_presign_secs {
        return Err(HubError::invalid_argument(
            "expires_secs",
            format!(
                "is at most {} ([cloud] max_presign_secs)",
                state.config.max_presign_secs
            ),
        ));
    }
    let Some(signer) = bucket.signer() else {
        return Err(HubError::Unsupported(
            "a local account cannot presign URLs: it has no web endpoint".into(),
        ));
    };
    let url = signer
        .signed_url(method, path, Duration::from_secs(secs))
        .await
        .map_err(|error| of_object_store(&error).into_hub("presign"))?;
    Ok((
        url.to_string(),
        Utc::now() + chrono::Duration::seconds(secs as i64),
    ))
}

pub async fn presign(
    state: &CloudState,
    account: &Account,
    args: PresignArgs,
) -> Result<Presigned, HubError> {
    let path = object_path("key", &args.key)?;
    let bucket = state.bucket(account, &args.bucket).await?;
    let method = match args.method {
        PresignMethod::Get => Method::GET,
        PresignMethod::Put => Method::PUT,
    };
    let (url, expires_at) =
        presigned(state, &bucket, method.clone(), &path, args.expires_secs).await?;
    Ok(Presigned {
        url,
        method: if method == Method::GET { "GET" } else { "PUT" },
        expires_at,
    })
}

// ---- info, delete --------------------------------------------------------

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectArgs {
    #[serde(default)]
    pub account: Option<String>,
    pub bucket: String,
    pub key: String,
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct ObjectInfo {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub version: Option<String>,
    pub last_modified: DateTime<Utc>,
    /// User metadata (`x-amz-meta-*`) and other attributes.
    pub metadata: std::collections::BTreeMap<String, String>,
}

impl ToolText for ObjectInfo {}

pub async fn info(
    state: &CloudState,
    account: &Account,
    args: ObjectArgs,
) -> Result<ObjectInfo, HubError> {
    let path = object_path("key", &args.key)?;
    let bucket = state.bucket(account, &args.bucket).await?;
    let fail = store_error(account, &args.bucket, Some(&args.key));
    let got = bucket
        .store()
        .get_opts(
            &path,
            GetOptions {
                head: true,
                ..Default::default()
            },
        )
        .await
        .map_err(&fail)?;
    let mut content_type = None;
    let mut metadata = std::collections::BTreeMap::new();
    for (attribute, value) in got.attributes.iter() {
        match attribute {
            Attribute::ContentType => content_type = Some(value.to_string()),
            Attribute::Metadata(name) => {
                metadata.insert(name.to_string(), value.to_string());
            }
            other => {
                metadata.insert(format!("{other:?}"), value.to_string());
            }
        }
    }
    Ok(ObjectInfo {
        bucket: args.bucket,
        key: args.key,
        size: got.meta.size,
        content_type: content_type
            .or_else(|| matches!(bucket, Bucket::Local(_)).then(|| guess_type(path.as_ref()))),
        etag: got.meta.e_tag,
        version: got.meta.version,
        last_modified: got.meta.last_modified,
        metadata,
    })
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct Deleted {
    pub bucket: String,
    pub key: String,
    pub deleted: bool,
}

impl ToolText for Deleted {
    fn text(&self) -> String {
        format!("deleted {}/{}", self.bucket, self.key)
    }
}

pub async fn delete(
    state: &CloudState,
    account: &Account,
    args: ObjectArgs,
) -> Result<Deleted, HubError> {
    let path = object_path("key", &args.key)?;
    let bucket = state.bucket(account, &args.bucket).await?;
    let fail = store_error(account, &args.bucket, Some(&args.key));
    // S3 answers a delete of a missing key with success; say it was missing instead.
    bucket.store().head(&path).await.map_err(&fail)?;
    bucket.store().delete(&path).await.map_err(&fail)?;
    Ok(Deleted {
        bucket: args.bucket,
        key: args.key,
        deleted: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for good in ["abc", "tickets-2026", "a.b.c", "0-9"] {
            assert!(check_bucket_name(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "Tickets",
            "-abc",
            "abc-",
            "a..b",
            "../x",
            "a/b",
            "a b",
            &"x".repeat(64),
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_refuse_what_would_escape_or_not_round_trip() {
        for good in [
            "a",
            "tickets/2026/report.pdf",
            "odd name (1).txt",
            "ünïcode/ß",
        ] {
            assert!(object_path("key", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "../x",
            "a/../b",
            "./a",
            "a\nb",
            &"k".repeat(1025),
        ] {
            assert!(object_path("key", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn text_is_told_from_binary() {
        assert!(looks_textual("text/plain", b"hello"));
        assert!(looks_textual("application/octet-stream", b"plain words"));
        assert!(!looks_textual("application/octet-stream", b"a\0b"));
        assert!(!looks_textual("image/png", b"\x89PNG"));
        assert!(!looks_textual("text/plain", b"\xff\xfe\xfa"));
        // A cut in the middle of a character is still text.
        assert!(looks_textual("text/plain", "añ".as_bytes().split_at(2).0));
    }
}
