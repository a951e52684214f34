//! The descriptor of a built-in toolkit: everything the rest of the program needs to
//! know about one, exported by its folder as one value (`BUILTIN`) and listed once in
//! `toolkits/mod.rs`. Startup registers toolkits, the store migrates, the REST API
//! mounts routes and declares tags, and the command line adds subcommands, all from
//! that list, so adding a toolkit touches no shared file but the list.

use std::{path::PathBuf, sync::Arc};

use futures::future::BoxFuture;
use tideway_core::{
    Config, Hub, Store, Toolkit,
    config::ConfigError,
    secrets::MasterKey,
    store::{Migration, SealedColumn},
};
use utoipa_axum::router::OpenApiRouter;

use super::database::DatabaseService;
use crate::app::App;

/// One built-in toolkit.
pub struct Builtin {
    /// Its name: the `--toolkit` value, the `/mcp/{name}` path and the tool prefix.
    pub name: &'static str,
    /// One line for `tideway toolkits`.
    pub summary: &'static str,
    /// Whether it is enabled when no toolkit is named.
    pub on_by_default: bool,
    /// The cargo feature it is compiled under, if any (it is left out of the list in a
    /// build without that feature).
    pub feature: Option<&'static str>,
    /// Its part of the configuration file, if it has one.
    pub settings: Option<Settings>,
    /// Its store migrations, kept in its folder.
    pub migrations: &'static [Migration],
    /// The columns where it keeps values sealed under the master key, so rotating
    /// the key re-seals them too.
    pub sealed: &'static [&'static SealedColumn],
    /// How it is built from what every toolkit shares. `None` for the gateway, which
    /// registers one toolkit per federated server itself.
    pub build: Option<Build>,
    /// Its REST routes, if it serves any.
    pub rest: Option<Rest>,
    /// Its command-line subcommand, if it has one.
    pub cli: Option<ToolkitCli>,
}

/// A toolkit's part of the configuration file: top-level keys it owns (`[databases]`,
/// `[gateway]` and `[[upstreams]]`, ...) and keys under each `[tenants.<id>]`
/// (`[tenants.<id>.models]`), read into its own types.
pub struct Settings {
    pub keys: &'static [&'static str],
    pub tenant_keys: &'static [&'static str],
    /// Reads the keys and checks the values; the error names the key. Run at load
    /// for every toolkit, enabled or not, so a mistake is reported at once.
    pub check: fn(&Config) -> Result<(), ConfigError>,
}

/// Makes a toolkit from what every toolkit shares; the error says what is wrong.
pub type Build = fn(&Shared) -> Result<Arc<dyn Toolkit>, String>;

/// What a toolkit is built from.
pub struct Shared<'a> {
    pub hub: &'a Arc<Hub>,
    pub store: &'a Store,
    pub config: &'a Config,
    pub master_key: &'a Arc<MasterKey>,
    /// One database service (and so one pool per source) for every toolkit that
    /// reads the tenant's databases.
    pub databases: Arc<DatabaseService>,
}

/// A toolkit's REST routes under one OpenAPI tag.
pub struct Rest {
    pub tag: &'static str,
    /// The tag's description in the OpenAPI document.
    pub description: &'static str,
    /// The routes, every operation tagged `tag`.
    pub routes: fn() -> OpenApiRouter<Arc<App>>,
    /// The toolkit's tools the routes call (through the names the declarations
    /// use); a test checks each against the registered toolkit.
    pub tools: &'static [&'static str],
}

/// A toolkit's subcommand of `tideway`.
pub struct ToolkitCli {
    /// The subcommand and its arguments.
    pub command: fn() -> clap::Command,
    /// Runs it with its parsed arguments and the `--config` file given, if any.
    pub run: fn(clap::ArgMatches, Option<PathBuf>) -> BoxFuture<'static, anyhow::Result<()>>,
}
