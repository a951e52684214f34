//! Paths as tools name them: `<root>/<path inside it>`, always relative, with `/`
//! between parts. This only refuses spellings that can never be right (absolute
//! paths, `..`, NUL, `\`); what a path reaches is decided by the operating system
//! relative to the opened root directory (`access.rs`), never by this text.

use std::path::PathBuf;

use tideway_core::{HubError, error::excerpt};

/// The longest path a tool may name, and the longest part of one (Linux's limits).
const MAX_PATH_BYTES: usize = 4096;
const MAX_PART_BYTES: usize = 255;

/// A path inside one of the caller's roots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolPath {
    /// The root's name.
    pub root: String,
    /// The path below the root; empty for the root itself.
    pub inside: PathBuf,
}

impl ToolPath {
    /// The path as tools show it: `root/a/b`.
    pub fn shown(&self) -> String {
        if self.inside.as_os_str().is_empty() {
            self.root.clone()
        } else {
            format!("{}/{}", self.root, self.inside.display())
        }
    }

    /// The path of `name` inside this one.
    pub fn join(&self, name: &str) -> ToolPath {
        ToolPath {
            root: self.root.clone(),
            inside: self.inside.join(name),
        }
    }

    /// The folder holding it and its own name; `None` for a root.
    pub fn split_parent(&self) -> Option<(PathBuf, String)> {
        let name = self.inside.file_name()?.to_str()?.to_string();
        let parent = self.inside.parent().map(PathBuf::from).unwrap_or_default();
        Some((parent, name))
    }
}

/// Reads `value`, the argument `field`, as a path. The error names the field, quotes
/// a short prefix of the value and says how to write it.
pub fn parse(field: &str, value: &str) -> Result<ToolPath, HubError> {
    let refuse = |why: &str| {
        Err(HubError::invalid_argument(
            field,
            format!(
                "'{}' {why}; write paths as <root>/<path>, e.g. home/notes/today.md (list_allowed_directories names the roots)",
                excerpt(value)
            ),
        ))
    };
    if value.is_empty() {
        return refuse("is empty");
    }
    if value.len() > MAX_PATH_BYTES {
        return refuse("is longer than 4096 bytes");
    }
    if value.contains('\0') {
        return refuse("holds a NUL character");
    }
    if value.contains('\\') {
        return refuse("holds '\\'; folders are separated by '/'");
    }
    if value.starts_with('/') || value.starts_with('~') {
        return refuse("is absolute; paths start with a root's name");
    }
    let mut parts = value
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".");
    let Some(root) = parts.next() else {
        return refuse("names no root");
    };
    if !super::settings::valid_root_name(root) {
        return refuse("does not start with a root's name");
    }
    let mut inside = PathBuf::new();
    for part in parts {
        if part == ".." {
            return refuse("holds '..'; name the path from its root instead");
        }
        if part.len() > MAX_PART_BYTES {
            return refuse("has a part longer than 255 bytes");
        }
        inside.push(part);
    }
    Ok(ToolPath {
        root: root.to_string(),
        inside,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_and_the_path_inside_it_are_read_with_empty_and_dot_parts_dropped() {
        let path = parse("path", "home//notes/./today.md").expect("valid");
        assert_eq!(path.root, "home");
        assert_eq!(path.inside, PathBuf::from("notes/today.md"));
        assert_eq!(path.shown(), "home/notes/today.md");
        let root = parse("path", "home/").expect("the root itself");
        assert!(root.inside.as_os_str().is_empty());
        assert_eq!(root.split_parent(), None);
        assert_eq!(
            path.split_parent(),
            Some((PathBuf::from("notes"), "today.md".to_string()))
        );
    }

    #[test]
    fn spellings_that_can_never_be_right_are_refused_naming_the_field() {
        for (value, why) in [
            ("", "is empty"),
            ("/etc/passwd", "absolute"),
            ("~/x", "absolute"),
            ("home/../../etc/passwd", "'..'"),
            ("home/a/..", "'..'"),
            ("..", "does not start with a root"),
            ("home\\..\\x", "'\\'"),
            ("home/a\0b", "NUL"),
            ("./.", "names no root"),
            ("hö me/x", "does not start with a root"),
        ] {
            let error = parse("source", value).expect_err(value).to_string();
            assert!(error.contains("source"), "{value}: {error}");
            assert!(error.contains(why), "{value}: {error}");
        }
        let long = format!("home/{}", "a".repeat(300));
        assert!(parse("path", &long).is_err());
        let longest = format!("home/{}", "a/".repeat(2100));
        let error = parse("path", &longest).expect_err("too long").to_string();
        assert!(error.len() < 400, "the value is quoted short: {error}");
    }
}
