//! The `tideway` command line. Each subcommand is a thin layer over the library:
//! load configuration, start the app, hand over to a face.

use std::path::PathBuf;

use anyhow::Context;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use tideway_core::{
    Config, Role, TenantId, ToolRules,
    config::AuthMode,
    store::{AuditEntry, AuditQuery, NewApiKey},
};

use crate::{app::App, doctor, mcp::stdio, server, telemetry, toolkits};

#[derive(Parser, Debug)]
#[command(
    name = "tideway",
    version,
    about = "The integration hub for AI agents: your data and systems as MCP tools and a REST API.",
    long_about = "Tideway connects a team's databases, streams, object stores, files and HTTP APIs to \
LLM agents over the Model Context Protocol, and serves the same capabilities as a REST API.\n\n\
With no configuration it keeps its state in SQLite under the data directory."
)]
pub struct Cli {
    /// A TOML configuration file (also TIDEWAY_CONFIG). Optional: every setting has a default.
    #[arg(long, global = true, env = "TIDEWAY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Where the embedded store and local files live (also TIDEWAY_DATA_DIR).
    /// Global, so it may follow a nested subcommand too (`keys list --data-dir D`).
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// How log lines on stderr look: `text` for people, `json` (one object a line)
    /// for collectors. Replaces log.format.
    #[arg(long, value_name = "FORMAT", global = true, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve MCP (Streamable HTTP at /mcp and /mcp/{toolkit}) and the REST API on one listener.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on (also TIDEWAY_BIND); default 127.0.0.1:8080.
        #[arg(long, value_name = "ADDR:PORT")]
        bind: Option<std::net::SocketAddr>,
        /// Enable only this toolkit (repeatable). Default: every built-in toolkit but `files` (it writes to the server's disk), `fetch` (it reaches the internet for a model) and the test fixtures (`conformance`, `synthetic`).
        #[arg(long = "toolkit", value_name = "NAME")]
        toolkits: Vec<String>,
        /// Load a sample help desk (customers, tickets, knowledge articles) into the
        /// default tenant first; loading it again changes nothing.
        #[arg(long)]
        demo: bool,
        /// How callers authenticate: none, api-key, jwt (repeatable; replaces auth.modes).
        /// `none` is refused on a non-loopback address.
        #[arg(long = "auth", value_name = "MODE")]
        auth: Vec<AuthMode>,
    },
    /// Serve MCP on stdin/stdout, for Claude Desktop, Claude Code and other local hosts.
    Mcp {
        #[command(flatten)]
        common: Common,
        /// Enable only this toolkit (repeatable). Default: every built-in toolkit but `files` (it writes to the server's disk), `fetch` (it reaches the internet for a model) and the test fixtures (`conformance`, `synthetic`).
        #[arg(long = "toolkit", value_name = "NAME")]
        toolkits: Vec<String>,
        /// Load the sample help desk first (see `serve --demo`).
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending store migrations and exit.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Check configuration, the store and every toolkit; say what is wrong and how to fix it.
    Doctor {
        #[command(flatten)]
        common: Common,
    },
    /// List the built-in toolkits.
    Toolkits,
    /// Create, list and revoke API keys.
    Keys {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// List and create tenants.
    Tenants {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Read the audit log.
    Audit {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key and print it. It is shown only this once.
    Create {
        /// The tenant the key acts for (created if it does not exist).
        #[arg(long)]
        tenant: String,
        /// viewer (read-only tools), operator (also tools that write) or admin.
        #[arg(long)]
        role: Role,
        /// A name to recognise the key by.
        #[arg(long)]
        name: String,
        /// Only these tools: `toolkit`, `toolkit.tool`, `prefix*` (repeatable).
        #[arg(long = "allow", value_name = "PATTERN")]
        allow: Vec<String>,
        /// Never these tools (repeatable; wins over --allow).
        #[arg(long = "deny", value_name = "PATTERN")]
        deny: Vec<String>,
        /// Expire after this many days.
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
    },
    /// List keys (never their secrets).
    List {
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a key by its id or prefix.
    Revoke {
        #[arg(value_name = "ID_OR_PREFIX")]
        key: String,
    },
    /// Replace the master key and re-seal every stored credential under the new one.
    /// With a key file, the new key takes its place (the old one is kept beside it as
    /// `.previous`); with TIDEWAY_MASTER_KEY, the new key is printed once to put there.
    /// Restart running servers afterwards.
    RotateMaster,
}

#[derive(Subcommand, Debug)]
pub enum TenantsCommand {
    /// List tenants with their number of API keys.
    List,
    /// Create a tenant (creating one that exists changes nothing).
    Create {
        /// 1-64 letters, digits, '_' or '-'.
        id: String,
        /// A display name; defaults to the id.
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Print the latest entries, oldest first; with --follow keep printing new ones.
    Tail {
        #[arg(long)]
        tenant: Option<String>,
        /// How many recent entries to print first.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: u32,
        #[arg(short, long)]
        follow: bool,
        /// One JSON object per line instead of columns.
        #[arg(long)]
        json: bool,
    },
}

pub fn load_config(cli_config: Option<&PathBuf>, common: &Common) -> anyhow::Result<Config> {
    let mut config = toolkits::load_config(cli_config.map(PathBuf::as_path))?;
    if let Some(dir) = &common.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(format) = &common.log_format {
        config.log.format = format.clone();
    }
    Ok(config)
}

/// Loads the support toolkit's sample desk into the default tenant.
async fn load_demo(app: &App) -> anyhow::Result<()> {
    if !app.hub.has_toolkit("support") {
        anyhow::bail!("--demo loads help-desk data for the support toolkit, which is not enabled");
    }
    let tenant = tideway_core::TenantId::new(&app.config.default_tenant);
    let summary = toolkits::support::demo::load(&app.store, &tenant)
        .await
        .context("loading the demo data")?;
    if summary.loaded {
        tracing::info!(
            customers = summary.customers,
            tickets = summary.tickets,
            articles = summary.articles,
            "demo help desk loaded"
        );
    } else {
        tracing::info!("demo help desk already loaded; left as it is");
    }
    Ok(())
}

/// What the command line asked for: one of the commands above or a toolkit's.
pub enum Invocation {
    Builtin(Cli),
    Toolkit {
        cli: &'static toolkits::ToolkitCli,
        matches: ArgMatches,
        config: Option<PathBuf>,
    },
}

/// The whole command line: the commands above and every toolkit's subcommand.
pub fn command() -> clap::Command {
    toolkit_clis().fold(Cli::command(), |command, cli| {
        command.subcommand((cli.command)())
    })
}

fn toolkit_clis() -> impl Iterator<Item = &'static toolkits::ToolkitCli> {
    toolkits::ALL
        .iter()
        .filter_map(|builtin| builtin.cli.as_ref())
}

/// Reads the command line (exits with clap's message and status when it is wrong).
pub fn parse() -> Invocation {
    from_args(std::env::args_os()).unwrap_or_else(|error| error.exit())
}

/// Parses `args` (the program name first).
pub fn from_args<I, T>(args: I) -> Result<Invocation, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(args)?;
    if let Some((name, sub)) = matches.subcommand()
        && let Some(cli) = toolkit_clis().find(|cli| (cli.command)().get_name() == name)
    {
        // `--config` is global: it may come before or after the subcommand.
        let config = sub
            .try_get_one::<PathBuf>("config")
            .ok()
            .flatten()
            .or_else(|| matches.get_one::<PathBuf>("config"))
            .cloned();
        return Ok(Invocation::Toolkit {
            cli,
            matches: sub.clone(),
            config,
        });
    }
    Cli::from_arg_matches(&matches).map(Invocation::Builtin)
}

/// Runs what the command line asked for.
pub async fn run_invocation(invocation: Invocation) -> anyhow::Result<std::process::ExitCode> {
    match invocation {
        Invocation::Builtin(cli) => run(cli).await,
        Invocation::Toolkit {
            cli,
            matches,
            config,
        } => {
            (cli.run)(matches, config).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve {
            common,
            bind,
            toolkits,
            demo,
            auth,
        } => {
            let mut config = load_config(cli.config.as_ref(), &common)?;
            if let Some(bind) = bind {
                config.bind = bind;
            }
            if !auth.is_empty() {
                config.auth.modes = auth;
                config.validate()?;
            }
            let _exporting = telemetry::init(&config.log).context("exporting spans over OTLP")?;
            let app = App::start(config, &toolkits)
                .await
                .context("starting Tideway")?;
            if demo {
                load_demo(&app).await?;
            }
            server::serve(app).await?;
        }
        Command::Mcp {
            common,
            toolkits,
            demo,
        } => {
            let config = load_config(cli.config.as_ref(), &common)?;
            let _exporting = telemetry::init(&config.log).context("exporting spans over OTLP")?;
            let app = App::start(config, &toolkits)
                .await
                .context("starting Tideway")?;
            if demo {
                load_demo(&app).await?;
            }
            stdio::serve_stdio(server::mcp_shared(&app)).await?;
            app.shutdown().await;
        }
        Command::Migrate { common } => {
            let config = load_config(cli.config.as_ref(), &common)?;
            let _exporting = telemetry::init(&config.log).context("exporting spans over OTLP")?;
            let store = tideway_core::Store::open(&config.store_url()).await?;
            store.migrate(&toolkits::migrations()).await?;
            let applied = store.applied_migrations().await?;
            println!(
                "{} store is at migration {}",
                store.backend(),
                applied.last().copied().unwrap_or_default()
            );
            store.close().await;
        }
        Command::Doctor { common } => {
            let healthy = doctor::run(cli.config.as_ref(), common.data_dir.as_ref()).await;
            if !healthy {
                return Ok(std::process::ExitCode::FAILURE);
            }
        }
        Command::Keys { common, command } => {
            let config = load_config(cli.config.as_ref(), &common)?;
            let store = open_store(&config).await?;
            let outcome = keys(&store, &config, command).await;
            store.close().await;
            outcome?;
        }
        Command::Tenants { common, command } => {
            let config = load_config(cli.config.as_ref(), &common)?;
            let store = open_store(&config).await?;
            let outcome = tenants(&store, command).await;
            store.close().await;
            outcome?;
        }
        Command::Audit { common, command } => {
            let config = load_config(cli.config.as_ref(), &common)?;
            let store = open_store(&config).await?;
            let outcome = match command {
                AuditCommand::Tail {
                    tenant,
                    lines,
                    follow,
                    json,
                } => audit_tail(&store, tenant, lines, follow, json).await,
            };
            store.close().await;
            outcome?;
        }
        Command::Toolkits => {
            for builtin in toolkits::ALL {
                let note = match (builtin.build.is_some(), builtin.on_by_default) {
                    (false, _) => "",
                    (true, true) => " (on by default)",
                    (true, false) => " (off unless named with --toolkit)",
                };
                println!("{:<12} {}{note}", builtin.name, builtin.summary);
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Opens the configured store and brings its schema up to date.
pub async fn open_store(config: &Config) -> anyhow::Result<tideway_core::Store> {
    let store = tideway_core::Store::open(&config.store_url()).await?;
    store.migrate(&toolkits::migrations()).await?;
    Ok(store)
}

async fn keys(
    store: &tideway_core::Store,
    config: &Config,
    command: KeysCommand,
) -> anyhow::Result<()> {
    match command {
        KeysCommand::RotateMaster => rotate_master(store, config).await?,
        KeysCommand::Create {
            tenant,
            role,
            name,
            allow,
            deny,
            expires_in_days,
        } => {
            if !TenantId::is_valid(&tenant) {
                anyhow::bail!("tenant id '{tenant}' must be 1-64 letters, digits, '_' or '-'");
            }
            let tenant = TenantId::new(&tenant);
            store.ensure_tenant(&tenant, tenant.as_str()).await?;
            let expires_at = expires_in_days
                .map(|days| chrono::Utc::now() + chrono::Duration::days(i64::from(days)));
            let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
            let (key, text) = store
                .create_api_key(NewApiKey {
                    tenant,
                    name,
                    role,
                    rules: ToolRules { allow, deny },
                    inherited_rules: Vec::new(),
                    expires_at,
                    created_by: format!("cli:{user}"),
                })
                .await?;
            // CLI output: the key goes to stdout alone, so `$(tideway keys create …)` captures it.
            println!("{text}");
            eprintln!(
                "Created key {} ({}) for tenant {} as {}. Store it now: it is not shown again.",
                key.prefix, key.name, key.tenant, key.role
            );
        }
        KeysCommand::List { tenant } => {
            let tenant = tenant.map(TenantId::new);
            let keys = store.list_api_keys(tenant.as_ref()).await?;
            println!(
                "{:<14} {:<12} {:<9} {:<8} {:<25} NAME",
                "PREFIX", "TENANT", "ROLE", "STATE", "LAST USED"
            );
            let now = chrono::Utc::now();
            for key in keys {
                let state = if key.revoked_at.is_some() {
                    "revoked"
                } else if !key.is_active(now) {
                    "expired"
                } else {
                    "active"
                };
                let last_used = key
                    .last_used_at
                    .map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{:<14} {:<12} {:<9} {:<8} {:<25} {}",
                    key.prefix, key.tenant, key.role, state, last_used, key.name
                );
            }
        }
        KeysCommand::Revoke { key } => match store.revoke_api_key(None, &key).await? {
            Some(revoked) => println!(
                "Revoked key {} ({}) of tenant {}. Servers stop accepting it within auth.key_cache_secs.",
                revoked.prefix, revoked.name, revoked.tenant
            ),
            None => anyhow::bail!("no key with id or prefix '{key}'"),
        },
    }
    Ok(())
}

/// The new key is written (or printed) before any secret is re-sealed, so a failure
/// at any point leaves a key that opens what the store holds.
async fn rotate_master(store: &tideway_core::Store, config: &Config) -> anyhow::Result<()> {
    use tideway_core::secrets::{MASTER_KEY_ENV, MasterKey, write_key_file};
    let from_env = std::env::var(MASTER_KEY_ENV)
        .ok()
        .filter(|text| !text.trim().is_empty());
    let file = config.master_key_file();
    let current = MasterKey::resolve(from_env.as_deref(), &file)?;
    let (next, text) = MasterKey::generate()?;
    let staged = file.with_extension("key.next");
    if from_env.is_none() {
        let _ = std::fs::remove_file(&staged);
        write_key_file(&staged, &text)
            .map_err(|error| anyhow::anyhow!("writing {}: {error}", staged.display()))?;
    }
    let resealed = match store
        .reseal_all(&toolkits::sealed_columns(), &current, &next)
        .await
    {
        Ok(count) => count,
        Err(error) => {
            let _ = std::fs::remove_file(&staged);
            anyhow::bail!("rotation failed, nothing changed; the current key stays: {error}");
        }
    };
    match from_env {
        Some(_) => {
            println!("{}", text.as_str());
            eprintln!(
                "Re-sealed {resealed} secrets under key {}. Set {MASTER_KEY_ENV} to the key printed above, then restart the servers.",
                next.id()
            );
        }
        None => {
            let previous = file.with_extension("key.previous");
            std::fs::rename(&file, &previous)
                .and_then(|()| std::fs::rename(&staged, &file))
                .map_err(|error| {
                    anyhow::anyhow!(
                        "the secrets are sealed under the new key in {}, but moving it into place failed: {error}; move it to {} by hand",
                        staged.display(),
                        file.display()
                    )
                })?;
            println!(
                "Re-sealed {resealed} secrets under key {} (was {}). The old key is kept in {}; restart running servers.",
                next.id(),
                current.id(),
                previous.display()
            );
        }
    }
    Ok(())
}

async fn tenants(store: &tideway_core::Store, command: TenantsCommand) -> anyhow::Result<()> {
    match command {
        TenantsCommand::List => {
            let keys = store.list_api_keys(None).await?;
            println!("{:<24} {:<6} {:<26} NAME", "ID", "KEYS", "CREATED");
            for tenant in store.list_tenants().await? {
                let count = keys.iter().filter(|key| key.tenant == tenant.id).count();
                println!(
                    "{:<24} {:<6} {:<26} {}",
                    tenant.id,
                    count,
                    tenant.created_at.format("%Y-%m-%d %H:%M:%S"),
                    tenant.name
                );
            }
        }
        TenantsCommand::Create { id, name } => {
            if !TenantId::is_valid(&id) {
                anyhow::bail!("tenant id '{id}' must be 1-64 letters, digits, '_' or '-'");
            }
            let tenant = store
                .ensure_tenant(&TenantId::new(&id), name.as_deref().unwrap_or(&id))
                .await?;
            println!("tenant {} ({})", tenant.id, tenant.name);
        }
    }
    Ok(())
}

fn print_audit(entry: &AuditEntry, json: bool) {
    if json {
        if let Ok(line) = serde_json::to_string(entry) {
            println!("{line}");
        }
        return;
    }
    let record = &entry.record;
    println!(
        "{} {:<10} {:<22} {:<5} {}.{} {} {:.1}ms {}",
        record.at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        record.tenant,
        record.principal,
        record.face,
        record.toolkit,
        record.tool,
        match &record.error_kind {
            Some(kind) => format!("{}({kind})", record.outcome),
            None => record.outcome.clone(),
        },
        record.latency_ms,
        record.arguments,
    );
}

async fn audit_tail(
    store: &tideway_core::Store,
    tenant: Option<String>,
    lines: u32,
    follow: bool,
    json: bool,
) -> anyhow::Result<()> {
    let mut query = AuditQuery {
        tenant,
        limit: lines.clamp(1, 1000),
        ..AuditQuery::default()
    };
    let mut latest = store.query_audit(&query).await?;
    latest.reverse();
    for entry in &latest {
        print_audit(entry, json);
    }
    if !follow {
        return Ok(());
    }
    let mut last_id = latest.last().map(|entry| entry.id).unwrap_or(0);
    query.limit = 1000;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
        }
        query.after_id = Some(last_id);
        for entry in store.query_audit(&query).await? {
            last_id = entry.id;
            print_audit(&entry, json);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toolkit_subcommands_come_from_the_descriptors() {
        let Ok(Invocation::Toolkit {
            cli,
            matches,
            config,
        }) = from_args([
            "tideway",
            "--config",
            "x.toml",
            "upstreams",
            "list",
            "--json",
        ])
        else {
            panic!("`upstreams` is the gateway's subcommand");
        };
        assert_eq!((cli.command)().get_name(), "upstreams");
        assert_eq!(config, Some(PathBuf::from("x.toml")));
        assert_eq!(matches.subcommand_name(), Some("list"));
        let Ok(Invocation::Toolkit { config, .. }) =
            from_args(["tideway", "upstreams", "list", "--config", "y.toml"])
        else {
            panic!("`--config` after the subcommand is accepted");
        };
        assert_eq!(config, Some(PathBuf::from("y.toml")));
        assert!(matches!(
            from_args(["tideway", "toolkits"]),
            Ok(Invocation::Builtin(Cli {
                command: Command::Toolkits,
                ..
            }))
        ));
        let error = from_args(["tideway", "upstreams", "launch"])
            .err()
            .expect("an unknown subcommand of a toolkit's is refused");
        assert_eq!(error.kind(), clap::error::ErrorKind::InvalidSubcommand);
        #[cfg(feature = "lakehouse")]
        assert!(matches!(
            from_args(["tideway", "sync", "shop", "orders", "--mode", "incremental"]),
            Ok(Invocation::Toolkit { .. })
        ));
    }

    #[test]
    fn the_data_directory_may_follow_a_nested_subcommand() {
        for args in [
            ["tideway", "keys", "--data-dir", "/d", "list"],
            ["tideway", "keys", "list", "--data-dir", "/d"],
        ] {
            let Ok(Invocation::Builtin(Cli {
                command: Command::Keys { common, .. },
                ..
            })) = from_args(args)
            else {
                panic!("{args:?} is a keys command");
            };
            assert_eq!(common.data_dir, Some(PathBuf::from("/d")), "{args:?}");
        }
        let Ok(Invocation::Toolkit { matches, .. }) =
            from_args(["tideway", "upstreams", "list", "--data-dir", "/d"])
        else {
            panic!("`upstreams list --data-dir` is accepted");
        };
        let (_, list) = matches.subcommand().expect("list");
        assert_eq!(
            list.get_one::<PathBuf>("data_dir"),
            Some(&PathBuf::from("/d"))
        );
    }

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }
}
