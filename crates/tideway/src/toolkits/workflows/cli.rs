//! `tideway workflows list|start|status|cancel`: works with the workflows of a running
//! server through its REST API (`remote.rs`). `start --follow` and `status --follow`
//! draw each step's status on standard error until the run finishes.

use std::{io::Write, time::Duration};

use anyhow::{Context, bail};
use clap::{FromArgMatches, Subcommand};
use serde_json::Value;

use crate::toolkits::remote::{Api, Server};

/// `tideway workflows`, as the workflows descriptor adds it to the command line.
pub const CLI: crate::toolkits::ToolkitCli = crate::toolkits::ToolkitCli {
    command: || {
        WorkflowsCommand::augment_subcommands(
            clap::Command::new("workflows")
                .about("List, start, follow and cancel workflow runs on a running server.")
                .subcommand_required(true)
                .arg_required_else_help(true),
        )
    },
    run: |matches, _config_file| {
        Box::pin(async move { run(WorkflowsCommand::from_arg_matches(&matches)?).await })
    },
};

#[derive(Subcommand, Debug)]
pub enum WorkflowsCommand {
    /// The templates the tenant may run.
    List {
        #[command(flatten)]
        server: Server,
    },
    /// Starts a run of a template.
    Start {
        template_id: String,
        /// The run's input as a JSON object, e.g. '{"customer_id": 1}'.
        #[arg(long, default_value = "{}")]
        input: String,
        /// Show each step's progress until the run finishes.
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        server: Server,
    },
    /// A run's status and steps.
    Status {
        execution_id: String,
        /// Show each step's progress until the run finishes.
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        server: Server,
    },
    /// Cancels a run.
    Cancel {
        execution_id: String,
        #[command(flatten)]
        server: Server,
    },
}

fn finished(run: &Value) -> bool {
    matches!(
        run["status"].as_str(),
        Some("succeeded" | "failed" | "cancelled")
    )
}

/// One line per step: `  id  status (attempt n)`, and the error if there is one.
fn describe(run: &Value) -> String {
    let mut text = format!(
        "{} {} (template {} v{})\n",
        run["execution_id"].as_str().unwrap_or("?"),
        run["status"].as_str().unwrap_or("?"),
        run["template_id"].as_str().unwrap_or("?"),
        run["template_version"]
    );
    for step in run["steps"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "  {:<24} {:<10} attempt {}",
            step["id"].as_str().unwrap_or("?"),
            step["status"].as_str().unwrap_or("?"),
            step["attempt"]
        ));
        if let Some(error) = step["error"].as_str() {
            text.push_str(&format!("  {error}"));
        }
        text.push('\n');
    }
    if let Some(error) = run["error"].as_str() {
        text.push_str(&format!("  {error}\n"));
    }
    text
}

/// Prints the run each time it changes until it finishes; Ctrl-C stops following
/// (the run goes on).
async fn follow(api: &Api, execution_id: &str) -> anyhow::Result<Value> {
    let path = format!("/api/v1/workflows/executions/{execution_id}");
    let mut shown = String::new();
    let mut stderr = std::io::stderr();
    loop {
        let run = api.send(reqwest::Method::GET, &path, None).await?;
        let text = describe(&run);
        if text != shown {
            let _ = write!(stderr, "{text}");
            let _ = stderr.flush();
            shown = text;
        }
        if finished(&run) {
            return Ok(run);
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => bail!("stopped following; the run goes on ({execution_id})"),
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    }
}

pub async fn run(command: WorkflowsCommand) -> anyhow::Result<()> {
    match command {
        WorkflowsCommand::List { server } => {
            let api = Api::new(&server)?;
            let listed = api
                .send(reqwest::Method::GET, "/api/v1/workflows/templates", None)
                .await?;
            for template in listed["templates"].as_array().into_iter().flatten() {
                println!(
                    "{:<28} v{:<3} {} steps  {}",
                    template["id"].as_str().unwrap_or("?"),
                    template["version"],
                    template["steps"],
                    template["name"].as_str().unwrap_or("")
                );
            }
        }
        WorkflowsCommand::Start {
            template_id,
            input,
            follow: following,
            server,
        } => {
            let input: Value = serde_json::from_str(&input).context("--input is not JSON")?;
            if !input.is_object() {
                bail!("--input must be a JSON object");
            }
            let api = Api::new(&server)?;
            let started = api
                .send(
                    reqwest::Method::POST,
                    &format!("/api/v1/workflows/start/{template_id}"),
                    Some(&input),
                )
                .await?;
            let id = started["execution_id"]
                .as_str()
                .context("the server gave no execution id")?;
            println!("{id}");
            if following {
                let run = follow(&api, id).await?;
                if run["status"] != "succeeded" {
                    bail!("the run {}", run["status"].as_str().unwrap_or("ended"));
                }
            }
        }
        WorkflowsCommand::Status {
            execution_id,
            follow: following,
            server,
        } => {
            let api = Api::new(&server)?;
            let run = if following {
                follow(&api, &execution_id).await?
            } else {
                let run = api
                    .send(
                        reqwest::Method::GET,
                        &format!("/api/v1/workflows/executions/{execution_id}"),
                        None,
                    )
                    .await?;
                print!("{}", describe(&run));
                run
            };
            if following && run["status"] != "succeeded" {
                bail!("the run {}", run["status"].as_str().unwrap_or("ended"));
            }
        }
        WorkflowsCommand::Cancel {
            execution_id,
            server,
        } => {
            let api = Api::new(&server)?;
            let run = api
                .send(
                    reqwest::Method::POST,
                    &format!("/api/v1/workflows/executions/{execution_id}/cancel"),
                    None,
                )
                .await?;
            print!("{}", describe(&run));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_run_is_described_one_line_per_step_with_its_error() {
        let text = describe(&json!({
            "execution_id": "e1", "status": "failed", "template_id": "t", "template_version": 2,
            "error": "step 'b' failed",
            "steps": [
                {"id": "a", "status": "succeeded", "attempt": 1, "error": null},
                {"id": "b", "status": "failed", "attempt": 3, "error": "timed out"},
            ]
        }));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "e1 failed (template t v2)");
        assert!(
            lines[1].starts_with("  a ")
                && lines[1].contains("succeeded")
                && lines[1].ends_with("attempt 1")
        );
        assert!(lines[2].contains("failed") && lines[2].ends_with("attempt 3  timed out"));
        assert_eq!(lines[3], "  step 'b' failed");
    }
}
