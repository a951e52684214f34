//! `tideway serve`: one HTTP listener for MCP and REST. Sockets get TCP_NODELAY (MCP
//! messages are small and latency-bound). On SIGINT or SIGTERM the listener stops
//! accepting, open SSE streams are told to close, and in-flight calls get up to
//! `http.shutdown_grace_secs` to finish before the store is closed.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    api::{self, guard::EdgeGuard},
    app::App,
    auth::edge::Edge,
    mcp::{McpShared, http::McpHttp, input::RequestStates},
};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to listen on {0}: it is not a loopback address and auth mode 'none' is on, \
         so anyone who can reach it could call every tool. Choose --auth api-key and/or --auth jwt \
         (auth.modes in the configuration) without 'none', or bind 127.0.0.1."
    )]
    Unauthenticated(SocketAddr),
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
    #[error("the HTTP server failed: {0}")]
    Serve(String),
}

pub fn mcp_shared(app: &App) -> Arc<McpShared> {
    Arc::new(McpShared {
        hub: app.hub.clone(),
        stdio_caller: app.local_caller(),
        call_timeout: Duration::from_secs(app.config.limits.call_timeout_secs),
        task_timeout: Duration::from_secs(app.config.limits.job_timeout_secs),
        page_size: app.config.limits.page_size,
        request_states: RequestStates::new(&app.master_key),
    })
}

/// Builds the HTTP application (also used by in-process tests).
pub fn http_app(app: Arc<App>, bind: SocketAddr, shutdown: CancellationToken) -> axum::Router {
    let mcp = Arc::new(McpHttp::new(
        mcp_shared(&app),
        app.config.http.sessions,
        app.config.http.mcp_direct,
        app.config.limits.max_body_bytes,
        shutdown,
        Duration::from_secs(app.config.http.shutdown_grace_secs),
    ));
    let guard = EdgeGuard {
        loopback_listener: bind.ip().is_loopback(),
        allowed_hosts: app.config.http.allowed_hosts.clone(),
        allowed_origins: app.config.http.allowed_origins.clone(),
    };
    let edge = Edge::new(
        app.auth.clone(),
        app.rate_limits.clone(),
        &app.config.resource_url(),
    );
    api::router(app, mcp, guard, edge)
}

pub async fn serve(app: Arc<App>) -> Result<(), ServeError> {
    let bind = app.config.bind;
    if !bind.ip().is_loopback() && app.auth.allows_anonymous() {
        return Err(ServeError::Unauthenticated(bind));
    }
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|error| ServeError::Bind {
            addr: bind,
            reason: error.to_string(),
        })?;
    let local = listener.local_addr().map_err(|error| ServeError::Bind {
        addr: bind,
        reason: error.to_string(),
    })?;
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
    });
    let shutdown = CancellationToken::new();
    let router = http_app(app.clone(), local, shutdown.clone());
    // Off the start-up path: it takes about 1.3 ms (debug build, default toolkits),
    // which the first call need not wait for.
    tokio::task::spawn_blocking(release_startup_memory);
    // CLI output: tests and scripts read the address from this line.
    println!(
        "Tideway {} listening on http://{local}",
        env!("CARGO_PKG_VERSION")
    );
    tracing::info!(%local, backend = app.store.backend(), "listening");

    // Idle rate-limit buckets are dropped now and then, so their memory stays small.
    let limits = app.rate_limits.clone();
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limits.forget_idle();
        }
    });
    let stop = shutdown.clone();
    let grace = Duration::from_secs(app.config.http.shutdown_grace_secs);
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: draining in-flight calls");
        stop.cancel();
    });
    let mut server = std::pin::pin!(server.into_future());
    let outcome = tokio::select! {
        outcome = &mut server => outcome,
        _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(?grace, "in-flight calls did not finish within the grace period");
            Ok(())
        }
    };
    sweeper.abort();
    app.shutdown().await;
    outcome.map_err(|error| ServeError::Serve(error.to_string()))
}

/// Gives back to the system what start-up allocated and already freed (migrations,
/// tool schemas built and copied, the OpenAPI document). glibc keeps freed memory in
/// its arenas for reuse; after start-up that is about a quarter of the server's
/// private memory (7 of 25 MB with the default toolkits), never needed again.
/// The debug line says how long it took.
fn release_startup_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let started = std::time::Instant::now();
        // SAFETY: malloc_trim takes no pointers; it walks glibc's own free lists
        // under glibc's own locks, so it is safe while other threads allocate.
        unsafe {
            libc::malloc_trim(0);
        }
        tracing::debug!(
            elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "start-up memory returned to the system"
        );
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
