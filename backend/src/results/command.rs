//! The launch command shown to users (summaries, plan, console): environment assignments with
//! secrets redacted by name, the program, then `--flag value` pairs one per line.

use shared::flags::FlagMap;
use shared::redact::{REDACTED, is_secret_env};

use crate::config::ServerPlan;

/// Renders a candidate's launch command as a copy-pasteable shell command.
pub(crate) fn render(server: &ServerPlan, flag_map: &FlagMap) -> String {
    let mut env: Vec<&(String, String)> = server.env.iter().collect();
    env.sort();
    let mut parts: Vec<String> = env
        .iter()
        .map(|(k, v)| {
            let value = if is_secret_env(k) {
                REDACTED.to_string()
            } else {
                quote(v)
            };
            format!("{k}={value}")
        })
        .collect();
    parts.push(
        server
            .command_display
            .iter()
            .map(|w| quote(w))
            .collect::<Vec<_>>()
            .join(" "),
    );
    let args =
        crate::config::launch_args(&server.framework.profile(), flag_map, &server.extra_args);
    let mut lines = vec![parts.join(" ")];
    let mut index = 0;
    while index < args.len() {
        let token = &args[index];
        let next = args.get(index + 1).filter(|n| !n.starts_with("--"));
        match next {
            Some(value) if token.starts_with("--") => {
                lines.push(format!("{} {}", token, quote(value)));
                index += 2;
            }
            _ => {
                lines.push(quote(token));
                index += 1;
            }
        }
    }
    lines.join(" \\\n  ")
}

fn quote(word: &str) -> String {
    shlex::try_quote(word).map_or_else(|_| word.to_string(), |q| q.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn renders_with_redaction() {
        let server = ServerPlan {
            launch: true,
            framework: crate::config::Framework::Sglang,
            command_display: vec!["python".into(), "-m".into(), "sglang.launch_server".into()],
            command: vec![],
            env: vec![
                ("CUDA_VISIBLE_DEVICES".into(), "0".into()),
                ("HF_TOKEN".into(), "hf_secret".into()),
                ("TOKENIZERS_PARALLELISM".into(), "false".into()),
            ],
            extra_args: vec![],
            host: "127.0.0.1".into(),
            port: Some(30000),
            inject_host: true,
            relaunch_per_trial: false,
            health_path: "/health".into(),
            ready_timeout: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(1),
        };
        let flags =
            json!({"model_path": "Qwen/Qwen3-32B", "trust_remote_code": true, "tp_size": 1})
                .as_object()
                .cloned()
                .unwrap_or_default();
        let text = render(&server, &flags);
        assert!(text.contains("CUDA_VISIBLE_DEVICES=0"));
        assert!(text.contains("--model-path Qwen/Qwen3-32B"));
        assert!(text.contains("TOKENIZERS_PARALLELISM=false"));
        assert!(!text.contains("hf_secret"));
        assert!(text.contains("HF_TOKEN=<redacted>"));
        assert!(text.contains(" \\\n  --trust-remote-code \\\n  --tp-size 1"));
    }
}
