//! Fast token counting for large datasets: the tokenizer's own normalizer, pre-tokenizer and model,
//! without building `Encoding`s (ids, offsets and token strings for every token), and with a
//! per-thread cache from pre-token to token count, which natural text hits most of the time. Texts
//! that contain an added (special) token's text take the ordinary `encode` path, so the count
//! always equals `encode(text, false).len()` (checked by a test). Texts are split across all cores.

use std::collections::HashMap;

use tokenizers::{
    Model, Normalizer, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, Tokenizer,
};

use super::DatasetError;

/// Counts tokens of every text, in parallel, in input order.
pub(crate) fn count_all(
    tokenizer: &Tokenizer,
    texts: &[String],
) -> Result<Vec<usize>, DatasetError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(texts.len().max(1));
    let chunk = texts.len().div_ceil(threads).max(1);
    let added: Vec<String> = tokenizer
        .get_added_tokens_decoder()
        .values()
        .map(|t| t.content.clone())
        .filter(|c| !c.is_empty())
        .collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = texts
            .chunks(chunk)
            .map(|part| {
                let added = &added;
                scope.spawn(move || {
                    let mut cache: HashMap<String, usize> = HashMap::new();
                    part.iter()
                        .map(|text| count_one(tokenizer, added, &mut cache, text))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(texts.len());
        for worker in workers {
            out.extend(
                worker
                    .join()
                    .map_err(|_| DatasetError::Other("a tokenizer thread panicked".into()))??,
            );
        }
        Ok(out)
    })
}

fn tokenizer_error(e: impl std::fmt::Display) -> DatasetError {
    DatasetError::Tokenizer {
        name: "tokenizer".into(),
        message: e.to_string(),
    }
}

fn count_one(
    tokenizer: &Tokenizer,
    added: &[String],
    cache: &mut HashMap<String, usize>,
    text: &str,
) -> Result<usize, DatasetError> {
    if added.iter().any(|token| text.contains(token.as_str())) {
        return tokenizer
            .encode_fast(text, false)
            .map(|e| e.get_ids().len())
            .map_err(tokenizer_error);
    }
    let mut pretokenized = PreTokenizedString::from(text);
    if let Some(normalizer) = tokenizer.get_normalizer() {
        pretokenized
            .normalize(|s| normalizer.normalize(s))
            .map_err(tokenizer_error)?;
    }
    if let Some(pre_tokenizer) = tokenizer.get_pre_tokenizer() {
        pre_tokenizer
            .pre_tokenize(&mut pretokenized)
            .map_err(tokenizer_error)?;
    }
    let mut total = 0;
    for (piece, _, _) in pretokenized.get_splits(OffsetReferential::Original, OffsetType::None) {
        if let Some(count) = cache.get(piece) {
            total += count;
            continue;
        }
        let count = tokenizer
            .get_model()
            .tokenize(piece)
            .map_err(tokenizer_error)?
            .len();
        if cache.len() < 1_000_000 {
            cache.insert(piece.to_string(), count);
        }
        total += count;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_encode() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../references/sim/tiny-model/tokenizer.json"
        );
        let tokenizer = Tokenizer::from_file(path).expect("tokenizer");
        let texts: Vec<String> = [
            "Hello world, how are you?",
            "  leading spaces and\ttabs\nnewlines",
            "unicode: héllo wörld 你好 🙂",
            "code: fn main() { println!(\"hi\"); }",
            "special <|endoftext|> inside",
            "",
            "repeated repeated repeated words words",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let fast = count_all(&tokenizer, &texts).expect("count");
        for (text, count) in texts.iter().zip(fast) {
            assert_eq!(
                count,
                tokenizer
                    .encode(text.as_str(), false)
                    .expect("encode")
                    .get_ids()
                    .len(),
                "{text:?}"
            );
        }
    }
}
