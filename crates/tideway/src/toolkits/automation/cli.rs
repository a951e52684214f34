//! `tideway automation list|run|trigger|pause|resume`: works with the schedules,
//! event triggers and webhooks of a running server through its REST API
//! (`remote.rs`), one line per automation with its state and latest outcome.

use anyhow::{Context, bail};
use clap::{FromArgMatches, Subcommand, ValueEnum};
use serde_json::Value;

use crate::toolkits::remote::{Api, Server, segment};

/// `tideway automation`, as the automation descriptor adds it to the command line.
pub const CLI: crate::toolkits::ToolkitCli = crate::toolkits::ToolkitCli {
    command: || {
        AutomationCommand::augment_subcommands(
            clap::Command::new("automation")
                .about("List, run, pause and resume schedules, event triggers and webhooks on a running server.")
                .subcommand_required(true)
                .arg_required_else_help(true),
        )
    },
    run: |matches, _config_file| {
        Box::pin(async move { run(AutomationCommand::from_arg_matches(&matches)?).await })
    },
};

/// What `pause` and `resume` act on.
#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum Pausable {
    Schedule,
    EventTrigger,
}

impl Pausable {
    fn path(self) -> &'static str {
        match self {
            Pausable::Schedule => "/api/v1/automation/schedules",
            Pausable::EventTrigger => "/api/v1/automation/event-triggers",
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum AutomationCommand {
    /// The tenant's schedules, event triggers and webhooks, one line each.
    List {
        #[command(flatten)]
        server: Server,
    },
    /// Fires a schedule now (its next due times stay as they are).
    Run {
        schedule: String,
        #[command(flatten)]
        server: Server,
    },
    /// Starts a schedule's or webhook's target now, with extra input.
    Trigger {
        name: String,
        /// Laid under the target's own input, as a JSON object.
        #[arg(long, default_value = "{}")]
        input: String,
        #[command(flatten)]
        server: Server,
    },
    /// Pauses a schedule or an event trigger.
    Pause {
        kind: Pausable,
        name: String,
        #[command(flatten)]
        server: Server,
    },
    /// Resumes a schedule or an event trigger.
    Resume {
        kind: Pausable,
        name: String,
        #[command(flatten)]
        server: Server,
    },
}

/// What a target starts: `workflow x` or `tool y`.
fn target(view: &Value) -> String {
    match (
        view["target"]["workflow"].as_str(),
        view["target"]["tool"].as_str(),
    ) {
        (Some(workflow), _) => format!("workflow {workflow}"),
        (None, Some(tool)) => format!("tool {tool}"),
        (None, None) => "?".into(),
    }
}

/// The latest firing's outcome: `started <execution>` or `failed: <error>`.
fn last_outcome(view: &Value) -> String {
    let Some(firing) = view["last_firings"].as_array().and_then(|f| f.first()) else {
        return "never fired".into();
    };
    let status = firing["status"].as_str().unwrap_or("?");
    match (firing["execution_id"].as_str(), firing["error"].as_str()) {
        (_, Some(error)) => format!("last {status}: {error}"),
        (Some(execution), None) => format!("last {status} {execution}"),
        (None, None) => format!("last {status}"),
    }
}

fn state(view: &Value) -> &'static str {
    if view["paused"] == Value::Bool(true) {
        "paused"
    } else {
        "running"
    }
}

/// One line per schedule, event trigger and webhook.
fn describe(schedules: &Value, triggers: &Value, webhooks: &Value) -> String {
    let mut text = String::new();
    for schedule in schedules["schedules"].as_array().into_iter().flatten() {
        let timing = &schedule["timing"];
        let when = match (timing["cron"].as_str(), timing["every_secs"].as_u64()) {
            (Some(cron), _) => format!(
                "cron '{cron}' {}",
                timing["time_zone"].as_str().unwrap_or("UTC")
            ),
            (None, Some(seconds)) => format!("every {seconds}s"),
            (None, None) => timing.to_string(),
        };
        let next = schedule["next_fire_times"][0].as_str().unwrap_or("-");
        text.push_str(&format!(
            "schedule       {:<24} {:<8} {when}; next {next}; {} -> {}\n",
            schedule["name"].as_str().unwrap_or("?"),
            state(schedule),
            last_outcome(schedule),
            target(schedule),
        ));
    }
    for trigger in triggers["event_triggers"].as_array().into_iter().flatten() {
        let on = trigger["on"].as_str().unwrap_or("?");
        let on = match trigger["kafka"]["topic"].as_str() {
            Some(topic) => format!("{on} {topic}"),
            None => on.to_string(),
        };
        let error = trigger["last_error"]
            .as_str()
            .map(|error| format!("; reading failed: {error}"))
            .unwrap_or_default();
        text.push_str(&format!(
            "event-trigger  {:<24} {:<8} on {on}; {}{error} -> {}\n",
            trigger["name"].as_str().unwrap_or("?"),
            state(trigger),
            last_outcome(trigger),
            target(trigger),
        ));
    }
    for webhook in webhooks["webhooks"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "webhook        {:<24} {:<8} POST {} -> {}\n",
            webhook["name"].as_str().unwrap_or("?"),
            webhook["signing"].as_str().unwrap_or("?"),
            webhook["path"].as_str().unwrap_or("-"),
            target(webhook),
        ));
    }
    text
}

pub async fn run(command: AutomationCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    match command {
        AutomationCommand::List { server } => {
            let api = Api::new(&server)?;
            let schedules = api
                .send(Method::GET, "/api/v1/automation/schedules", None)
                .await?;
            let triggers = api
                .send(Method::GET, "/api/v1/automation/event-triggers", None)
                .await?;
            let webhooks = api
                .send(Method::GET, "/api/v1/automation/webhooks", None)
                .await?;
            print!("{}", describe(&schedules, &triggers, &webhooks));
        }
        AutomationCommand::Run { schedule, server } => {
            let firing = Api::new(&server)?
                .send(
                    Method::POST,
                    &format!("/api/v1/automation/schedules/{}/run", segment(&schedule)),
                    None,
                )
                .await?;
            match (firing["execution_id"].as_str(), firing["error"].as_str()) {
                (Some(execution), _) => println!("{execution}"),
                (None, error) => bail!(
                    "the schedule did not start: {}",
                    error.unwrap_or(firing["status"].as_str().unwrap_or("?"))
                ),
            }
        }
        AutomationCommand::Trigger {
            name,
            input,
            server,
        } => {
            let input: Value = serde_json::from_str(&input).context("--input is not JSON")?;
            if !input.is_object() {
                bail!("--input must be a JSON object");
            }
            let started = Api::new(&server)?
                .send(
                    Method::POST,
                    "/api/v1/automation/trigger",
                    Some(&serde_json::json!({"name": name, "input": input})),
                )
                .await?;
            println!(
                "{}",
                started["execution_id"]
                    .as_str()
                    .context("the server gave no execution id")?
            );
        }
        AutomationCommand::Pause { kind, name, server } => {
            set_paused(kind, &name, &server, true).await?;
        }
        AutomationCommand::Resume { kind, name, server } => {
            set_paused(kind, &name, &server, false).await?;
        }
    }
    Ok(())
}

async fn set_paused(
    kind: Pausable,
    name: &str,
    server: &Server,
    paused: bool,
) -> anyhow::Result<()> {
    let action = if paused { "pause" } else { "resume" };
    let view = Api::new(server)?
        .send(
            reqwest::Method::POST,
            &format!("{}/{}/{action}", kind.path(), segment(name)),
            None,
        )
        .await?;
    println!("{} {}", view["name"].as_str().unwrap_or(name), state(&view));
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_automation_is_one_line_with_its_state_and_latest_outcome() {
        let text = describe(
            &json!({"schedules": [{
                "name": "nightly", "paused": false,
                "timing": {"cron": "0 2 * * *", "time_zone": "Europe/Paris"},
                "next_fire_times": ["2026-12-07T01:00:00Z"],
                "last_firings": [{"status": "started", "execution_id": "e9", "error": null}],
                "target": {"workflow": "revenue", "input": {}}
            }]}),
            &json!({"event_triggers": [{
                "name": "refunds", "paused": true, "on": "kafka_message",
                "kafka": {"topic": "orders"}, "last_error": "broker down",
                "last_firings": [],
                "target": {"tool": "support.update_ticket", "input": {}}
            }]}),
            &json!({"webhooks": [{
                "name": "github", "signing": "github", "path": "/hooks/acme/github",
                "target": {"workflow": "triage", "input": {}}
            }]}),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("schedule       nightly "), "{text}");
        assert!(
            lines[0].contains("running")
                && lines[0].contains("cron '0 2 * * *' Europe/Paris")
                && lines[0].contains("next 2026-12-07T01:00:00Z")
                && lines[0].contains("last started e9")
                && lines[0].ends_with("-> workflow revenue"),
            "{text}"
        );
        assert!(
            lines[1].contains("paused")
                && lines[1].contains("on kafka_message orders")
                && lines[1].contains("never fired; reading failed: broker down")
                && lines[1].ends_with("-> tool support.update_ticket"),
            "{text}"
        );
        assert!(
            lines[2].contains("github")
                && lines[2].contains("POST /hooks/acme/github -> workflow triage"),
            "{text}"
        );
    }
}
