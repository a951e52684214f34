//! A tenant's roots as open directory handles, and the only ways files and folders
//! are opened below them. Every open is relative to a root's handle through
//! `cap-std`, which resolves each part of the path itself (with `openat2`'s
//! `RESOLVE_BENEATH` where the kernel has it) and refuses anything that would leave
//! the root: `..` past the top, absolute symlinks, symlinks pointing out, or a
//! folder swapped for such a symlink between one call and the next. What is opened
//! is then checked on the handle, not on the name: only regular files with a single
//! link are read, so a device, a FIFO or a hard link to a file elsewhere is refused.

use std::{io, path::PathBuf};

use cap_std::{
    ambient_authority,
    fs::{Dir, File, Metadata, MetadataExt, OpenOptions, OpenOptionsExt},
};
use tideway_core::{CallContext, HubError, mcp::JsonObject};

use super::{
    paths::ToolPath,
    settings::{ClientRoots, FilesConfig, HOME, valid_root_name},
};

/// The most roots one client may name; the rest of its list is not used.
pub const MAX_CLIENT_ROOTS: usize = 64;

/// One of the caller's roots, opened.
pub struct Root {
    pub name: String,
    pub dir: Dir,
    pub writable: bool,
}

/// A root as `list_allowed_directories` shows it.
#[derive(Clone, Debug)]
pub struct RootInfo {
    pub name: String,
    pub writable: bool,
    pub description: String,
}

/// Which roots each tenant has, and where they are.
pub struct Roots {
    config: FilesConfig,
    /// Where tenants' `home` roots live: `<data_dir>/files`.
    homes: PathBuf,
}

impl Roots {
    pub fn new(config: FilesConfig, data_dir: &std::path::Path) -> Self {
        Roots {
            config,
            homes: data_dir.join("files"),
        }
    }

    pub fn config(&self) -> &FilesConfig {
        &self.config
    }

    /// The roots `tenant` may use, by name.
    pub fn list(&self, tenant: &str) -> Vec<RootInfo> {
        let mut roots = Vec::new();
        if self.config.tenant_home {
            roots.push(RootInfo {
                name: HOME.into(),
                writable: true,
                description: "this tenant's own files".into(),
            });
        }
        roots.extend(
            self.config
                .roots
                .iter()
                .filter(|(_, root)| root.granted_to(tenant))
                .map(|(name, root)| RootInfo {
                    name: name.clone(),
                    writable: root.writable,
                    description: root
                        .description
                        .clone()
                        .unwrap_or_else(|| "a folder the operator shares".into()),
                }),
        );
        roots
    }

    /// Opens `tenant`'s root `name`. A root the tenant lacks is answered as missing,
    /// whether or not another tenant has it.
    pub fn open(&self, tenant: &str, name: &str) -> Result<Root, HubError> {
        let unknown = || {
            HubError::NotFound(format!(
                "no root named '{}'; this tenant's roots are: {}",
                tideway_core::error::excerpt(name),
                self.list(tenant)
                    .iter()
                    .map(|root| root.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        };
        let (path, writable) = if name == HOME && self.config.tenant_home {
            let path = self.homes.join(tenant);
            std::fs::create_dir_all(&path).map_err(|error| HubError::Unavailable {
                component: "files".into(),
                reason: format!("the root '{HOME}' cannot be created: {error}"),
            })?;
            (path, true)
        } else {
            let root = self
                .config
                .roots
                .get(name)
                .filter(|root| root.granted_to(tenant))
                .ok_or_else(unknown)?;
            (root.path.clone(), root.writable)
        };
        open_root(name, &path, writable)
    }

    /// The folders the caller's MCP client names as its roots (`roots/list`), each
    /// with the name paths use: the client's name for it when that is free and valid,
    /// else `client-N`. None unless `[files] client_roots` lets clients name roots,
    /// and none when the client cannot answer.
    pub async fn named_by_client(&self, ctx: &CallContext) -> Vec<(String, PathBuf)> {
        // A client that cannot answer is not asked: a 2026-07-28 call would
        // otherwise fail for want of a capability it does not need.
        if self.config.client_roots == ClientRoots::Off || !ctx.client.can_answer("roots/list") {
            return Vec::new();
        }
        let answer = match ctx.client.request("roots/list", JsonObject::new()).await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::debug!(%error, "the client names no roots");
                return Vec::new();
            }
        };
        let mut taken: Vec<String> = self
            .list(ctx.tenant.as_str())
            .into_iter()
            .map(|root| root.name)
            .collect();
        let mut named = Vec::new();
        for root in answer["roots"]
            .as_array()
            .into_iter()
            .flatten()
            .take(MAX_CLIENT_ROOTS)
        {
            // Only local folders: a client root is a `file://` URI of an absolute path.
            let Some(path) = root["uri"]
                .as_str()
                .and_then(|uri| url::Url::parse(uri).ok())
                .filter(|url| url.scheme() == "file")
                .and_then(|url| url.to_file_path().ok())
            else {
                continue;
            };
            let wanted = root["name"]
                .as_str()
                .map(root_name_from)
                .filter(|name| valid_root_name(name) && !taken.contains(name));
            let name = wanted.unwrap_or_else(|| {
                (1..)
                    .map(|n| format!("client-{n}"))
                    .find(|name| !taken.contains(name))
                    .unwrap_or_default()
            });
            taken.push(name.clone());
            named.push((name, path));
        }
        named
    }

    /// The roots the caller may use: the tenant's, then those its client names.
    pub async fn list_for(&self, ctx: &CallContext) -> Vec<RootInfo> {
        let mut roots = self.list(ctx.tenant.as_str());
        let writable = self.config.client_roots == ClientRoots::ReadWrite;
        roots.extend(
            self.named_by_client(ctx)
                .await
                .into_iter()
                .map(|(name, _)| RootInfo {
                    name,
                    writable,
                    description: "a folder the MCP client names as one of its roots".into(),
                }),
        );
        roots
    }

    /// Every root the caller may use, opened; one that cannot be opened is left out.
    pub async fn open_all(&self, ctx: &CallContext) -> Vec<Root> {
        let tenant = ctx.tenant.as_str();
        let mut roots: Vec<Root> = self
            .list(tenant)
            .iter()
            .filter_map(|info| self.open(tenant, &info.name).ok())
            .collect();
        let writable = self.config.client_roots == ClientRoots::ReadWrite;
        roots.extend(
            self.named_by_client(ctx)
                .await
                .into_iter()
                .filter_map(|(name, path)| open_root(&name, &path, writable).ok()),
        );
        roots
    }

    /// Opens the caller's root `name`: the tenant's, or one its client names.
    pub async fn open_for(&self, ctx: &CallContext, name: &str) -> Result<Root, HubError> {
        match self.open(ctx.tenant.as_str(), name) {
            Err(HubError::NotFound(message)) => {
                match self
                    .named_by_client(ctx)
                    .await
                    .into_iter()
                    .find(|(named, _)| named == name)
                {
                    Some((_, path)) => open_root(
                        name,
                        &path,
                        self.config.client_roots == ClientRoots::ReadWrite,
                    ),
                    None => Err(HubError::NotFound(message)),
                }
            }
            other => other,
        }
    }
}

/// A client's name for a root as a root name: lower case, runs of other characters
/// as one `-`.
fn root_name_from(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(64).collect()
}

/// Opens the folder of root `name` as its handle.
fn open_root(name: &str, path: &std::path::Path, writable: bool) -> Result<Root, HubError> {
    let dir = Dir::open_ambient_dir(path, ambient_authority()).map_err(|error| {
        // The host path stays in the log: it tells a caller about the server.
        tracing::warn!(root = name, path = %path.display(), %error, "a root cannot be opened");
        HubError::Unavailable {
            component: "files".into(),
            reason: format!("the root '{name}' cannot be opened on the server"),
        }
    })?;
    Ok(Root {
        name: name.to_string(),
        dir,
        writable,
    })
}

impl Roots {
    /// Removes what writes a crash cut short left in the writable roots: every
    /// tenant's home and the writable granted folders. Returns how many files went.
    pub fn sweep_partials(&self, older_than: std::time::Duration) -> usize {
        let mut folders: Vec<PathBuf> = Vec::new();
        if self.config.tenant_home
            && let Ok(homes) = std::fs::read_dir(&self.homes)
        {
            folders.extend(
                homes
                    .flatten()
                    .filter(|home| home.file_type().is_ok_and(|kind| kind.is_dir()))
                    .map(|home| home.path()),
            );
        }
        folders.extend(
            self.config
                .roots
                .values()
                .filter(|root| root.writable)
                .map(|root| root.path.clone()),
        );
        folders
            .iter()
            .filter_map(|folder| Dir::open_ambient_dir(folder, ambient_authority()).ok())
            .map(|dir| super::writing::sweep_partials(&dir, older_than))
            .sum()
    }
}

impl Root {
    /// Refuses a change when the root is read-only.
    pub fn check_writable(&self, field: &str) -> Result<(), HubError> {
        if self.writable {
            Ok(())
        } else {
            Err(HubError::Forbidden(format!(
                "the root '{}' is read-only ({field})",
                self.name
            )))
        }
    }

    /// Opens the folder at `path` (the root itself when `path` names only it).
    pub fn open_dir(&self, field: &str, path: &ToolPath) -> Result<Dir, HubError> {
        if path.inside.as_os_str().is_empty() {
            return self
                .dir
                .try_clone()
                .map_err(|error| io_error(field, path, error));
        }
        self.dir
            .open_dir(&path.inside)
            .map_err(|error| io_error(field, path, error))
    }

    /// Opens the regular file at `path` to read, with its metadata taken from the
    /// open handle.
    pub fn open_file(&self, field: &str, path: &ToolPath) -> Result<(File, Metadata), HubError> {
        if path.inside.as_os_str().is_empty() {
            return Err(HubError::invalid_argument(
                field,
                format!("'{}' is a root folder, not a file", path.shown()),
            ));
        }
        let mut options = OpenOptions::new();
        // Non-blocking, so a FIFO cannot hang the open; no controlling terminal.
        options
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
        let file = self
            .dir
            .open_with(&path.inside, &options)
            .map_err(|error| io_error(field, path, error))?;
        let metadata = file
            .metadata()
            .map_err(|error| io_error(field, path, error))?;
        check_regular(field, path, &metadata)?;
        Ok((file, metadata))
    }
}

/// Refuses anything but a regular file with one link.
pub fn check_regular(field: &str, path: &ToolPath, metadata: &Metadata) -> Result<(), HubError> {
    if metadata.is_dir() {
        return Err(HubError::invalid_argument(
            field,
            format!(
                "'{}' is a folder; list_directory shows what it holds",
                path.shown()
            ),
        ));
    }
    if !metadata.is_file() {
        return Err(HubError::Forbidden(format!(
            "'{}' is not a regular file (a device, socket or pipe), which Tideway does not open",
            path.shown()
        )));
    }
    // A second name for the same file may be outside the root: its content is not
    // the root's to give.
    if metadata.nlink() > 1 {
        return Err(HubError::Forbidden(format!(
            "'{}' has other hard links, which may lie outside its root; Tideway opens only files with one link",
            path.shown()
        )));
    }
    Ok(())
}

/// What an I/O error means to the caller, naming the argument and the path as the
/// caller wrote it (never the server's own path).
pub fn io_error(field: &str, path: &ToolPath, error: io::Error) -> HubError {
    let shown = path.shown();
    // A symlink the resolver will not follow (a loop, or one `O_NOFOLLOW` met).
    if error.raw_os_error() == Some(libc::ELOOP) {
        return HubError::Forbidden(format!(
            "'{shown}' cannot be reached: it leads outside its root, or the server may not open it"
        ));
    }
    match error.kind() {
        io::ErrorKind::NotFound => HubError::NotFound(format!("'{shown}' does not exist")),
        io::ErrorKind::AlreadyExists => HubError::Conflict(format!(
            "'{shown}' already exists; pass overwrite: true to replace it"
        )),
        // cap-std reports an escape as PermissionDenied, openat2 as EXDEV.
        io::ErrorKind::PermissionDenied | io::ErrorKind::CrossesDevices => {
            HubError::Forbidden(format!(
                "'{shown}' cannot be reached: it leads outside its root, or the server may not open it"
            ))
        }
        io::ErrorKind::NotADirectory => HubError::invalid_argument(
            field,
            format!("a part of '{shown}' is a file, not a folder"),
        ),
        io::ErrorKind::IsADirectory => {
            HubError::invalid_argument(field, format!("'{shown}' is a folder"))
        }
        io::ErrorKind::DirectoryNotEmpty => {
            HubError::Conflict(format!("'{shown}' is a folder that is not empty"))
        }
        io::ErrorKind::InvalidFilename => {
            HubError::invalid_argument(field, format!("'{shown}' is not a valid file name"))
        }
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => HubError::Unavailable {
            component: "files".into(),
            reason: "the file system is full".into(),
        },
        io::ErrorKind::ReadOnlyFilesystem => {
            HubError::Forbidden(format!("'{shown}' is on a read-only file system"))
        }
        _ => {
            tracing::warn!(path = %shown, %error, "a file operation failed");
            HubError::Unavailable {
                component: "files".into(),
                reason: format!("'{shown}': {}", error.kind()),
            }
        }
    }
}
