//! `autobench plan`: the candidates, their commands and the cost, after the preflight against
//! the server's `--help`.

use std::path::Path;
use std::process::ExitCode;

use shared::outward::frameworks::PlanFrameworksJson;

use crate::config;
use crate::exit;
use crate::stdout;

/// `autobench plan`.
pub(crate) async fn plan(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let mut cfgs = config::load_all(path, None)?;
    for cfg in &mut cfgs {
        match preflight(cfg, false).await? {
            None => return Ok(ExitCode::from(exit::INTERRUPTED)),
            Some(crate::preflight::Preflight::Skipped(why)) => cfg.warnings.push(why),
            Some(crate::preflight::Preflight::Passed) => {}
        }
        crate::slurm::checks::check(cfg).await?;
    }
    match (json, cfgs.as_slice()) {
        (true, [one]) => stdout::println(serde_json::to_string(&crate::plan::json(one))?)?,
        (true, several) => stdout::println(serde_json::to_string(&PlanFrameworksJson {
            frameworks: several.iter().map(crate::plan::json).collect(),
        })?)?,
        (false, all) => {
            for cfg in all {
                stdout::print(crate::plan::render(cfg))?;
            }
        }
    }
    Ok(ExitCode::from(exit::MET))
}

/// The server's `--help` against the config's flags ([`crate::preflight`]); `None` when a
/// SIGINT or SIGTERM came first (its child is killed on the way out).
pub(super) async fn preflight(
    cfg: &config::RunConfig,
    installed_required: bool,
) -> anyhow::Result<Option<crate::preflight::Preflight>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        checked = crate::preflight::check(cfg, installed_required) => Ok(Some(checked?)),
        _ = term.recv() => Ok(None),
        _ = interrupt.recv() => Ok(None),
    }
}
