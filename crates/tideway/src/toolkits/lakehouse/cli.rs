//! `tideway sync SOURCE TABLE`: asks a running server to sync a database table into
//! Bronze as a background job, draws its progress on standard error, and prints the
//! result. It goes through the REST API (so the server's tenant, roles and audit
//! apply) with the API key in `--token` or `TIDEWAY_TOKEN`; Ctrl-C cancels the job.

use std::{io::Write, time::Duration};

use anyhow::{Context, bail};
use clap::{Args, FromArgMatches};
use serde_json::{Value, json};

/// `tideway sync`, as the lakehouse's descriptor adds it to the command line.
pub const CLI: crate::toolkits::ToolkitCli = crate::toolkits::ToolkitCli {
    command: || {
        SyncArgs::augment_args(clap::Command::new("sync").about(
            "Sync a database table into the lakehouse's Bronze layer on a running server, with a progress bar.",
        ))
    },
    run: |matches, _config_file| {
        Box::pin(async move {
            let result = run(SyncArgs::from_arg_matches(&matches)?).await?;
            let rows = result["rows_read"].as_u64().unwrap_or(0);
            println!(
                "Synced {rows} {} into {} ({} sync, version {}).",
                if rows == 1 { "row" } else { "rows" },
                result["table"].as_str().unwrap_or("?"),
                result["mode"].as_str().unwrap_or("?"),
                result["version"]
            );
            Ok(())
        })
    },
};

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// The database source (`connection_id`).
    pub source: String,
    /// The table: `orders` or `schema.orders`.
    pub table: String,
    /// full (replace the Bronze table) or incremental (rows past the cursor, merged on keys).
    #[arg(long, default_value = "full")]
    pub mode: String,
    /// For incremental syncs: the column that grows with each change (an updated_at
    /// timestamp or an increasing id); rows past the last value synced are read.
    #[arg(long)]
    pub cursor_column: Option<String>,
    /// Key columns, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub key_columns: Option<Vec<String>>,
    /// The Bronze table; by default the source table's name.
    #[arg(long)]
    pub target: Option<String>,
    /// The running server.
    #[arg(long, env = "TIDEWAY_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API key or token for the server (none needed on loopback without auth).
    #[arg(long, env = "TIDEWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

fn bar(progress: f64, total: Option<f64>) -> String {
    const WIDTH: usize = 30;
    match total.filter(|total| *total > 0.0) {
        Some(total) => {
            let fraction = (progress / total).clamp(0.0, 1.0);
            let filled = (fraction * WIDTH as f64).round() as usize;
            format!(
                "[{}{}] {:>3.0}%  {} of ~{} rows",
                "#".repeat(filled),
                " ".repeat(WIDTH - filled),
                fraction * 100.0,
                progress as u64,
                total as u64
            )
        }
        None => format!("{} rows", progress as u64),
    }
}

pub async fn run(args: SyncArgs) -> anyhow::Result<Value> {
    let http = crate::http_client::client()?;
    let base = args.url.trim_end_matches('/').to_string();
    let with_token = |request: reqwest::RequestBuilder| match &args.token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let mut body = json!({
        "connection_id": args.source,
        "table_name": args.table,
        "sync_mode": args.mode,
    });
    if let Some(cursor) = &args.cursor_column {
        body["cursor_column"] = json!(cursor);
    }
    if let Some(keys) = &args.key_columns {
        body["key_columns"] = json!(keys);
    }
    if let Some(target) = &args.target {
        body["target_table"] = json!(target);
    }
    let response = with_token(http.post(format!("{base}/api/v1/lakehouse/sync")))
        .header("prefer", "respond-async")
        .json(&body)
        .send()
        .await
        .with_context(|| {
            format!("cannot reach the server at {base}; is `tideway serve` running?")
        })?;
    let status = response.status();
    let started: Value = response
        .json()
        .await
        .context("the server's answer is not JSON")?;
    if status.as_u16() != 202 {
        bail!(
            "the server refused the sync ({status}): {}",
            started["detail"].as_str().unwrap_or(&started.to_string())
        );
    }
    let id = started["id"]
        .as_str()
        .context("the server gave no job id")?
        .to_string();
    let job_url = format!("{base}/api/v1/jobs/{id}");
    let mut stderr = std::io::stderr();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                let _ = with_token(http.delete(&job_url)).send().await;
                let _ = writeln!(stderr);
                bail!("cancelled; the Bronze table is as it was");
            }
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let job: Value = with_token(http.get(&job_url))
            .send()
            .await
            .context("polling the job")?
            .json()
            .await
            .context("the job is not JSON")?;
        let progress = job["progress"].as_f64().unwrap_or(0.0);
        let _ = write!(stderr, "\r{}", bar(progress, job["total"].as_f64()));
        let _ = stderr.flush();
        match job["status"].as_str() {
            Some("running") => continue,
            Some("succeeded") => {
                let _ = writeln!(stderr);
                return Ok(job["result"].clone());
            }
            Some("cancelled") => {
                let _ = writeln!(stderr);
                bail!("the job was cancelled; the Bronze table is as it was")
            }
            _ => {
                let _ = writeln!(stderr);
                bail!(
                    "the sync failed: {}",
                    job["error"]["detail"]
                        .as_str()
                        .unwrap_or(&job["error"].to_string())
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bar_fills_with_progress() {
        assert_eq!(
            super::bar(50.0, Some(100.0)),
            format!(
                "[{}{}]  50%  50 of ~100 rows",
                "#".repeat(15),
                " ".repeat(15)
            )
        );
        assert_eq!(super::bar(7.0, None), "7 rows");
        assert!(super::bar(150.0, Some(100.0)).contains("100%"));
    }
}
