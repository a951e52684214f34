//! `tideway doctor`: checks what a person would check by hand when something is off
//! (configuration, the store and its migrations, each toolkit's health) and prints
//! each finding with how to fix it.

use std::{path::PathBuf, time::Duration};

use tideway_core::{HealthStatus, Store};

use crate::app::App;

fn report(ok: bool, what: &str, detail: &str) {
    let mark = if ok { "ok  " } else { "FAIL" };
    if detail.is_empty() {
        println!("[{mark}] {what}");
    } else {
        println!("[{mark}] {what}: {detail}");
    }
}

/// Prints the checks; returns whether everything passed.
pub async fn run(config_file: Option<&PathBuf>, data_dir: Option<&PathBuf>) -> bool {
    let mut config = match crate::toolkits::load_config(config_file.map(PathBuf::as_path)) {
        Ok(config) => config,
        Err(error) => {
            report(
                false,
                "configuration",
                &format!("{error}. Fix the file or the TIDEWAY_* variable it names."),
            );
            return false;
        }
    };
    if let Some(dir) = data_dir {
        config.data_dir = dir.clone();
    }
    report(
        true,
        "configuration",
        &format!(
            "loaded ({})",
            config_file
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "defaults and environment".into())
        ),
    );
    let mut healthy = true;
    if !config.bind.ip().is_loopback() {
        report(
            false,
            "bind",
            &format!(
                "{} is not loopback and authentication is not configured; `serve` will refuse it. Use 127.0.0.1.",
                config.bind
            ),
        );
        healthy = false;
    }
    let store = match Store::open(&config.store_url()).await {
        Ok(store) => store,
        Err(error) => {
            let hint = if config.database_url.is_some() {
                "check database_url (TIDEWAY_DATABASE_URL) and that the server is reachable"
            } else {
                "check that data_dir is writable (--data-dir or TIDEWAY_DATA_DIR)"
            };
            report(false, "store", &format!("{error}; {hint}"));
            return false;
        }
    };
    match store.ping().await {
        Ok(latency) => report(
            true,
            "store",
            &format!(
                "{} reachable in {:.1} ms",
                store.backend(),
                latency.as_secs_f64() * 1e3
            ),
        ),
        Err(error) => {
            report(false, "store", &error.to_string());
            healthy = false;
        }
    }
    let known =
        tideway_core::Store::known_migrations(&crate::toolkits::migrations()).unwrap_or_default();
    let applied = store.applied_migrations().await.unwrap_or_default();
    let pending: Vec<_> = known.iter().filter(|v| !applied.contains(v)).collect();
    if pending.is_empty() {
        report(true, "migrations", &format!("{} applied", applied.len()));
    } else {
        report(
            true,
            "migrations",
            &format!(
                "{} pending ({pending:?}); they are applied on start, or run `tideway migrate`",
                pending.len()
            ),
        );
    }
    store.close().await;
    match App::start(config, &[]).await {
        Ok(app) => {
            for (name, health) in app.hub.health(Duration::from_secs(10)).await {
                let ok = health.status != HealthStatus::Down;
                healthy &= ok;
                report(
                    ok,
                    &format!("toolkit {name}"),
                    health.detail.as_deref().unwrap_or(""),
                );
            }
            app.shutdown().await;
        }
        Err(error) => {
            report(false, "start", &error.to_string());
            healthy = false;
        }
    }
    healthy
}
