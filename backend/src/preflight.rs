//! Preflight: before the first launch (and in `plan`), the server's own `--help` is read, through
//! `server.command_prefix` when set, and every flag that will be launched (base, searched, and the
//! speculative stage's algorithm, draft model and flags) that it does not list is a config error
//! at its key, with a did-you-mean from the server's real flags. One typo would otherwise
//! cost a failed launch per candidate. The flags are cached per command and executable (path,
//! size, modification time) under `$XDG_CACHE_HOME/autobench/help` (else `~/.cache/...`). A
//! server whose help cannot be read (not installed here, a wrapper that hides it, a timeout) gets
//! a warning, never a failure.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use sha2::Digest;

use crate::config::{ConfigError, RunConfig};

/// How long a server's `--help` may take (SGLang and vLLM import torch first).
const HELP_TIMEOUT: Duration = Duration::from_secs(120);

/// Fewer flags than this in a help text means it is not an argparse help.
const MIN_FLAGS: usize = 3;

/// What the preflight found.
#[derive(Debug)]
pub(crate) enum Preflight {
    /// Every flag is known to the server.
    Passed,
    /// The help could not be read; the run goes on.
    Skipped(String),
}

/// Checks the config's flags against the server's help. A server that is not installed (its
/// program not on `PATH`, or Python finding no such module) is an error when `installed_required`
/// (`run`: nothing could launch), a warning otherwise (`plan` may plan a run for another machine).
pub(crate) async fn check(
    cfg: &RunConfig,
    installed_required: bool,
) -> Result<Preflight, ConfigError> {
    let text = std::fs::read_to_string(&cfg.config_path).unwrap_or_default();
    check_text(cfg, &text, installed_required, false).await
}

/// The dashboard's check of a config text: against the flags of a `--help` read earlier on this
/// machine (`plan` or `run` cache them), never running the server's help from a web request;
/// skipped, with the reason, when none was read yet.
pub(crate) async fn check_cached(cfg: &RunConfig, text: &str) -> Result<Preflight, ConfigError> {
    check_text(cfg, text, false, true).await
}

async fn check_text(
    cfg: &RunConfig,
    text: &str,
    installed_required: bool,
    cached_only: bool,
) -> Result<Preflight, ConfigError> {
    if !cfg.server.launch || cfg.server.command.is_empty() {
        return Ok(Preflight::Passed);
    }
    let known = match known_flags(cfg, cached_only).await {
        Ok(known) => known,
        Err(HelpError::Missing(why)) if installed_required => {
            let key = if text.contains("command_prefix") || text.contains("server_command") {
                "command_prefix"
            } else {
                "framework"
            };
            let at = cfg.keys.source(&["server", key]);
            return Err(ConfigError::at_key(&cfg.config_path, text, &at, why));
        }
        Err(HelpError::Missing(why) | HelpError::Unreadable(why)) => {
            return Ok(Preflight::Skipped(why));
        }
    };
    let profile = cfg.server.framework.profile();
    let mut sections: Vec<(&[&str], Vec<String>)> = vec![
        (
            &["server", "base_flags"],
            cfg.candidate_spec.base_flags.keys().cloned().collect(),
        ),
        (
            &["server", "search_space"],
            cfg.candidate_spec
                .search_space
                .iter()
                .map(|k| k.key.clone())
                .collect(),
        ),
    ];
    // The speculative stage launches its algorithm, its draft model and its own flags on top of
    // the best base command: a typo there would otherwise show only after the whole base stage.
    if let Some(spec) = &cfg.speculative {
        sections.push((
            &["speculative", "algorithm"],
            vec!["speculative_algorithm".into()],
        ));
        sections.push((
            &["speculative", "draft_model_path"],
            vec!["speculative_draft_model_path".into()],
        ));
        sections.push((
            &["speculative", "base_flags"],
            spec.base_flags.keys().cloned().collect(),
        ));
        sections.push((
            &["speculative", "search_space"],
            spec.search_space.iter().map(|k| k.key.clone()).collect(),
        ));
    }
    for (section, keys) in sections {
        for key in keys {
            if skipped(&key, profile.positional_model) {
                continue;
            }
            let flag = shared::flags::spelled_name(&key, profile.spelling.names);
            if known.contains(&flag) {
                continue;
            }
            let names: Vec<&str> = known.iter().map(String::as_str).collect();
            let hint = shared::kinds::closest(&flag, &names)
                .map(|c| format!("; did you mean {c}?"))
                .unwrap_or_default();
            let mut path: Vec<&str> = section.to_vec();
            if section.len() == 2 && matches!(section[1], "base_flags" | "search_space") {
                path.push(&key);
            }
            let at = cfg.keys.source(&path);
            return Err(ConfigError::at_key(
                &cfg.config_path,
                text,
                &at,
                format!(
                    "`{}` does not accept {flag} (its --help lists {} flags){hint}",
                    cfg.server.command_display.join(" "),
                    known.len()
                ),
            ));
        }
    }
    Ok(Preflight::Passed)
}

/// Keys the preflight leaves alone: placement (autobench sets them), the positional model, and
/// parallelism sizes (translated per framework and checked at config time).
fn skipped(key: &str, positional_model: bool) -> bool {
    matches!(
        key,
        "host" | "port" | "tp_size" | "pp_size" | "dp_size" | "ep_size"
    ) || (positional_model && matches!(key, "model_path" | "model"))
}

/// Why the flags could not be read.
enum HelpError {
    /// The server is not installed here.
    Missing(String),
    /// Its help could not be run or parsed.
    Unreadable(String),
}

/// The flags the server's `--help` lists, from the cache or (unless `cached_only`) by running it.
async fn known_flags(cfg: &RunConfig, cached_only: bool) -> Result<BTreeSet<String>, HelpError> {
    let command = &cfg.server.command;
    let shown = cfg.server.command_display.join(" ");
    if let Some(program) = command.first()
        && which(program).is_none_or(|p| !p.exists())
    {
        return Err(HelpError::Missing(format!(
            "`{shown}` cannot start: `{program}` is not on PATH (is the server installed in this environment?)"
        )));
    }
    let cache = cache_file(command);
    if let Some(cached) = cache
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str::<BTreeSet<String>>(&t).ok())
    {
        return Ok(cached);
    }
    if cached_only {
        return Err(HelpError::Unreadable(format!(
            "the flags were not checked against `{shown} --help`: it has not been read on this machine yet (`autobench plan` reads and caches it)"
        )));
    }
    let mut help = run_help(cfg, "--help")
        .await
        .map_err(HelpError::Unreadable)?;
    // vLLM 0.11+ lists only its option groups under --help; every flag is under --help=all.
    if help.contains("--help=all") {
        help = run_help(cfg, "--help=all")
            .await
            .map_err(HelpError::Unreadable)?;
    }
    let flags = parse_help(&help);
    // Only when no flags came out: a working server may warn about optional modules.
    if flags.len() < MIN_FLAGS
        && let Some(line) = help.lines().find(|l| l.contains("No module named"))
    {
        return Err(HelpError::Missing(format!(
            "`{shown}` cannot start: {} (is the server installed in this Python environment?)",
            line.trim()
        )));
    }
    if flags.len() < MIN_FLAGS {
        return Err(HelpError::Unreadable(format!(
            "`{shown} --help` listed no flags; the flags were not checked before launch"
        )));
    }
    if let Some(path) = cache {
        let _ = path.parent().map(std::fs::create_dir_all);
        let _ = std::fs::write(&path, serde_json::to_string(&flags).unwrap_or_default());
    }
    Ok(flags)
}

/// Runs `<command> --help` with the server's environment, in its own process group, killed on
/// timeout.
async fn run_help(cfg: &RunConfig, flag: &str) -> Result<String, String> {
    let shown = format!("{} {flag}", cfg.server.command_display.join(" "));
    let (program, args) = cfg
        .server
        .command
        .split_first()
        .ok_or_else(|| "no server command".to_string())?;
    let child = tokio::process::Command::new(program)
        .args(args)
        .arg(flag)
        .envs(cfg.server.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!("`{shown}` could not run ({e}); the flags were not checked before launch")
        })?;
    match tokio::time::timeout(HELP_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(output)) => Ok(format!(
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )),
        Ok(Err(e)) => Err(format!(
            "`{shown}` failed ({e}); the flags were not checked before launch"
        )),
        Err(_) => Err(format!(
            "`{shown}` took over {} s; the flags were not checked before launch",
            HELP_TIMEOUT.as_secs()
        )),
    }
}

/// Every `--flag` an argparse or click help text declares (`--tp-size TP_SIZE`, `-tp, --tp-size`,
/// `--enable-x, --no-enable-x`): the usage line and the option lines (indented two spaces, starting
/// with `-`, up to the gap before their description). Flags only mentioned in descriptions or
/// examples (vLLM's help shows `--json-arg.key1 value1`) are not declarations.
pub(crate) fn parse_help(text: &str) -> BTreeSet<String> {
    let declared: Vec<&str> = text
        .lines()
        .filter_map(|line| {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if trimmed.starts_with("usage:") || trimmed.starts_with("Usage:") {
                return Some(trimmed);
            }
            (matches!(indent, 0 | 2) && trimmed.starts_with('-'))
                .then(|| trimmed.split("  ").next().unwrap_or(trimmed))
        })
        .collect();
    declared
        .join("\n")
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '=' | '{' | '|'))
        .filter_map(|token| {
            let name = token.strip_prefix("--")?;
            let name: String = name
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect();
            (!name.is_empty() && name.starts_with(|c: char| c.is_ascii_alphanumeric()))
                .then(|| format!("--{name}"))
        })
        .collect()
}

/// The cache file for `command`: keyed by the command and its executable's identity, so an
/// upgrade of the server reads its help again.
fn cache_file(command: &[String]) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let program = command.first()?;
    let exe = which(program)?;
    let meta = std::fs::metadata(&exe).ok()?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let identity = format!("{command:?}|{}|{}|{modified}", exe.display(), meta.len());
    let digest = sha2::Sha256::digest(identity.as_bytes());
    let name: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    Some(
        base.join("autobench")
            .join("help")
            .join(format!("{name}.json")),
    )
}

/// `program` as run: a path as is, else the first match on `PATH`.
fn which(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_read_from_argparse_and_click_help() {
        let help = "usage: launch_server.py [-h] --model-path MODEL_PATH [--tp-size TP_SIZE]\n\
            options:\n  -h, --help            show this help message and exit\n\
              --enable-x, --no-enable-x\n  --kv-cache-dtype {auto,fp8_e5m2}\n\
              --max_batch_size INTEGER  Maximum number of requests.\n  --x=VALUE\n  -- \n";
        let flags = parse_help(help);
        for flag in [
            "--help",
            "--model-path",
            "--tp-size",
            "--enable-x",
            "--no-enable-x",
            "--kv-cache-dtype",
            "--max_batch_size",
            "--x",
        ] {
            assert!(flags.contains(flag), "{flag}: {flags:?}");
        }
        assert_eq!(flags.len(), 8, "{flags:?}");
    }

    #[test]
    fn real_help_texts_give_their_flags_and_not_the_ones_in_examples() {
        let fixture = |name: &str| {
            std::fs::read_to_string(format!(
                "{}/../tests/fixtures/server-help/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .expect("fixture")
        };
        let vllm = parse_help(&fixture("vllm.txt"));
        for flag in [
            "--tensor-parallel-size",
            "--max-num-seqs",
            "--max-num-batched-tokens",
            "--enable-prefix-caching",
            "--disable-prefix-caching",
            "--no-enforce-eager",
            "--gpu-memory-utilization",
        ] {
            assert!(vllm.contains(flag), "{flag}");
        }
        assert!(!vllm.contains("--json-arg"), "an example, not a flag");
        assert!(!vllm.contains("--tp-size"), "SGLang's spelling");
        let trtllm = parse_help(&fixture("trtllm.txt"));
        for flag in [
            "--tp_size",
            "--max_batch_size",
            "--kv_cache_free_gpu_memory_fraction",
            "--backend",
        ] {
            assert!(trtllm.contains(flag), "{flag}");
        }
        assert!(!trtllm.contains("--max-batch-size"));
        let sglang = parse_help(&fixture("sglang.txt"));
        for flag in [
            "--tp-size",
            "--chunked-prefill-size",
            "--max-running-requests",
            "--model-path",
        ] {
            assert!(sglang.contains(flag), "{flag}");
        }
        let short = parse_help(&fixture("vllm-short.txt"));
        assert!(
            short.len() < 3,
            "vLLM's short help lists no flags: {short:?}"
        );
    }
}
