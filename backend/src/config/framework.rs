//! What differs between server programs: how to start one, how its CLI spells flags, where the
//! model goes on the command line, and which parts of SGLang's API it lacks. Everything else
//! (readiness polling, OpenAI request paths, the search) is shared. The per-framework table,
//! [`shared::kinds::Framework::profile`], lives with the enum; this module turns it into argv.

pub(crate) use shared::kinds::Profile;

/// Keys that name the model; with a positional model the first one present is taken out of the
/// flags and put right after the command.
const MODEL_KEYS: [&str; 2] = ["model_path", "model"];

/// The argv after the program: the positional model when the profile wants one, the flags, then
/// `extra_args`.
pub(crate) fn launch_args(
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
    // Parallelism sizes in the server's own spelling (refused at config time when it has none).
    let program = profile.command.join(" ");
    let flags =
        shared::flags::translate_parallel(&flags, profile.parallel, &program).unwrap_or(flags);
    args.extend(shared::flags::render_args_spelled(&flags, profile.spelling));
    args.extend(extra.iter().cloned());
    args
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::Framework;

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
