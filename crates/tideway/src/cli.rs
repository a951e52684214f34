//! The `tideway` command line. Each subcommand is a thin layer over the library:
//! load configuration, start the app, hand over to a face.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tideway_core::Config;

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
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
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
        /// Enable only this toolkit (repeatable). Default: every built-in toolkit but `conformance`.
        #[arg(long = "toolkit", value_name = "NAME")]
        toolkits: Vec<String>,
        /// Load a sample help desk (customers, tickets, knowledge articles) into the
        /// default tenant first; loading it again changes nothing.
        #[arg(long)]
        demo: bool,
    },
    /// Serve MCP on stdin/stdout, for Claude Desktop, Claude Code and other local hosts.
    Mcp {
        #[command(flatten)]
        common: Common,
        /// Enable only this toolkit (repeatable). Default: every built-in toolkit but `conformance`.
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
}

fn load_config(cli_config: Option<&PathBuf>, common: &Common) -> anyhow::Result<Config> {
    let mut config = Config::load(cli_config.map(PathBuf::as_path))?;
    if let Some(dir) = &common.data_dir {
        config.data_dir = dir.clone();
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

pub async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve {
            common,
            bind,
            toolkits,
            demo,
        } => {
            let mut config = load_config(cli.config.as_ref(), &common)?;
            if let Some(bind) = bind {
                config.bind = bind;
            }
            telemetry::init(&config.log);
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
            telemetry::init(&config.log);
            let app = App::start(config, &toolkits)
                .await
                .context("starting Tideway")?;
            if demo {
                load_demo(&app).await?;
            }
            stdio::serve_stdio(server::mcp_shared(&app)).await?;
            app.store.close().await;
        }
        Command::Migrate { common } => {
            let config = load_config(cli.config.as_ref(), &common)?;
            telemetry::init(&config.log);
            let store = tideway_core::Store::open(&config.store_url()).await?;
            store.migrate().await?;
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
        Command::Toolkits => {
            for name in toolkits::BUILTIN {
                let note = if toolkits::OFF_BY_DEFAULT.contains(name) {
                    " (off unless named with --toolkit)"
                } else {
                    ""
                };
                println!("{name}{note}");
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
