//! `autobench validate --json`: the dataset report ([`DatasetReport`]): row count, prompt kinds,
//! token-length percentiles, the per-request extras found, every problem with its line, and the
//! first rows as they will be sent. `autobench convert` ends its output with the prepared rows'
//! [`ConvertSummary`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dataset_row::DatasetRow;

/// How bad a [`DatasetProblem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The file should not be used as is.
    Error,
    /// Worth a look; the file can be used.
    Warning,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetProblem {
    /// 1-based line (0: the whole file).
    pub line: usize,
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
}

/// Token length percentiles.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenLengths {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl TokenLengths {
    /// The percentiles of `values`.
    pub fn of(values: &[f64]) -> TokenLengths {
        let s = crate::stats::Summary::of(values);
        TokenLengths {
            p50: s.median,
            p95: s.p95,
            max: s.max,
            mean: s.mean,
        }
    }
}

/// How a chat prompt's length was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountMethod {
    /// The model's chat template, rendered with a generation prompt.
    ChatTemplate,
    /// Sum of the messages' content tokens (no template available).
    ContentSum,
}

impl CountMethod {
    /// Its name in the report (`chat_template`, `content_sum`).
    pub fn name(self) -> &'static str {
        match self {
            CountMethod::ChatTemplate => "chat_template",
            CountMethod::ContentSum => "content_sum",
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetReport {
    /// File checked.
    pub path: String,
    /// Rows that parsed.
    pub num_requests: usize,
    /// Rows per prompt kind.
    pub prompt_kinds: BTreeMap<String, usize>,
    /// Input token lengths (rows whose length could be counted).
    pub input_tokens: TokenLengths,
    /// Output token lengths.
    pub output_tokens: TokenLengths,
    /// How chat prompts were counted.
    pub chat_count_method: Option<CountMethod>,
    /// Per-request extras and how many rows carry each.
    pub extras: BTreeMap<String, usize>,
    /// Problems, in line order.
    pub problems: Vec<DatasetProblem>,
    /// The first three converted rows.
    pub samples: Vec<DatasetRow>,
}

impl DatasetReport {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The problems that are errors.
    pub fn errors(&self) -> impl Iterator<Item = &DatasetProblem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }
}

/// The prepared rows in figures, as `autobench convert` prints them after its two `key=value`
/// lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvertSummary {
    /// Rows written.
    pub num_requests: usize,
    /// Rows per prompt kind.
    pub prompt_kinds: BTreeMap<String, usize>,
    /// Input token lengths (rows whose length is known).
    pub input_tokens: ConvertLengths,
    /// Output token lengths.
    pub output_tokens: ConvertLengths,
}

/// Token lengths of [`ConvertSummary`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConvertLengths {
    /// Mean, to two decimals.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Largest.
    pub max: f64,
}

impl ConvertLengths {
    /// The figures of `values`.
    pub fn of(values: &[f64]) -> ConvertLengths {
        let s = crate::stats::Summary::of(values);
        ConvertLengths {
            mean: (s.mean * 100.0).round() / 100.0,
            p50: s.median,
            p95: s.p95,
            max: s.max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_reports() {
        for method in [CountMethod::ChatTemplate, CountMethod::ContentSum] {
            assert_eq!(
                serde_json::to_value(method).expect("json"),
                serde_json::Value::from(method.name())
            );
        }
        let problem = DatasetProblem {
            line: 3,
            severity: Severity::Warning,
            message: "m".into(),
        };
        assert_eq!(
            serde_json::to_string(&problem).expect("json"),
            r#"{"line":3,"severity":"warning","message":"m"}"#
        );
    }
}
