//! The `generated-shared-prefix` kind: groups of requests that share a long random system prompt,
//! each with its own random question(s), to measure prefix caching. Multi-turn groups
//! (`gsp_num_turns > 1`) produce lists of turns, sent round by round on the chat path.
//!
//! Unlike upstream, every length is honoured exactly (default `gsp_range_ratio` 1.0), `seed` seeds
//! the generation (so the file is byte-identical across runs), and routing keys are derived from
//! the seed (`<8 hex>_<group>`) instead of the wall clock.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokenizers::Tokenizer;

use super::random::{exact_prompt, ordinary_token_ids, sample_len};
use super::{DatasetError, DatasetRow};
pub(crate) use crate::config::GspOptions;

/// Generates the rows.
pub(crate) fn gsp_rows(
    tokenizer: &Tokenizer,
    options: &GspOptions,
) -> Result<Vec<DatasetRow>, DatasetError> {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let vocab = ordinary_token_ids(tokenizer);
    if vocab.is_empty() {
        return Err(DatasetError::Other(
            "the tokenizer has no ordinary (non-special) tokens".into(),
        ));
    }
    let ratio = Some(options.range_ratio);
    let mut rows = Vec::new();
    for group in 0..options.num_groups {
        let system_len = sample_len(&mut rng, options.system_prompt_len, ratio);
        let (system, _) = exact_prompt(tokenizer, &vocab, &mut rng, system_len)?;
        let routing_key = options
            .send_routing_key
            .then(|| format!("{:08x}_{group}", rng.random::<u32>()));
        for _ in 0..options.prompts_per_group {
            let mut turns = Vec::new();
            for _ in 0..options.num_turns.max(1) {
                let question_len = sample_len(&mut rng, options.question_len, ratio);
                turns.push(exact_prompt(tokenizer, &vocab, &mut rng, question_len)?.0);
            }
            let first = format!("{system}\n\n{}", turns[0]);
            let prompt_len = if options.fast_prepare {
                1
            } else {
                tokenizer
                    .encode(first.as_str(), false)
                    .map_err(|e| DatasetError::Tokenizer {
                        name: "tokenizer".into(),
                        message: e.to_string(),
                    })?
                    .get_ids()
                    .len() as u64
            };
            let prompt = if turns.len() == 1 {
                Value::String(first)
            } else {
                let mut list = vec![Value::String(first)];
                list.extend(turns[1..].iter().cloned().map(Value::String));
                Value::Array(list)
            };
            rows.push(DatasetRow {
                prompt,
                output_len: sample_len(&mut rng, options.output_len, ratio),
                prompt_len: Some(prompt_len),
                extra_request_body: None,
                image_data: None,
                timestamp: None,
                routing_key: routing_key.clone(),
                metadata: Some(json!({"source_dataset_name": "generated-shared-prefix", "source_dataset_path": "generated-shared-prefix", "group": group})),
            });
        }
    }
    if !options.ordered {
        for i in (1..rows.len()).rev() {
            let j = rng.random_range(0..=i);
            rows.swap(i, j);
        }
    }
    Ok(rows)
}
