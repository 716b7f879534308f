//! Config loading: YAML in upstream's `sglang.auto_benchmark` schema, strictly checked (unknown
//! keys are errors with a did-you-mean hint, every error names file, line and column), then
//! resolved into a [`RunConfig`] with upstream defaults and autobench's fixes.

mod budget;
mod de;
mod documents;
mod error;
pub(crate) mod file;
mod framework;
#[cfg(test)]
mod fuzz_tests;
mod kinds;
mod locate;
mod neutral;
mod paths;
pub(crate) mod plan;
mod resolve;

use std::path::Path;

pub(crate) use error::ConfigError;
pub(crate) use file::Framework;
pub(crate) use framework::launch_args;
pub(crate) use kinds::value_parser;
pub(crate) use plan::{
    DatasetPlan, ExecutorPlan, GspOptions, KeyMap, MemoryGate, Partitions, RunConfig, Scenario,
    ServerPlan, SlurmPlan, SpeculativePlan,
};
pub(crate) use resolve::{current_exe, resolve};
pub(crate) use shared::kinds::{ApiBackend, DatasetKind};

/// Default p99 dispatch lag above which the client is considered the bottleneck
/// (`benchmark.max_client_lag_ms`).
pub(crate) const CLIENT_LAG_LIMIT_MS: f64 = 10.0;
/// `benchmark.early_pass.after` by default: judge a passing point once half its requests are in.
pub(crate) const EARLY_PASS_AFTER: f64 = 0.5;
/// `benchmark.early_pass.margin` by default: every limit tightened to 80% of its value.
pub(crate) const EARLY_PASS_MARGIN: f64 = 0.8;

/// Reads, parses and resolves a config file; relative paths in it are taken from its folder
/// (see [`paths`]).
pub(crate) fn load(path: &Path) -> Result<RunConfig, ConfigError> {
    load_relative_to(path, folder(path))
}

/// Like [`load`], with relative paths taken from `base` instead of the file's folder (a run
/// started by the dashboard, whose config file is only a copy of text from the browser).
pub(crate) fn load_relative_to(path: &Path, base: &Path) -> Result<RunConfig, ConfigError> {
    let text = read_text(path)?;
    parse_relative_to(path, &text, base)
}

/// Parses and resolves config text (`path` is used for messages; relative paths are taken from
/// its folder).
#[cfg(test)]
pub(crate) fn parse(path: &Path, text: &str) -> Result<RunConfig, ConfigError> {
    parse_relative_to(path, text, folder(path))
}

/// Like [`parse`], with relative paths taken from `base`.
pub(crate) fn parse_relative_to(
    path: &Path,
    text: &str,
    base: &Path,
) -> Result<RunConfig, ConfigError> {
    let mut all = parse_all(path, text, base)?;
    if all.len() > 1 {
        let names: Vec<&str> = all.iter().map(|c| c.server.framework.name()).collect();
        return Err(ConfigError::at_key(
            path,
            text,
            &["frameworks"],
            format!(
                "enables {} frameworks ({}); `autobench plan` and `autobench run` take such a config, this reads one framework at a time: enable only one",
                all.len(),
                names.join(", ")
            ),
        ));
    }
    Ok(all.remove(0))
}

/// Every run a config asks for: one for the sglang schema, one per enabled framework for schema
/// v1 ([`neutral`]).
pub(crate) fn load_all(path: &Path, base: Option<&Path>) -> Result<Vec<RunConfig>, ConfigError> {
    let text = read_text(path)?;
    parse_all(path, &text, base.unwrap_or(folder(path)))
}

fn parse_all(path: &Path, text: &str, base: &Path) -> Result<Vec<RunConfig>, ConfigError> {
    budget::check(text).map_err(|e| ConfigError::from_yaml(path, &e))?;
    documents::check(path, text)?;
    if neutral::is_neutral(text) {
        return neutral::parse(path, text, base);
    }
    let mut raw: file::ConfigFile =
        serde_norway::from_str(text).map_err(|e| ConfigError::from_yaml(path, &e))?;
    paths::anchor(&mut raw, base);
    let mut cfg = resolve(path, text, raw)?;
    cfg.paths_base = base.to_path_buf();
    Ok(vec![cfg])
}

fn folder(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

/// Largest config file read (a config is a few kilobytes; this stops `/dev/zero` and the like).
const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// The file's text; invalid UTF-8 is reported at its line and column.
fn read_text(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let read_error = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            line: None,
            column: None,
            message: format!(
                "is larger than {MAX_CONFIG_BYTES} bytes; a config is a small YAML file"
            ),
        });
    }
    String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count()
            + 1;
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line: Some(line),
            column: Some(column),
            message: "is not valid UTF-8 text: save the config as UTF-8".into(),
        }
    })
}
