//! Walking a folder below a root: the tree, finding files by glob, and searching
//! contents by regular expression. Each walk opens folders through the handle of
//! their parent and never follows a symlink, so it stays in the root and ends; each
//! is bounded by entry, match and size caps and says when it stopped early.

use std::{
    io::{BufRead, BufReader},
    iter::Peekable,
};

use cap_std::fs::{Dir, MetadataExt};
use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::{Regex, RegexBuilder};
use schemars::JsonSchema;
use serde::Serialize;
use tideway_core::{HubError, typed::ToolText};
use utoipa::ToSchema;

use super::{
    access::{Root, io_error},
    paths::ToolPath,
    reading::EntryKind,
};

/// The most entries any walk looks at, matched or not: a bound on the time one call
/// may take on a huge tree.
const MAX_VISITED: usize = 200_000;

/// The longest matching line `grep_files` returns; longer ones are cut.
const MAX_LINE_CHARS: usize = 300;

/// One node of a folder tree.
#[derive(Serialize, JsonSchema, ToSchema)]
pub struct TreeNode {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    /// A folder's entries (absent for files, and for folders below `max_depth`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<TreeNode>>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Tree {
    pub path: String,
    pub tree: Vec<TreeNode>,
    /// Whether entries were left out (the entry cap, not `max_depth`).
    pub truncated: bool,
}

impl ToolText for Tree {
    fn text(&self) -> String {
        fn draw(nodes: &[TreeNode], depth: usize, lines: &mut Vec<String>) {
            for node in nodes {
                let slash = if node.kind == EntryKind::Folder {
                    "/"
                } else {
                    ""
                };
                lines.push(format!("{}{}{slash}", "  ".repeat(depth), node.name));
                if let Some(children) = &node.children {
                    draw(children, depth + 1, lines);
                }
            }
        }
        let mut lines = vec![format!("{}/", self.path)];
        draw(&self.tree, 1, &mut lines);
        if self.truncated {
            lines.push("(more entries not shown)".into());
        }
        lines.join("\n")
    }
}

/// Paths found by `search_files`.
#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Found {
    pub paths: Vec<String>,
    pub truncated: bool,
}

impl ToolText for Found {
    fn text(&self) -> String {
        if self.paths.is_empty() {
            return "No matches.".into();
        }
        let mut text = self.paths.join("\n");
        if self.truncated {
            text.push_str("\n(more matches not shown)");
        }
        text
    }
}

/// One line that matched.
#[derive(Serialize, JsonSchema, ToSchema)]
pub struct LineMatch {
    pub path: String,
    /// Counted from 1.
    pub line_number: usize,
    pub line: String,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct GrepResult {
    pub matches: Vec<LineMatch>,
    /// Files skipped: larger than the cap, binary, or not readable.
    pub skipped_files: usize,
    pub truncated: bool,
}

impl ToolText for GrepResult {
    fn text(&self) -> String {
        let mut lines: Vec<String> = self
            .matches
            .iter()
            .map(|found| format!("{}:{}: {}", found.path, found.line_number, found.line))
            .collect();
        if lines.is_empty() {
            lines.push("No matches.".into());
        }
        if self.truncated {
            lines.push("(more matches not shown)".into());
        }
        if self.skipped_files > 0 {
            lines.push(format!("({} files skipped)", self.skipped_files));
        }
        lines.join("\n")
    }
}

/// Globs from an argument; the error names the argument and the pattern.
pub fn globs(field: &str, patterns: &[String]) -> Result<GlobSet, HubError> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|error| {
            HubError::invalid_argument(
                field,
                format!(
                    "'{}' is not a glob pattern: {error}",
                    tideway_core::error::excerpt(pattern)
                ),
            )
        })?;
        set.add(glob);
    }
    set.build()
        .map_err(|error| HubError::invalid_argument(field, error.to_string()))
}

/// Whether a glob set matches an entry, by its path below the walk's start or, for a
/// pattern without `/`, by its name alone (so `*.md` finds Markdown at any depth).
fn matches(set: &GlobSet, relative: &str, name: &str) -> bool {
    set.is_match(relative) || set.is_match(name)
}

/// Walks the folder at `start` depth first, calling `visit` with each entry's path
/// below `start`, its name, kind, and its open parent; stops when `visit` says so or
/// after `MAX_VISITED` entries. Excluded entries are skipped with what is below them.
fn walk(
    dir: &Dir,
    relative: &str,
    depth: usize,
    max_depth: usize,
    exclude: &GlobSet,
    state: &mut WalkState,
    visit: &mut dyn FnMut(&Dir, &str, &str, EntryKind, &mut WalkState) -> bool,
) -> std::io::Result<()> {
    let mut entries: Vec<(String, EntryKind)> = Vec::new();
    for entry in dir.entries()? {
        let entry = entry?;
        let kind = EntryKind::of_type(entry.file_type()?);
        let name = entry.file_name().to_string_lossy().into_owned();
        // A write in progress (or one a crash cut short) is not part of the tree.
        if !super::writing::is_partial(&name) {
            entries.push((name, kind));
        }
    }
    entries.sort();
    for (name, kind) in entries {
        if state.stopped {
            return Ok(());
        }
        state.visited += 1;
        if state.visited > MAX_VISITED {
            state.stopped = true;
            state.truncated = true;
            return Ok(());
        }
        let path = if relative.is_empty() {
            name.clone()
        } else {
            format!("{relative}/{name}")
        };
        if matches(exclude, &path, &name) {
            continue;
        }
        if !visit(dir, &path, &name, kind, state) {
            state.stopped = true;
            return Ok(());
        }
        if kind == EntryKind::Folder && depth < max_depth {
            // Opened through its parent's handle; a folder swapped for a symlink since
            // the listing is still resolved inside the root.
            match dir.open_dir(&name) {
                Ok(child) => walk(&child, &path, depth + 1, max_depth, exclude, state, visit)?,
                Err(_) => state.skipped += 1,
            }
        }
    }
    Ok(())
}

#[derive(Default)]
struct WalkState {
    visited: usize,
    skipped: usize,
    stopped: bool,
    truncated: bool,
}

/// The tree below `path`, `max_depth` levels deep, at most `max_entries` nodes.
pub fn tree(
    root: &Root,
    path: &ToolPath,
    max_depth: usize,
    exclude: &GlobSet,
    max_entries: usize,
) -> Result<Tree, HubError> {
    let dir = root.open_dir("path", path)?;
    // The walk is depth first in name order, so each folder's entries follow it:
    // nodes are collected flat with their depth, then nested in one pass.
    let mut flat: Vec<(usize, String, EntryKind)> = Vec::new();
    let mut state = WalkState::default();
    walk(
        &dir,
        "",
        1,
        max_depth,
        exclude,
        &mut state,
        &mut |_, relative, name, kind, state| {
            if flat.len() == max_entries {
                state.truncated = true;
                return false;
            }
            let depth = relative.matches('/').count() + 1;
            flat.push((depth, name.to_string(), kind));
            true
        },
    )
    .map_err(|error| io_error("path", path, error))?;
    Ok(Tree {
        path: path.shown(),
        tree: nest(&mut flat.into_iter().peekable(), 1, max_depth),
        truncated: state.truncated,
    })
}

fn nest(
    nodes: &mut Peekable<impl Iterator<Item = (usize, String, EntryKind)>>,
    depth: usize,
    max_depth: usize,
) -> Vec<TreeNode> {
    let mut level = Vec::new();
    while let Some((node_depth, _, _)) = nodes.peek() {
        if *node_depth < depth {
            break;
        }
        let Some((node_depth, name, kind)) = nodes.next() else {
            break;
        };
        if node_depth > depth {
            continue;
        }
        let children = (kind == EntryKind::Folder && depth < max_depth)
            .then(|| nest(nodes, depth + 1, max_depth));
        level.push(TreeNode {
            name,
            kind,
            children,
        });
    }
    level
}

/// Files and folders below `path` whose path (or name) matches `pattern`.
pub fn search(
    root: &Root,
    path: &ToolPath,
    pattern: &GlobSet,
    exclude: &GlobSet,
    max_entries: usize,
) -> Result<Found, HubError> {
    let dir = root.open_dir("path", path)?;
    let mut paths = Vec::new();
    let mut state = WalkState::default();
    walk(
        &dir,
        "",
        1,
        usize::MAX,
        exclude,
        &mut state,
        &mut |_, relative, name, _, state| {
            if matches(pattern, relative, name) {
                if paths.len() == max_entries {
                    state.truncated = true;
                    return false;
                }
                paths.push(path.join(relative).shown());
            }
            true
        },
    )
    .map_err(|error| io_error("path", path, error))?;
    Ok(Found {
        paths,
        truncated: state.truncated,
    })
}

/// A regular expression from an argument, with a bound on its compiled size (the
/// engine runs in linear time, so no pattern can make a search slow).
pub fn regex(field: &str, pattern: &str, case_insensitive: bool) -> Result<Regex, HubError> {
    RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .size_limit(1 << 20)
        .build()
        .map_err(|error| {
            HubError::invalid_argument(
                field,
                format!(
                    "'{}' is not a regular expression: {error}",
                    tideway_core::error::excerpt(pattern)
                ),
            )
        })
}

/// Limits of one content search.
pub struct GrepLimits {
    pub max_matches: usize,
    pub max_file_bytes: u64,
}

/// Lines matching `pattern` in the files below `path` (those `include` picks, if
/// given), in path order.
pub fn grep(
    root: &Root,
    path: &ToolPath,
    pattern: &Regex,
    include: Option<&GlobSet>,
    exclude: &GlobSet,
    limits: &GrepLimits,
) -> Result<GrepResult, HubError> {
    let dir = root.open_dir("path", path)?;
    let mut found = Vec::new();
    let mut skipped = 0;
    let mut state = WalkState::default();
    walk(
        &dir,
        "",
        1,
        usize::MAX,
        exclude,
        &mut state,
        &mut |parent, relative, name, kind, state| {
            if kind != EntryKind::File || include.is_some_and(|set| !matches(set, relative, name)) {
                return true;
            }
            let Some(reader) = open_text(parent, name, limits.max_file_bytes) else {
                skipped += 1;
                return true;
            };
            for (index, line) in reader.lines().enumerate() {
                let Ok(line) = line else {
                    // Not UTF-8 after all: the rest of the file is not searched.
                    skipped += 1;
                    break;
                };
                if pattern.is_match(&line) {
                    if found.len() == limits.max_matches {
                        state.truncated = true;
                        return false;
                    }
                    found.push(LineMatch {
                        path: path.join(relative).shown(),
                        line_number: index + 1,
                        line: line.chars().take(MAX_LINE_CHARS).collect(),
                    });
                }
            }
            true
        },
    )
    .map_err(|error| io_error("path", path, error))?;
    Ok(GrepResult {
        matches: found,
        skipped_files: skipped + state.skipped,
        truncated: state.truncated,
    })
}

/// A file to search, if it is a regular single-link file within the size cap and
/// does not look binary.
fn open_text(parent: &Dir, name: &str, max_bytes: u64) -> Option<BufReader<cap_std::fs::File>> {
    use cap_std::fs::{OpenOptions, OpenOptionsExt};
    let mut options = OpenOptions::new();
    options
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_NOFOLLOW);
    let file = parent.open_with(name, &options).ok()?;
    let metadata = file.metadata().ok()?;
    if !metadata.is_file() || metadata.nlink() > 1 || metadata.len() > max_bytes {
        return None;
    }
    let mut reader = BufReader::new(file);
    let head = reader.fill_buf().ok()?;
    if head.iter().take(8192).any(|byte| *byte == 0) {
        return None;
    }
    // `lines` reads on from the buffer; nothing is lost by looking at its start.
    Some(reader)
}
