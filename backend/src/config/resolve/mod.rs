//! Resolution of the raw config into a runnable [`RunConfig`]: upstream defaults and aliases,
//! candidate generation, scenarios, the QPS plan, and warnings for risky settings. One file per
//! part of the plan: [`server`], [`search`] (candidates, speculative stage, budget), [`dataset`]
//! (dataset and scenarios) and [`benchmark`] (load and SLA). Every error is located at its key
//! through [`Ctx::error`].

mod benchmark;
mod dataset;
mod executor;
mod search;
mod server;
mod slurm;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use shared::flags;

use super::error::ConfigError;
use super::file::ConfigFile;
use super::plan::{KeyMap, RunConfig};

pub(crate) use server::current_exe;

/// What every resolver needs to point an error at its key: the file, its text, and where the
/// keys of the sglang schema are in it.
struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
    keys: KeyMap,
}

impl Ctx<'_> {
    fn error(&self, key_path: &[&str], message: impl Into<String>) -> ConfigError {
        ConfigError::at_key(self.path, self.text, &self.keys.source(key_path), message)
    }
}

/// Resolves a parsed config.
pub(crate) fn resolve(path: &Path, text: &str, raw: ConfigFile) -> Result<RunConfig, ConfigError> {
    resolve_mapped(path, text, raw, KeyMap::Sglang)
}

/// Resolves a config read from another schema: errors point at `keys.source(...)` in `text`.
pub(crate) fn resolve_mapped(
    path: &Path,
    text: &str,
    raw: ConfigFile,
    keys: KeyMap,
) -> Result<RunConfig, ConfigError> {
    let ctx = Ctx { path, text, keys };
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut warnings = Vec::new();
    let server = server::resolve_server(&ctx, &raw)?;
    let (candidate_spec, candidates) = search::resolve_candidates(&ctx, &raw, &mut warnings)?;
    search::check_parallel(&ctx, &raw, server.framework, &candidates)?;
    let dataset_section = dataset::normalize_dataset(&raw);
    let dataset = dataset::resolve_dataset(&ctx, &dataset_section, &raw, &base_dir, &mut warnings)?;
    let scenarios = dataset::resolve_scenarios(&ctx, &dataset_section, &dataset)?;
    let benchmark = benchmark::resolve_benchmark(&ctx, &raw, &mut warnings)?;
    if let Some(cap) = benchmark.max_requests_per_point
        && cap < dataset.num_prompts
    {
        return Err(ctx.error(
            &["benchmark", "max_requests_per_point"],
            format!(
                "must be at least num_prompts ({}): it caps how far an inconclusive point is extended",
                dataset.num_prompts
            ),
        ));
    }
    let speculative = search::resolve_speculative(&raw.speculative, &mut warnings);
    let executor = executor::resolve_executor(&ctx, &raw, &candidates.candidates)?;
    let memory_gate = executor::memory_gate(&ctx, &raw)?;
    let max_duration =
        search::resolve_duration(&ctx, raw.search.max_duration_hours, &mut warnings)?;
    let (output_dir, output_dir_explicit) = output_dir(&raw, &mut warnings);
    if raw.benchmark.pd_separated {
        return Err(ctx.error(
            &["benchmark", "pd_separated"],
            "prefill-decode disaggregation (a prefill server, a decode server and a router as one candidate) is not supported: every candidate is one server. Remove benchmark.pd_separated or set it to false",
        ));
    }
    Ok(RunConfig {
        config_path: path.to_path_buf(),
        server,
        memory_gate,
        candidate_spec,
        candidates,
        dataset,
        scenarios,
        benchmark,
        output_dir,
        output_dir_explicit,
        resume: raw.search.resume,
        max_duration,
        tier: raw.search.tier,
        max_candidates: raw.search.max_candidates,
        executor,
        paths_base: PathBuf::new(),
        keys,
        speculative,
        warnings,
    })
}

/// `benchmark.output_dir`, or a new timestamped folder (with a warning: it cannot be resumed);
/// the flag says whether it was given.
fn output_dir(raw: &ConfigFile, warnings: &mut Vec<String>) -> (PathBuf, bool) {
    match &raw.benchmark.output_dir {
        Some(dir) => (PathBuf::from(dir), true),
        None => {
            warnings.push(
                "benchmark.output_dir is not set: results go to a new timestamped folder, so a later run cannot resume this one"
                    .to_string(),
            );
            let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
            (
                PathBuf::from(format!("./auto_benchmark_results/{stamp}")),
                false,
            )
        }
    }
}

fn scalar_text(value: &Value) -> String {
    flags::render_scalar(value)
}

fn positive_seconds(
    ctx: &Ctx,
    key: &[&str],
    value: Option<f64>,
    default: f64,
) -> Result<Duration, ConfigError> {
    let seconds = value.unwrap_or(default);
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= MAX_SECONDS) {
        return Err(ctx.error(
            key,
            format!(
                "must be a positive number of seconds up to {MAX_SECONDS} (one week), got {seconds}"
            ),
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// The longest time any `*_sec` setting may take: one week. Larger values are mistakes (and
/// `1e20` seconds does not even fit a `Duration`).
pub(super) const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn huge_timeouts_are_config_errors_not_panics() {
        for (key, section) in [
            (
                "request_timeout_sec: 1e20",
                "dataset: random\nbenchmark:\n  qps: [1]\n  ",
            ),
            (
                "ready_check_timeout_sec: 1e23",
                "dataset: random\nbenchmark:\n  qps: [1]\n  ",
            ),
        ] {
            let text = format!("{}{section}{key}\n", SERVER);
            let error = match crate::config::parse(Path::new("c.yaml"), &text) {
                Ok(_) => String::from("accepted"),
                Err(e) => e.to_string(),
            };
            assert!(error.contains("up to 604800"), "{key}: {error}");
            assert!(
                error.contains("c.yaml:"),
                "names the file and line: {error}"
            );
        }
        let grace = format!(
            "{}  shutdown_grace_sec: 1.8e19\ndataset: random\nbenchmark:\n  qps: [1]\n",
            SERVER
        );
        let error = crate::config::parse(Path::new("c.yaml"), &grace)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("up to 604800"), "{error}");
    }

    const SERVER: &str = "server:\n  base_flags:\n    model_path: m\n";

    /// The error `parse` gives for the config `SERVER` + `rest`, as printed.
    fn error(rest: &str) -> String {
        let text = format!("{SERVER}{rest}");
        match crate::config::parse(Path::new("c.yaml"), &text) {
            Ok(_) => format!("no error for {text:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_part_locates_its_errors() {
        let cases = [
            (
                "dataset:\n  kind: randon\nbenchmark:\n  qps: [1]\n",
                "c.yaml:5:3: dataset.kind: unknown dataset kind `randon`",
            ),
            (
                "dataset: random\nbenchmark:\n  qps: [1]\n  backend: vlm\n",
                "c.yaml:7:3: benchmark.backend: unknown backend `vlm`",
            ),
            (
                "dataset: random\nbenchmark:\n  qps: [1]\n  burstiness: 0\n",
                "c.yaml:7:3: benchmark.burstiness: must be a positive",
            ),
            (
                "dataset: random\nbenchmark:\n  qps: [1]\n  arrival: poison\n",
                "c.yaml:7:12: benchmark.arrival: unknown arrival process `poison`",
            ),
            (
                "dataset:\n  kind: random\n  input_len: [1, 2]\n  output_len: [3, 4]\n  scenario_names: [a, A]\nbenchmark:\n  qps: [1]\n",
                "c.yaml:8:3: dataset.scenario_names: two scenarios share",
            ),
            (
                "dataset: random\nbenchmark:\n  qps: [1]\nsearch:\n  max_duration_hours: -1\n",
                "c.yaml:8:3: search.max_duration_hours: must be a number of hours, 0 or more",
            ),
        ];
        for (rest, expected) in cases {
            let message = error(rest);
            assert!(message.starts_with(expected), "{message}");
        }
        let message = error(
            "  framework: vlm\n  command_prefix: ''\ndataset: random\nbenchmark:\n  qps: [1]\n",
        );
        assert!(
            message.starts_with("c.yaml:4:14: server.framework: unknown server framework `vlm`"),
            "{message}"
        );
        let message = error("  command_prefix: ''\ndataset: random\nbenchmark:\n  qps: [1]\n");
        assert!(
            message.starts_with("c.yaml:4:3: server.command_prefix: is empty"),
            "{message}"
        );
    }

    #[test]
    fn aliases_resolve_to_canonical_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("x.jsonl");
        std::fs::write(&data, "{}\n").expect("dataset");
        let text = format!(
            "{SERVER}dataset:\n  kind: autobench\n  path: {}\nbenchmark:\n  qps: [1]\n  backend: openai-chat\n",
            data.display()
        );
        let plan = crate::config::parse(Path::new("c.yaml"), &text).map_err(|e| e.to_string());
        let kinds = plan.map(|p| (p.dataset.kind, p.benchmark.backend));
        assert_eq!(
            kinds,
            Ok((
                shared::kinds::DatasetKind::Custom,
                shared::kinds::ApiBackend::SglangOaiChat
            ))
        );
    }

    #[test]
    fn a_dataset_file_that_is_not_there_is_an_error_at_its_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("rows.jsonl");
        let missing = missing.display();
        let cases = [
            (
                format!("dataset:\n  kind: custom\n  path: {missing}\nbenchmark:\n  qps: [1]\n"),
                format!(
                    "c.yaml:6:3: dataset.path: `{missing}` does not exist; expected a dataset file"
                ),
            ),
            (
                format!("dataset:\n  kind: sharegpt\n  path: {missing}\nbenchmark:\n  qps: [1]\n"),
                format!("c.yaml:6:3: dataset.path: `{missing}`"),
            ),
            (
                format!("benchmark:\n  qps: [1]\n  dataset_path: {missing}\n"),
                format!("c.yaml:6:3: benchmark.dataset_path: `{missing}` does not exist"),
            ),
            (
                format!(
                    "dataset:\n  kind: custom\n  path: {}\nbenchmark:\n  qps: [1]\n",
                    dir.path().display()
                ),
                format!(
                    "c.yaml:6:3: dataset.path: `{}` is a folder",
                    dir.path().display()
                ),
            ),
        ];
        for (rest, expected) in cases {
            let message = error(&rest);
            assert!(message.starts_with(&expected), "{message}");
        }
        let random =
            format!("dataset:\n  kind: random\n  path: {missing}\nbenchmark:\n  qps: [1]\n");
        assert!(
            error(&random).starts_with("no error"),
            "a random dataset reads no file"
        );
    }

    #[test]
    fn a_qps_tolerance_as_wide_as_the_range_is_refused_at_its_key() {
        let qps = |map: &str| error(&format!("dataset: random\nbenchmark:\n  qps:\n{map}"));
        let message = qps("    lower: 2\n    upper: 10\n    tolerance: 9\n");
        assert!(
            message.starts_with("c.yaml:9:5: benchmark.qps.tolerance: 9 is not below upper - lower (10 - 2 = 8 req/s)"),
            "{message}"
        );
        assert!(
            message.contains("expected a tolerance below 8"),
            "{message}"
        );
        let message = qps("    lower: 2\n    upper: 10\n    tolerance: 8\n");
        assert!(message.starts_with("c.yaml:9:5: "), "equal: {message}");
        let message = qps("    lower: 1\n    upper: 1.05\n");
        assert!(
            message.starts_with("c.yaml:6:3: benchmark.qps.tolerance: 0.1 (the default) is not below upper - lower (1.05 - 1 = 0.05 req/s)"),
            "{message}"
        );
        let message = qps("    lower: 1\n    upper: 1.1\n    tolerance: 0.2\n");
        assert!(message.contains("= 0.1 req/s"), "rounded: {message}");
        let narrower = qps("    lower: 2\n    upper: 10\n    tolerance: 7.9\n");
        assert!(narrower.starts_with("no error"), "{narrower}");
    }
}
