//! The files toolkit's part of the configuration file, `[files]`: each tenant's own
//! `home` root, the folders the operator grants to tenants, and how much one call may
//! read, write or walk.

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};
use tideway_core::{Config, config::ConfigError};

/// The key it owns in the configuration file.
pub const KEY: &str = "files";

/// The name of each tenant's own root.
pub const HOME: &str = "home";

/// Its settings as the configuration gives them; checked.
pub fn from_config(config: &Config) -> Result<FilesConfig, ConfigError> {
    let settings: FilesConfig = config.section(KEY)?;
    settings.check()?;
    Ok(settings)
}

/// For the descriptor: reads and checks the section.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    from_config(config).map(|_| ())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// Give each tenant a read-write root `home`, the folder `files/<tenant>` in the
    /// data directory (created on first use).
    pub tenant_home: bool,
    /// Folders granted to tenants, by root name (`[files.roots.shared]`).
    pub roots: BTreeMap<String, GrantedRoot>,
    /// The most bytes one file read returns (text or media); larger files are
    /// refused, or cut when `head`/`tail` asks for lines.
    pub max_read_bytes: u64,
    /// The most bytes one write may hold.
    pub max_write_bytes: u64,
    /// The most entries a listing, tree or search returns; the answer says when it
    /// stopped early.
    pub max_entries: usize,
    /// The most matching lines one `grep_files` call returns.
    pub max_grep_matches: usize,
    /// Files larger than this are skipped by `grep_files`.
    pub max_grep_file_bytes: u64,
    /// Whether the folders an MCP client names as its roots (`roots/list`) become
    /// roots of its calls: `off`, `read-only` or `read-write`. Only for a Tideway on
    /// the client's own machine (stdio), where the client's paths are the server's.
    pub client_roots: ClientRoots,
}

/// What the roots an MCP client names may be used for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientRoots {
    #[default]
    Off,
    ReadOnly,
    ReadWrite,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            tenant_home: true,
            roots: BTreeMap::new(),
            max_read_bytes: 10 * 1024 * 1024,
            max_write_bytes: 10 * 1024 * 1024,
            max_entries: 10_000,
            max_grep_matches: 500,
            max_grep_file_bytes: 4 * 1024 * 1024,
            client_roots: ClientRoots::Off,
        }
    }
}

/// A folder on the server granted to some tenants.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrantedRoot {
    /// The folder, an absolute path.
    pub path: PathBuf,
    /// The tenants that see it; `"*"` for every tenant.
    pub tenants: Vec<String>,
    /// Let those tenants write (off: read only).
    pub writable: bool,
    /// Shown in `list_allowed_directories`.
    pub description: Option<String>,
}

impl GrantedRoot {
    pub fn granted_to(&self, tenant: &str) -> bool {
        self.tenants
            .iter()
            .any(|granted| granted == "*" || granted == tenant)
    }
}

/// Whether `name` can name a root: it is the first part of every path.
pub fn valid_root_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl FilesConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(format!("{KEY}.{message}")));
        for (name, root) in &self.roots {
            if !valid_root_name(name) {
                return invalid(format!(
                    "roots: the root name '{}' must be 1-64 letters, digits, '_' or '-'",
                    tideway_core::error::excerpt(name)
                ));
            }
            if self.tenant_home && name == HOME {
                return invalid(format!(
                    "roots.{HOME}: '{HOME}' is each tenant's own root; name the folder otherwise or set files.tenant_home = false"
                ));
            }
            if !root.path.is_absolute() {
                return invalid(format!("roots.{name}.path must be an absolute path"));
            }
            if root.tenants.is_empty() {
                return invalid(format!(
                    "roots.{name}.tenants must name the tenants it is granted to (\"*\" for all)"
                ));
            }
        }
        for (field, value) in [
            ("max_read_bytes", self.max_read_bytes),
            ("max_write_bytes", self.max_write_bytes),
            ("max_grep_file_bytes", self.max_grep_file_bytes),
            ("max_entries", self.max_entries as u64),
            ("max_grep_matches", self.max_grep_matches as u64),
        ] {
            if value == 0 {
                return invalid(format!("{field} must be at least 1"));
            }
        }
        Ok(())
    }
}
