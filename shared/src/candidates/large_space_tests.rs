//! Search spaces too large to enumerate: generation stops at the cap, the combination count is
//! computed (saturating), and a space nothing caps is refused at once.

use serde_json::{Value, json};

use super::*;

fn wide_spec(keys: usize, values: &Value, cap: Option<usize>) -> CandidateSpec {
    CandidateSpec {
        search_space: (0..keys)
            .map(|i| SearchKey {
                key: format!("k{i}"),
                values: values.as_array().cloned().unwrap_or_default(),
            })
            .collect(),
        tier: 3,
        max_candidates: cap,
        ..CandidateSpec::default()
    }
}

#[test]
fn a_huge_tier3_space_with_a_cap_generates_only_up_to_the_cap() {
    let plan = generate(&wide_spec(10, &json!([1, 2, 3, 4, 5]), Some(5))).expect("plan");
    assert_eq!(plan.combinations, 5_u64.pow(10) + 1);
    assert_eq!(plan.candidates.len(), 5);
    assert!(plan.examined <= 6, "examined {}", plan.examined);
    assert!(plan.cap_left_out());
    let untried: Vec<&str> = plan
        .untried_after_cap
        .iter()
        .map(|k| k.key.as_str())
        .collect();
    assert!(
        untried.contains(&"k0") && untried.contains(&"k9"),
        "{untried:?}"
    );
    let plan = generate(&wide_spec(40, &json!([1, 2, 3, 4, 5]), Some(3))).expect("plan");
    assert_eq!(plan.combinations, u64::MAX, "the count saturates");
    assert_eq!(plan.candidates.len(), 3);
}

#[test]
fn a_huge_space_without_a_cap_is_refused_at_once() {
    let started = std::time::Instant::now();
    let error = generate(&wide_spec(10, &json!([1, 2, 3, 4, 5]), None)).expect_err("refused");
    assert!(
        matches!(
            error,
            CandidateError::TooManyCombinations {
                combinations: 9_765_626,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("max_candidates"), "{error}");
    assert_eq!(error.config_key(), ["search", "max_candidates"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    let big_cap = generate(&wide_spec(10, &json!([1, 2, 3, 4, 5]), Some(200_000)));
    assert!(matches!(
        big_cap,
        Err(CandidateError::TooManyCombinations { .. })
    ));
    let within = generate(&wide_spec(7, &json!([1, 2, 3, 4, 5]), None)).expect("78126 raw");
    assert_eq!(within.candidates.len(), 5_usize.pow(7) + 1);
}

#[test]
fn a_cap_that_cannot_fill_within_the_limit_is_refused() {
    // 5^8 combinations that all duplicate one candidate: the cap of 5 never fills.
    let error = generate(&wide_spec(8, &json!([1, 1, 1, 1, 1]), Some(5))).expect_err("refused");
    assert!(
        matches!(
            error,
            CandidateError::CapNotReached {
                cap: 5,
                examined: ENUMERATION_LIMIT,
                ..
            }
        ),
        "{error}"
    );
}
