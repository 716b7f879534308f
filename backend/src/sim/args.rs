//! `autobench sim` flag parsing, SGLang-compatible: the same `--flag value` spellings as
//! `python -m sglang.launch_server`, with argparse-style errors (exit status 2) for unknown flags
//! and invalid choices, so a bad candidate fails the way it would on a real server.

use std::collections::BTreeMap;

/// Flags that take one value.
const VALUE_FLAGS: &[&str] = &[
    "model-path",
    "tokenizer-path",
    "host",
    "port",
    "tp-size",
    "dp-size",
    "pp-size",
    "ep-size",
    "max-running-requests",
    "max-queued-requests",
    "chunked-prefill-size",
    "max-prefill-tokens",
    "attention-backend",
    "prefill-attention-backend",
    "decode-attention-backend",
    "sampling-backend",
    "grammar-backend",
    "cuda-graph-max-bs",
    "mem-fraction-static",
    "max-total-tokens",
    "schedule-policy",
    "schedule-conservativeness",
    "served-model-name",
    "random-seed",
    "log-level",
    "context-length",
    "stream-interval",
    "page-size",
    "kv-cache-dtype",
    "dtype",
    "quantization",
    "load-format",
    "speculative-algorithm",
    "speculative-draft-model-path",
    "speculative-num-steps",
    "speculative-eagle-topk",
    "speculative-num-draft-tokens",
    "num-continuous-decode-steps",
    "hicache-ratio",
    "hicache-size",
    "moe-runner-backend",
    "moe-a2a-backend",
    "tool-call-parser",
    "reasoning-parser",
    "chat-template",
    "api-key",
    "tensor-parallel-size",
    "data-parallel-size",
    "sim-startup-s",
    "sim-gpu-mem-gb",
    "sim-model-gb",
    "sim-kv-mb-per-token",
    "sim-time-scale",
    "sim-runtime-oom-every",
    "sim-noise-pct",
    "sim-noise-seed",
    "sim-crash-after-requests",
    "sim-gpu-release-s",
    "fixed-ttft-ms",
    "fixed-itl-ms",
    "nnodes",
    "node-rank",
    "dist-init-addr",
    "sim-require-env",
];

/// Flags that take no value.
const BOOL_FLAGS: &[&str] = &[
    "trust-remote-code",
    "disable-cuda-graph",
    "enable-symm-mem",
    "enable-mixed-chunk",
    "disable-radix-cache",
    "enable-torch-compile",
    "enable-dp-attention",
    "enable-hierarchical-cache",
    "enable-lmcache",
    "skip-server-warmup",
    "enable-metrics",
    "disable-overlap-schedule",
    "enable-two-batch-overlap",
    "enable-cache-report",
    "skip-tokenizer-init",
];

/// Flags that take one or more values.
const LIST_FLAGS: &[&str] = &["cuda-graph-bs"];

/// Attention kernels the simulator models.
pub(super) const ATTENTION_BACKENDS: &[&str] = &[
    "fa3",
    "flashinfer",
    "triton",
    "torch_native",
    "flashmla",
    "trtllm_mha",
    "fa4",
];

/// Parsed flags: name (with dashes) to values.
#[derive(Debug, Clone, Default)]
pub(crate) struct SimArgs {
    values: BTreeMap<String, Vec<String>>,
}

/// An argparse-style usage error.
#[derive(Debug, thiserror::Error)]
#[error("usage: autobench sim --model-path MODEL_PATH [options]\nautobench sim: error: {0}")]
pub(crate) struct UsageError(pub String);

impl SimArgs {
    /// Parses `args` (without the program name).
    /// `autobench sim --help`: every flag it accepts, argparse style.
    pub(crate) fn help_text() -> String {
        let mut out = String::from(
            "usage: autobench sim [-h] [--FLAG VALUE ...]\n\nThe simulated SGLang server (same flag spellings as python -m sglang.launch_server).\n\noptions:\n  -h, --help            show this help message and exit\n",
        );
        for flag in VALUE_FLAGS {
            out.push_str(&format!(
                "  --{flag} {}\n",
                flag.replace('-', "_").to_uppercase()
            ));
        }
        for flag in BOOL_FLAGS {
            out.push_str(&format!("  --{flag}\n"));
        }
        for flag in LIST_FLAGS {
            let meta = flag.replace('-', "_").to_uppercase();
            out.push_str(&format!("  --{flag} {meta} [{meta} ...]\n"));
        }
        out
    }

    pub(crate) fn parse(args: &[String]) -> Result<SimArgs, UsageError> {
        let mut parsed = SimArgs::default();
        let mut unknown = Vec::new();
        let mut index = 0;
        while index < args.len() {
            let raw = &args[index];
            index += 1;
            let Some(body) = raw.strip_prefix("--") else {
                unknown.push(raw.clone());
                continue;
            };
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (body.to_string(), None),
            };
            if BOOL_FLAGS.contains(&name.as_str()) {
                parsed.values.insert(name, vec!["true".into()]);
            } else if VALUE_FLAGS.contains(&name.as_str()) {
                let value = match inline {
                    Some(v) => v,
                    None if index < args.len() => {
                        index += 1;
                        args[index - 1].clone()
                    }
                    None => {
                        return Err(UsageError(format!(
                            "argument --{name}: expected one argument"
                        )));
                    }
                };
                parsed.values.insert(name, vec![value]);
            } else if LIST_FLAGS.contains(&name.as_str()) {
                let mut items = Vec::new();
                while index < args.len() && !args[index].starts_with("--") {
                    items.push(args[index].clone());
                    index += 1;
                }
                if items.is_empty() {
                    return Err(UsageError(format!(
                        "argument --{name}: expected at least one argument"
                    )));
                }
                parsed.values.insert(name, items);
            } else {
                unknown.push(raw.clone());
            }
        }
        if !unknown.is_empty() {
            return Err(UsageError(format!(
                "unrecognized arguments: {}",
                unknown.join(" ")
            )));
        }
        if !parsed.values.contains_key("model-path") {
            return Err(UsageError(
                "the following arguments are required: --model-path".into(),
            ));
        }
        parsed.check_choices()?;
        Ok(parsed)
    }

    fn check_choices(&self) -> Result<(), UsageError> {
        for key in [
            "attention-backend",
            "prefill-attention-backend",
            "decode-attention-backend",
        ] {
            if let Some(value) = self.text(key)
                && !ATTENTION_BACKENDS.contains(&value)
            {
                return Err(UsageError(format!(
                    "argument --{key}: invalid choice: '{value}' (choose from {})",
                    ATTENTION_BACKENDS
                        .iter()
                        .map(|b| format!("'{b}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        if let Some(policy) = self.text("schedule-policy")
            && !["lpm", "random", "fcfs", "dfs-weight", "lof", "priority"].contains(&policy)
        {
            return Err(UsageError(format!(
                "argument --schedule-policy: invalid choice: '{policy}'"
            )));
        }
        for key in VALUE_FLAGS.iter().filter(|k| {
            k.ends_with("-size")
                || k.starts_with("max-")
                || k.ends_with("-bs")
                || (k.starts_with("sim-") && **k != "sim-require-env")
                || k.starts_with("fixed-")
                || **k == "port"
                || **k == "nnodes"
                || **k == "node-rank"
                || **k == "mem-fraction-static"
        }) {
            if let Some(value) = self.text(key)
                && value.parse::<f64>().is_err()
            {
                return Err(UsageError(format!(
                    "argument --{key}: invalid value: '{value}'"
                )));
            }
        }
        Ok(())
    }

    /// The single value of a flag.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// A numeric flag.
    pub(crate) fn number(&self, name: &str) -> Option<f64> {
        self.text(name).and_then(|v| v.parse().ok())
    }

    /// A boolean flag.
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// All flags, for `/server_info`.
    pub(crate) fn as_json(&self) -> serde_json::Value {
        self.values
            .iter()
            .map(|(k, v)| {
                (
                    k.replace('-', "_"),
                    if v.len() == 1 {
                        serde_json::json!(v[0])
                    } else {
                        serde_json::json!(v)
                    },
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Result<SimArgs, UsageError> {
        SimArgs::parse(
            &args
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn parses_sglang_flags() {
        let args =
            parse("--model-path m --tp-size 2 --trust-remote-code --cuda-graph-bs 1 2 4 --port=3")
                .expect("ok");
        assert_eq!(args.number("tp-size"), Some(2.0));
        assert!(args.flag("trust-remote-code"));
        assert_eq!(args.number("port"), Some(3.0));
    }

    #[test]
    fn rejects_like_argparse() {
        let error = parse("--model-path m --no-such-flag 3").expect_err("unknown");
        assert!(
            error
                .to_string()
                .contains("unrecognized arguments: --no-such-flag 3")
        );
        assert!(parse("--tp-size 2").is_err());
        assert!(
            parse("--model-path m --attention-backend nope")
                .expect_err("choice")
                .to_string()
                .contains("invalid choice")
        );
        assert!(parse("--model-path m --tp-size two").is_err());
    }
}
