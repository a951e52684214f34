//! The files as MCP resources, `file://{root}/{path}`: each root's top-level files
//! are listed, and any file below a root is read by its URI, text as text and
//! anything else as a base64 blob, through the same checks as the tools.

use percent_encoding::percent_decode_str;
use tideway_core::{
    CallContext, HubError,
    mcp::{Resource, ResourceContents, ResourceTemplate},
};

use super::{FilesState, access::Root, paths, reading};

pub const PREFIX: &str = "file://";

/// The most files `resources/list` names (the template reaches the rest).
const MAX_LISTED: usize = 100;

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("file://{root}/{path}", "file").with_description(
            "A file below one of this tenant's roots (list_allowed_directories names them).",
        ),
    ]
}

/// The top-level files of each of the caller's roots.
pub async fn list(state: &FilesState, ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
    let roots: Vec<Root> = state.roots.open_all(ctx).await;
    tokio::task::spawn_blocking(move || {
        let mut resources = Vec::new();
        for root in roots {
            let path = paths::ToolPath {
                root: root.name.clone(),
                inside: Default::default(),
            };
            let Ok(listing) = reading::list(&root, &path, MAX_LISTED) else {
                continue;
            };
            for entry in listing.entries {
                if resources.len() == MAX_LISTED {
                    return resources;
                }
                if entry.kind != reading::EntryKind::File {
                    continue;
                }
                let shown = path.join(&entry.name).shown();
                let mut resource = Resource::new(format!("{PREFIX}{shown}"), entry.name.clone())
                    .with_mime_type(mime_of(&entry.name));
                resource.size = entry.size;
                resources.push(resource);
            }
        }
        resources
    })
    .await
    .map_err(HubError::internal)
}

/// Reads `file://{root}/{path}`.
pub async fn read(
    state: &FilesState,
    ctx: &CallContext,
    uri: &str,
) -> Result<Vec<ResourceContents>, HubError> {
    let encoded = uri
        .strip_prefix(PREFIX)
        .ok_or_else(|| HubError::ResourceNotFound(uri.to_string()))?;
    let decoded = percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|_| HubError::invalid_argument("uri", "is not UTF-8 once decoded"))?;
    let path = paths::parse("uri", &decoded)?;
    let root = state.roots.open_for(ctx, &path.root).await?;
    let max = state.roots.config().max_read_bytes;
    let uri = uri.to_string();
    tokio::task::spawn_blocking(move || {
        let mime = mime_of(&path.inside.to_string_lossy());
        match reading::read_text(&root, &path, reading::Lines::All, max) {
            Ok(text) => Ok(vec![
                ResourceContents::text(text.text, &uri).with_mime_type(mime),
            ]),
            // Not text: the bytes, as a blob.
            Err(HubError::InvalidArguments { message, .. }) if message.contains("binary") => {
                let media = reading::read_media(&root, &path, max)?;
                Ok(vec![
                    ResourceContents::blob(media.data, &uri).with_mime_type(media.mime_type),
                ])
            }
            Err(error) => Err(error),
        }
    })
    .await
    .map_err(HubError::internal)?
}

fn mime_of(name: &str) -> String {
    mime_guess::from_path(name)
        .first()
        .map(|mime| mime.essence_str().to_string())
        .unwrap_or_else(|| "text/plain".into())
}
