//! Datasets: the canonical request row, preparation of each dataset kind into
//! `prepared_dataset.jsonl`, and the prompt-kind rules that choose the request path.
//!
//! Every kind is normalised into [`DatasetRow`]s before the benchmark loop starts, so the load
//! generator sees one format whatever the source was.

mod canonical;
#[cfg(test)]
mod canonical_fuzz_tests;
pub(crate) mod conversations;
pub(crate) mod count;
pub(crate) mod gsp;
pub(crate) mod hub;
mod random;
mod tokenizer;
pub(crate) mod validate;

pub(crate) use shared::dataset_row::{DatasetRow, PromptKind, prompt_kind};
use std::path::Path;

use serde_json::Value;

pub(crate) use canonical::{load_canonical, prompt_tokens, write_prepared};
pub(crate) use random::random_rows;
pub(crate) use tokenizer::{TokenizerBundle, content_text, load_bundle, load_tokenizer};

use crate::config::{ApiBackend, DatasetKind, DatasetPlan, Scenario};

/// Dataset problems, always naming the file and line when there is one.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DatasetError {
    /// I/O on a dataset file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A row is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Row {
        /// The file.
        path: std::path::PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The tokenizer could not be loaded or used.
    #[error("tokenizer {name}: {message}")]
    Tokenizer {
        /// Name or path.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl DatasetError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
        move |source| DatasetError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The non-empty lines of a text file with their 1-based line numbers, read lazily.
pub(crate) fn non_empty_lines(
    path: &Path,
) -> Result<impl Iterator<Item = Result<(usize, String), DatasetError>> + '_, DatasetError> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(DatasetError::io(path))?;
    // A device or a pipe (`/dev/zero`) has no end and may have no newline: refuse it instead of
    // reading without bound.
    let regular = file.metadata().map_err(DatasetError::io(path))?.is_file();
    if !regular {
        return Err(DatasetError::Other(format!(
            "{} is not a regular file (a device, pipe or folder): give a dataset file",
            path.display()
        )));
    }
    Ok(std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .filter_map(move |(index, line)| match line {
            Ok(line) if line.trim().is_empty() => None,
            Ok(line) => Some(Ok((index + 1, line))),
            Err(source) => Some(Err(DatasetError::io(path)(source))),
        }))
}

/// Chooses the request path for `backend: auto` from the rows' prompt kinds (UPSTREAM-SPEC 8.4,
/// with lists of message lists counted as multi-turn rather than unknown).
pub(crate) fn infer_backend(rows: &[DatasetRow]) -> Result<ApiBackend, DatasetError> {
    let mut kinds: Vec<PromptKind> = rows.iter().map(|r| prompt_kind(&r.prompt)).collect();
    kinds.sort();
    kinds.dedup();
    let chat = |k: &PromptKind| matches!(k, PromptKind::Messages | PromptKind::MultiTurn);
    match kinds.as_slice() {
        [] => Err(DatasetError::Other("the dataset is empty".into())),
        [PromptKind::Prompt] => Ok(ApiBackend::SglangOai),
        [PromptKind::TokenIds] => Ok(ApiBackend::Sglang),
        all if all.iter().all(chat) => Ok(ApiBackend::SglangOaiChat),
        mixed => Err(DatasetError::Other(format!(
            "cannot infer the backend for mixed prompt kinds {mixed:?}; set benchmark.backend explicitly"
        ))),
    }
}

/// Prepares the rows of one scenario (the same code for `run` and `convert`).
pub(crate) async fn prepare(
    plan: &DatasetPlan,
    scenario: &Scenario,
    scenario_index: usize,
    tokenizer_name: &str,
) -> Result<Vec<DatasetRow>, DatasetError> {
    let bundle = load_bundle(tokenizer_name).await?;
    let rows = match plan.kind {
        DatasetKind::Random => {
            let input_len = scenario.input_len.unwrap_or(1024);
            let output_len = scenario.output_len.unwrap_or(256);
            let seed = plan
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(scenario_index as u64);
            random_rows(
                &bundle.tokenizer,
                plan.num_prompts,
                input_len,
                output_len,
                plan.random_range_ratio,
                seed,
            )?
        }
        DatasetKind::GeneratedSharedPrefix => gsp::gsp_rows(&bundle.tokenizer, &plan.gsp)?,
        DatasetKind::Custom => {
            let path = plan.path.as_deref().ok_or_else(|| {
                DatasetError::Other("dataset.path is required when dataset.kind=custom".into())
            })?;
            if is_canonical(path)? {
                let report = validate::validate(path, &bundle, plan.context_len)?;
                let errors: Vec<String> = report
                    .errors()
                    .take(10)
                    .map(|p| format!("  {}:{}: {}", report.path, p.line, p.message))
                    .collect();
                if !errors.is_empty() {
                    return Err(DatasetError::Other(format!(
                        "the dataset has problems (`autobench validate` prints the full report):\n{}",
                        errors.join("\n")
                    )));
                }
                load_canonical(
                    path,
                    plan.num_prompts,
                    plan.output_len_override,
                    Some(&bundle),
                )?
            } else {
                let pairs =
                    conversations::read_conversation_jsonl(path, plan.num_prompts, plan.seed)?;
                legacy_rows(pairs, &bundle, plan, "custom", &path.display().to_string())?
            }
        }
        DatasetKind::Sharegpt => {
            let path = match &plan.path {
                Some(path) => path.clone(),
                None => hub::Hub::from_env()
                    .file(
                        hub::RepoKind::Dataset,
                        hub::SHAREGPT_REPO,
                        hub::SHAREGPT_FILE,
                    )
                    .await
                    .map_err(|e| DatasetError::Other(e.to_string()))?,
            };
            let pairs = conversations::read_sharegpt(&path, plan.num_prompts, plan.seed)?;
            legacy_rows(
                pairs,
                &bundle,
                plan,
                "sharegpt",
                &path.display().to_string(),
            )?
        }
    };
    if rows.is_empty() {
        return Err(DatasetError::Other(
            "the prepared dataset is empty (every row was filtered out)".into(),
        ));
    }
    Ok(rows)
}

fn legacy_rows(
    pairs: Vec<conversations::TwoTurn>,
    bundle: &TokenizerBundle,
    plan: &DatasetPlan,
    name: &str,
    path: &str,
) -> Result<Vec<DatasetRow>, DatasetError> {
    let options = conversations::SampleOptions {
        num_prompts: plan.num_prompts,
        output_len: plan.output_len_override,
        context_len: plan.context_len,
        prompt_suffix: plan.prompt_suffix.clone(),
        seed: plan.seed,
    };
    let mut rows = conversations::sample_rows(pairs, bundle, &options, (name, path))?;
    if plan.apply_chat_template {
        for row in &mut rows {
            let text = row.prompt.as_str().unwrap_or_default().to_string();
            let Some(rendered) = bundle.render_user_prompt(&text)? else {
                return Err(DatasetError::Other(
                    "apply_chat_template is set, but the tokenizer has no chat template (no chat_template in tokenizer_config.json, no chat_template.jinja)".into(),
                ));
            };
            row.prompt_len = Some(bundle.count_text(&rendered)? as u64);
            row.prompt = Value::String(rendered);
        }
    }
    Ok(rows)
}

/// A custom file is canonical when its first row has a prompt-like key; otherwise it is
/// bench_serving's legacy conversation format.
fn is_canonical(path: &Path) -> Result<bool, DatasetError> {
    if let Some(first) = non_empty_lines(path)?.next() {
        let (_, line) = first?;
        return Ok(match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(o)) => {
                ["prompt", "messages", "prompt_origin", "system"]
                    .iter()
                    .any(|k| o.contains_key(*k))
                    || !o.contains_key("conversations") && !o.contains_key("conversation")
            }
            _ => true,
        });
    }
    Ok(true)
}

/// A stable fingerprint of prepared rows (detects a dataset that changed under a results folder).
pub(crate) fn fingerprint(path: &Path) -> Result<String, DatasetError> {
    use sha2::Digest;
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(format!("{:x}", sha2::Sha256::digest(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(prompt: Value) -> DatasetRow {
        DatasetRow {
            prompt,
            output_len: 4,
            prompt_len: None,
            extra_request_body: None,
            image_data: None,
            timestamp: None,
            routing_key: None,
            metadata: None,
        }
    }

    #[test]
    fn infers_backend_like_upstream() {
        assert_eq!(
            infer_backend(&[row(json!("hi"))]).ok(),
            Some(ApiBackend::SglangOai)
        );
        assert_eq!(
            infer_backend(&[row(json!([{"role": "user", "content": "hi"}]))]).ok(),
            Some(ApiBackend::SglangOaiChat)
        );
        assert_eq!(
            infer_backend(&[row(json!([1, 2, 3]))]).ok(),
            Some(ApiBackend::Sglang)
        );
        let rounds =
            json!([[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]]);
        assert_eq!(
            infer_backend(&[row(rounds), row(json!(["a", "b"]))]).ok(),
            Some(ApiBackend::SglangOaiChat)
        );
        assert!(infer_backend(&[row(json!("a")), row(json!([1]))]).is_err());
    }
}
