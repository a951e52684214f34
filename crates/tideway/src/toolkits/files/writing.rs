//! Changing files below a writable root. A write goes to a new file beside the
//! target, is flushed to disk, and then takes the target's name in one step, so a
//! reader (or a crash) sees the old content or the new, never part of it; without
//! `overwrite` the name is taken with a hard link, which fails if it exists, so
//! nothing is clobbered even by a file created a moment before.

use std::io::Write;

use cap_std::fs::{Dir, OpenOptions};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{HubError, typed::ToolText};
use utoipa::ToSchema;

use super::{
    access::{Root, check_regular, io_error},
    paths::ToolPath,
};

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Written {
    pub path: String,
    pub bytes: usize,
    /// Whether it replaced an existing file.
    pub replaced: bool,
}

impl ToolText for Written {
    fn text(&self) -> String {
        format!(
            "{} {} ({} bytes).",
            if self.replaced { "Replaced" } else { "Wrote" },
            self.path,
            self.bytes
        )
    }
}

/// One replacement in `edit_file`.
#[derive(Clone, Debug, Deserialize, JsonSchema, ToSchema)]
pub struct Edit {
    /// Text to find; it must occur exactly once.
    #[serde(rename = "oldText")]
    pub old_text: String,
    /// Text to put in its place.
    #[serde(rename = "newText")]
    pub new_text: String,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Edited {
    pub path: String,
    /// The change as a unified diff.
    pub diff: String,
    /// Whether the file was changed (not with `dryRun`).
    pub applied: bool,
}

impl ToolText for Edited {
    fn text(&self) -> String {
        format!(
            "{}{}",
            self.diff,
            if self.applied {
                ""
            } else {
                "\n(dry run: nothing was changed)"
            }
        )
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Changed {
    pub path: String,
    /// What happened, in a word: `created`, `existed`, `moved`, `deleted`.
    pub outcome: String,
}

impl ToolText for Changed {
    fn text(&self) -> String {
        format!("{}: {}.", self.path, self.outcome)
    }
}

/// The folder that will hold `path`, created (inside the root) when missing, and
/// the name `path` has in it.
fn parent_of(root: &Root, field: &str, path: &ToolPath) -> Result<(Dir, String), HubError> {
    let (parent, name) = path.split_parent().ok_or_else(|| {
        HubError::invalid_argument(
            field,
            format!("'{}' is a root folder, not a file", path.shown()),
        )
    })?;
    // Such names are the new files of writes in progress, hidden and swept.
    if is_partial(&name) {
        return Err(reserved(field, path));
    }
    if !parent.as_os_str().is_empty() {
        root.dir
            .create_dir_all(&parent)
            .map_err(|error| io_error(field, path, error))?;
    }
    let parent_path = ToolPath {
        root: path.root.clone(),
        inside: parent,
    };
    Ok((root.open_dir(field, &parent_path)?, name))
}

/// How the new file of a write in progress is named, beside its target. A crash
/// leaves it behind; listings hide it and `sweep_partials` removes it later.
const PARTIAL_PREFIX: &str = ".tideway-";
const PARTIAL_SUFFIX: &str = ".partial";

/// Whether `name` is the new file of a write in progress (or of one a crash cut).
pub fn is_partial(name: &str) -> bool {
    name.starts_with(PARTIAL_PREFIX) && name.ends_with(PARTIAL_SUFFIX)
}

/// The error for a path that names a write in progress.
fn reserved(field: &str, path: &ToolPath) -> HubError {
    HubError::invalid_argument(
        field,
        format!(
            "'{}' has a name Tideway keeps for writes in progress ({PARTIAL_PREFIX}*{PARTIAL_SUFFIX}); choose another",
            path.shown()
        ),
    )
}

/// Writes `bytes` as the file `name` in `dir` in one step; `Ok(true)` when it
/// replaced a file.
fn replace_atomically(
    dir: &Dir,
    name: &str,
    bytes: &[u8],
    overwrite: bool,
) -> std::io::Result<bool> {
    let temp = format!(
        "{PARTIAL_PREFIX}{}{PARTIAL_SUFFIX}",
        uuid::Uuid::new_v4().simple()
    );
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    let written = dir.open_with(&temp, &options).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(error) = written {
        let _ = dir.remove_file(&temp);
        return Err(error);
    }
    let existed = dir.symlink_metadata(name).is_ok();
    let placed = if overwrite {
        dir.rename(&temp, dir, name)
    } else {
        dir.hard_link(&temp, dir, name)
            .and_then(|()| dir.remove_file(&temp))
    };
    if let Err(error) = placed {
        let _ = dir.remove_file(&temp);
        return Err(error);
    }
    // The rename is durable once the folder itself is flushed.
    if let Ok(handle) = dir.try_clone() {
        let _ = handle.into_std_file().sync_all();
    }
    Ok(existed && overwrite)
}

/// Writes `content` to `path`, creating the folders it needs; refuses to replace
/// an existing file unless `overwrite`.
pub fn write(
    root: &Root,
    path: &ToolPath,
    content: &str,
    overwrite: bool,
    max_bytes: u64,
) -> Result<Written, HubError> {
    root.check_writable("path")?;
    if content.len() as u64 > max_bytes {
        return Err(HubError::invalid_argument(
            "content",
            format!(
                "is {} bytes, more than the {max_bytes} one write may hold",
                content.len()
            ),
        ));
    }
    let (dir, name) = parent_of(root, "path", path)?;
    let replaced = replace_atomically(&dir, &name, content.as_bytes(), overwrite)
        .map_err(|error| io_error("path", path, error))?;
    Ok(Written {
        path: path.shown(),
        bytes: content.len(),
        replaced,
    })
}

/// Applies exact-text replacements to a UTF-8 file and returns the diff; with
/// `dry_run` the file is left as it was.
pub fn edit(
    root: &Root,
    path: &ToolPath,
    edits: &[Edit],
    dry_run: bool,
    max_bytes: u64,
) -> Result<Edited, HubError> {
    if !dry_run {
        root.check_writable("path")?;
    }
    if edits.is_empty() {
        return Err(HubError::invalid_argument("edits", "names no edit"));
    }
    let original = super::reading::read_text(root, path, super::reading::Lines::All, max_bytes)?;
    if original.encoding != "UTF-8" {
        return Err(HubError::invalid_argument(
            "path",
            format!(
                "'{}' is {}, and edit_file changes UTF-8 files only; write_file can replace it",
                path.shown(),
                original.encoding
            ),
        ));
    }
    let mut text = original.text.clone();
    for (index, edit) in edits.iter().enumerate() {
        let field = format!("edits[{index}].oldText");
        if edit.old_text.is_empty() {
            return Err(HubError::invalid_argument(field, "is empty"));
        }
        match text.matches(edit.old_text.as_str()).count() {
            0 => {
                return Err(HubError::invalid_argument(
                    field,
                    format!(
                        "'{}' does not occur in {} (after the edits before it); copy the text exactly, whitespace included",
                        tideway_core::error::excerpt(&edit.old_text),
                        path.shown()
                    ),
                ));
            }
            1 => text = text.replacen(edit.old_text.as_str(), &edit.new_text, 1),
            count => {
                return Err(HubError::invalid_argument(
                    field,
                    format!(
                        "'{}' occurs {count} times in {}; include more of the text around it so it occurs once",
                        tideway_core::error::excerpt(&edit.old_text),
                        path.shown()
                    ),
                ));
            }
        }
    }
    let shown = path.shown();
    let diff = similar::TextDiff::from_lines(&original.text, &text)
        .unified_diff()
        .context_radius(3)
        .header(&shown, &shown)
        .to_string();
    if !dry_run {
        let (dir, name) = parent_of(root, "path", path)?;
        replace_atomically(&dir, &name, text.as_bytes(), true)
            .map_err(|error| io_error("path", path, error))?;
    }
    Ok(Edited {
        path: shown,
        diff,
        applied: !dry_run,
    })
}

/// Creates the folder at `path` and those above it; fine if it exists.
pub fn create_dir(root: &Root, path: &ToolPath) -> Result<Changed, HubError> {
    root.check_writable("path")?;
    if path.inside.as_os_str().is_empty() {
        return Ok(Changed {
            path: path.shown(),
            outcome: "existed".into(),
        });
    }
    if path
        .inside
        .iter()
        .any(|part| is_partial(&part.to_string_lossy()))
    {
        return Err(reserved("path", path));
    }
    let existed = root
        .dir
        .metadata(&path.inside)
        .map(|metadata| metadata.is_dir())
        .unwrap_or(false);
    root.dir
        .create_dir_all(&path.inside)
        .map_err(|error| io_error("path", path, error))?;
    Ok(Changed {
        path: path.shown(),
        outcome: if existed { "existed" } else { "created" }.into(),
    })
}

/// Moves or renames a file or folder within one root.
pub fn rename(
    root: &Root,
    source: &ToolPath,
    destination: &ToolPath,
    overwrite: bool,
) -> Result<Changed, HubError> {
    root.check_writable("destination")?;
    if source.root != destination.root {
        return Err(HubError::invalid_argument(
            "destination",
            format!(
                "is in the root '{}' and the source in '{}'; move_file moves within one root (read the file and write it to copy across roots)",
                destination.root, source.root
            ),
        ));
    }
    let (source_dir, source_name) = source
        .split_parent()
        .ok_or_else(|| HubError::invalid_argument("source", "a root folder cannot be moved"))?;
    let source_dir = root.open_dir(
        "source",
        &ToolPath {
            root: source.root.clone(),
            inside: source_dir,
        },
    )?;
    // The source must exist and be a file or folder this root may hand out.
    let metadata = source_dir
        .symlink_metadata(&source_name)
        .map_err(|error| io_error("source", source, error))?;
    if metadata.is_file() {
        check_regular("source", source, &metadata)?;
    }
    let (destination_dir, destination_name) = parent_of(root, "destination", destination)?;
    if !overwrite && destination_dir.symlink_metadata(&destination_name).is_ok() {
        return Err(HubError::Conflict(format!(
            "'{}' already exists; pass overwrite: true to replace it",
            destination.shown()
        )));
    }
    source_dir
        .rename(&source_name, &destination_dir, &destination_name)
        .map_err(|error| io_error("destination", destination, error))?;
    Ok(Changed {
        path: destination.shown(),
        outcome: "moved".into(),
    })
}

/// Deletes a file, or a folder (with what it holds only when `recursive`).
pub fn delete(root: &Root, path: &ToolPath, recursive: bool) -> Result<Changed, HubError> {
    root.check_writable("path")?;
    if path.inside.as_os_str().is_empty() {
        return Err(HubError::invalid_argument(
            "path",
            format!("'{}' is a root, which cannot be deleted", path.shown()),
        ));
    }
    let metadata = root
        .dir
        .symlink_metadata(&path.inside)
        .map_err(|error| io_error("path", path, error))?;
    let io = |error| io_error("path", path, error);
    if metadata.is_dir() {
        if recursive {
            root.dir.remove_dir_all(&path.inside).map_err(io)?;
        } else {
            root.dir.remove_dir(&path.inside).map_err(|error| {
                if error.kind() == std::io::ErrorKind::DirectoryNotEmpty {
                    HubError::Conflict(format!(
                        "'{}' is a folder that is not empty; pass recursive: true to delete it with what it holds",
                        path.shown()
                    ))
                } else {
                    io_error("path", path, error)
                }
            })?;
        }
    } else {
        // A symlink is removed itself, never what it points to.
        root.dir.remove_file(&path.inside).map_err(io)?;
    }
    Ok(Changed {
        path: path.shown(),
        outcome: "deleted".into(),
    })
}

/// Removes the new files of writes a crash cut short, below `dir`: those older than
/// `older_than` (a younger one may belong to a write still running, here or in
/// another replica sharing the folder). Symlinks are not followed. Returns how many
/// were removed.
pub fn sweep_partials(dir: &Dir, older_than: std::time::Duration) -> usize {
    fn sweep(
        dir: &Dir,
        older_than: std::time::Duration,
        depth: usize,
        budget: &mut usize,
    ) -> usize {
        let Ok(entries) = dir.entries() else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            if *budget == 0 {
                break;
            }
            *budget -= 1;
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            if kind.is_dir() && depth < 64 {
                if let Ok(child) = dir.open_dir(&name) {
                    removed += sweep(&child, older_than, depth + 1, budget);
                }
            } else if kind.is_file() && is_partial(&name) {
                let old = entry
                    .metadata()
                    .and_then(|metadata| metadata.modified())
                    .ok()
                    .and_then(|modified| modified.into_std().elapsed().ok())
                    .is_some_and(|age| age >= older_than);
                if old && dir.remove_file(&name).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
    }
    let mut budget = 1_000_000;
    sweep(dir, older_than, 0, &mut budget)
}
