//! `autobench validate`: a report a person can act on before spending GPU time: row count, prompt
//! kinds, token-length percentiles, the per-request extras found, and every problem with its line.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::tokenizer::{CountMethod, TokenizerBundle};
use super::{DatasetError, DatasetRow, PromptKind, prompt_kind, prompt_tokens};

/// One problem found.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Problem {
    /// 1-based line.
    pub line: usize,
    /// `error` (the file should not be used as is) or `warning`.
    pub severity: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Token length percentiles.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Lengths {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Lengths {
    fn of(values: &[f64]) -> Lengths {
        let s = shared::stats::Summary::of(values);
        Lengths {
            p50: s.median,
            p95: s.p95,
            max: s.max,
            mean: s.mean,
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// File checked.
    pub path: String,
    /// Rows that parsed.
    pub num_requests: usize,
    /// Rows per prompt kind.
    pub prompt_kinds: BTreeMap<String, usize>,
    /// Input token lengths (rows whose length could be counted).
    pub input_tokens: Lengths,
    /// Output token lengths.
    pub output_tokens: Lengths,
    /// How chat prompts were counted.
    pub chat_count_method: Option<CountMethod>,
    /// Per-request extras and how many rows carry each.
    pub extras: BTreeMap<String, usize>,
    /// Problems, in line order.
    pub problems: Vec<Problem>,
    /// The first three converted rows.
    pub samples: Vec<DatasetRow>,
}

impl Report {
    /// Whether any problem is an error.
    pub(crate) fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == "error")
    }
}

/// Checks a canonical JSONL file.
pub(crate) fn validate(
    path: &Path,
    bundle: &TokenizerBundle,
    context_len: Option<u64>,
) -> Result<Report, DatasetError> {
    let lines = super::non_empty_lines(path)?;
    let mut report = Report {
        path: path.display().to_string(),
        num_requests: 0,
        prompt_kinds: BTreeMap::new(),
        input_tokens: Lengths::default(),
        output_tokens: Lengths::default(),
        chat_count_method: None,
        extras: BTreeMap::new(),
        problems: Vec::new(),
        samples: Vec::new(),
    };
    let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
    for entry in lines {
        let (line_no, line) = entry?;
        let mut problem = |severity, message: String| {
            report.problems.push(Problem {
                line: line_no,
                severity,
                message,
            })
        };
        let object = match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                problem("error", "expected a JSON object".into());
                continue;
            }
            Err(e) => {
                problem("error", format!("invalid JSON: {e}"));
                continue;
            }
        };
        let answer_is_target = object
            .get("messages")
            .and_then(Value::as_array)
            .and_then(|m| m.last())
            .is_some_and(|m| m.get("role").and_then(Value::as_str) == Some("assistant"));
        if !answer_is_target
            && !super::canonical::OUTPUT_KEYS
                .iter()
                .any(|k| object.get(*k).is_some_and(|v| !v.is_null()))
        {
            problem(
                "error",
                "missing output_len (it would default to 256 tokens)".into(),
            );
        }
        for key in object
            .keys()
            .filter(|k| !super::canonical::RESERVED.contains(&k.as_str()))
        {
            problem(
                "warning",
                format!("unknown field `{key}` will be sent in every request body for this row"),
            );
        }
        // The row as run and convert will send it (one code path): a trailing answer is taken
        // out of the prompt and sets output_len.
        let row = match super::canonical::prepare_row(&object, None, Some(bundle))? {
            Ok((row, answer_taken)) => {
                if answer_taken {
                    problem(
                        "warning",
                        format!(
                            "the prompt ends with an assistant turn: it is taken as the completion to generate and removed from the prompt (output_len {}{})",
                            row.output_len,
                            if super::canonical::OUTPUT_KEYS
                                .iter()
                                .any(|k| object.get(*k).is_some_and(|v| !v.is_null()))
                            {
                                ", as the row gives it"
                            } else {
                                ", its length"
                            }
                        ),
                    );
                }
                row
            }
            Err(message) => {
                problem("error", message);
                continue;
            }
        };
        check_row(
            &row,
            bundle,
            context_len,
            &mut problem,
            &mut report.chat_count_method,
            &mut inputs,
        )?;
        outputs.push(row.output_len as f64);
        let kind = prompt_kind(&row.prompt);
        *report
            .prompt_kinds
            .entry(kind.name().to_string())
            .or_default() += 1;
        for key in row.extra_request_body.iter().flat_map(|e| e.keys()) {
            *report
                .extras
                .entry(format!("extra_request_body.{key}"))
                .or_default() += 1;
        }
        for (name, present) in [
            ("image_data", row.image_data.is_some()),
            ("routing_key", row.routing_key.is_some()),
            ("timestamp", row.timestamp.is_some()),
        ] {
            if present {
                *report.extras.entry(name.into()).or_default() += 1;
            }
        }
        report.num_requests += 1;
        if report.samples.len() < 3 {
            report.samples.push(row);
        }
    }
    report.input_tokens = Lengths::of(&inputs);
    report.output_tokens = Lengths::of(&outputs);
    if report.num_requests == 0 && report.problems.is_empty() {
        report.problems.push(Problem {
            line: 0,
            severity: "error",
            message: "the file has no rows".into(),
        });
    }
    Ok(report)
}

fn check_row(
    row: &DatasetRow,
    bundle: &TokenizerBundle,
    context_len: Option<u64>,
    problem: &mut impl FnMut(&'static str, String),
    method: &mut Option<CountMethod>,
    inputs: &mut Vec<f64>,
) -> Result<(), DatasetError> {
    if prompt_kind(&row.prompt) == PromptKind::Messages {
        *method = Some(bundle.count_messages(&row.prompt)?.1);
    }
    let input = match row.prompt_len {
        Some(len) => Some(len),
        None => prompt_tokens(bundle, &row.prompt)?,
    };
    if let Some(input) = input {
        inputs.push(input as f64);
        if let Some(limit) = context_len
            && input + row.output_len > limit
        {
            problem(
                "error",
                format!(
                    "{input} input + {} output tokens exceed the context length {limit}",
                    row.output_len
                ),
            );
        }
    }
    for image in row.image_data.iter().flatten() {
        if let Some(reason) = unreadable_image(image) {
            problem("error", reason);
        }
    }
    Ok(())
}

fn unreadable_image(image: &Value) -> Option<String> {
    let reference = image
        .as_str()
        .or_else(|| image.get("url").and_then(Value::as_str))?;
    if reference.starts_with("http://") || reference.starts_with("https://") {
        return None;
    }
    if let Some(data) = reference.strip_prefix("data:") {
        let ok = data.split_once(";base64,").is_some_and(|(_, b64)| {
            !b64.is_empty()
                && b64
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"+/=\n\r".contains(&c))
        });
        return (!ok).then(|| "image data URI is not valid base64".to_string());
    }
    let path = reference.strip_prefix("file://").unwrap_or(reference);
    (!Path::new(path).is_file()).then(|| format!("image `{path}` cannot be read"))
}
