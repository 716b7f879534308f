//! What each flag bought: for each flag the answer changes from the default, the SLA-limited rate
//! of the candidate that changes that flag alone against the default's, from the one-factor data
//! the search already has. A flag no candidate changed alone was only tried together with others,
//! and says so rather than guessing a share.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::naming::changed_keys;
use crate::record::{Stage, TrialRecord};

use super::Standing;

/// One changed flag of the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagEffect {
    /// The change as a command-line flag (`--attention-backend flashinfer`).
    pub flag: String,
    /// The rate of the candidate that changes this flag alone (req/s), when one was measured.
    pub alone: Option<f64>,
    /// The default's rate (req/s).
    pub default: Option<f64>,
}

impl FlagEffect {
    /// The change in rate over the default, as a fraction (`0.18` for +18%).
    pub fn gain(&self) -> Option<f64> {
        match (self.alone, self.default) {
            (Some(alone), Some(default)) if default > 0.0 => Some(alone / default - 1.0),
            _ => None,
        }
    }

    /// Its bar's length as a share of the longest of `effects` (at least 5% for the longest, so
    /// tiny effects do not fill the chart); `None` without a gain.
    pub fn bar_share(&self, effects: &[FlagEffect]) -> Option<f64> {
        let widest = effects
            .iter()
            .filter_map(FlagEffect::gain)
            .fold(0.05_f64, |m, g| m.max(g.abs()));
        self.gain().map(|gain| gain.abs() / widest)
    }

    /// "`--attention-backend flashinfer`: +18% (16.22 against 13.73 req/s, changed alone)".
    pub fn text(&self) -> String {
        match (self.gain(), self.alone, self.default) {
            (Some(gain), Some(alone), Some(default)) => format!(
                "`{}`: {:+.0}% ({alone:.2} against {default:.2} req/s, changed alone)",
                self.flag,
                gain * 100.0
            ),
            (_, Some(_), None) => {
                format!("`{}`: the default held no rate to compare with", self.flag)
            }
            _ => format!(
                "`{}`: not measured alone, only together with the answer's other changes",
                self.flag
            ),
        }
    }
}

/// The effect of each flag the answer's command (`answer`, a base candidate) changes from the
/// default, in flag order; empty when the answer is the default or unknown.
pub fn flag_effects(
    records: &[TrialRecord],
    standings: &[Standing],
    answer: Option<usize>,
) -> Vec<FlagEffect> {
    let flags_of = |id: usize| {
        records
            .iter()
            .find(|r| r.candidate_id == id && r.stage == Stage::Base)
            .map(|r| r.server_flags.clone())
    };
    let (Some(answer), Some(default)) = (answer.filter(|id| *id != 0), flags_of(0)) else {
        return Vec::new();
    };
    let Some(chosen) = flags_of(answer) else {
        return Vec::new();
    };
    let rate_of = |id: usize| {
        standings
            .iter()
            .find(|s| s.stage == Stage::Base && s.candidate == id)
            .and_then(|s| s.best_rate)
    };
    let candidates: BTreeSet<usize> = records
        .iter()
        .filter(|r| r.stage == Stage::Base)
        .map(|r| r.candidate_id)
        .collect();
    changed_keys(&chosen, &default)
        .into_iter()
        .map(|key| {
            let mut alone = default.clone();
            match chosen.get(&key) {
                Some(value) => alone.insert(key.clone(), value.clone()),
                None => alone.remove(&key),
            };
            let one_factor = candidates
                .iter()
                .copied()
                .find(|id| flags_of(*id).is_some_and(|f| changed_keys(&f, &alone).is_empty()));
            FlagEffect {
                flag: crate::naming::change(&alone, &default),
                alone: one_factor.and_then(rate_of),
                default: rate_of(0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(id: usize, flags: serde_json::Value) -> TrialRecord {
        serde_json::from_value(json!({
            "stage": "base", "candidate_id": id, "requested_qps": 10.0, "max_concurrency": null,
            "server_flags": flags, "sla_passed": true, "metrics": {"completed": 10}
        }))
        .expect("record")
    }

    fn standing(id: usize, rate: Option<f64>) -> Standing {
        Standing {
            stage: Stage::Base,
            candidate: id,
            name: String::new(),
            best_rate: rate,
            status: String::new(),
            latencies: Vec::new(),
            cost_per_million_output_tokens: None,
        }
    }

    #[test]
    fn each_changed_flag_is_credited_with_its_one_factor_candidate() {
        let records = [
            record(0, json!({"m": "x", "port": 1, "a": 1, "b": 1})),
            record(1, json!({"m": "x", "port": 2, "a": 2, "b": 1})),
            record(2, json!({"m": "x", "port": 3, "a": 1, "b": 2})),
            record(3, json!({"m": "x", "port": 4, "a": 2, "b": 2, "c": true})),
        ];
        let standings = [
            standing(0, Some(10.0)),
            standing(1, Some(12.0)),
            standing(2, Some(9.0)),
            standing(3, Some(13.0)),
        ];
        let effects = flag_effects(&records, &standings, Some(3));
        let texts: Vec<String> = effects.iter().map(FlagEffect::text).collect();
        assert_eq!(
            texts,
            [
                "`--a 2`: +20% (12.00 against 10.00 req/s, changed alone)",
                "`--b 2`: -10% (9.00 against 10.00 req/s, changed alone)",
                "`--c`: not measured alone, only together with the answer's other changes",
            ]
        );
        assert!(flag_effects(&records, &standings, Some(0)).is_empty());
        assert!(flag_effects(&records, &standings, None).is_empty());
    }
}
