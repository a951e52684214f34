//! Delta tables on S3 and S3-compatible servers (MinIO, Ceph, moto), through
//! object_store's own S3 client rather than Delta Lake's AWS SDK integration, which
//! would add the AWS SDK to every build. Commits rely on S3's conditional writes
//! (`If-None-Match: *`), which AWS and the common compatible servers honour, so two
//! writers can never both create the same log entry.

use std::{
    collections::HashMap,
    sync::{Arc, Once},
};

use deltalake::{
    DeltaResult, DeltaTableError,
    logstore::{
        LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig,
        default_logstore, logstore_factories, object_store_factories,
    },
};
use object_store::{
    ObjectStore,
    aws::{AmazonS3Builder, AmazonS3ConfigKey},
    path::Path,
};
use url::Url;

struct S3Stores;

/// An S3 store for `url` (`s3://bucket/prefix`) with `options` (object_store's S3
/// keys: `aws_endpoint`, `aws_region`, `aws_allow_http`, ...) over the `AWS_*`
/// environment, and the path of `url` within the bucket.
pub(crate) fn store(
    url: &Url,
    options: &HashMap<String, String>,
) -> Result<(Arc<dyn ObjectStore>, Path), String> {
    let mut builder = AmazonS3Builder::from_env().with_url(url.as_str());
    for (key, value) in options {
        let key: AmazonS3ConfigKey = key.parse().map_err(|_| {
            format!("'{key}' is not an S3 storage option (object_store's AmazonS3ConfigKey)")
        })?;
        builder = builder.with_config(key, value);
    }
    let store = builder.build().map_err(|error| error.to_string())?;
    let path = Path::from_url_path(url.path()).map_err(|error| error.to_string())?;
    Ok((Arc::new(store), path))
}

impl ObjectStoreFactory for S3Stores {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, Path)> {
        store(url, &config.raw).map_err(DeltaTableError::Generic)
    }
}

struct S3Logs;

impl LogStoreFactory for S3Logs {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

/// Teaches Delta Lake the `s3://` and `s3a://` schemes, once per process.
pub(crate) fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in ["s3://", "s3a://"] {
            if let Ok(url) = Url::parse(scheme) {
                object_store_factories().insert(url.clone(), Arc::new(S3Stores));
                logstore_factories().insert(url, Arc::new(S3Logs));
            }
        }
    });
}
