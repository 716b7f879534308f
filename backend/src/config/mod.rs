//! Config loading: YAML in upstream's `sglang.auto_benchmark` schema, strictly checked (unknown
//! keys are errors with a did-you-mean hint, every error names file, line and column), then
//! resolved into a [`RunConfig`] with upstream defaults and autobench's fixes.

mod budget;
mod de;
mod error;
pub mod file;
mod framework;
#[cfg(test)]
mod fuzz_tests;
mod resolve;

use std::path::Path;

pub use error::{ConfigError, closest, edit_distance};
pub use file::Framework;
pub use framework::{Profile, launch_args};
pub use resolve::{
    ApiBackend, BenchmarkPlan, DatasetKind, DatasetPlan, RunConfig, Scenario, ServerPlan,
    SpeculativePlan, current_exe, resolve,
};

/// Reads, parses and resolves a config file.
pub fn load(path: &Path) -> Result<RunConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and resolves config text (`path` is used for messages and relative paths).
pub fn parse(path: &Path, text: &str) -> Result<RunConfig, ConfigError> {
    budget::check(text).map_err(|e| ConfigError::from_yaml(path, &e))?;
    reject_framework_neutral_schema(path, text)?;
    let raw: file::ConfigFile =
        serde_norway::from_str(text).map_err(|e| ConfigError::from_yaml(path, &e))?;
    resolve(path, text, raw)
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
