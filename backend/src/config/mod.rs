//! Config loading: YAML in upstream's `sglang.auto_benchmark` schema, strictly checked (unknown
//! keys are errors with a did-you-mean hint, every error names file, line and column), then
//! resolved into a [`RunConfig`] with upstream defaults and autobench's fixes.

mod de;
mod error;
pub(crate) mod file;
mod framework;
mod kinds;
mod paths;
mod plan;
mod resolve;

use std::path::Path;

pub(crate) use error::ConfigError;
pub(crate) use file::Framework;
pub(crate) use framework::launch_args;
pub(crate) use kinds::value_parser;
pub(crate) use plan::{DatasetPlan, RunConfig, Scenario, ServerPlan, SpeculativePlan};
pub(crate) use resolve::{current_exe, resolve};
pub(crate) use shared::kinds::{ApiBackend, DatasetKind};

/// Reads, parses and resolves a config file; relative paths in it are taken from its folder
/// (see [`paths`]).
pub(crate) fn load(path: &Path) -> Result<RunConfig, ConfigError> {
    load_relative_to(path, folder(path))
}

/// Like [`load`], with relative paths taken from `base` instead of the file's folder (a run
/// started by the dashboard, whose config file is only a copy of text from the browser).
pub(crate) fn load_relative_to(path: &Path, base: &Path) -> Result<RunConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
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
    reject_framework_neutral_schema(path, text)?;
    let mut raw: file::ConfigFile =
        serde_norway::from_str(text).map_err(|e| ConfigError::from_yaml(path, &e))?;
    paths::anchor(&mut raw, base);
    resolve(path, text, raw)
}

fn folder(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

fn reject_framework_neutral_schema(path: &Path, text: &str) -> Result<(), ConfigError> {
    let Ok(serde_norway::Value::Mapping(map)) = serde_norway::from_str::<serde_norway::Value>(text)
    else {
        return Ok(());
    };
    let neutral = ["schema_version", "frameworks"]
        .into_iter()
        .find(|key| map.contains_key(*key));
    if let Some(key) = neutral {
        return Err(ConfigError::at_key(
            path,
            text,
            &[key],
            "this config uses the framework-neutral schema (`schema_version: 1` with a `frameworks:` block), \
             which autobench does not support yet; write it in the sglang schema (server / dataset / benchmark / \
             search / speculative sections) as in references/",
        ));
    }
    Ok(())
}
