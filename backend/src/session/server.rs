//! A candidate's server while it is in use: launched (or, with `server.launch: false`, the
//! configured `base_url`), its model name looked up, and stopped when the candidate is done.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use shared::events::RunEvent;
use shared::flags::FlagMap;
use shared::record::Stage;

use super::Ctx;
use crate::config::RunConfig;
use crate::launcher::{self, LaunchError, LaunchSpec, RunningServer};
use crate::results::command;

/// How long the model lookup (`GET /v1/models`) may take.
const MODEL_LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A candidate's server while it is in use.
pub(super) struct Live {
    pub(super) server: Option<RunningServer>,
    /// The other nodes of a server that spans several (`server.nnodes`), rank 1 first.
    pub(super) followers: Vec<RunningServer>,
    pub(super) base_url: String,
    pub(super) port: Option<u16>,
    pub(super) model: String,
}

/// The flags with `host` and `port` added, as the server gets them.
pub(super) fn with_host_port(cfg: &RunConfig, flags: &FlagMap, port: Option<u16>) -> FlagMap {
    let mut out = flags.clone();
    if cfg.server.inject_host && !out.contains_key("host") {
        out.insert("host".into(), Value::String(cfg.server.host.clone()));
    }
    if let Some(port) = port
        && !out.contains_key("port")
    {
        out.insert("port".into(), Value::from(port));
    }
    out
}

/// Stops the server, if one runs.
pub(super) async fn stop(live: &mut Option<Live>) {
    if let Some(mut current) = live.take() {
        if let Some(server) = current.server.take() {
            server.shutdown().await;
        }
        launcher::group::stop_all(std::mem::take(&mut current.followers)).await;
    }
}

/// Launches the candidate's server if it is not running (or reuses `base_url` without launching).
pub(super) async fn ensure(
    ctx: &mut Ctx<'_>,
    live: &mut Option<Live>,
    stage: Stage,
    index: usize,
    flags: &FlagMap,
) -> Result<(), LaunchError> {
    if live.is_some() {
        return Ok(());
    }
    let cfg = ctx.cfg;
    if !cfg.server.launch {
        let base_url = cfg.benchmark.base_url.clone().unwrap_or_else(|| {
            format!(
                "http://{}:{}",
                cfg.server.host,
                cfg.server.port.unwrap_or(30000)
            )
        });
        let model = resolve_model(ctx, &base_url).await?;
        *live = Some(Live {
            server: None,
            followers: Vec::new(),
            base_url,
            port: cfg.server.port,
            model,
        });
        return Ok(());
    }
    let bench = ctx.bench.clone();
    *live = Some(bench.launch(ctx, stage, index, flags).await?);
    Ok(())
}

fn pick_port(cfg: &RunConfig) -> Result<u16, LaunchError> {
    match cfg.server.port {
        Some(port) if launcher::port_is_free(&cfg.server.host, port) => Ok(port),
        Some(port) => Err(LaunchError::Spawn {
            program: cfg.server.command_display.join(" "),
            source: std::io::Error::other(format!(
                "port {port} on {} is already in use by another process; autobench never kills processes it did not start: stop it, or remove server.port to let autobench pick a free port",
                cfg.server.host
            )),
        }),
        None => Ok(launcher::free_port(&cfg.server.host).unwrap_or(30000)),
    }
}

/// Starts a real server process for the candidate ([`super::bench::RealBench`]).
pub(super) async fn launch(
    ctx: &mut Ctx<'_>,
    stage: Stage,
    index: usize,
    flags: &FlagMap,
) -> Result<Live, LaunchError> {
    let cfg = ctx.cfg;
    if !ctx.local_launches {
        // The orchestrator of a Slurm run replays what its jobs measured; it has no GPUs.
        return Err(LaunchError::Spawn {
            program: cfg.server.command.first().cloned().unwrap_or_default(),
            source: std::io::Error::other(
                "not measured: the Slurm job that should have measured this did not",
            ),
        });
    }
    let port = pick_port(cfg)?;
    let flags = with_host_port(cfg, flags, Some(port));
    let mut argv = cfg.server.command.clone();
    argv.extend(crate::config::launch_args(
        &cfg.server.framework.profile(),
        &flags,
        &cfg.server.extra_args,
    ));
    let connect_host = if cfg.server.host == "0.0.0.0" {
        "127.0.0.1".to_string()
    } else {
        cfg.server.host.clone()
    };
    let base_url = cfg
        .benchmark
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{connect_host}:{port}"));
    let log_path = ctx.run_dir.server_log(stage, index);
    let spec = LaunchSpec {
        argv,
        env: cfg.server.env.clone(),
        log_path: log_path.clone(),
        base_url: base_url.clone(),
        health_path: cfg.server.health_path.clone(),
        ready_timeout: cfg.server.ready_timeout,
        grace: cfg.server.shutdown_grace,
        state_dir: ctx.run_dir.state(),
    };
    ctx.report(RunEvent::CandidateLaunching {
        stage,
        candidate: index,
        command: command::render(&cfg.server, &flags).replace(" \\\n  ", " "),
    });
    if !ctx.server_logs.contains(&log_path) {
        ctx.server_logs.push(log_path);
    }
    let launched = Instant::now();
    let (spec, followers) = in_job(cfg, spec, &flags)?;
    let started = if followers.is_empty() {
        launcher::launch(&spec, &mut ctx.cancel)
            .await
            .map(|server| (server, Vec::new()))
    } else {
        launcher::group::launch_group(&spec, &followers, &mut ctx.cancel)
            .await
            .map(|group| (group.head, group.followers))
    };
    let (server, followers) = match started {
        Ok(started) => started,
        Err(LaunchError::Cancelled) => {
            ctx.interrupted();
            return Err(LaunchError::Cancelled);
        }
        Err(error) => return Err(error),
    };
    ctx.report(RunEvent::CandidateReady {
        stage,
        candidate: index,
        startup_s: launched.elapsed().as_secs_f64(),
        pgid: server.pgid(),
    });
    let model = resolve_model(ctx, &base_url).await;
    let model = match model {
        Ok(model) => model,
        Err(error) => {
            server.shutdown().await;
            launcher::group::stop_all(followers).await;
            return Err(error);
        }
    };
    Ok(Live {
        server: Some(server),
        followers,
        base_url,
        port: Some(port),
        model,
    })
}

/// Inside a Slurm job, the head's launch (through `srun` in a container) and the other nodes'
/// ([`super::nodes`]); elsewhere `spec` as it is.
fn in_job(
    cfg: &RunConfig,
    spec: LaunchSpec,
    flags: &FlagMap,
) -> Result<(LaunchSpec, Vec<LaunchSpec>), LaunchError> {
    let crate::config::ExecutorPlan::Slurm(plan) = &cfg.executor else {
        return Ok((spec, Vec::new()));
    };
    let refused = |message: String| LaunchError::Spawn {
        program: cfg.server.command_display.join(" "),
        source: std::io::Error::other(message),
    };
    let port = launcher::free_port("0.0.0.0").unwrap_or(29500);
    let launches = super::nodes::launches(cfg, plan, flags, &super::nodes::head_host(), port)
        .map_err(refused)?;
    let mut specs = launches.into_iter().map(|node| {
        let mut argv = node.prefix;
        argv.extend(cfg.server.command.iter().cloned());
        argv.extend(crate::config::launch_args(
            &cfg.server.framework.profile(),
            &node.flags,
            &cfg.server.extra_args,
        ));
        let log_path = if node.rank == 0 {
            spec.log_path.clone()
        } else {
            node_log(&spec.log_path, node.rank)
        };
        LaunchSpec {
            argv,
            log_path,
            ..spec.clone()
        }
    });
    let head = specs.next().unwrap_or(spec.clone());
    Ok((head, specs.collect()))
}

/// The log of node `rank` beside the head's (`cand-0.log` -> `cand-0.node1.log`).
fn node_log(head: &std::path::Path, rank: usize) -> std::path::PathBuf {
    let stem = head
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    head.with_file_name(format!("{stem}.node{rank}.log"))
}

/// The model name requests carry: `benchmark.model`, else the first model `/v1/models` lists,
/// else the tokenizer. The lookup has a time limit and ends at once on SIGINT/SIGTERM.
async fn resolve_model(ctx: &mut Ctx<'_>, base_url: &str) -> Result<String, LaunchError> {
    if let Some(model) = &ctx.cfg.benchmark.model {
        return Ok(model.clone());
    }
    let client = ctx.client.clone();
    let listed = async {
        let response = client
            .get(format!("{base_url}/v1/models"))
            .timeout(MODEL_LOOKUP_TIMEOUT)
            .send()
            .await
            .ok()?;
        let body: Value = response.json().await.ok()?;
        body.pointer("/data/0/id")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let listed = tokio::select! {
        listed = tokio::time::timeout(MODEL_LOOKUP_TIMEOUT, listed) => listed.ok().flatten(),
        () = crate::cancel::cancelled(&mut ctx.cancel) => {
            ctx.interrupted();
            return Err(LaunchError::Cancelled);
        }
    };
    Ok(listed.unwrap_or_else(|| ctx.cfg.benchmark.tokenizer.clone()))
}
