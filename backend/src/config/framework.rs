//! What differs between server programs: how to start one, how its CLI spells flags, where the
//! model goes on the command line, and which parts of SGLang's API it lacks. Everything else
//! (readiness polling, OpenAI request paths, the search) is shared.

use shared::flags::{BoolStyle, CliSpelling, NameStyle};

use super::file::Framework;

/// The launch and API traits of one server program.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// Program and leading arguments as shown to users.
    pub command: &'static [&'static str],
    /// How flags are spelled on its command line.
    pub spelling: CliSpelling,
    /// `model_path` (or `model`) is a positional argument right after the command.
    pub positional_model: bool,
    /// Serves SGLang's native `/generate` and `/flush_cache`.
    pub sglang_api: bool,
    /// Accepts SGLang/vLLM extensions in OpenAI bodies (`ignore_eos`, `best_of`); servers that
    /// reject unknown fields do not.
    pub openai_extensions: bool,
    /// Typical start-up seconds, for the plan's wall-time estimate.
    pub startup_estimate_s: f64,
}

const DASHES_BARE: CliSpelling = CliSpelling {
    bools: BoolStyle::BareFlag,
    names: NameStyle::Dashes,
};

impl Framework {
    /// This framework's profile.
    pub fn profile(self) -> Profile {
        match self {
            Framework::Sglang => Profile {
                command: &["python", "-m", "sglang.launch_server"],
                spelling: DASHES_BARE,
                positional_model: false,
                sglang_api: true,
                openai_extensions: true,
                startup_estimate_s: 90.0,
            },
            Framework::Sim => Profile {
                command: &["autobench", "sim"],
                spelling: DASHES_BARE,
                positional_model: false,
                sglang_api: true,
                openai_extensions: true,
                startup_estimate_s: 3.0,
            },
            Framework::Transformers => Profile {
                command: &["transformers", "serve"],
                spelling: CliSpelling {
                    bools: BoolStyle::FlagOrNoFlag,
                    names: NameStyle::Dashes,
                },
                positional_model: true,
                sglang_api: false,
                openai_extensions: false,
                startup_estimate_s: 30.0,
            },
            Framework::Vllm => Profile {
                command: &["vllm", "serve"],
                spelling: CliSpelling {
                    bools: BoolStyle::FlagOrNoFlag,
                    names: NameStyle::Dashes,
                },
                positional_model: true,
                sglang_api: false,
                openai_extensions: true,
                startup_estimate_s: 120.0,
            },
            Framework::Trtllm => Profile {
                command: &["trtllm-serve"],
                spelling: CliSpelling {
                    bools: BoolStyle::BareFlag,
                    names: NameStyle::Underscores,
                },
                positional_model: true,
                sglang_api: false,
                openai_extensions: true,
                startup_estimate_s: 180.0,
            },
        }
    }
}

/// Keys that name the model; with a positional model the first one present is taken out of the
/// flags and put right after the command.
const MODEL_KEYS: [&str; 2] = ["model_path", "model"];

/// The argv after the program: the positional model when the profile wants one, the flags, then
/// `extra_args`.
pub fn launch_args(
    profile: &Profile,
    flags: &shared::flags::FlagMap,
    extra: &[String],
) -> Vec<String> {
    let mut flags = flags.clone();
    let mut args = Vec::new();
    if profile.positional_model
        && let Some(model) = MODEL_KEYS.iter().find_map(|k| flags.shift_remove(*k))
    {
        args.push(shared::flags::render_scalar(&model));
    }
    args.extend(shared::flags::render_args_spelled(&flags, profile.spelling));
    args.extend(extra.iter().cloned());
    args
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn flags(value: serde_json::Value) -> shared::flags::FlagMap {
        match value {
            serde_json::Value::Object(map) => map,
            _ => shared::flags::FlagMap::new(),
        }
    }

    #[test]
    fn transformers_takes_the_model_first_and_spells_false_as_no_flag() {
        let args = launch_args(
            &Framework::Transformers.profile(),
            &flags(
                json!({"port": 8000, "model_path": "/tmp/m", "continuous_batching": false,
                "attn_implementation": "sdpa", "cb_use_cuda_graph": true}),
            ),
            &[],
        );
        assert_eq!(
            args,
            [
                "/tmp/m",
                "--port",
                "8000",
                "--no-continuous-batching",
                "--attn-implementation",
                "sdpa",
                "--cb-use-cuda-graph"
            ]
        );
    }

    #[test]
    fn trtllm_keeps_underscores_and_sglang_keeps_model_path_as_a_flag() {
        let map = flags(json!({"model": "m", "max_batch_size": 64, "trust_remote_code": false}));
        assert_eq!(
            launch_args(&Framework::Trtllm.profile(), &map, &["--x".into()]),
            ["m", "--max_batch_size", "64", "--x"]
        );
        assert_eq!(
            launch_args(&Framework::Sglang.profile(), &map, &[]),
            ["--model", "m", "--max-batch-size", "64"]
        );
    }
}
