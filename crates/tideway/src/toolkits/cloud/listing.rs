//! Listing: a bucket's objects (below a prefix, one folder level with a delimiter, a
//! page at a time by cursor) and an account's buckets (S3's bucket list, or a local
//! account's subfolders), each filtered by the account's bucket patterns.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use http::Method;
use object_store::ObjectMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{HubError, typed::ToolText};

use super::{
    CloudState,
    accounts::{Account, Backend},
    aws::{Call, hub},
    objects::{check_bucket_name, object_path, prefix_path, store_error},
};

const MAX_LIST_KEYS: usize = 1000;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListObjectsArgs {
    #[serde(default)]
    pub account: Option<String>,
    pub bucket: String,
    /// Only keys below this prefix (a folder: `tickets/2026/`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Group keys by '/' below the prefix: one level, with sub-folders as
    /// `common_prefixes`.
    #[serde(default)]
    pub delimiter: bool,
    /// The most entries (default 100, at most 1000).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub max_keys: Option<usize>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct ObjectEntry {
    pub key: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    pub etag: Option<String>,
}

impl From<ObjectMeta> for ObjectEntry {
    fn from(meta: ObjectMeta) -> Self {
        ObjectEntry {
            key: meta.location.to_string(),
            size: meta.size,
            last_modified: meta.last_modified,
            etag: meta.e_tag,
        }
    }
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct ObjectListing {
    pub bucket: String,
    pub objects: Vec<ObjectEntry>,
    pub common_prefixes: Vec<String>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

impl ToolText for ObjectListing {
    fn text(&self) -> String {
        let mut lines: Vec<String> = self
            .common_prefixes
            .iter()
            .map(|prefix| format!("{prefix}/"))
            .collect();
        lines.extend(self.objects.iter().map(|object| {
            format!(
                "{} ({} bytes, {})",
                object.key, object.size, object.last_modified
            )
        }));
        if let Some(cursor) = &self.next_cursor {
            lines.push(format!("[more: cursor {cursor}]"));
        }
        lines.join("\n")
    }
}

pub async fn list_objects(
    state: &CloudState,
    account: &Account,
    args: ListObjectsArgs,
) -> Result<ObjectListing, HubError> {
    let prefix = prefix_path(args.prefix.as_deref().unwrap_or_default())?;
    let limit = args.max_keys.unwrap_or(100).clamp(1, MAX_LIST_KEYS);
    let cursor = match &args.cursor {
        Some(cursor) => Some(object_path("cursor", cursor)?),
        None => None,
    };
    let bucket = state.bucket(account, &args.bucket).await?;
    let fail = store_error(account, &args.bucket, None);
    let (mut objects, mut common_prefixes, next_cursor) = if args.delimiter {
        let listed = bucket
            .store()
            .list_with_delimiter(prefix.as_ref())
            .await
            .map_err(&fail)?;
        // One level: folders and objects in key order, after the cursor.
        let mut entries: Vec<(String, Option<ObjectMeta>)> = listed
            .common_prefixes
            .into_iter()
            .map(|path| (path.to_string(), None))
            .chain(
                listed
                    .objects
                    .into_iter()
                    .map(|meta| (meta.location.to_string(), Some(meta))),
            )
            .filter(|(key, _)| {
                cursor
                    .as_ref()
                    .is_none_or(|cursor| key.as_str() > cursor.as_ref())
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let more = entries.len() > limit;
        entries.truncate(limit);
        let next = more
            .then(|| entries.last().map(|(key, _)| key.clone()))
            .flatten();
        let mut objects = Vec::new();
        let mut prefixes = Vec::new();
        for (key, meta) in entries {
            match meta {
                Some(meta) => objects.push(ObjectEntry::from(meta)),
                None => prefixes.push(key),
            }
        }
        (objects, prefixes, next)
    } else {
        let stream = match &cursor {
            Some(cursor) => bucket.store().list_with_offset(prefix.as_ref(), cursor),
            None => bucket.store().list(prefix.as_ref()),
        };
        let mut metas: Vec<ObjectMeta> =
            stream.take(limit + 1).try_collect().await.map_err(&fail)?;
        // Local listings come in directory order, not key order.
        metas.sort_by(|a, b| a.location.cmp(&b.location));
        let more = metas.len() > limit;
        metas.truncate(limit);
        let next = more
            .then(|| metas.last().map(|meta| meta.location.to_string()))
            .flatten();
        (
            metas.into_iter().map(ObjectEntry::from).collect(),
            Vec::new(),
            next,
        )
    };
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    common_prefixes.sort();
    Ok(ObjectListing {
        bucket: args.bucket,
        objects,
        common_prefixes,
        next_cursor,
    })
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct BucketEntry {
    pub name: String,
    pub created: Option<DateTime<Utc>>,
}

#[derive(Serialize, JsonSchema, utoipa::ToSchema)]
pub struct BucketList {
    pub account: String,
    pub buckets: Vec<BucketEntry>,
}

impl ToolText for BucketList {
    fn text(&self) -> String {
        self.buckets
            .iter()
            .map(|bucket| bucket.name.clone())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The text between `<tag>` and `</tag>` for each occurrence in `xml`.
pub(super) fn xml_values<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut values = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        rest = &rest[start + open.len()..];
        let Some(end) = rest.find(&close) else { break };
        values.push(&rest[..end]);
        rest = &rest[end + close.len()..];
    }
    values
}

pub async fn list_buckets(state: &CloudState, account: &Account) -> Result<BucketList, HubError> {
    let mut buckets = Vec::new();
    match &account.backend {
        Backend::Local { root } => {
            let mut entries =
                tokio::fs::read_dir(root)
                    .await
                    .map_err(|error| HubError::Unavailable {
                        component: format!("cloud account '{}'", account.name),
                        reason: format!("its folder cannot be read: {}", error.kind()),
                    })?;
            while let Ok(Some(entry)) = entries.next_entry().await {
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                let is_dir = entry.file_type().await.is_ok_and(|kind| kind.is_dir());
                if is_dir && check_bucket_name(&name).is_ok() {
                    let created = entry
                        .metadata()
                        .await
                        .ok()
                        .and_then(|meta| meta.created().ok())
                        .map(DateTime::<Utc>::from);
                    buckets.push(BucketEntry { name, created });
                }
            }
        }
        Backend::Azure(azure) => {
            let names = state
                .azure_containers(azure, None)
                .await
                .map_err(hub(&account.name))?;
            buckets.extend(names.into_iter().map(|name| BucketEntry {
                name,
                created: None,
            }));
        }
        Backend::Aws(aws) => {
            let reply = state
                .clients
                .send(
                    aws,
                    Call {
                        service: "s3",
                        method: Method::GET,
                        target: "/".into(),
                        headers: Vec::new(),
                        body: Bytes::new(),
                        max_body: 8 * 1024 * 1024,
                    },
                )
                .await
                .map_err(hub(&account.name))?;
            let xml = String::from_utf8_lossy(&reply.body);
            for block in xml_values(&xml, "Bucket") {
                let Some(name) = xml_values(block, "Name")
                    .first()
                    .map(|name| name.to_string())
                else {
                    continue;
                };
                let created = xml_values(block, "CreationDate")
                    .first()
                    .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                    .map(|time| time.with_timezone(&Utc));
                buckets.push(BucketEntry { name, created });
            }
        }
    }
    buckets.retain(|bucket| account.buckets.allows(&bucket.name));
    buckets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(BucketList {
        account: account.name.clone(),
        buckets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_lists_are_read_from_s3s_xml() {
        let xml = "<ListAllMyBucketsResult><Buckets><Bucket><Name>one</Name><CreationDate>2026-01-02T03:04:05.000Z</CreationDate></Bucket><Bucket><Name>two</Name></Bucket></Buckets></ListAllMyBucketsResult>";
        let blocks = xml_values(xml, "Bucket");
        assert_eq!(blocks.len(), 2);
        assert_eq!(xml_values(blocks[0], "Name"), vec!["one"]);
        assert_eq!(xml_values(blocks[1], "CreationDate"), Vec::<&str>::new());
    }
}
