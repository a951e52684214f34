//! `tideway upstreams list|add|remove`: federated servers managed from the shell. The
//! command writes the store (secret values sealed under the master key, as over
//! REST); running servers apply the change within `gateway.reconcile_secs`.

use std::collections::BTreeMap;

use clap::{Args, FromArgMatches, Subcommand};
use tideway_core::{
    Config, Store,
    naming::NamingMode,
    secrets::{MASTER_KEY_ENV, MasterKey},
};

use super::{
    gateway::store_upstream,
    settings::{self, UpstreamSpec, UpstreamStart, UpstreamTransport},
};

/// `tideway upstreams`, as the gateway's descriptor adds it to the command line.
pub const CLI: crate::toolkits::ToolkitCli = crate::toolkits::ToolkitCli {
    command: || {
        UpstreamsArgs::augment_args(clap::Command::new("upstreams").about(
            "List, add and remove federated MCP servers (running servers follow the store).",
        ))
        .subcommand_required(true)
    },
    run: |matches, config_file| {
        Box::pin(async move {
            let args = UpstreamsArgs::from_arg_matches(&matches)?;
            let config = crate::cli::load_config(config_file.as_ref(), &args.common)?;
            let store = crate::cli::open_store(&config).await?;
            let outcome = run(&store, &config, args.command).await;
            store.close().await;
            outcome
        })
    },
};

#[derive(Args, Debug)]
pub struct UpstreamsArgs {
    #[command(flatten)]
    common: crate::cli::Common,
    #[command(subcommand)]
    command: UpstreamsCommand,
}

#[derive(Subcommand, Debug)]
pub enum UpstreamsCommand {
    /// List the federated servers: those declared in the configuration and those stored.
    List {
        /// One JSON object per line instead of columns.
        #[arg(long)]
        json: bool,
    },
    /// Store a federated server (stdio with --command, Streamable HTTP with --url).
    Add(Box<AddUpstream>),
    /// Remove a stored federated server; running servers stop it.
    Remove { name: String },
}

#[derive(Args, Debug)]
pub struct AddUpstream {
    /// Its toolkit name: lower-case letters, digits, '_' or '-'.
    name: String,
    /// stdio: the program to start.
    #[arg(long, conflicts_with = "url")]
    command: Option<String>,
    /// stdio: an argument (repeatable, in order).
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    args: Vec<String>,
    /// stdio: a variable for the child, NAME=VALUE (repeatable; sealed in the store).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// stdio: a variable copied from Tideway's environment when the child starts,
    /// CHILD_NAME=OUR_NAME (repeatable).
    #[arg(long = "env-from", value_name = "CHILD=OURS")]
    env_from: Vec<String>,
    /// stdio: the child's working directory.
    #[arg(long)]
    cwd: Option<std::path::PathBuf>,
    /// http: the MCP endpoint.
    #[arg(long)]
    url: Option<String>,
    /// http: a header sent with every request, NAME=VALUE (repeatable; sealed).
    #[arg(long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// http: read the bearer token from this variable of the environment (so it
    /// never appears on a command line).
    #[arg(long, value_name = "VAR")]
    bearer_token_env: Option<String>,
    /// Only this tenant sees it.
    #[arg(long)]
    tenant: Option<String>,
    /// prefix (default), on-collision or never.
    #[arg(long, default_value = "prefix")]
    naming: String,
    /// Start on first use instead of at boot.
    #[arg(long)]
    lazy: bool,
    /// Per-call deadline in seconds.
    #[arg(long)]
    timeout_secs: Option<u64>,
    #[arg(long)]
    description: Option<String>,
    /// Replace a stored upstream of the same name.
    #[arg(long)]
    replace: bool,
}

fn pairs(flag: &str, items: Vec<String>) -> anyhow::Result<BTreeMap<String, String>> {
    items
        .into_iter()
        .map(|item| match item.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
            _ => anyhow::bail!("--{flag} takes NAME=VALUE, not '{item}'"),
        })
        .collect()
}

pub async fn run(store: &Store, config: &Config, command: UpstreamsCommand) -> anyhow::Result<()> {
    match command {
        UpstreamsCommand::List { json } => list(store, config, json).await,
        UpstreamsCommand::Add(add) => {
            let AddUpstream {
                name,
                command,
                args,
                env,
                env_from,
                cwd,
                url,
                headers,
                bearer_token_env,
                tenant,
                naming,
                lazy,
                timeout_secs,
                description,
                replace,
            } = *add;
            let naming = match naming.as_str() {
                "prefix" => NamingMode::Prefix,
                "on-collision" => NamingMode::OnCollision,
                "never" => NamingMode::Never,
                other => anyhow::bail!("--naming '{other}': use prefix, on-collision or never"),
            };
            let bearer_token = match bearer_token_env {
                Some(var) => Some(std::env::var(&var).map_err(|_| {
                    anyhow::anyhow!("--bearer-token-env: the environment has no variable {var}")
                })?),
                None => None,
            };
            let spec = UpstreamSpec {
                name,
                tenant,
                transport: if url.is_some() {
                    UpstreamTransport::Http
                } else {
                    UpstreamTransport::Stdio
                },
                description,
                command,
                args,
                env: pairs("env", env)?,
                env_from: pairs("env-from", env_from)?,
                cwd,
                url,
                headers: pairs("header", headers)?,
                bearer_token,
                naming,
                start: if lazy {
                    UpstreamStart::Lazy
                } else {
                    UpstreamStart::Boot
                },
                timeout_secs,
                retries: None,
            };
            spec.validate().map_err(|reason| anyhow::anyhow!(reason))?;
            if settings::upstreams(config)?
                .iter()
                .any(|u| u.name == spec.name)
            {
                anyhow::bail!(
                    "'{}' is declared in the configuration file; change it there",
                    spec.name
                );
            }
            let stored = super::records::list(store).await?;
            if stored.iter().any(|r| r.name == spec.name) && !replace {
                anyhow::bail!(
                    "an upstream named '{}' is stored already; add --replace to replace it",
                    spec.name
                );
            }
            let key = MasterKey::resolve(
                std::env::var(MASTER_KEY_ENV).ok().as_deref(),
                &config.master_key_file(),
            )?;
            let user = local_user(std::env::var("USER").ok());
            store_upstream(store, &key, &spec, &format!("cli:{user}")).await?;
            println!(
                "Stored upstream {}. Running servers start it within {} s (gateway.reconcile_secs).",
                spec.name,
                settings::gateway(config)?.reconcile_secs
            );
            Ok(())
        }
        UpstreamsCommand::Remove { name } => {
            if settings::upstreams(config)?.iter().any(|u| u.name == name) {
                anyhow::bail!("'{name}' is declared in the configuration file; remove it there");
            }
            if !super::records::delete(store, &name).await? {
                anyhow::bail!("no stored upstream named '{name}'");
            }
            println!(
                "Removed upstream {name}. Running servers stop it within {} s.",
                settings::gateway(config)?.reconcile_secs
            );
            Ok(())
        }
    }
}

async fn list(store: &Store, config: &Config, json: bool) -> anyhow::Result<()> {
    let mut rows: Vec<(String, Option<String>, &'static str, String, String)> = Vec::new();
    let target = |spec: &UpstreamSpec| match spec.transport {
        UpstreamTransport::Http => spec.url.clone().unwrap_or_default(),
        UpstreamTransport::Stdio => std::iter::once(spec.command.clone().unwrap_or_default())
            .chain(spec.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" "),
    };
    for spec in &settings::upstreams(config)? {
        rows.push((
            spec.name.clone(),
            spec.tenant.clone(),
            "config",
            target(spec),
            String::new(),
        ));
    }
    for record in super::records::list(store).await? {
        let spec: UpstreamSpec = serde_json::from_value(record.spec)?;
        rows.push((
            record.name,
            record.tenant,
            "stored",
            target(&spec),
            format!(
                "{} by {}",
                record.updated_at.format("%Y-%m-%d %H:%M:%S"),
                record.created_by
            ),
        ));
    }
    // CLI output.
    if json {
        for (name, tenant, origin, target, changed) in rows {
            let line = serde_json::json!({"name": name, "tenant": tenant, "origin": origin, "target": target, "changed": changed});
            println!("{line}");
        }
        return Ok(());
    }
    println!(
        "{:<20} {:<12} {:<7} {:<45} CHANGED",
        "NAME", "TENANT", "ORIGIN", "TARGET"
    );
    for (name, tenant, origin, target, changed) in rows {
        println!(
            "{:<20} {:<12} {:<7} {:<45} {changed}",
            name,
            tenant.as_deref().unwrap_or("(all)"),
            origin,
            target
        );
    }
    Ok(())
}

/// Who runs the command, for the record of who stored what: `$USER`, else the name the
/// password database gives the process's user (containers and CI often leave `USER`
/// unset), else `uid-N`.
fn local_user(user_variable: Option<String>) -> String {
    if let Some(user) = user_variable.filter(|user| !user.trim().is_empty()) {
        return user;
    }
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata("/proc/self").map(|metadata| metadata.uid()) else {
        return "unknown".into();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let listed: u32 = fields.nth(1)?.parse().ok()?;
                (listed == uid && !name.is_empty()).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid-{uid}"))
}

#[cfg(test)]
mod user_tests {
    use std::os::unix::fs::MetadataExt;

    use super::local_user;

    #[test]
    fn the_user_is_named_even_without_the_user_variable() {
        assert_eq!(local_user(Some("ada".into())), "ada");
        let uid = std::fs::metadata("/proc/self").expect("proc").uid();
        let named = local_user(None);
        let listed = std::fs::read_to_string("/etc/passwd")
            .unwrap_or_default()
            .lines()
            .any(|line| {
                line.starts_with(&format!("{named}:"))
                    && line.split(':').nth(2) == Some(uid.to_string().as_str())
            });
        assert!(listed || named == format!("uid-{uid}"), "{named}");
        assert_eq!(local_user(Some("  ".into())), named);
    }
}
