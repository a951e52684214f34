//! Reading below a root: text (with its encoding found, whole or by head or tail
//! lines, within the size cap), media as base64, a file's facts and a folder's
//! entries. Blocking file system calls: the tools run them off the async threads.

use std::io::{Read, Seek, SeekFrom};

use base64::Engine;
use cap_std::fs::{Metadata, MetadataExt};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use tideway_core::{HubError, mcp::ContentBlock, typed::ToolText};
use utoipa::ToSchema;

use super::{
    access::{Root, io_error},
    paths::ToolPath,
};

/// How much of a text file to return.
#[derive(Clone, Copy, Debug)]
pub enum Lines {
    All,
    Head(usize),
    Tail(usize),
}

/// A text file's content.
#[derive(Serialize, JsonSchema, ToSchema)]
pub struct TextFile {
    pub path: String,
    pub text: String,
    /// The encoding the bytes were read in (`UTF-8`, `UTF-16LE`, `windows-1252`, ...).
    pub encoding: String,
    /// The file's size in bytes.
    pub size: u64,
    /// Whether `text` is only part of the file.
    pub partial: bool,
}

impl ToolText for TextFile {
    fn text(&self) -> String {
        self.text.clone()
    }
}

/// A file's bytes as base64, for images, audio and other binary content.
#[derive(Serialize, JsonSchema, ToSchema)]
pub struct MediaFile {
    pub path: String,
    #[serde(rename = "mimeType")]
    pub mime_type: String,
    pub size: u64,
    /// The bytes, base64.
    pub data: String,
}

impl ToolText for MediaFile {
    fn text(&self) -> String {
        format!("{} ({}, {} bytes)", self.path, self.mime_type, self.size)
    }

    fn blocks(&self) -> Option<Vec<ContentBlock>> {
        if self.mime_type.starts_with("image/") {
            Some(vec![ContentBlock::image(&self.data, &self.mime_type)])
        } else if self.mime_type.starts_with("audio/") {
            Some(vec![ContentBlock::audio(&self.data, &self.mime_type)])
        } else {
            None
        }
    }
}

/// What kind of entry a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Folder,
    Symlink,
    Other,
}

impl EntryKind {
    fn of(metadata: &Metadata) -> Self {
        Self::of_type(metadata.file_type())
    }

    /// The kind of an entry as its directory lists it (a symlink is not followed).
    pub fn of_type(kind: cap_std::fs::FileType) -> Self {
        if kind.is_symlink() {
            EntryKind::Symlink
        } else if kind.is_dir() {
            EntryKind::Folder
        } else if kind.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            EntryKind::File => "[FILE]",
            EntryKind::Folder => "[DIR]",
            EntryKind::Symlink => "[LINK]",
            EntryKind::Other => "[OTHER]",
        }
    }
}

/// Facts about one file or folder.
#[derive(Serialize, JsonSchema, ToSchema)]
pub struct FileInfo {
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
    pub modified: Option<DateTime<Utc>>,
    pub accessed: Option<DateTime<Utc>>,
    pub created: Option<DateTime<Utc>>,
    /// Unix permission bits, in octal (`644`).
    pub permissions: String,
    /// Whether the caller may change it (its root is writable).
    pub writable: bool,
}

impl ToolText for FileInfo {
    fn text(&self) -> String {
        format!(
            "{}: {:?}, {} bytes, modified {}, permissions {}{}",
            self.path,
            self.kind,
            self.size,
            self.modified
                .map(|at| at.to_rfc3339())
                .unwrap_or_else(|| "unknown".into()),
            self.permissions,
            if self.writable { "" } else { ", read-only" }
        )
    }
}

/// One entry of a folder.
#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Entry {
    pub name: String,
    pub kind: EntryKind,
    /// Size in bytes, for files.
    pub size: Option<u64>,
    pub modified: Option<DateTime<Utc>>,
}

/// A folder's entries, sorted by name.
#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Listing {
    pub path: String,
    pub entries: Vec<Entry>,
    /// Whether the folder holds more entries than were returned.
    pub truncated: bool,
}

impl ToolText for Listing {
    fn text(&self) -> String {
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .map(|entry| format!("{} {}", entry.kind.tag(), entry.name))
            .collect();
        if self.entries.is_empty() {
            lines.push(format!("{} is empty.", self.path));
        }
        if self.truncated {
            lines.push("(more entries not shown)".into());
        }
        lines.join("\n")
    }
}

/// Text of a file, decoded. The whole file must fit in `max_bytes`; with `Head` or
/// `Tail` only that end of the file is read, up to `max_bytes`.
pub fn read_text(
    root: &Root,
    path: &ToolPath,
    lines: Lines,
    max_bytes: u64,
) -> Result<TextFile, HubError> {
    let (mut file, metadata) = root.open_file("path", path)?;
    let size = metadata.len();
    let io = |error| io_error("path", path, error);
    let mut bytes = Vec::new();
    let mut cut = false;
    match lines {
        Lines::All => {
            if size > max_bytes {
                return Err(HubError::invalid_argument(
                    "path",
                    format!(
                        "'{}' is {size} bytes, more than the {max_bytes} one read returns; ask for head or tail lines",
                        path.shown()
                    ),
                ));
            }
            file.by_ref()
                .take(max_bytes)
                .read_to_end(&mut bytes)
                .map_err(io)?;
        }
        Lines::Head(_) => {
            file.by_ref()
                .take(max_bytes)
                .read_to_end(&mut bytes)
                .map_err(io)?;
            cut = size > max_bytes;
            if cut {
                drop_partial_last_line(&mut bytes);
            }
        }
        Lines::Tail(_) => {
            if size > max_bytes {
                file.seek(SeekFrom::Start(size - max_bytes)).map_err(io)?;
                cut = true;
            }
            file.by_ref()
                .take(max_bytes)
                .read_to_end(&mut bytes)
                .map_err(io)?;
            if cut {
                drop_partial_first_line(&mut bytes);
            }
        }
    }
    let (text, encoding) = decode(path, &bytes)?;
    let (text, partial) = match lines {
        Lines::All => (text, false),
        Lines::Head(count) => {
            let kept: Vec<&str> = text.split_inclusive('\n').take(count).collect();
            let partial = cut || kept.len() < text.split_inclusive('\n').count();
            (kept.concat(), partial)
        }
        Lines::Tail(count) => {
            let all: Vec<&str> = text.split_inclusive('\n').collect();
            let start = all.len().saturating_sub(count);
            (all[start..].concat(), cut || start > 0)
        }
    };
    Ok(TextFile {
        path: path.shown(),
        text,
        encoding: encoding.to_string(),
        size,
        partial,
    })
}

fn drop_partial_last_line(bytes: &mut Vec<u8>) {
    if let Some(end) = bytes.iter().rposition(|byte| *byte == b'\n') {
        bytes.truncate(end + 1);
    }
}

fn drop_partial_first_line(bytes: &mut Vec<u8>) {
    if let Some(start) = bytes.iter().position(|byte| *byte == b'\n') {
        bytes.drain(..=start);
    }
}

/// Decodes text: a byte order mark decides, then UTF-8 if the bytes are valid UTF-8,
/// then the most likely legacy encoding. Bytes with NUL in them are not text.
fn decode(path: &ToolPath, bytes: &[u8]) -> Result<(String, &'static str), HubError> {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        return Ok((text.into_owned(), encoding.name()));
    }
    if bytes.iter().take(8192).any(|byte| *byte == 0) {
        return Err(HubError::invalid_argument(
            "path",
            format!(
                "'{}' looks binary (it holds NUL bytes); read_media_file returns it as base64",
                path.shown()
            ),
        ));
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((text.to_string(), "UTF-8"));
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    let encoding = detector.guess(None, chardetng::Utf8Detection::Deny);
    let (text, _, _) = encoding.decode(bytes);
    Ok((text.into_owned(), encoding.name()))
}

/// A file's bytes as base64 with its MIME type (from its name).
pub fn read_media(root: &Root, path: &ToolPath, max_bytes: u64) -> Result<MediaFile, HubError> {
    let (file, metadata) = root.open_file("path", path)?;
    let size = metadata.len();
    if size > max_bytes {
        return Err(HubError::invalid_argument(
            "path",
            format!(
                "'{}' is {size} bytes, more than the {max_bytes} one read returns",
                path.shown()
            ),
        ));
    }
    let mut bytes = Vec::new();
    file.take(max_bytes)
        .read_to_end(&mut bytes)
        .map_err(|error| io_error("path", path, error))?;
    let mime_type = mime_guess::from_path(&path.inside)
        .first_or_octet_stream()
        .essence_str()
        .to_string();
    Ok(MediaFile {
        path: path.shown(),
        mime_type,
        size,
        data: base64::engine::general_purpose::STANDARD.encode(&bytes),
    })
}

/// Facts about the file or folder at `path`; a symlink is described as itself.
pub fn info(root: &Root, path: &ToolPath) -> Result<FileInfo, HubError> {
    let metadata = if path.inside.as_os_str().is_empty() {
        root.dir.dir_metadata()
    } else {
        root.dir.symlink_metadata(&path.inside)
    }
    .map_err(|error| io_error("path", path, error))?;
    Ok(FileInfo {
        path: path.shown(),
        kind: EntryKind::of(&metadata),
        size: metadata.len(),
        modified: metadata.modified().ok().map(|at| at.into_std().into()),
        accessed: metadata.accessed().ok().map(|at| at.into_std().into()),
        created: metadata.created().ok().map(|at| at.into_std().into()),
        permissions: format!("{:o}", metadata.mode() & 0o7777),
        writable: root.writable,
    })
}

/// The entries of the folder at `path`, by name, at most `max_entries`.
pub fn list(root: &Root, path: &ToolPath, max_entries: usize) -> Result<Listing, HubError> {
    let dir = root.open_dir("path", path)?;
    let io = |error| io_error("path", path, error);
    let mut entries = Vec::new();
    let mut truncated = false;
    for entry in dir.entries().map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if super::writing::is_partial(&name) {
            continue;
        }
        if entries.len() == max_entries {
            truncated = true;
            break;
        }
        // An entry's own metadata: a symlink is listed as one, not followed.
        let metadata = entry.metadata().map_err(io)?;
        let kind = EntryKind::of(&metadata);
        entries.push(Entry {
            name,
            kind,
            size: (kind == EntryKind::File).then(|| metadata.len()),
            modified: metadata.modified().ok().map(|at| at.into_std().into()),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Listing {
        path: path.shown(),
        entries,
        truncated,
    })
}
