//! `autobench sim --sim-like vllm` and `--sim-like trtllm`: the simulator with `vllm serve`'s and
//! `trtllm-serve serve`'s command lines, so a vLLM or TensorRT-LLM search runs end to end without
//! GPUs. Each accepts exactly the flags its real `--help` lists (the captured help texts under
//! `tests/fixtures/server-help/` are compiled in and printed by `--help`) and refuses any other
//! the way its CLI does (argparse's "unrecognized arguments", click's "No such option"). The
//! model is positional. The flags that shape performance are translated into the SGLang flags
//! the GPU model understands; the rest are accepted and have no effect. The HTTP side serves
//! OpenAI routes, `/health` and `/v1/models`, no SGLang endpoints; vLLM also has
//! `POST /reset_prefix_cache`, `trtllm-serve` no cache reset at all.

use std::collections::BTreeSet;

use super::args::UsageError;

/// Which server the simulator plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Like {
    /// `vllm serve`.
    Vllm,
    /// `trtllm-serve serve`.
    Trtllm,
}

impl Like {
    /// The `--sim-like` value.
    pub(super) fn from_name(name: &str) -> Option<Like> {
        match name {
            "vllm" => Some(Like::Vllm),
            "trtllm" | "tensorrt_llm" => Some(Like::Trtllm),
            _ => None,
        }
    }

    /// The real help text for `asked` (`--help`, or vLLM's `--help=all` with every flag).
    pub(super) fn help_text(self, asked: &str) -> &'static str {
        match (self, asked) {
            (Like::Vllm, "--help=all") => self.all_flags_help(),
            (Like::Vllm, _) => include_str!("../../../tests/fixtures/server-help/vllm-short.txt"),
            (Like::Trtllm, _) => self.all_flags_help(),
        }
    }

    /// The help text that lists every flag this personality accepts.
    fn all_flags_help(self) -> &'static str {
        match self {
            Like::Vllm => include_str!("../../../tests/fixtures/server-help/vllm.txt"),
            Like::Trtllm => include_str!("../../../tests/fixtures/server-help/trtllm.txt"),
        }
    }

    /// Its own flag name to the simulator's, for the flags that shape performance.
    fn translation(self, flag: &str) -> Option<&'static str> {
        let table: &[(&str, &str)] = match self {
            Like::Vllm => &[
                ("tensor-parallel-size", "tp-size"),
                ("pipeline-parallel-size", "pp-size"),
                ("data-parallel-size", "dp-size"),
                ("max-num-seqs", "max-running-requests"),
                ("max-num-batched-tokens", "chunked-prefill-size"),
                ("gpu-memory-utilization", "mem-fraction-static"),
                ("max-model-len", "context-length"),
                ("served-model-name", "served-model-name"),
                ("host", "host"),
                ("port", "port"),
            ],
            Like::Trtllm => &[
                ("tp_size", "tp-size"),
                ("pp_size", "pp-size"),
                ("ep_size", "ep-size"),
                ("max_batch_size", "max-running-requests"),
                ("max_num_tokens", "chunked-prefill-size"),
                ("kv_cache_free_gpu_memory_fraction", "mem-fraction-static"),
                ("max_seq_len", "context-length"),
                ("host", "host"),
                ("port", "port"),
            ],
        };
        table
            .iter()
            .find(|(own, _)| *own == flag)
            .map(|(_, sim)| *sim)
    }

    /// The error its CLI prints for a flag it does not have.
    fn unknown_flag(self, flag: &str) -> UsageError {
        match self {
            Like::Vllm => UsageError(format!(
                "usage: vllm serve [model_tag] [options]\nvllm serve: error: unrecognized arguments: --{flag}"
            )),
            Like::Trtllm => UsageError(format!(
                "Usage: trtllm-serve serve [OPTIONS] MODEL\nTry 'trtllm-serve serve --help' for help.\n\nError: No such option: --{flag}"
            )),
        }
    }
}

/// The flags a help text lists, without their dashes.
fn known_flags(help: &str) -> BTreeSet<String> {
    crate::preflight::parse_help(help)
        .into_iter()
        .filter_map(|flag| flag.strip_prefix("--").map(str::to_string))
        .collect()
}

/// Translates this personality's arguments into the simulator's SGLang-style arguments.
pub(super) fn translate(like: Like, args: &[String]) -> Result<Vec<String>, UsageError> {
    let known = known_flags(like.all_flags_help());
    let mut model = None;
    let mut out = Vec::new();
    let mut index = 0;
    while index < args.len() {
        let raw = &args[index];
        index += 1;
        let Some(name) = raw.strip_prefix("--") else {
            // `serve` (the subcommand, when the launcher spells it) and then the model.
            if model.is_none() && raw == "serve" {
                continue;
            }
            if model.replace(raw.clone()).is_some() {
                return Err(like.unknown_flag(raw));
            }
            continue;
        };
        let (name, inline) = match name.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (name, None),
        };
        let value = match inline {
            Some(value) => Some(value),
            None => match args.get(index) {
                Some(next) if !next.starts_with("--") => {
                    index += 1;
                    Some(next.clone())
                }
                _ => None,
            },
        };
        if name.starts_with("sim-") || name.starts_with("fixed-") {
            out.push(raw.clone());
            out.extend(value);
            continue;
        }
        if !known.contains(name) {
            return Err(like.unknown_flag(name));
        }
        if let Some(sim) = like.translation(name) {
            out.push(format!("--{sim}"));
            out.extend(value);
        } else if like == Like::Vllm && name == "enforce-eager" {
            out.push("--disable-cuda-graph".into());
        }
    }
    let model = model.ok_or_else(|| {
        UsageError(match like {
            Like::Vllm => "vllm serve: error: the model is required".into(),
            Like::Trtllm => "Error: Missing argument 'MODEL'.".into(),
        })
    })?;
    let mut full = vec!["--model-path".to_string(), model];
    full.extend(out);
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn vllm_flags_are_translated_and_unknown_ones_refused_like_argparse() {
        let out = translate(
            Like::Vllm,
            &words("/m --tensor-parallel-size 2 --max-num-seqs 32 --enable-prefix-caching --port 9 --sim-startup-s 0"),
        )
        .expect("ok");
        assert_eq!(
            out.join(" "),
            "--model-path /m --tp-size 2 --max-running-requests 32 --port 9 --sim-startup-s 0"
        );
        let error = translate(Like::Vllm, &words("/m --tp-size 2")).expect_err("sglang spelling");
        assert!(
            error.0.contains("unrecognized arguments: --tp-size"),
            "{}",
            error.0
        );
    }

    #[test]
    fn trtllm_keeps_underscores_and_refuses_dashes_like_click() {
        let out = translate(
            Like::Trtllm,
            &words("serve /m --tp_size 2 --max_batch_size 16 --backend pytorch"),
        )
        .expect("ok");
        assert_eq!(
            out.join(" "),
            "--model-path /m --tp-size 2 --max-running-requests 16"
        );
        let error = translate(Like::Trtllm, &words("/m --max-batch-size 16")).expect_err("dashes");
        assert!(
            error.0.contains("No such option: --max-batch-size"),
            "{}",
            error.0
        );
        assert!(translate(Like::Trtllm, &words("--tp_size 2")).is_err());
    }
}
