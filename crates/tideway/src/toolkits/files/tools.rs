//! The files toolkit's MCP tools, with the reference filesystem server's names and
//! argument names, over the reading, walking and writing functions. Each call opens
//! the caller's root for its tenant and runs the file system work on a blocking
//! thread.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    CallContext, HubError,
    typed::{Effect, ToolSet, ToolSpec, ToolText},
};
use utoipa::ToSchema;

use super::{
    FilesState,
    access::Root,
    paths::{self, ToolPath},
    reading::{self, Entry, EntryKind, Lines, TextFile},
    settings::FilesConfig,
    walking::{self, GrepLimits},
    writing::{self, Edit},
};

/// The tools' names, shared by their declarations and anything that calls them.
pub mod names {
    pub const READ_TEXT_FILE: &str = "read_text_file";
    pub const READ_MEDIA_FILE: &str = "read_media_file";
    pub const READ_MULTIPLE_FILES: &str = "read_multiple_files";
    pub const WRITE_FILE: &str = "write_file";
    pub const EDIT_FILE: &str = "edit_file";
    pub const CREATE_DIRECTORY: &str = "create_directory";
    pub const LIST_DIRECTORY: &str = "list_directory";
    pub const LIST_DIRECTORY_WITH_SIZES: &str = "list_directory_with_sizes";
    pub const DIRECTORY_TREE: &str = "directory_tree";
    pub const MOVE_FILE: &str = "move_file";
    pub const SEARCH_FILES: &str = "search_files";
    pub const GREP_FILES: &str = "grep_files";
    pub const GET_FILE_INFO: &str = "get_file_info";
    pub const LIST_ALLOWED_DIRECTORIES: &str = "list_allowed_directories";
    pub const DELETE_FILE: &str = "delete_file";
}

/// The most files one `read_multiple_files` call reads.
const MAX_FILES_PER_READ: usize = 50;
/// How deep `directory_tree` goes unless asked otherwise, and at most.
const DEFAULT_TREE_DEPTH: usize = 5;
const MAX_TREE_DEPTH: usize = 32;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathArgs {
    /// `<root>/<path>`, e.g. `home/notes/today.md`; `list_allowed_directories` names
    /// the roots.
    pub path: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadTextArgs {
    /// `<root>/<path>` of a text file.
    pub path: String,
    /// Only the first this many lines.
    #[schemars(range(min = 1))]
    pub head: Option<usize>,
    /// Only the last this many lines.
    #[schemars(range(min = 1))]
    pub tail: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadMultipleArgs {
    /// Up to 50 paths, `<root>/<path>` each.
    #[schemars(length(min = 1, max = 50))]
    pub paths: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteArgs {
    /// `<root>/<path>` of the file; missing folders above it are created.
    pub path: String,
    /// The whole new content, as text.
    pub content: String,
    /// Replace the file if it exists (off: an existing file is left alone and the
    /// call fails).
    #[serde(default)]
    pub overwrite: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditArgs {
    /// `<root>/<path>` of a UTF-8 text file.
    pub path: String,
    /// Replacements applied in order; each `oldText` must occur exactly once.
    #[schemars(length(min = 1, max = 100))]
    pub edits: Vec<Edit>,
    /// Show the diff without changing the file.
    #[serde(default, rename = "dryRun")]
    pub dry_run: bool,
}

#[derive(Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortBy {
    #[default]
    Name,
    Size,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListWithSizesArgs {
    pub path: String,
    /// `name` (default) or `size` (largest first).
    #[serde(default, rename = "sortBy")]
    pub sort_by: SortBy,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TreeArgs {
    pub path: String,
    /// Levels below `path` to show (default 5, at most 32).
    #[schemars(range(min = 1, max = 32))]
    pub max_depth: Option<usize>,
    /// Globs of entries to leave out, with what they hold (`node_modules`, `*.log`).
    #[serde(default, rename = "excludePatterns")]
    pub exclude_patterns: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveArgs {
    /// `<root>/<path>` of the file or folder to move.
    pub source: String,
    /// Its new `<root>/<path>`, in the same root.
    pub destination: String,
    /// Replace an existing destination.
    #[serde(default)]
    pub overwrite: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// The folder to search below.
    pub path: String,
    /// A glob matched against each entry's path below `path`, or its name when the
    /// glob has no `/`: `*.md`, `reports/**/2026-*.csv`.
    pub pattern: String,
    #[serde(default, rename = "excludePatterns")]
    pub exclude_patterns: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrepArgs {
    /// The folder to search below.
    pub path: String,
    /// A regular expression (Rust syntax) matched against each line.
    pub pattern: String,
    /// Only files whose path or name matches this glob (`*.rs`).
    pub include: Option<String>,
    #[serde(default, rename = "excludePatterns")]
    pub exclude_patterns: Vec<String>,
    #[serde(default)]
    pub case_insensitive: bool,
    /// Stop after this many matching lines (the configured cap at most).
    #[schemars(range(min = 1))]
    pub max_matches: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteArgs {
    pub path: String,
    /// Delete a folder with everything it holds (off: only an empty folder).
    #[serde(default)]
    pub recursive: bool,
}

pub use tideway_core::typed::NoArgs;

/// One file of `read_multiple_files`: its text, or why it could not be read.
#[derive(Serialize, JsonSchema, ToSchema)]
pub struct FileRead {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct FilesRead {
    pub files: Vec<FileRead>,
}

impl ToolText for FilesRead {
    fn text(&self) -> String {
        self.files
            .iter()
            .map(|file| match (&file.text, &file.error) {
                (Some(text), _) => format!("{}:\n{text}", file.path),
                (None, error) => {
                    format!("{}: Error - {}", file.path, error.as_deref().unwrap_or(""))
                }
            })
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}

/// A listing with sizes and totals.
#[derive(Serialize, JsonSchema, ToSchema)]
pub struct SizedListing {
    pub path: String,
    pub entries: Vec<Entry>,
    pub truncated: bool,
    pub files: usize,
    pub folders: usize,
    /// Bytes in the files listed.
    pub total_bytes: u64,
}

impl ToolText for SizedListing {
    fn text(&self) -> String {
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .map(|entry| match entry.size {
                Some(size) => format!("{} {:<40} {size:>12}", entry.kind.tag(), entry.name),
                None => format!("{} {}", entry.kind.tag(), entry.name),
            })
            .collect();
        lines.push(String::new());
        lines.push(format!(
            "{} files, {} folders, {} bytes in all{}",
            self.files,
            self.folders,
            self.total_bytes,
            if self.truncated {
                " (more entries not shown)"
            } else {
                ""
            }
        ));
        lines.join("\n")
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct AllowedRoot {
    /// The first part of every path in it.
    pub name: String,
    pub writable: bool,
    pub description: String,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct AllowedRoots {
    pub roots: Vec<AllowedRoot>,
}

impl ToolText for AllowedRoots {
    fn text(&self) -> String {
        if self.roots.is_empty() {
            return "No roots: the operator has given this tenant no folders.".into();
        }
        let mut lines = vec!["Paths start with one of these roots:".to_string()];
        lines.extend(self.roots.iter().map(|root| {
            format!(
                "{}/ ({}) {}",
                root.name,
                if root.writable {
                    "read-write"
                } else {
                    "read-only"
                },
                root.description
            )
        }));
        lines.join("\n")
    }
}

/// Runs blocking file system work on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, HubError> + Send + 'static,
) -> Result<T, HubError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(HubError::internal)?
}

/// Parses `value` (the argument `field`), opens its root for the caller and runs
/// `work` there on a blocking thread, with the configured limits at hand.
async fn in_root<T: Send + 'static>(
    state: Arc<FilesState>,
    ctx: &CallContext,
    field: &str,
    value: &str,
    work: impl FnOnce(&Root, &ToolPath, &FilesConfig) -> Result<T, HubError> + Send + 'static,
) -> Result<T, HubError> {
    let path = paths::parse(field, value)?;
    let root = state.roots.open_for(ctx, &path.root).await?;
    blocking(move || work(&root, &path, state.roots.config())).await
}

fn read_only(name: &'static str, title: &'static str, description: &'static str) -> ToolSpec {
    ToolSpec {
        name,
        title,
        description,
        effect: Effect::ReadOnly,
        open_world: false,
    }
}

pub fn tool_set() -> ToolSet<FilesState> {
    ToolSet::new()
        .add(
            read_only(
                names::READ_TEXT_FILE,
                "Read a text file",
                "Reads a text file below one of this tenant's roots (path `<root>/<path>`), whole or only its first (`head`) or last (`tail`) lines. The encoding is found from a byte order mark or the bytes; binary files are refused (use read_media_file).",
            ),
            |state: Arc<FilesState>, ctx, args: ReadTextArgs| async move {
                let lines = match (args.head, args.tail) {
                    (Some(_), Some(_)) => {
                        return Err(HubError::invalid_argument(
                            "tail",
                            "give head or tail, not both",
                        ));
                    }
                    (Some(head), None) => Lines::Head(head),
                    (None, Some(tail)) => Lines::Tail(tail),
                    (None, None) => Lines::All,
                };
                in_root(state, &ctx, "path", &args.path, move |root, path, config| {
                    reading::read_text(root, path, lines, config.max_read_bytes)
                })
                .await
            },
        )
        .add(
            read_only(
                names::READ_MEDIA_FILE,
                "Read an image, audio or other binary file",
                "Reads a file as base64 with its MIME type (from its name); images and audio come back as image or audio content.",
            ),
            |state: Arc<FilesState>, ctx, args: PathArgs| async move {
                in_root(state, &ctx, "path", &args.path, |root, path, config| {
                    reading::read_media(root, path, config.max_read_bytes)
                })
                .await
            },
        )
        .add(
            read_only(
                names::READ_MULTIPLE_FILES,
                "Read several text files",
                "Reads up to 50 text files at once; a file that cannot be read gets its error and does not stop the others.",
            ),
            |state: Arc<FilesState>, ctx, args: ReadMultipleArgs| async move {
                if args.paths.len() > MAX_FILES_PER_READ {
                    return Err(HubError::invalid_argument(
                        "paths",
                        format!("names {} files; at most {MAX_FILES_PER_READ} per call", args.paths.len()),
                    ));
                }
                let mut files = Vec::new();
                for (index, value) in args.paths.into_iter().enumerate() {
                    let field = format!("paths[{index}]");
                    let read = in_root(state.clone(), &ctx, &field, &value, |root, path, config| {
                        reading::read_text(root, path, Lines::All, config.max_read_bytes)
                    })
                    .await;
                    files.push(match read {
                        Ok(TextFile { path, text, .. }) => FileRead {
                            path,
                            text: Some(text),
                            error: None,
                        },
                        Err(error) => FileRead {
                            path: tideway_core::error::excerpt(&value),
                            text: None,
                            error: Some(error.to_string()),
                        },
                    });
                }
                Ok(FilesRead { files })
            },
        )
        .add(
            ToolSpec {
                name: names::WRITE_FILE,
                title: "Write a file",
                description: "Writes text to a file in a writable root, creating the folders above it. The write is atomic (readers see the old or the new content). An existing file is replaced only with overwrite: true.",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<FilesState>, ctx, args: WriteArgs| async move {
                in_root(state, &ctx, "path", &args.path, move |root, path, config| {
                    writing::write(root, path, &args.content, args.overwrite, config.max_write_bytes)
                })
                .await
            },
        )
        .add(
            ToolSpec {
                name: names::EDIT_FILE,
                title: "Edit a text file",
                description: "Replaces exact text in a UTF-8 file (each oldText must occur exactly once) and returns a unified diff; dryRun shows the diff without changing the file. The change is written atomically.",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<FilesState>, ctx, args: EditArgs| async move {
                in_root(state, &ctx, "path", &args.path, move |root, path, config| {
                    writing::edit(root, path, &args.edits, args.dry_run, config.max_write_bytes)
                })
                .await
            },
        )
        .add(
            ToolSpec {
                name: names::CREATE_DIRECTORY,
                title: "Create a folder",
                description: "Creates a folder, and the folders above it, in a writable root; a folder that exists is fine.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            |state: Arc<FilesState>, ctx, args: PathArgs| async move {
                in_root(state, &ctx, "path", &args.path, |root, path, _| {
                    writing::create_dir(root, path)
                })
                .await
            },
        )
        .add(
            read_only(
                names::LIST_DIRECTORY,
                "List a folder",
                "Lists a folder's entries by name, each marked [FILE], [DIR] or [LINK]. The path may be a root itself (`home`).",
            ),
            |state: Arc<FilesState>, ctx, args: PathArgs| async move {
                in_root(state, &ctx, "path", &args.path, |root, path, config| {
                    reading::list(root, path, config.max_entries)
                })
                .await
            },
        )
        .add(
            read_only(
                names::LIST_DIRECTORY_WITH_SIZES,
                "List a folder with sizes",
                "Lists a folder's entries with file sizes, sorted by name or size, and the totals.",
            ),
            |state: Arc<FilesState>, ctx, args: ListWithSizesArgs| async move {
                let mut listing = in_root(state, &ctx, "path", &args.path, |root, path, config| {
                    reading::list(root, path, config.max_entries)
                })
                .await?;
                if let SortBy::Size = args.sort_by {
                    listing
                        .entries
                        .sort_by_key(|entry| std::cmp::Reverse(entry.size.unwrap_or(0)));
                }
                let files = listing
                    .entries
                    .iter()
                    .filter(|entry| entry.kind == EntryKind::File)
                    .count();
                let folders = listing
                    .entries
                    .iter()
                    .filter(|entry| entry.kind == EntryKind::Folder)
                    .count();
                let total_bytes = listing.entries.iter().filter_map(|entry| entry.size).sum();
                Ok(SizedListing {
                    path: listing.path,
                    entries: listing.entries,
                    truncated: listing.truncated,
                    files,
                    folders,
                    total_bytes,
                })
            },
        )
        .add(
            read_only(
                names::DIRECTORY_TREE,
                "Show a folder tree",
                "Returns the tree below a folder as nested entries (name, type, children), max_depth levels deep (default 5), leaving out entries that excludePatterns match. Symlinks are shown, not followed.",
            ),
            |state: Arc<FilesState>, ctx, args: TreeArgs| async move {
                let exclude = walking::globs("excludePatterns", &args.exclude_patterns)?;
                let depth = args.max_depth.unwrap_or(DEFAULT_TREE_DEPTH).clamp(1, MAX_TREE_DEPTH);
                in_root(state, &ctx, "path", &args.path, move |root, path, config| {
                    walking::tree(root, path, depth, &exclude, config.max_entries)
                })
                .await
            },
        )
        .add(
            ToolSpec {
                name: names::MOVE_FILE,
                title: "Move or rename",
                description: "Moves or renames a file or folder within one root; an existing destination is replaced only with overwrite: true.",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<FilesState>, ctx, args: MoveArgs| async move {
                let source = paths::parse("source", &args.source)?;
                let destination = paths::parse("destination", &args.destination)?;
                let root = state.roots.open_for(&ctx, &source.root).await?;
                blocking(move || writing::rename(&root, &source, &destination, args.overwrite))
                    .await
            },
        )
        .add(
            read_only(
                names::SEARCH_FILES,
                "Find files by name",
                "Finds files and folders below a folder whose path matches a glob (or whose name does, for a glob without '/'): `*.md`, `**/report-*.csv`.",
            ),
            |state: Arc<FilesState>, ctx, args: SearchArgs| async move {
                let pattern = walking::globs("pattern", std::slice::from_ref(&args.pattern))?;
                let exclude = walking::globs("excludePatterns", &args.exclude_patterns)?;
                in_root(state, &ctx, "path", &args.path, move |root, path, config| {
                    walking::search(root, path, &pattern, &exclude, config.max_entries)
                })
                .await
            },
        )
        .add(
            read_only(
                names::GREP_FILES,
                "Search file contents",
                "Finds lines matching a regular expression in the text files below a folder (optionally only files an include glob picks), with path and line number. Binary and very large files are skipped and counted.",
            ),
            |state: Arc<FilesState>, ctx, args: GrepArgs| async move {
                let pattern = walking::regex("pattern", &args.pattern, args.case_insensitive)?;
                let include = args
                    .include
                    .as_ref()
                    .map(|glob| walking::globs("include", std::slice::from_ref(glob)))
                    .transpose()?;
                let exclude = walking::globs("excludePatterns", &args.exclude_patterns)?;
                let max_matches = args.max_matches;
                in_root(state, &ctx, "path", &args.path, move |root, path, config| {
                    let limits = GrepLimits {
                        max_matches: max_matches
                            .unwrap_or(config.max_grep_matches)
                            .clamp(1, config.max_grep_matches),
                        max_file_bytes: config.max_grep_file_bytes,
                    };
                    walking::grep(root, path, &pattern, include.as_ref(), &exclude, &limits)
                })
                .await
            },
        )
        .add(
            read_only(
                names::GET_FILE_INFO,
                "Get facts about a file",
                "Returns a file's or folder's kind, size, times and permissions, and whether the caller may change it. A symlink is described as itself.",
            ),
            |state: Arc<FilesState>, ctx, args: PathArgs| async move {
                in_root(state, &ctx, "path", &args.path, |root, path, _| reading::info(root, path))
                    .await
            },
        )
        .add(
            read_only(
                names::LIST_ALLOWED_DIRECTORIES,
                "List the roots",
                "Lists the roots this tenant's paths may start with, and whether each is writable.",
            ),
            |state: Arc<FilesState>, ctx, _args: NoArgs| async move {
                Ok(AllowedRoots {
                    roots: state
                        .roots
                        .list_for(&ctx)
                        .await
                        .into_iter()
                        .map(|root| AllowedRoot {
                            name: root.name,
                            writable: root.writable,
                            description: root.description,
                        })
                        .collect(),
                })
            },
        )
        .add(
            ToolSpec {
                name: names::DELETE_FILE,
                title: "Delete a file or folder",
                description: "Deletes a file, a symlink (not what it points to) or an empty folder in a writable root; recursive: true deletes a folder with everything in it.",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<FilesState>, ctx, args: DeleteArgs| async move {
                let recursive = args.recursive;
                in_root(state, &ctx, "path", &args.path, move |root, path, _| {
                    writing::delete(root, path, recursive)
                })
                .await
            },
        )
}
