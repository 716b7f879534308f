//! Server flag maps: alias canonicalisation and rendering to a command line.
//!
//! A flag map keeps YAML order (it is a `serde_json::Map` with `preserve_order`), because order is
//! meaningful: it is both the order flags appear on the command line and the search priority.

use serde_json::Value;

/// Ordered map of server flags, keyed by snake_case flag name (`tp_size`, `chunked_prefill_size`).
pub type FlagMap = serde_json::Map<String, Value>;

/// Short aliases accepted in `base_flags`, `search_space` and `parallel`, as upstream accepts them.
const ALIASES: [(&str, &str); 4] = [
    ("tp", "tp_size"),
    ("pp", "pp_size"),
    ("dp", "dp_size"),
    ("ep", "ep_size"),
];

/// The canonical name of a flag key (`tp` becomes `tp_size`; anything else is unchanged).
pub fn canonical_key(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, canonical)| canonical)
}

/// Rewrites alias keys of `flags` to their canonical names, keeping order. When both an alias and
/// its canonical key are present, the later entry wins, as it would in upstream's dict rebuild.
pub fn canonicalize(flags: &FlagMap) -> FlagMap {
    let mut out = FlagMap::new();
    for (key, value) in flags {
        out.insert(canonical_key(key).to_string(), value.clone());
    }
    out
}

/// How a server's CLI spells boolean flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoolStyle {
    /// `true` renders `--flag`, `false` renders nothing (SGLang, upstream behaviour).
    #[default]
    BareFlag,
    /// `true` renders `--flag`, `false` renders `--no-flag` (argparse `BooleanOptionalAction`,
    /// `transformers serve`, vLLM).
    FlagOrNoFlag,
}

/// How a server's CLI spells flag names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameStyle {
    /// `chunked_prefill_size` becomes `--chunked-prefill-size` (SGLang, vLLM, transformers).
    #[default]
    Dashes,
    /// `max_batch_size` stays `--max_batch_size` (`trtllm-serve`).
    Underscores,
}

/// How a server's CLI spells flags: names and booleans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CliSpelling {
    /// Booleans.
    pub bools: BoolStyle,
    /// Names.
    pub names: NameStyle,
}

/// The command-line name of a flag key: `chunked_prefill_size` becomes `--chunked-prefill-size`.
pub fn cli_name(key: &str) -> String {
    format!("--{}", key.replace('_', "-"))
}

/// The command-line name of `key` in a spelling (`--tp-size`, `--max_batch_size`).
pub fn spelled_name(key: &str, names: NameStyle) -> String {
    match names {
        NameStyle::Dashes => cli_name(key),
        NameStyle::Underscores => format!("--{key}"),
    }
}

/// Renders one scalar the way Python's `str()` would, so command lines match upstream's.
pub fn render_scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Null => "None".to_string(),
        Value::Number(number) => render_number(number),
        other => other.to_string(),
    }
}

fn render_number(number: &serde_json::Number) -> String {
    if let Some(int) = number.as_i64() {
        return int.to_string();
    }
    if let Some(int) = number.as_u64() {
        return int.to_string();
    }
    let float = number.as_f64().unwrap_or(f64::NAN);
    if float.is_finite() && float.fract() == 0.0 && float.abs() < 1e16 {
        format!("{float:.1}")
    } else {
        format!("{float}")
    }
}

/// Renders a flag map as argv tokens: `null` is skipped; booleans follow `style`; a list becomes
/// the flag followed by each item as its own token; anything else is the flag and its value.
pub fn render_args(flags: &FlagMap, style: BoolStyle) -> Vec<String> {
    render_args_spelled(
        flags,
        CliSpelling {
            bools: style,
            names: NameStyle::Dashes,
        },
    )
}

/// [`render_args`] with a full spelling (names as well as booleans).
pub fn render_args_spelled(flags: &FlagMap, spelling: CliSpelling) -> Vec<String> {
    let mut args = Vec::new();
    for (key, value) in flags {
        let name = spelled_name(key, spelling.names);
        match value {
            Value::Null => {}
            Value::Bool(true) => args.push(name),
            Value::Bool(false) => {
                if spelling.bools == BoolStyle::FlagOrNoFlag {
                    args.push(format!("--no-{}", &name[2..]));
                }
            }
            Value::Array(items) => {
                args.push(name);
                args.extend(items.iter().map(render_scalar));
            }
            scalar => {
                args.push(name);
                args.push(render_scalar(scalar));
            }
        }
    }
    args
}

/// A canonical, order-independent JSON text of a flag map (keys sorted recursively), used for
/// de-duplication and content keys.
pub fn canonical_json(flags: &FlagMap) -> String {
    let sorted: std::collections::BTreeMap<&String, &Value> = flags.iter().collect();
    serde_json::to_string(&sorted).unwrap_or_default()
}

/// Integer flag value with a default (`tp_size` absent means 1).
pub fn int_flag(flags: &FlagMap, key: &str, default: i64) -> i64 {
    flags
        .get(key)
        .and_then(|value| {
            value
                .as_i64()
                .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> FlagMap {
        match value {
            Value::Object(map) => map,
            _ => FlagMap::new(),
        }
    }

    #[test]
    fn renders_like_upstream() {
        let flags = map(json!({
            "model_path": "Qwen/Qwen3-32B", "tp_size": 1, "trust_remote_code": true,
            "disable_cuda_graph": false, "mem_fraction_static": 0.82, "skip": null,
            "cuda_graph_bs": [1, 2, 4], "ratio": 2.0
        }));
        assert_eq!(
            render_args(&flags, BoolStyle::BareFlag),
            [
                "--model-path",
                "Qwen/Qwen3-32B",
                "--tp-size",
                "1",
                "--trust-remote-code",
                "--mem-fraction-static",
                "0.82",
                "--cuda-graph-bs",
                "1",
                "2",
                "4",
                "--ratio",
                "2.0"
            ]
        );
    }

    #[test]
    fn renders_no_flag_booleans() {
        let flags = map(json!({"continuous_batching": false, "cb_use_cuda_graph": true}));
        assert_eq!(
            render_args(&flags, BoolStyle::FlagOrNoFlag),
            ["--no-continuous-batching", "--cb-use-cuda-graph"]
        );
    }

    #[test]
    fn aliases_canonicalize_in_place() {
        let flags = map(json!({"tp": 4, "model_path": "m", "ep": 2}));
        let keys: Vec<_> = canonicalize(&flags).keys().cloned().collect();
        assert_eq!(keys, ["tp_size", "model_path", "ep_size"]);
    }

    #[test]
    fn canonical_json_ignores_order() {
        let a = map(json!({"a": 1, "b": 2}));
        let b = map(json!({"b": 2, "a": 1}));
        assert_eq!(canonical_json(&a), canonical_json(&b));
    }
}

/// A parallelism size a server has no flag for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{program} has no flag for {key} (here {value}){hint}")]
pub struct UnexpressibleParallelism {
    /// The canonical key (`dp_size`).
    pub key: String,
    /// Its value.
    pub value: String,
    /// The server program (`trtllm-serve`).
    pub program: String,
    /// What to do instead.
    pub hint: &'static str,
}

/// Renames the parallelism sizes of `flags` to a server's own flag names (`tp_size` becomes
/// `tensor_parallel_size` for vLLM), keeping order. A size the server has no flag for is dropped
/// when it is 1 (the default everywhere) and refused otherwise.
pub fn translate_parallel(
    flags: &FlagMap,
    names: &[(&str, Option<&str>)],
    program: &str,
) -> Result<FlagMap, UnexpressibleParallelism> {
    let mut out = FlagMap::new();
    for (key, value) in flags {
        match names.iter().find(|(canonical, _)| canonical == key) {
            None => {
                out.insert(key.clone(), value.clone());
            }
            Some((_, Some(name))) => {
                out.insert((*name).to_string(), value.clone());
            }
            Some((_, None)) => {
                let one =
                    value.as_i64() == Some(1) || value.as_str() == Some("1") || value.is_null();
                if !one {
                    return Err(UnexpressibleParallelism {
                        key: key.clone(),
                        value: render_scalar(value),
                        program: program.to_string(),
                        hint: match key.as_str() {
                            "ep_size" => {
                                "; vLLM sizes expert parallelism as tp x dp: set enable_expert_parallel: true instead"
                            }
                            "dp_size" => "; run one server per replica instead, or remove dp",
                            _ => "; remove it, or use a server that supports it",
                        },
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod parallel_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parallel_sizes_take_each_servers_spelling() {
        let flags: FlagMap =
            serde_json::from_value(json!({"model": "m", "tp_size": 2, "dp_size": 2})).expect("map");
        let vllm = [
            ("tp_size", Some("tensor_parallel_size")),
            ("dp_size", Some("data_parallel_size")),
        ];
        let renamed = translate_parallel(&flags, &vllm, "vllm serve").expect("vllm");
        assert_eq!(
            renamed.keys().collect::<Vec<_>>(),
            ["model", "tensor_parallel_size", "data_parallel_size"]
        );
        let trtllm = [("tp_size", Some("tp_size")), ("dp_size", None)];
        let refused = translate_parallel(&flags, &trtllm, "trtllm-serve").expect_err("no dp");
        assert_eq!(refused.key, "dp_size");
        assert!(
            refused
                .to_string()
                .starts_with("trtllm-serve has no flag for dp_size (here 2)")
        );
        let one: FlagMap = serde_json::from_value(json!({"dp_size": 1})).expect("map");
        assert!(
            translate_parallel(&one, &trtllm, "trtllm-serve")
                .expect("1 is the default")
                .is_empty()
        );
    }
}
