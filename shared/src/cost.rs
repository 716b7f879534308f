//! What an answer costs: dollars per million output tokens at its rate, from the price of a
//! GPU-hour (`benchmark.gpu_hour_price`) and the GPUs its command uses (tensor x data x pipeline
//! parallel sizes, in any framework's spelling). A price can differ per framework (resolved
//! with the config: each framework is its own run) and per candidate ([`PriceOverride`]: the
//! first whose flags the command includes), for commands that run on other hardware.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::flags::FlagMap;

/// The price of a GPU-hour for a run: a default and the overrides for some commands. Written as a
/// plain number when there is no override (as runs recorded before overrides existed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "PriceRepr", into = "PriceRepr")]
pub struct GpuPrice {
    /// The price for every command no override matches.
    pub default: f64,
    /// The first override whose flags a command includes sets its price.
    pub overrides: Vec<PriceOverride>,
    /// The GPUs each command holds when its flags name no parallel size: the GPUs the run gives
    /// each candidate (`executor.gpus_per_candidate`) or makes visible to it
    /// (`server.env.CUDA_VISIBLE_DEVICES`), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_gpus: Option<u64>,
}

/// A GPU-hour price for the commands whose flags include `flags` (each with an equal value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceOverride {
    /// Flags the command must have, with these values (server spelling).
    pub flags: FlagMap,
    /// Its price of one GPU for an hour.
    pub price: f64,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum PriceRepr {
    Plain(f64),
    WithOverrides {
        default: f64,
        #[serde(default)]
        overrides: Vec<PriceOverride>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visible_gpus: Option<u64>,
    },
}

impl From<PriceRepr> for GpuPrice {
    fn from(repr: PriceRepr) -> Self {
        match repr {
            PriceRepr::Plain(default) => GpuPrice::flat(default),
            PriceRepr::WithOverrides {
                default,
                overrides,
                visible_gpus,
            } => GpuPrice {
                default,
                overrides,
                visible_gpus,
            },
        }
    }
}

impl From<GpuPrice> for PriceRepr {
    fn from(price: GpuPrice) -> Self {
        if price.overrides.is_empty() && price.visible_gpus.is_none() {
            PriceRepr::Plain(price.default)
        } else {
            PriceRepr::WithOverrides {
                default: price.default,
                overrides: price.overrides,
                visible_gpus: price.visible_gpus,
            }
        }
    }
}

impl GpuPrice {
    /// One price for every command.
    pub fn flat(default: f64) -> Self {
        GpuPrice {
            default,
            overrides: Vec::new(),
            visible_gpus: None,
        }
    }

    /// The GPUs a command with `flags` holds: its parallel sizes' product when it names any,
    /// else the GPUs the run gives each candidate, else one.
    pub fn gpus(&self, flags: &FlagMap) -> u64 {
        let named = SIZES.iter().any(|names| {
            names
                .iter()
                .any(|name| flags.get(*name).and_then(size).is_some())
        });
        match self.visible_gpus {
            Some(visible) if !named => visible,
            _ => gpus(flags),
        }
    }

    /// The price of one GPU-hour for a command with `flags`.
    pub fn for_command(&self, flags: &FlagMap) -> f64 {
        self.overrides
            .iter()
            .find(|o| {
                o.flags
                    .iter()
                    .all(|(k, v)| flags.get(k).is_some_and(|w| same(v, w)))
            })
            .map_or(self.default, |o| o.price)
    }
}

/// Flag values equal as the command line writes them (`2` and `"2"` are one value).
fn same(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    a == b || text(a) == text(b)
}

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
    let plural = if gpus == 1 { "" } else { "s" };
    format!(
        "{} per million output tokens ({gpus} GPU{plural} at ${price:.2} an hour)",
        amount(dollars)
    )
}

/// "$0.69", "$83.3": an amount of dollars as answers write it.
pub fn amount(dollars: f64) -> String {
    if dollars >= 10.0 {
        format!("${dollars:.1}")
    } else {
        format!("${dollars:.2}")
    }
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
    fn an_override_prices_the_commands_whose_flags_it_names() {
        let flags = |v: Value| v.as_object().cloned().unwrap_or_default();
        let price = GpuPrice {
            default: 2.5,
            overrides: vec![
                PriceOverride {
                    flags: flags(json!({"tp_size": 2})),
                    price: 4.0,
                },
                PriceOverride {
                    flags: flags(json!({"tp_size": "2", "dp_size": 2})),
                    price: 9.0,
                },
            ],
            visible_gpus: None,
        };
        assert_eq!(price.for_command(&flags(json!({"model_path": "m"}))), 2.5);
        // The first match wins, and "2" is the flag value 2.
        assert_eq!(
            price.for_command(&flags(json!({"tp_size": "2", "dp_size": 2}))),
            4.0
        );
        // Written as a number without overrides, read back from either form.
        assert_eq!(
            serde_json::to_value(GpuPrice::flat(2.5)).expect("json"),
            json!(2.5)
        );
        let back: GpuPrice = serde_json::from_value(json!(2.5)).expect("plain");
        assert_eq!(back, GpuPrice::flat(2.5));
        let both: GpuPrice =
            serde_json::from_value(serde_json::to_value(&price).expect("json")).expect("full");
        assert_eq!(both, price);
        // Without parallel flags, the GPUs the run makes visible to each candidate count.
        let visible = GpuPrice {
            visible_gpus: Some(4),
            ..GpuPrice::flat(2.5)
        };
        assert_eq!(visible.gpus(&flags(json!({"model_path": "m"}))), 4);
        assert_eq!(visible.gpus(&flags(json!({"tp_size": 2}))), 2);
        let back: GpuPrice =
            serde_json::from_value(serde_json::to_value(&visible).expect("json")).expect("read");
        assert_eq!(back, visible);
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
