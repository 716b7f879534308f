//! `server:` resolution: the launch command (explicit prefix, built-in simulator, or the
//! framework's own), environment, host and port, readiness and shutdown timing.

use shared::kinds::Framework;

use super::{Ctx, positive_seconds, scalar_text};
use crate::config::error::ConfigError;
use crate::config::file::{ConfigFile, ServerSection};
use crate::config::plan::ServerPlan;

pub(super) fn resolve_server(ctx: &Ctx, raw: &ConfigFile) -> Result<ServerPlan, ConfigError> {
    let section = &raw.server;
    let (command_display, command) = launch_command(ctx, section)?;
    // A secret shown as `<redacted>` (a config saved by the dashboard) is inherited from the
    // environment instead of being set to that text.
    let env = section
        .env
        .iter()
        .map(|(k, v)| (k.clone(), scalar_text(v)))
        .filter(|(k, v)| !(shared::redact::is_secret_env(k) && v == shared::redact::REDACTED))
        .collect();
    let ready_timeout = positive_seconds(
        ctx,
        &["benchmark", "ready_check_timeout_sec"],
        raw.benchmark.ready_check_timeout_sec,
        600.0,
    )?;
    let shutdown_grace = positive_seconds(
        ctx,
        &["server", "shutdown_grace_sec"],
        section.shutdown_grace_sec,
        20.0,
    )?;
    Ok(ServerPlan {
        launch: section.launch,
        framework: section.framework,
        command_display,
        command,
        env,
        extra_args: section.extra_args.iter().map(scalar_text).collect(),
        host: section
            .host
            .clone()
            .unwrap_or_else(|| "127.0.0.1".to_string()),
        port: section.port,
        inject_host: section.host.is_some(),
        relaunch_per_trial: section.relaunch_per_trial,
        health_path: section
            .health_path
            .clone()
            .unwrap_or_else(|| "/health".to_string()),
        ready_timeout,
        shutdown_grace,
    })
}

/// The command before the flags, as shown and as executed: `server.command_prefix` (a leading
/// `autobench` runs this binary), else the framework's own command.
fn launch_command(
    ctx: &Ctx,
    section: &ServerSection,
) -> Result<(Vec<String>, Vec<String>), ConfigError> {
    Ok(match (&section.command_prefix, section.framework) {
        (Some(prefix), _) => {
            let words = split_prefix(ctx, &prefix.0)?;
            let exec = words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if i == 0 && w == "autobench" {
                        current_exe()
                    } else {
                        w.clone()
                    }
                })
                .collect();
            (words, exec)
        }
        (None, Framework::Sim) => (
            vec!["autobench".into(), "sim".into()],
            vec![current_exe(), "sim".into()],
        ),
        (None, Framework::Sglang) => (
            vec!["python".into(), "-m".into(), "sglang.launch_server".into()],
            vec!["python3".into(), "-m".into(), "sglang.launch_server".into()],
        ),
        (None, other) => {
            let words: Vec<String> = other
                .profile()
                .command
                .iter()
                .map(|w| (*w).to_string())
                .collect();
            (words.clone(), words)
        }
    })
}

fn split_prefix(ctx: &Ctx, parts: &[String]) -> Result<Vec<String>, ConfigError> {
    if let [single] = parts {
        let words = shlex::split(single).ok_or_else(|| {
            ctx.error(
                &["server", "command_prefix"],
                "cannot split this command (unbalanced quotes)",
            )
        })?;
        if words.is_empty() {
            return Err(ctx.error(
                &["server", "command_prefix"],
                "is empty; expected a command such as `python -m sglang.launch_server`",
            ));
        }
        return Ok(words);
    }
    if parts.is_empty() {
        return Err(ctx.error(
            &["server", "command_prefix"],
            "is empty; expected a command such as `python -m sglang.launch_server`",
        ));
    }
    Ok(parts.to_vec())
}

/// The running autobench binary, for `autobench sim` candidates.
pub(crate) fn current_exe() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "autobench".to_string())
}
