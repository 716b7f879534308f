//! `autobench sim --sim-like transformers`: the simulator with `transformers serve`'s command line
//! and API quirks, so CI covers every path a real `transformers serve` run takes: a positional
//! model, click-style `--flag/--no-flag` booleans, the `--cb-*` knobs, an empty `/v1/models`, no
//! SGLang endpoints, a 422 for request fields it does not know (`ignore_eos`), and no `usage`
//! while streaming.
//!
//! The flags are translated into the SGLang flags the GPU model understands: continuous batching
//! off means one request at a time; `--cb-max-batch-tokens` is the prefill chunk; the attention
//! implementation picks a kernel (`eager` the slowest); `--no-cb-use-cuda-graph` disables graphs.

use std::collections::BTreeMap;

use super::args::UsageError;

/// Flags taking a value, passed through or translated.
const VALUE_FLAGS: &[&str] = &[
    "attn-implementation",
    "quantization",
    "reasoning",
    "chat-template-kwargs",
    "device",
    "dtype",
    "model-timeout",
    "cb-block-size",
    "cb-num-blocks",
    "cb-max-batch-tokens",
    "cb-max-memory-percent",
    "host",
    "port",
    "log-level",
    "default-seed",
];

/// Click boolean pairs (`--x` / `--no-x`).
const BOOL_PAIRS: &[&str] = &[
    "continuous-batching",
    "compile",
    "trust-remote-code",
    "cb-use-cuda-graph",
    "enable-cors",
];

/// `--help` of the `transformers serve` personality: its own flags, click style.
pub(super) fn help_text() -> String {
    let mut out = String::from(
        "Usage: transformers serve [OPTIONS] [MODEL_ID]\n\n  The simulated transformers serve.\n\nOptions:\n  --help  Show this message and exit.\n",
    );
    for flag in VALUE_FLAGS {
        out.push_str(&format!("  --{flag} TEXT\n"));
    }
    for flag in BOOL_PAIRS {
        out.push_str(&format!("  --{flag} / --no-{flag}\n"));
    }
    out
}

/// Translates `transformers serve` arguments into the simulator's SGLang-style arguments.
pub(super) fn translate(args: &[String]) -> Result<Vec<String>, UsageError> {
    let Parsed {
        model,
        values,
        bools,
        passthrough,
    } = parse(args)?;
    let model = model.ok_or_else(|| UsageError("Missing argument 'FORCE_MODEL'.".into()))?;
    let mut out = vec!["--model-path".to_string(), model];
    for key in ["host", "port"] {
        if let Some(value) = values.get(key) {
            out.extend([format!("--{key}"), value.clone()]);
        }
    }
    if !bools.get("continuous-batching").copied().unwrap_or(false) {
        out.extend(["--max-running-requests".into(), "1".into()]);
    }
    let kernel = match values.get("attn-implementation").map(String::as_str) {
        None | Some("sdpa") => "flashinfer",
        Some("flash_attention_2" | "flash_attention_3" | "paged|flash_attention_2") => "fa3",
        Some("eager" | "paged|eager") => "torch_native",
        Some(other) => {
            return Err(UsageError(format!(
                "invalid attn_implementation '{other}' (choose sdpa, eager, flash_attention_2)"
            )));
        }
    };
    out.extend(["--attention-backend".into(), kernel.into()]);
    if let Some(tokens) = values.get("cb-max-batch-tokens") {
        out.extend(["--chunked-prefill-size".into(), tokens.clone()]);
    }
    if let Some(fraction) = values.get("cb-max-memory-percent") {
        out.extend(["--mem-fraction-static".into(), fraction.clone()]);
    }
    if let (Some(blocks), Some(size)) = (values.get("cb-num-blocks"), values.get("cb-block-size")) {
        let total = blocks.parse::<u64>().ok().zip(size.parse::<u64>().ok());
        let (blocks, size) = total.ok_or_else(|| {
            UsageError(format!(
                "Invalid value for '--cb-num-blocks'/'--cb-block-size': '{blocks}', '{size}'"
            ))
        })?;
        out.extend(["--max-total-tokens".into(), (blocks * size).to_string()]);
    }
    if bools.get("cb-use-cuda-graph") == Some(&false) {
        out.push("--disable-cuda-graph".into());
    }
    if bools.get("compile") == Some(&true) {
        out.push("--enable-torch-compile".into());
    }
    out.extend(passthrough);
    Ok(out)
}

/// `transformers serve` arguments, sorted by kind.
struct Parsed {
    /// The positional model.
    model: Option<String>,
    /// Value flags by name (without `--`).
    values: BTreeMap<String, String>,
    /// Boolean pairs by name: `true` for `--x`, `false` for `--no-x`.
    bools: BTreeMap<String, bool>,
    /// The simulator's own `--sim-*`/`--fixed-*` flags with their values, as given.
    passthrough: Vec<String>,
}

/// Sorts `args` into the model, value flags, boolean pairs and passed-through flags, refusing
/// unknown ones as click does.
fn parse(args: &[String]) -> Result<Parsed, UsageError> {
    let mut model = None;
    let mut values = BTreeMap::new();
    let mut bools = BTreeMap::new();
    let mut passthrough = Vec::new();
    let mut index = 0;
    while index < args.len() {
        let raw = &args[index];
        index += 1;
        let Some(name) = raw.strip_prefix("--") else {
            if model.replace(raw.clone()).is_some() {
                return Err(UsageError(format!("Got unexpected extra argument ({raw})")));
            }
            continue;
        };
        if name.starts_with("sim-") || name.starts_with("fixed-") {
            passthrough.push(raw.clone());
            if let Some(value) = args.get(index) {
                passthrough.push(value.clone());
                index += 1;
            }
        } else if VALUE_FLAGS.contains(&name) {
            let value = args
                .get(index)
                .ok_or_else(|| UsageError(format!("Option '--{name}' requires an argument.")))?;
            values.insert(name.to_string(), value.clone());
            index += 1;
        } else if BOOL_PAIRS.contains(&name) {
            bools.insert(name.to_string(), true);
        } else if let Some(base) = name.strip_prefix("no-").filter(|b| BOOL_PAIRS.contains(b)) {
            bools.insert(base.to_string(), false);
        } else {
            return Err(UsageError(format!("No such option: --{name}")));
        }
    }
    Ok(Parsed {
        model,
        values,
        bools,
        passthrough,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn translates_transformers_flags() {
        let out = translate(&words(
            "/tmp/m --port 9 --continuous-batching --attn-implementation eager --cb-max-batch-tokens 512 --no-cb-use-cuda-graph --sim-startup-s 0",
        ))
        .expect("ok");
        assert_eq!(
            out.join(" "),
            "--model-path /tmp/m --port 9 --attention-backend torch_native --chunked-prefill-size 512 --disable-cuda-graph --sim-startup-s 0"
        );
    }

    #[test]
    fn batching_is_off_by_default_and_unknown_flags_fail_like_click() {
        let out = translate(&words("/tmp/m")).expect("ok");
        assert!(out.join(" ").contains("--max-running-requests 1"));
        let error = translate(&words("/tmp/m --cb-typo 3")).expect_err("unknown");
        assert!(error.0.contains("No such option: --cb-typo"));
        assert!(translate(&words("--port 9")).is_err());
    }
}
