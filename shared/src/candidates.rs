//! Candidate generation: which server flag sets a search tries, in which order.
//!
//! This follows upstream's tier rules exactly (baseline first; tier 1 one-factor-at-a-time over
//! the first 6 keys × 2 values; tier 2 the full product of the first 3 keys × 3 values plus
//! one-factor-at-a-time over keys 4–8; tier 3 the full product), de-duplicates by content, and
//! caps the list at `max_candidates` in generation order. Unlike upstream it reports everything
//! that truncation, the cap or the hardware filter left out, so a user knows what was not tried.
//!
//! The raw sequence is generated lazily (the product is an odometer, see [`odometer`]) and its
//! length is computed, not counted, so a huge tier-3 space costs only the candidates kept: with a
//! cap, generation stops once the cap is full. A space that would need more than
//! [`ENUMERATION_LIMIT`] combinations examined (no cap, or a cap that duplicates and the
//! hardware filter keep from filling) is refused instead of exhausting memory.

#[cfg(test)]
mod large_space_tests;
mod odometer;

use serde_json::Value;

use crate::flags::{self, FlagMap};

/// The `max_candidates` default when the key is absent.
pub const DEFAULT_MAX_CANDIDATES: usize = 8;

/// The most raw combinations generation examines. Up to this many it examines them all (so the
/// counts of what the cap and the hardware filter removed are exact); beyond it, only until the
/// cap is full.
pub const ENUMERATION_LIMIT: u64 = 100_000;

/// One searched flag and the values to try, in priority order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchKey {
    /// Canonical flag name.
    pub key: String,
    /// Values to try, in order.
    pub values: Vec<Value>,
}

/// Everything candidate generation needs, already canonicalised.
#[derive(Debug, Clone, Default)]
pub struct CandidateSpec {
    /// The baseline flags (candidate 0).
    pub base_flags: FlagMap,
    /// The searched keys in priority (YAML) order.
    pub search_space: Vec<SearchKey>,
    /// Search tier (1, 2 or 3; anything else means baseline only).
    pub tier: i64,
    /// Cap on unique candidates; `None` is unbounded.
    pub max_candidates: Option<usize>,
    /// `dp_size` derivation from `server.parallel`: the total GPU count when parallel sugar is on.
    pub derive_dp_from_gpus: Option<u64>,
    /// Whether FlashAttention 3 (`fa3`) can run on the target GPU; `None` when unknown.
    pub fa3_supported: Option<bool>,
}

/// The generated candidates and what was left out on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CandidatePlan {
    /// Flag sets to launch, baseline first (unless the hardware filter removed it).
    pub candidates: Vec<FlagMap>,
    /// Searched keys that the tier dropped entirely.
    pub dropped_keys: Vec<String>,
    /// Values that the tier's per-key value limit dropped, per key.
    pub dropped_values: Vec<SearchKey>,
    /// Unique candidates that the `max_candidates` cap cut.
    pub capped_candidates: usize,
    /// Searched values that no kept candidate tries because of the cap (per key).
    pub untried_after_cap: Vec<SearchKey>,
    /// Candidates removed because they ask for `fa3` on a GPU that cannot run it.
    pub fa3_filtered: usize,
    /// Raw combinations the tier generates, baseline included, before de-duplication, the
    /// hardware filter and the cap (computed, saturating at `u64::MAX`).
    pub combinations: u64,
    /// Raw combinations examined: all of them, or fewer when the cap stopped generation of a
    /// space larger than [`ENUMERATION_LIMIT`] (then `capped_candidates` and `fa3_filtered` count
    /// only what was examined).
    pub examined: u64,
}

impl CandidatePlan {
    /// Whether the cap left anything out (cut candidates, or stopped generation early).
    pub fn cap_left_out(&self) -> bool {
        self.capped_candidates > 0 || self.examined < self.combinations
    }
}

/// Errors of candidate generation.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CandidateError {
    /// `dp_size` derivation could not divide the GPUs evenly.
    #[error(
        "cannot derive dp_size: total_gpus={total_gpus}, tp_size={tp_size}, pp_size={pp_size} (total_gpus must be a multiple of tp_size*pp_size)"
    )]
    DpNotDivisible {
        /// GPUs available.
        total_gpus: u64,
        /// Candidate tensor parallel size.
        tp_size: i64,
        /// Candidate pipeline parallel size.
        pp_size: i64,
    },
    /// The space is too large to enumerate and nothing caps it.
    #[error(
        "the search space has {combinations} combinations (tier {tier}), more than the {limit} autobench will enumerate; set search.max_candidates to a small cap (generation then stops once it is full), use a lower tier, or search fewer keys or values"
    )]
    TooManyCombinations {
        /// Raw combinations of the tier (saturating).
        combinations: u64,
        /// The search tier.
        tier: i64,
        /// [`ENUMERATION_LIMIT`].
        limit: u64,
    },
    /// The cap did not fill within [`ENUMERATION_LIMIT`] combinations of a larger space.
    #[error(
        "max_candidates {cap} is not reached within the first {examined} of {combinations} combinations (the rest duplicate them or need fa3, which this GPU cannot run); lower max_candidates or search fewer keys or values"
    )]
    CapNotReached {
        /// `max_candidates`.
        cap: usize,
        /// Combinations examined.
        examined: u64,
        /// Raw combinations of the tier (saturating).
        combinations: u64,
    },
}

impl CandidateError {
    /// The config key the error is about.
    pub fn config_key(&self) -> &'static [&'static str] {
        match self {
            CandidateError::DpNotDivisible { .. } => &["server", "parallel"],
            CandidateError::TooManyCombinations { .. } | CandidateError::CapNotReached { .. } => {
                &["search", "max_candidates"]
            }
        }
    }
}

/// Human description of a tier, as the plan prints it.
pub fn tier_description(tier: i64) -> &'static str {
    match tier {
        1 => {
            "tier 1: smallest and fastest sanity sweep (first 6 keys x 2 values, one factor at a time)"
        }
        2 => {
            "tier 2: balanced default sweep (product of the first 3 keys x 3 values, then one factor at a time over keys 4-8)"
        }
        3 => "tier 3: largest and slowest full search (full product of every key)",
        _ => "baseline only (tier is not 1, 2 or 3)",
    }
}

/// Keys whose values name attention kernels (checked by the FA3 filter).
const ATTENTION_KEYS: [&str; 3] = [
    "attention_backend",
    "prefill_attention_backend",
    "decode_attention_backend",
];

/// Generates the candidate list for `spec`.
pub fn generate(spec: &CandidateSpec) -> Result<CandidatePlan, CandidateError> {
    let mut plan = CandidatePlan::default();
    let kept = tier_keys(spec, &mut plan);
    plan.combinations = combination_count(spec.tier, &kept);
    let cap = spec.max_candidates.unwrap_or(usize::MAX);
    let exhaustive = plan.combinations <= ENUMERATION_LIMIT;
    if !exhaustive && u64::try_from(cap).map_or(true, |cap| cap >= ENUMERATION_LIMIT) {
        return Err(CandidateError::TooManyCombinations {
            combinations: plan.combinations,
            tier: spec.tier,
            limit: ENUMERATION_LIMIT,
        });
    }
    let mut seen = std::collections::HashSet::new();
    for candidate in raw_candidates(spec, &kept) {
        if !exhaustive && plan.candidates.len() >= cap {
            break;
        }
        if plan.examined >= ENUMERATION_LIMIT {
            return Err(CandidateError::CapNotReached {
                cap,
                examined: plan.examined,
                combinations: plan.combinations,
            });
        }
        plan.examined += 1;
        if spec.fa3_supported == Some(false) && uses_fa3(&candidate) {
            plan.fa3_filtered += 1;
            continue;
        }
        if !seen.insert(flags::canonical_json(&candidate)) {
            continue;
        }
        if plan.candidates.len() < cap {
            plan.candidates.push(candidate);
        } else {
            plan.capped_candidates += 1;
        }
    }
    if plan.cap_left_out() {
        plan.untried_after_cap = untried_values(&kept, &plan.candidates, &spec.base_flags);
    }
    if let Some(total_gpus) = spec.derive_dp_from_gpus {
        for candidate in &mut plan.candidates {
            derive_dp_size(candidate, total_gpus)?;
        }
    }
    Ok(plan)
}

/// `(keys, values per key)` that a tier keeps.
fn tier_limits(tier: i64) -> (usize, usize) {
    match tier {
        1 => (6, 2),
        2 => (8, 3),
        3 => (usize::MAX, usize::MAX),
        _ => (0, 0),
    }
}

/// Applies tier truncation, recording what it dropped; returns the kept keys.
fn tier_keys(spec: &CandidateSpec, plan: &mut CandidatePlan) -> Vec<SearchKey> {
    let (max_keys, max_values) = tier_limits(spec.tier);
    truncate(&spec.search_space, max_keys, max_values, plan)
}

/// How many raw candidates [`raw_candidates`] yields for the kept keys, baseline included,
/// computed without generating them (saturating).
fn combination_count(tier: i64, kept: &[SearchKey]) -> u64 {
    let product = |items: &[SearchKey]| {
        if items.is_empty() {
            return 0;
        }
        items.iter().fold(1_u64, |acc, item| {
            acc.saturating_mul(u64::try_from(item.values.len()).unwrap_or(u64::MAX))
        })
    };
    let one_at_a_time = |items: &[SearchKey]| {
        items.iter().fold(0_u64, |acc, item| {
            acc.saturating_add(u64::try_from(item.values.len()).unwrap_or(u64::MAX))
        })
    };
    let searched = match tier {
        1 => one_at_a_time(kept),
        2 => {
            let split = kept.len().min(3);
            product(&kept[..split]).saturating_add(one_at_a_time(&kept[split..]))
        }
        3 => product(kept),
        _ => 0,
    };
    searched.saturating_add(1)
}

/// The raw (not yet de-duplicated) candidate sequence of the tier, baseline first, lazily.
fn raw_candidates<'a>(
    spec: &'a CandidateSpec,
    kept: &'a [SearchKey],
) -> Box<dyn Iterator<Item = FlagMap> + 'a> {
    let base = &spec.base_flags;
    let baseline = std::iter::once(base.clone());
    match spec.tier {
        1 => Box::new(baseline.chain(one_factor_at_a_time(base, kept))),
        2 => {
            let split = kept.len().min(3);
            Box::new(
                baseline
                    .chain(odometer::Product::new(base, &kept[..split]))
                    .chain(one_factor_at_a_time(base, &kept[split..])),
            )
        }
        3 => Box::new(baseline.chain(odometer::Product::new(base, kept))),
        _ => Box::new(baseline),
    }
}

fn truncate(
    space: &[SearchKey],
    max_keys: usize,
    max_values: usize,
    plan: &mut CandidatePlan,
) -> Vec<SearchKey> {
    let mut kept = Vec::new();
    for (index, item) in space.iter().enumerate() {
        if index >= max_keys {
            plan.dropped_keys.push(item.key.clone());
            continue;
        }
        if item.values.len() > max_values {
            plan.dropped_values.push(SearchKey {
                key: item.key.clone(),
                values: item.values[max_values..].to_vec(),
            });
        }
        kept.push(SearchKey {
            key: item.key.clone(),
            values: item.values.iter().take(max_values).cloned().collect(),
        });
    }
    kept
}

fn one_factor_at_a_time<'a>(
    base: &'a FlagMap,
    items: &'a [SearchKey],
) -> impl Iterator<Item = FlagMap> + 'a {
    items.iter().flat_map(move |item| {
        item.values.iter().map(move |value| {
            let mut candidate = base.clone();
            candidate.insert(item.key.clone(), value.clone());
            candidate
        })
    })
}

fn uses_fa3(candidate: &FlagMap) -> bool {
    ATTENTION_KEYS
        .iter()
        .any(|key| candidate.get(*key).and_then(Value::as_str) == Some("fa3"))
}

fn untried_values(kept: &[SearchKey], candidates: &[FlagMap], base: &FlagMap) -> Vec<SearchKey> {
    let mut untried = Vec::new();
    for item in kept {
        let missing: Vec<Value> = item
            .values
            .iter()
            .filter(|value| base.get(&item.key) != Some(value))
            .filter(|value| !candidates.iter().any(|c| c.get(&item.key) == Some(value)))
            .cloned()
            .collect();
        if !missing.is_empty() {
            untried.push(SearchKey {
                key: item.key.clone(),
                values: missing,
            });
        }
    }
    untried
}

/// Sets `dp_size = total_gpus / (tp_size * pp_size)` on a candidate that has none.
pub fn derive_dp_size(candidate: &mut FlagMap, total_gpus: u64) -> Result<(), CandidateError> {
    if candidate.contains_key("dp_size") {
        return Ok(());
    }
    let tp_size = flags::int_flag(candidate, "tp_size", 1);
    let pp_size = flags::int_flag(candidate, "pp_size", 1);
    let per_replica = tp_size.saturating_mul(pp_size);
    let gpus = i64::try_from(total_gpus).unwrap_or(i64::MAX);
    if per_replica <= 0 || gpus % per_replica != 0 || gpus < per_replica {
        return Err(CandidateError::DpNotDivisible {
            total_gpus,
            tp_size,
            pp_size,
        });
    }
    candidate.insert("dp_size".to_string(), Value::from(gpus / per_replica));
    Ok(())
}

/// Applies `server.parallel` sugar: each key's first value becomes the baseline default (never
/// overriding an explicit baseline value) and the full list joins the search space, after the
/// user's own keys unless the key is already searched.
pub fn apply_parallel(base: &mut FlagMap, space: &mut Vec<SearchKey>, parallel: &[SearchKey]) {
    for item in parallel {
        let key = flags::canonical_key(&item.key).to_string();
        if let Some(first) = item.values.first() {
            base.entry(key.clone()).or_insert_with(|| first.clone());
        }
        match space.iter_mut().find(|existing| existing.key == key) {
            Some(existing) => existing.values.clone_from(&item.values),
            None => space.push(SearchKey {
                key,
                values: item.values.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str, values: Value) -> SearchKey {
        SearchKey {
            key: name.to_string(),
            values: values.as_array().cloned().unwrap_or_default(),
        }
    }

    fn qwen_spec(tier: i64, cap: Option<usize>) -> CandidateSpec {
        let base = json!({"model_path": "Qwen/Qwen3-32B", "tp_size": 1, "trust_remote_code": true,
                          "mem_fraction_static": 0.82, "schedule_policy": "lpm"});
        CandidateSpec {
            base_flags: base.as_object().cloned().unwrap_or_default(),
            search_space: vec![
                key("prefill_attention_backend", json!(["fa3", "flashinfer"])),
                key("decode_attention_backend", json!(["fa3", "flashinfer"])),
                key("chunked_prefill_size", json!([4096, 8192])),
                key("max_running_requests", json!([64, 96, 128])),
            ],
            tier,
            max_candidates: cap,
            ..CandidateSpec::default()
        }
    }

    fn count(tier: i64, cap: Option<usize>) -> usize {
        generate(&qwen_spec(tier, cap))
            .map(|p| p.candidates.len())
            .unwrap_or(0)
    }

    #[test]
    fn qwen3_worked_example_counts() {
        assert_eq!(count(2, Some(8)), 8);
        assert_eq!(count(2, None), 12);
        assert_eq!(count(3, None), 25);
        assert_eq!(count(1, None), 9);
        assert_eq!(count(7, None), 1);
        assert!(count(1, None) < count(2, None) && count(2, None) < count(3, None));
    }

    #[test]
    fn tier2_cap_keeps_baseline_then_first_head_combos() {
        let plan = generate(&qwen_spec(2, Some(8))).expect("plan");
        assert_eq!(plan.candidates[0], qwen_spec(2, None).base_flags);
        let last = &plan.candidates[7];
        assert_eq!(last["prefill_attention_backend"], json!("flashinfer"));
        assert_eq!(last["decode_attention_backend"], json!("flashinfer"));
        assert_eq!(last["chunked_prefill_size"], json!(4096));
        assert!(
            plan.candidates
                .iter()
                .all(|c| !c.contains_key("max_running_requests"))
        );
        assert_eq!(plan.capped_candidates, 4);
        let untried: Vec<_> = plan
            .untried_after_cap
            .iter()
            .map(|k| k.key.as_str())
            .collect();
        assert_eq!(untried, ["max_running_requests"]);
    }

    #[test]
    fn tier1_drops_third_value_and_reports_it() {
        let plan = generate(&qwen_spec(1, None)).expect("plan");
        assert_eq!(
            plan.dropped_values,
            vec![key("max_running_requests", json!([128]))]
        );
        assert!(
            plan.candidates
                .iter()
                .all(|c| c.get("max_running_requests") != Some(&json!(128)))
        );
    }

    #[test]
    fn tier3_with_cap_explores_first_corner_only() {
        let plan = generate(&qwen_spec(3, Some(8))).expect("plan");
        assert!(
            plan.candidates[1..]
                .iter()
                .all(|c| c["prefill_attention_backend"] == json!("fa3"))
        );
    }

    #[test]
    fn tier2_drops_keys_beyond_eight() {
        let mut spec = qwen_spec(2, None);
        spec.search_space = (0..10)
            .map(|i| key(&format!("k{i}"), json!([1, 2])))
            .collect();
        let plan = generate(&spec).expect("plan");
        assert_eq!(plan.dropped_keys, ["k8", "k9"]);
        assert_eq!(plan.candidates.len(), 1 + 8 + 5 * 2);
    }

    #[test]
    fn parallel_sugar_derives_dp() {
        let mut spec = CandidateSpec {
            base_flags: json!({"model_path": "m"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            tier: 2,
            max_candidates: None,
            derive_dp_from_gpus: Some(8),
            ..CandidateSpec::default()
        };
        let parallel = vec![key("tp", json!([4, 2])), key("pp_size", json!([1]))];
        apply_parallel(&mut spec.base_flags, &mut spec.search_space, &parallel);
        let plan = generate(&spec).expect("plan");
        let pairs: Vec<(i64, i64)> = plan
            .candidates
            .iter()
            .map(|c| {
                (
                    flags::int_flag(c, "tp_size", 1),
                    flags::int_flag(c, "dp_size", 0),
                )
            })
            .collect();
        assert!(
            pairs.contains(&(4, 2)) && pairs.contains(&(2, 4)),
            "{pairs:?}"
        );
    }

    #[test]
    fn dp_derivation_rejects_uneven_split() {
        let mut candidate = json!({"tp_size": 3})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(derive_dp_size(&mut candidate, 8).is_err());
    }

    #[test]
    fn fa3_filter_removes_fa3_candidates() {
        let mut spec = qwen_spec(2, None);
        spec.fa3_supported = Some(false);
        let plan = generate(&spec).expect("plan");
        assert!(plan.candidates.iter().all(|c| !uses_fa3(c)));
        assert!(plan.fa3_filtered > 0);
    }

    #[test]
    fn ep_alias_values_survive() {
        let mut spec = qwen_spec(1, None);
        spec.search_space = vec![key("ep_size", json!([1, 4]))];
        let plan = generate(&spec).expect("plan");
        let eps: Vec<i64> = plan
            .candidates
            .iter()
            .map(|c| flags::int_flag(c, "ep_size", 0))
            .collect();
        assert_eq!(eps, [0, 1, 4]);
    }

    #[test]
    fn combinations_are_computed_and_match_what_is_generated() {
        for tier in [1, 2, 3, 7] {
            let plan = generate(&qwen_spec(tier, None)).expect("plan");
            assert_eq!(plan.examined, plan.combinations, "tier {tier}");
            assert!(!plan.cap_left_out(), "tier {tier}");
        }
        let plan = generate(&qwen_spec(3, None)).expect("plan");
        assert_eq!(plan.combinations, 1 + 2 * 2 * 2 * 3);
        let plan = generate(&qwen_spec(2, Some(8))).expect("plan");
        assert_eq!(plan.combinations, 1 + 2 * 2 * 2 + 3);
        assert_eq!(
            plan.examined, plan.combinations,
            "small spaces are counted exactly"
        );
    }
}
