//! Relative paths in a config: `server.base_flags.model_path`, `benchmark.tokenizer`, the dataset
//! path (`dataset.path`, `benchmark.dataset_path`) and `speculative.draft_model_path`. One rule
//! for every caller: a relative path is taken from the config's folder when it exists there
//! (`autobench run --config X` uses X's folder; the dashboard uses its references folder, both to
//! check a config and to run it), otherwise as written, from the working directory, where configs
//! like `references/sim/quickstart.yaml` expect it, or as a hub model id. A dataset path found in
//! neither place is taken from the config's folder, so the error names that place.

use std::path::Path;

use serde_json::Value;
use shared::flags;

use super::file::ConfigFile;

/// Dataset "paths" that name a dataset kind instead (upstream's shorthand).
const DATASET_KEYWORDS: [&str; 4] = ["sharegpt", "custom", "random", "generated-shared-prefix"];

/// Rewrites the relative paths of `raw` by the rule above, with `base` as the config's folder.
pub(super) fn anchor(raw: &mut ConfigFile, base: &Path) {
    for (key, value) in &mut raw.server.base_flags {
        // `model` is the positional model of vLLM, TensorRT-LLM and transformers serve.
        if matches!(flags::canonical_key(key), "model_path" | "model")
            && let Value::String(path) = value
        {
            *path = model_path(base, path);
        }
    }
    if let Some(tokenizer) = raw.benchmark.tokenizer.as_mut() {
        *tokenizer = model_path(base, tokenizer);
    }
    if let Some(draft) = raw.speculative.draft_model_path.as_mut() {
        *draft = model_path(base, draft);
    }
    if let Some(path) = raw.benchmark.dataset_path.as_mut() {
        *path = dataset_path(base, path);
    }
    if let Some(path) = raw.dataset.as_mut().and_then(|d| d.path.as_mut()) {
        *path = dataset_path(base, path);
    }
}

/// A model or tokenizer: from `base` when it exists there, else as written (a path from the
/// working directory, or a hub id such as `Qwen/Qwen3-32B`).
fn model_path(base: &Path, path: &str) -> String {
    from_base(base, path).unwrap_or_else(|| path.to_string())
}

/// A dataset file: from `base` when it exists there or nowhere else, else as written.
fn dataset_path(base: &Path, path: &str) -> String {
    if path.is_empty() || DATASET_KEYWORDS.contains(&path) {
        return path.to_string();
    }
    from_base(base, path).unwrap_or_else(|| {
        if Path::new(path).is_absolute() || Path::new(path).exists() {
            path.to_string()
        } else {
            text(&base.join(path))
        }
    })
}

/// `base/path` when `path` is relative and exists there. A path that names the same file from
/// the working directory too is kept as written, so the flags (and a resumed run's trial keys)
/// do not change when autobench runs from the config's folder.
fn from_base(base: &Path, path: &str) -> Option<String> {
    let relative = Path::new(path);
    if path.is_empty() || relative.is_absolute() {
        return None;
    }
    let anchored = base.join(relative);
    let found = anchored.canonicalize().ok()?;
    if relative.canonicalize().is_ok_and(|here| here == found) {
        return None;
    }
    Some(text(&anchored))
}

fn text(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_come_from_the_config_folder_when_they_exist_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path();
        std::fs::create_dir_all(base.join("models/tiny")).expect("mkdir");
        std::fs::write(base.join("data.jsonl"), "{}\n").expect("write");
        let tiny = base.join("models/tiny").display().to_string();
        assert_eq!(model_path(base, "models/tiny"), tiny);
        assert_eq!(
            model_path(base, "Qwen/Qwen3-32B"),
            "Qwen/Qwen3-32B",
            "hub ids"
        );
        assert_eq!(model_path(base, &tiny), tiny, "absolute paths");
        let data = base.join("data.jsonl").display().to_string();
        assert_eq!(dataset_path(base, "data.jsonl"), data);
        assert_eq!(
            dataset_path(base, "missing.jsonl"),
            base.join("missing.jsonl").display().to_string(),
            "a missing dataset is looked for in the config's folder"
        );
        assert_eq!(dataset_path(base, "sharegpt"), "sharegpt");
        let here = std::env::current_dir().expect("cwd");
        assert_eq!(
            model_path(&here, "Cargo.toml"),
            "Cargo.toml",
            "the same file from the working directory keeps its text"
        );
    }
}
