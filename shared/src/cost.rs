//! What an answer costs: dollars per million output tokens at its rate, from the price of a
//! GPU-hour (`benchmark.gpu_hour_price`) and the GPUs its command uses (tensor x data x pipeline
//! parallel sizes, in any framework's spelling).

use serde_json::Value;

use crate::flags::FlagMap;

/// The spellings of each parallelism size across frameworks (SGLang, vLLM, TensorRT-LLM).
const SIZES: [&[&str]; 3] = [
    &["tp_size", "tp", "tensor_parallel_size"],
    &["dp_size", "dp", "data_parallel_size"],
    &["pp_size", "pp", "pipeline_parallel_size"],
];

/// The GPUs a command uses: the product of its tensor, data and pipeline parallel sizes (1 each
/// when unset).
pub fn gpus(flags: &FlagMap) -> u64 {
    SIZES
        .iter()
        .map(|names| {
            names
                .iter()
                .find_map(|name| flags.get(*name).and_then(size))
                .unwrap_or(1)
        })
        .product()
}

fn size(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|n| *n >= 1)
}

/// Dollars per million output tokens: `gpus` GPUs at `price` an hour, producing
/// `output_tokens_per_s`; `None` when it produced none.
pub fn per_million_output_tokens(price: f64, gpus: u64, output_tokens_per_s: f64) -> Option<f64> {
    (output_tokens_per_s > 0.0 && output_tokens_per_s.is_finite())
        .then(|| price * gpus as f64 / 3600.0 / output_tokens_per_s * 1e6)
}

/// "$0.42 per million output tokens (1 GPU at $2.50 an hour)".
pub fn text(dollars: f64, gpus: u64, price: f64) -> String {
    let amount = if dollars >= 10.0 {
        format!("{dollars:.1}")
    } else {
        format!("{dollars:.2}")
    };
    let plural = if gpus == 1 { "" } else { "s" };
    format!("${amount} per million output tokens ({gpus} GPU{plural} at ${price:.2} an hour)")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn gpus_multiply_the_parallel_sizes_in_any_spelling() {
        let flags = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(gpus(&flags(json!({"model_path": "m"}))), 1);
        assert_eq!(gpus(&flags(json!({"tp_size": 4, "dp_size": 2}))), 8);
        assert_eq!(
            gpus(&flags(
                json!({"tensor_parallel_size": "2", "pipeline_parallel_size": 2})
            )),
            4
        );
        assert_eq!(
            gpus(&flags(json!({"tp_size": 0}))),
            1,
            "nonsense counts as unset"
        );
    }

    #[test]
    fn a_million_tokens_cost_by_hand() {
        // One GPU at $2.50 an hour producing 1,000 output tokens a second: 3.6 million tokens an
        // hour, so $2.50 / 3.6 = $0.694 per million.
        let dollars = per_million_output_tokens(2.5, 1, 1000.0).expect("tokens");
        assert!((dollars - 0.6944).abs() < 1e-3, "{dollars}");
        assert_eq!(
            text(dollars, 1, 2.5),
            "$0.69 per million output tokens (1 GPU at $2.50 an hour)"
        );
        // Eight GPUs cost eight times as much per token at the same throughput.
        let eight = per_million_output_tokens(2.5, 8, 1000.0).expect("tokens");
        assert!((eight - 8.0 * dollars).abs() < 1e-9);
        assert_eq!(per_million_output_tokens(2.5, 1, 0.0), None);
    }
}
