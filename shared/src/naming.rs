//! Candidate names: a candidate is called by what it changes from the baseline (candidate 0), so
//! a chip, a legend or a table row says `max-running-requests=24` rather than "cand 3".

use std::collections::BTreeSet;

use crate::flags::{self, FlagMap};

/// Flags that differ between servers without changing what is measured.
const PLACEMENT: [&str; 2] = ["host", "port"];

/// The keys whose values differ between `a` and `b` (placement aside: host and port), in name
/// order.
pub fn changed_keys(a: &FlagMap, b: &FlagMap) -> Vec<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|key| !PLACEMENT.contains(&key.as_str()))
        .filter(|key| {
            a.get(*key).map(flags::render_scalar) != b.get(*key).map(flags::render_scalar)
        })
        .cloned()
        .collect()
}

/// The name of the baseline.
pub const BASELINE: &str = "baseline";

/// What `flags` changes from `baseline`, as `name=value` pairs in name order (`--name` for a
/// switch turned on, `no --name` for one turned off, `-name` for a flag the baseline sets and this
/// one drops); [`BASELINE`] when nothing differs.
pub fn label(flags_of: &FlagMap, baseline: &FlagMap) -> String {
    let parts: Vec<String> = changed_keys(flags_of, baseline)
        .into_iter()
        .map(|key| {
            let ours = flags_of.get(&key);
            let name = key.replace('_', "-");
            match ours {
                None => format!("-{name}"),
                Some(serde_json::Value::Bool(true)) => format!("--{name}"),
                Some(serde_json::Value::Bool(false)) => format!("no --{name}"),
                Some(value) => format!("{name}={}", flags::render_scalar(value)),
            }
        })
        .collect();
    if parts.is_empty() {
        BASELINE.to_string()
    } else {
        parts.join(" ")
    }
}

/// The name of the baseline in sentences and tables that name candidates by their flags.
pub const DEFAULT: &str = "default";

/// What `flags` changes from `baseline`, written as command-line flags in name order
/// (`--max-running-requests 32`, `--enable-mixed-chunk` for a switch turned on, `without
/// --enable-mixed-chunk` for a switch turned off or a flag the baseline sets and this one drops);
/// [`DEFAULT`] when nothing differs. For sentences and the CLI, where the user reads flags.
pub fn change(flags_of: &FlagMap, baseline: &FlagMap) -> String {
    let parts: Vec<String> = changed_keys(flags_of, baseline)
        .into_iter()
        .map(|key| {
            let ours = flags_of.get(&key);
            let name = key.replace('_', "-");
            match ours {
                None | Some(serde_json::Value::Bool(false)) => format!("without --{name}"),
                Some(serde_json::Value::Bool(true)) => format!("--{name}"),
                Some(value) => format!("--{name} {}", flags::render_scalar(value)),
            }
        })
        .collect();
    if parts.is_empty() {
        DEFAULT.to_string()
    } else {
        parts.join(" ")
    }
}

/// The baseline's flags as recorded: candidate 0 of the base stage.
pub fn baseline_flags(records: &[crate::record::TrialRecord]) -> Option<FlagMap> {
    records
        .iter()
        .find(|r| r.candidate_id == 0 && r.stage == crate::record::Stage::Base)
        .map(|r| r.server_flags.clone())
}

/// `label` with the candidate's number in front (`2 · max-running-requests=24`), for tables and
/// legends where two candidates could share a name.
pub fn numbered(id: usize, flags_of: &FlagMap, baseline: &FlagMap) -> String {
    format!("{id} · {}", label(flags_of, baseline))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: serde_json::Value) -> FlagMap {
        serde_json::from_value(value).expect("flag map")
    }

    #[test]
    fn a_candidate_is_named_by_what_it_changes() {
        let base = map(json!({"model_path": "m", "port": 30000, "enable_mixed_chunk": false}));
        assert_eq!(label(&base, &base), "baseline");
        let other = map(
            json!({"model_path": "m", "port": 30001, "max_running_requests": 16,
            "decode_attention_backend": "flashinfer", "enable_mixed_chunk": true}),
        );
        assert_eq!(
            label(&other, &base),
            "decode-attention-backend=flashinfer --enable-mixed-chunk max-running-requests=16"
        );
        let dropped = map(json!({"port": 1}));
        assert_eq!(label(&dropped, &base), "-enable-mixed-chunk -model-path");
        assert_eq!(numbered(3, &other, &base).split(" · ").next(), Some("3"));
    }

    #[test]
    fn a_change_reads_as_command_line_flags() {
        let base = map(json!({"model_path": "m", "port": 30000, "enable_mixed_chunk": true}));
        assert_eq!(change(&base, &base), "default");
        let other = map(
            json!({"model_path": "m", "port": 30001, "max_running_requests": 32,
            "enable_mixed_chunk": false, "enable_torch_compile": true}),
        );
        assert_eq!(
            change(&other, &base),
            "without --enable-mixed-chunk --enable-torch-compile --max-running-requests 32"
        );
        assert_eq!(
            change(&map(json!({"port": 1})), &base),
            "without --enable-mixed-chunk without --model-path"
        );
    }
}
