//! `autobench validate`: a report a person can act on before spending GPU time: row count, prompt
//! kinds, token-length percentiles, the per-request extras found, and every problem with its line.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use shared::outward::dataset::Severity;

use super::tokenizer::{CountMethod, TokenizerBundle};
use super::{DatasetError, DatasetRow, PromptKind, prompt_kind, prompt_tokens};

pub(crate) use shared::outward::dataset::{
    DatasetProblem as Problem, DatasetReport as Report, TokenLengths as Lengths,
};

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
                problem(Severity::Error, "expected a JSON object".into());
                continue;
            }
            Err(e) => {
                problem(Severity::Error, format!("invalid JSON: {e}"));
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
                Severity::Error,
                "missing output_len (it would default to 256 tokens)".into(),
            );
        }
        for key in object
            .keys()
            .filter(|k| !super::canonical::RESERVED.contains(&k.as_str()))
        {
            problem(
                Severity::Warning,
                format!("unknown field `{key}` will be sent in every request body for this row"),
            );
        }
        // The row as run and convert will send it (one code path): a trailing answer is taken
        // out of the prompt and sets output_len.
        let row = match super::canonical::prepare_row(&object, None, Some(bundle))? {
            Ok((row, answer_taken)) => {
                if answer_taken {
                    problem(
                        Severity::Warning,
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
                problem(Severity::Error, message);
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
            severity: Severity::Error,
            message: "the file has no rows".into(),
        });
    }
    Ok(report)
}

fn check_row(
    row: &DatasetRow,
    bundle: &TokenizerBundle,
    context_len: Option<u64>,
    problem: &mut impl FnMut(Severity, String),
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
                Severity::Error,
                format!(
                    "{input} input + {} output tokens exceed the context length {limit}",
                    row.output_len
                ),
            );
        }
    }
    for image in row.image_data.iter().flatten() {
        if let Some(reason) = unreadable_image(image) {
            problem(Severity::Error, reason);
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
