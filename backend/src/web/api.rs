//! The dashboard's JSON and file endpoints. Run ids and file names come from the browser, so
//! every path goes through [`super::runs::confined`]; config text sent back has secret values
//! replaced.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;
use shared::api::{ConfigCheck, ConfigProblem};
use shared::api_calls::{
    ApiErrorKind, StartRequest, Started, StopRequest, Stopping, ValidateRequest,
};
use shared::metrics::Metric;
use shared::sla::{LatencyMetric, Stat};

use super::errors::refuse;
use super::runs::{self, PathError};
use super::secrets;

/// Shared server state.
#[derive(Debug)]
pub(super) struct AppState {
    /// The results root.
    pub root: PathBuf,
    /// The reference configs folder, when there is one.
    pub references: Option<PathBuf>,
    /// Run ids whose files changed.
    pub changes: tokio::sync::broadcast::Sender<String>,
    /// Runs started from the dashboard.
    pub runner: super::runner::Runner,
}

type Shared = State<Arc<AppState>>;

/// A path the browser sent that is refused: outside the root (forbidden) or missing.
fn refuse_path(error: &PathError) -> Response {
    let kind = match error {
        PathError::Outside(_) => ApiErrorKind::Forbidden,
        PathError::Missing(_) => ApiErrorKind::NotFound,
    };
    refuse(kind, error.to_string())
}

/// `GET /api/runs`.
pub(super) async fn list_runs(State(state): Shared) -> Response {
    Json(runs::list(&state.root)).into_response()
}

/// `?run=ID`.
#[derive(Debug, Deserialize)]
pub(super) struct RunQuery {
    run: String,
}

/// `GET /api/run?run=ID`.
pub(super) async fn run_detail(State(state): Shared, Query(q): Query<RunQuery>) -> Response {
    match runs::detail(&state.root, &q.run) {
        Ok(mut detail) => {
            if state.runner.owns(&q.run) {
                detail.stop_refused = None;
            }
            Json(detail).into_response()
        }
        Err(e) => refuse_path(&e),
    }
}

/// The most runs one compare plot overlays.
const MAX_OVERLAID_RUNS: usize = 8;

/// `?run=ID&scenario=NAME&metric=ttft|tpot&stat=p99|p95|p90|p50&x=rate|tokens[&with=ID,ID]`.
#[derive(Debug, Deserialize)]
pub(super) struct PlotQuery {
    run: String,
    scenario: String,
    metric: String,
    #[serde(default)]
    stat: Option<String>,
    #[serde(default)]
    x: Option<String>,
    /// More runs to draw on the same axes (comma-separated ids; the compare page).
    #[serde(default)]
    with: Option<String>,
}

/// `GET /api/plot`: one plot as SVG.
pub(super) async fn plot(State(state): Shared, Query(q): Query<PlotQuery>) -> Response {
    let dir = match runs::confined(&state.root, &q.run) {
        Ok(dir) => dir,
        Err(e) => return refuse_path(&e),
    };
    let Ok(data) = crate::report::load(&dir) else {
        return refuse(ApiErrorKind::NotFound, "no results in this run yet");
    };
    let Some(scenario) = data.scenarios.iter().find(|s| s.name == q.scenario) else {
        return refuse(ApiErrorKind::NotFound, "no such scenario");
    };
    let metric = match q.metric.as_str() {
        "ttft" => LatencyMetric::Ttft,
        "tpot" => LatencyMetric::Tpot,
        "itl" => LatencyMetric::Itl,
        "e2e" => LatencyMetric::E2e,
        _ => {
            return refuse(
                ApiErrorKind::BadRequest,
                "metric must be ttft, tpot, itl or e2e",
            );
        }
    };
    let stat = match q.stat.as_deref() {
        None | Some("p99") => Stat::P99,
        Some("p95") => Stat::P95,
        Some("p90") => Stat::P90,
        Some("p50") => Stat::Median,
        Some(_) => {
            return refuse(
                ApiErrorKind::BadRequest,
                "stat must be p99, p95, p90 or p50",
            );
        }
    };
    let x_metric = match q.x.as_deref() {
        None | Some("rate") => Metric::AchievedRate,
        Some("tokens") => Metric::OutputThroughput,
        Some(_) => return refuse(ApiErrorKind::BadRequest, "x must be rate or tokens"),
    };
    let (y_metric, limit) = crate::report::plotted_metric(data.sla().as_ref(), metric, stat);
    let spec = crate::report::plots::PlotSpec {
        title: format!("{}: {}", scenario.name, y_metric.label()),
        x_metric,
        y_metric,
        sla_ms: limit,
    };
    let svg = match q.with.as_deref().filter(|w| !w.is_empty()) {
        None => crate::report::plots::latency_svg(
            &spec,
            &scenario.records,
            crate::report::answer_mark(&data, scenario).as_ref(),
        ),
        Some(with) => {
            let mut runs = vec![(q.run.clone(), scenario.records.clone())];
            for id in with.split(',').take(MAX_OVERLAID_RUNS) {
                let dir = match runs::confined(&state.root, id) {
                    Ok(dir) => dir,
                    Err(e) => return refuse_path(&e),
                };
                let records = crate::report::load(&dir)
                    .ok()
                    .and_then(|d| d.scenarios.into_iter().find(|s| s.name == q.scenario))
                    .map(|s| s.records)
                    .unwrap_or_default();
                runs.push((id.to_string(), records));
            }
            crate::report::plots::overlay_svg(&spec, &runs)
        }
    };
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}

/// `?run=ID&scenario=NAME`.
#[derive(Debug, Deserialize)]
pub(super) struct TimelineQuery {
    run: String,
    scenario: String,
}

/// `GET /api/timeline`: latency over time of the scenario's answer trial, as SVG (404 when its
/// per-request timings were not stored).
pub(super) async fn timeline(State(state): Shared, Query(q): Query<TimelineQuery>) -> Response {
    let dir = match runs::confined(&state.root, &q.run) {
        Ok(dir) => dir,
        Err(e) => return refuse_path(&e),
    };
    let Ok(data) = crate::report::load(&dir) else {
        return refuse(ApiErrorKind::NotFound, "no results in this run yet");
    };
    let Some(scenario) = data.scenarios.iter().find(|s| s.name == q.scenario) else {
        return refuse(ApiErrorKind::NotFound, "no such scenario");
    };
    match crate::report::timeline::answer_svg(&data, scenario) {
        Some(svg) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        None => refuse(
            ApiErrorKind::NotFound,
            "no per-request timings for this scenario's answer trial",
        ),
    }
}

/// `GET /api/report?run=ID`: the run's report, as a download.
pub(super) async fn report(State(state): Shared, Query(q): Query<RunQuery>) -> Response {
    let dir = match runs::confined(&state.root, &q.run) {
        Ok(dir) => dir,
        Err(e) => return refuse_path(&e),
    };
    match crate::report::render(&dir) {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"report.html\"",
                ),
            ],
            html,
        )
            .into_response(),
        Err(e) => refuse(ApiErrorKind::NotFound, format!("{e:#}")),
    }
}

/// `?run=ID&file=progress.log`.
#[derive(Debug, Deserialize)]
pub(super) struct LogQuery {
    run: String,
    file: String,
}

/// `GET /api/log`: the last 256 KiB of a run's log.
pub(super) async fn log(State(state): Shared, Query(q): Query<LogQuery>) -> Response {
    match runs::log_text(&state.root, &q.run, &q.file, 256 * 1024) {
        Ok(text) => text.into_response(),
        Err(e) => refuse_path(&e),
    }
}

/// `GET /api/events`: server-sent events, one per changed run (its id; empty for the list).
pub(super) async fn events(
    State(state): Shared,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.changes.subscribe();
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        // A lagging browser gets an empty id: "refresh everything".
        match receiver.recv().await {
            Ok(id) => Some((Ok(Event::default().data(id)), receiver)),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                Some((Ok(Event::default().data("")), receiver))
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /api/configs`: reference configs (`.yaml` under `references/`), by relative path.
pub(super) async fn configs(State(state): Shared) -> Response {
    let mut names = Vec::new();
    if let Some(dir) = &state.references {
        collect_yaml(dir, dir, &mut names);
    }
    names.sort();
    Json(names).into_response()
}

fn collect_yaml(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_yaml(base, &path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
            && let Ok(rel) = path.strip_prefix(base)
        {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// `?name=REL` (under `references/`) or `?path=P` (absolute or relative to the working
/// directory, inside the results root or `references/`).
#[derive(Debug, Deserialize)]
pub(super) struct ConfigQuery {
    name: Option<String>,
    path: Option<String>,
}

/// `GET /api/config?name=|path=`: a config's text, secret values replaced.
pub(super) async fn config(State(state): Shared, Query(q): Query<ConfigQuery>) -> Response {
    let resolved = match (&q.name, &q.path) {
        (Some(name), None) => match &state.references {
            Some(dir) => runs::confined(dir, name),
            None => return refuse(ApiErrorKind::NotFound, "no references folder"),
        },
        (None, Some(path)) => {
            let mut roots = vec![state.root.as_path()];
            roots.extend(state.references.as_deref());
            runs::confined_to_any(&roots, path)
        }
        _ => return refuse(ApiErrorKind::BadRequest, "give either name or path"),
    };
    match resolved {
        Ok(path) if path.is_file() => match std::fs::read_to_string(&path) {
            Ok(text) => secrets::redact_yaml(&text).into_response(),
            Err(e) => refuse(ApiErrorKind::NotFound, e.to_string()),
        },
        Ok(_) => refuse(ApiErrorKind::NotFound, "not a file"),
        Err(e) => refuse_path(&e),
    }
}

impl AppState {
    /// Where relative paths in config text from the browser are taken from, both when it is
    /// checked and when it runs: the references folder, else the results root.
    fn paths_base(&self) -> &Path {
        self.references.as_deref().unwrap_or(&self.root)
    }
}

/// The CLI's parser on config text from the browser, as if the config were a file in
/// [`AppState::paths_base`].
fn parse_config(
    state: &AppState,
    yaml: &str,
) -> Result<crate::config::RunConfig, crate::config::ConfigError> {
    let base = state.paths_base();
    crate::config::parse_relative_to(&base.join("dashboard-config.yaml"), yaml, base)
}

/// `POST /api/validate`: the CLI's validator on the text; problems with line and column, or the
/// plan.
pub(super) async fn validate(State(state): Shared, Json(body): Json<ValidateRequest>) -> Response {
    let checked = match parse_config(&state, &body.yaml) {
        Ok(cfg) => match crate::preflight::check_cached(&cfg, &body.yaml).await {
            Ok(preflight) => Ok((cfg, preflight)),
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    let check = match checked {
        Ok((mut cfg, preflight)) => {
            if let crate::preflight::Preflight::Skipped(why) = preflight {
                cfg.warnings.push(why);
            }
            ConfigCheck {
                problems: Vec::new(),
                plan: Some(crate::plan::render(&cfg)),
            }
        }
        Err(crate::config::ConfigError::Invalid {
            line,
            column,
            message,
            ..
        }) => ConfigCheck {
            problems: vec![ConfigProblem {
                line,
                column,
                message,
            }],
            plan: None,
        },
        Err(other) => ConfigCheck {
            problems: vec![ConfigProblem {
                line: None,
                column: None,
                message: other.to_string(),
            }],
            plan: None,
        },
    };
    Json(check).into_response()
}

/// Why starting now may spoil results: other runs of this root that are running, which share the
/// machine's GPUs unless their `CUDA_VISIBLE_DEVICES` sets are disjoint.
fn gpu_warning(state: &AppState, name: &str, config: &crate::config::RunConfig) -> Option<String> {
    let running: Vec<String> = runs::list(&state.root)
        .into_iter()
        .filter(|r| r.status == shared::api::RunStatus::Running && r.id != name)
        .map(|r| r.id)
        .collect();
    if running.is_empty() {
        return None;
    }
    let gpus = config
        .server
        .env
        .iter()
        .find(|(k, _)| k == "CUDA_VISIBLE_DEVICES")
        .map(|(_, v)| v)
        .map_or("all GPUs".to_string(), |v| {
            format!("CUDA_VISIBLE_DEVICES={v}")
        });
    Some(format!(
        "warning: {} still running ({}); this run would use {gpus}. Two runs on the same GPUs measure each other's load, and both answers would be wrong. Start anyway only if their GPUs are disjoint.",
        if running.len() == 1 {
            "another run is"
        } else {
            "other runs are"
        },
        running.join(", ")
    ))
}

/// `POST /api/start`: checks the config like `/api/validate`, then starts `autobench run` into
/// `ROOT/name`. Answers the run id, or the problems.
pub(super) async fn start(State(state): Shared, Json(body): Json<StartRequest>) -> Response {
    if let Err(error) = super::runner::check_name(&body.name) {
        return refuse(ApiErrorKind::BadRequest, error.to_string());
    }
    start_run(&state, &body)
}

/// Starts `autobench run` of `body.yaml` into `ROOT/body.name` after the config check and the
/// GPU warning (`POST /api/start`, and `POST /api/rerun` with the run's own config).
pub(super) fn start_run(state: &AppState, body: &StartRequest) -> Response {
    let config = match parse_config(state, &body.yaml) {
        Ok(config) => config,
        Err(error) => {
            return refuse(
                ApiErrorKind::BadRequest,
                format!("the config has errors: {error}"),
            );
        }
    };
    if !body.force
        && let Some(warning) = gpu_warning(state, &body.name, &config)
    {
        return refuse(ApiErrorKind::NeedsConfirmation, warning);
    }
    match state
        .runner
        .start(&state.root, &body.name, &body.yaml, state.paths_base())
    {
        Ok(_) => Json(Started {
            run: body.name.clone(),
        })
        .into_response(),
        Err(e @ super::runner::RunnerError::Busy(_)) => {
            refuse(ApiErrorKind::Conflict, e.to_string())
        }
        Err(e @ super::runner::RunnerError::BadName(_)) => {
            refuse(ApiErrorKind::BadRequest, e.to_string())
        }
        Err(e) => refuse(ApiErrorKind::Internal, e.to_string()),
    }
}

/// `POST /api/stop {"run": ID}`: interrupts a run started from this dashboard.
pub(super) async fn stop(State(state): Shared, Json(q): Json<StopRequest>) -> Response {
    match state.runner.stop(&q.run) {
        Ok(()) => Json(Stopping { stopping: q.run }).into_response(),
        Err(e) => refuse(ApiErrorKind::NotFound, e.to_string()),
    }
}
