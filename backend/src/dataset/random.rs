//! The `random` kind: prompts of exact token lengths built from random vocabulary tokens.
//!
//! Lengths are exact by default. Upstream's `random_range_ratio` (default 0.0) drew each length
//! uniformly from `[max(1, floor(L*r)), L]`, so its average prompt was half the nominal length;
//! autobench applies that rule only when the key is set explicitly. Each prompt is re-tokenised and
//! adjusted until it encodes to exactly the target length, and the recorded `prompt_len` is the
//! measured length (upstream recorded the target). Generation is seeded, so the same config
//! produces a byte-identical dataset.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokenizers::Tokenizer;

use super::{DatasetError, DatasetRow};

/// Generates `count` rows with the given lengths.
pub(crate) fn random_rows(
    tokenizer: &Tokenizer,
    count: u64,
    input_len: u64,
    output_len: u64,
    range_ratio: Option<f64>,
    seed: u64,
) -> Result<Vec<DatasetRow>, DatasetError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let vocab = ordinary_token_ids(tokenizer);
    if vocab.is_empty() {
        return Err(DatasetError::Other(
            "the tokenizer has no ordinary (non-special) tokens".into(),
        ));
    }
    let mut rows = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for _ in 0..count {
        let target_in = sample_len(&mut rng, input_len, range_ratio);
        let target_out = sample_len(&mut rng, output_len, range_ratio);
        let (text, measured) = exact_prompt(tokenizer, &vocab, &mut rng, target_in)?;
        rows.push(DatasetRow {
            prompt: Value::String(text),
            output_len: target_out,
            prompt_len: Some(measured as u64),
            extra_request_body: None,
            image_data: None,
            timestamp: None,
            routing_key: None,
            metadata: Some(
                json!({"source_dataset_name": "random", "source_dataset_path": "random"}),
            ),
        });
    }
    Ok(rows)
}

pub(super) fn sample_len(rng: &mut StdRng, nominal: u64, ratio: Option<f64>) -> u64 {
    match ratio {
        Some(r) if r < 1.0 => {
            let low = ((nominal as f64 * r).floor() as u64).max(1);
            rng.random_range(low..=nominal.max(low))
        }
        _ => nominal,
    }
}

pub(super) fn ordinary_token_ids(tokenizer: &Tokenizer) -> Vec<u32> {
    let special: std::collections::HashSet<u32> = tokenizer
        .get_added_tokens_decoder()
        .keys()
        .copied()
        .collect();
    let size = u32::try_from(tokenizer.get_vocab_size(false)).unwrap_or(0);
    (0..size).filter(|id| !special.contains(id)).collect()
}

fn random_ids(rng: &mut StdRng, vocab: &[u32], count: usize) -> Vec<u32> {
    (0..count)
        .map(|_| vocab[rng.random_range(0..vocab.len())])
        .collect()
}

/// Builds text that encodes to exactly `target` tokens (or as close as the tokenizer allows).
pub(super) fn exact_prompt(
    tokenizer: &Tokenizer,
    vocab: &[u32],
    rng: &mut StdRng,
    target: u64,
) -> Result<(String, usize), DatasetError> {
    let target = usize::try_from(target).unwrap_or(usize::MAX);
    let err = |e: tokenizers::Error| DatasetError::Tokenizer {
        name: "tokenizer".into(),
        message: e.to_string(),
    };
    let mut ids = random_ids(rng, vocab, target);
    let mut best = (String::new(), 0usize);
    for _ in 0..16 {
        let text = tokenizer.decode(&ids, true).map_err(err)?;
        let encoded = tokenizer
            .encode(text.as_str(), false)
            .map_err(err)?
            .get_ids()
            .to_vec();
        if encoded.len() == target {
            return Ok((text, target));
        }
        if best.0.is_empty() || encoded.len().abs_diff(target) < best.1.abs_diff(target) {
            best = (text, encoded.len());
        }
        ids = encoded;
        if ids.len() > target {
            ids.truncate(target);
        } else {
            let missing = target - ids.len();
            ids.extend(random_ids(rng, vocab, missing));
        }
    }
    Ok(best)
}
