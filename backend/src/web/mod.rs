//! `autobench serve`: the dashboard. An axum server, on 127.0.0.1 by default, serving the embedded
//! Leptos UI ([`assets`]), a JSON API over the runs under a results root ([`api`], [`runs`]), and
//! live change events from a filesystem watcher ([`live`]). Every request passes the checks in
//! [`security`], and slow clients are cut off ([`connections`]). A refused API request answers a
//! typed error ([`errors`]).

mod api;
mod assets;
mod connections;
mod errors;
mod eta;
mod live;
mod rerun;
mod runner;
pub(crate) mod runs;
pub(crate) mod secrets;
pub(crate) mod security;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};

/// Where and what to serve.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Results root: every run folder under it is shown.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Address to bind; anything but loopback requires a token.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8321)]
    pub port: u16,
    /// Token for non-loopback binds (generated and printed when not given).
    #[arg(long, env = "AUTOBENCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Reference configs shown on the config page (default `./references` when it exists).
    #[arg(long)]
    pub references: Option<PathBuf>,
}

/// A started dashboard.
pub(crate) struct Dashboard {
    /// The URL to open (with the token when one is needed).
    pub url: String,
    /// The server task.
    pub task: tokio::task::JoinHandle<()>,
    state: Arc<api::AppState>,
    _watcher: Option<notify::RecommendedWatcher>,
}

fn random_token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..32)
        .map(|_| format!("{:x}", rng.random_range(0..16_u8)))
        .collect()
}

/// Binds and starts serving in the background.
pub(crate) async fn start(args: &ServeArgs) -> anyhow::Result<Dashboard> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create the results root {}", args.dir.display()))?;
    let root = args
        .dir
        .canonicalize()
        .with_context(|| format!("cannot open {}", args.dir.display()))?;
    let token = if security::is_loopback(&args.host) {
        args.token.clone()
    } else {
        Some(args.token.clone().unwrap_or_else(random_token))
    };
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("cannot bind {}:{}", args.host, args.port))?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(args.port);
    let references = args
        .references
        .clone()
        .or_else(|| Some(PathBuf::from("references")).filter(|p| p.is_dir()))
        .and_then(|p| p.canonicalize().ok());
    let (changes, _) = tokio::sync::broadcast::channel(256);
    let watcher = live::watch(&root, changes.clone()).ok();
    let state = Arc::new(api::AppState {
        root,
        references,
        changes,
        runner: runner::Runner::default(),
    });
    let runs = Arc::clone(&state);
    let guard = security::Guard::new(&args.host, port, token.clone());
    // The checks run first: a refused request's body is never waited for.
    let app = router(state)
        .layer(axum::middleware::from_fn(connections::read_body))
        .layer(axum::middleware::from_fn_with_state(guard, security::check))
        .layer(axum::middleware::from_fn(errors::typed));
    let task = tokio::spawn(connections::serve(listener, app));
    let shown_host = if args.host == "0.0.0.0" {
        "127.0.0.1"
    } else {
        args.host.as_str()
    };
    let url = match &token {
        Some(t) => format!("http://{shown_host}:{port}/?token={t}"),
        None => format!("http://{shown_host}:{port}/"),
    };
    Ok(Dashboard {
        url,
        task,
        state: runs,
        _watcher: watcher,
    })
}

fn router(state: Arc<api::AppState>) -> Router {
    Router::new()
        .route("/api/runs", get(api::list_runs))
        .route("/api/run", get(api::run_detail))
        .route("/api/plot", get(api::plot))
        .route("/api/timeline", get(api::timeline))
        .route("/api/report", get(api::report))
        .route("/api/log", get(api::log))
        .route("/api/events", get(api::events))
        .route("/api/configs", get(api::configs))
        .route("/api/config", get(api::config))
        .route("/api/validate", post(api::validate))
        .route("/api/start", post(api::start))
        .route("/api/rerun", post(rerun::rerun))
        .route("/api/stop", post(api::stop))
        .with_state(state)
        .fallback(assets::static_file)
}

/// `autobench serve`: serves until interrupted.
pub(crate) async fn serve(args: &ServeArgs) -> anyhow::Result<std::process::ExitCode> {
    if !assets::has_wasm() {
        warn_without_ui();
    }
    let dashboard = start(args).await?;
    // Written with errors ignored: a closed stdout must not take the server down.
    let mut stdout = std::io::stdout();
    let _ = writeln!(
        stdout,
        "autobench dashboard: {}\nresults root: {}",
        dashboard.url,
        args.dir.display()
    );
    let _ = stdout.flush();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = dashboard.task => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    // Runs started here stop with partial results, and take their servers down with them.
    dashboard.state.runner.stop_all();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    Ok(std::process::ExitCode::SUCCESS)
}

#[expect(
    clippy::print_stderr,
    reason = "a build-time choice the user should know about"
)]
fn warn_without_ui() {
    eprintln!(
        "warning: this binary was built with UI_SKIP=1; the dashboard page will not start (the API works)"
    );
}
