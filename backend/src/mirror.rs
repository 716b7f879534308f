//! `autobench mirror REMOTE LOCAL`: keeps a local copy of a run on another machine, through the
//! system `rsync` over `ssh` (REMOTE is `user@host:path`). Every interval (default 30 s) it syncs
//! the result files and the progress log, writes a cleaned `progress.log` (no ANSI escapes, carriage
//! returns resolved the way a terminal shows them). Whether the remote run ended is read from its
//! `events.jsonl`. When nothing changed for a while although the run has not ended, it asks the remote machine over ssh whether the run's process
//! (pid from `run_meta.json`) is still alive: alive means a warning, gone means the run died and
//! the mirror exits with an error. A failed sync after the first is retried. When the remote
//! events say the run ended, it syncs once more and exits. The local folder is a normal run folder: `serve` shows it live.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use shared::api::RunStatus;
use shared::run_dir::{RunDir, ScenarioDir};
use shared::run_meta::RunMeta;

use crate::session::owner::{RunOwner, is_autobench_command};

/// Files kept in sync (relative patterns for rsync's include rules).
const INCLUDE: [&str; 13] = [
    ScenarioDir::RESULTS,
    ScenarioDir::LIVE_RESULTS,
    ScenarioDir::RESULTS_CSV,
    ScenarioDir::SUMMARY,
    RunDir::RUN_SUMMARY,
    "scenario_summary.*",
    RunDir::REPORT,
    RunDir::META,
    RunDir::EVENTS,
    RunDir::PROGRESS_LOG,
    "logs/",
    "logs/*.log",
    "*/",
];

/// Mirror options.
#[derive(Debug, Clone, clap::Args)]
pub struct MirrorArgs {
    /// The remote run folder, `user@host:path` (anything `rsync -e ssh` accepts).
    pub remote: String,
    /// The local folder to keep in sync.
    pub local: PathBuf,
    /// Seconds between syncs.
    #[arg(long, default_value_t = 30.0)]
    pub interval: f64,
    /// When the mirror has not changed for this many seconds (and again after each such period)
    /// while the run goes on, ask the remote machine whether the run's process is alive, and warn.
    #[arg(long, default_value_t = 300.0)]
    pub stale_after: f64,
    /// Extra options for ssh (for example `-p 2222 -i key`).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub ssh: String,
    /// Sync once and exit.
    #[arg(long)]
    pub once: bool,
}

/// Strips ANSI escape sequences and resolves carriage returns (a line keeps what was written
/// after its last `\r`), as tqdm-style progress bars leave them.
pub(crate) fn clean_log(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for line in raw.split('\n') {
        let last = line
            .trim_end_matches('\r')
            .rsplit('\r')
            .next()
            .unwrap_or("");
        out.push_str(&strip_ansi(last));
        out.push('\n');
    }
    // `split` yields one piece more than there are newlines.
    out.pop();
    out
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('[') => {
                chars.next();
                // CSI: parameters until a final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                // OSC: until BEL or ESC \.
                for c in chars.by_ref() {
                    if c == '\u{7}' || c == '\u{1b}' {
                        break;
                    }
                }
            }
            _ => {
                chars.next();
            }
        }
    }
    out
}

fn rsync(args: &MirrorArgs, staging: &Path) -> anyhow::Result<bool> {
    let remote = format!("{}/", args.remote.trim_end_matches('/'));
    let mut command = Command::new("rsync");
    command.args(["-az", "--itemize-changes", "--prune-empty-dirs"]);
    command
        .arg("-e")
        .arg(format!("ssh -o BatchMode=yes {}", args.ssh));
    for pattern in INCLUDE {
        command.arg(format!("--include={pattern}"));
    }
    command.arg("--exclude=*").arg(&remote).arg(staging);
    let output = command
        .output()
        .context("cannot run rsync (is it installed here and on the remote machine?)")?;
    if !output.status.success() {
        bail!(
            "rsync {} failed: {}",
            args.remote,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(!output.stdout.is_empty())
}

/// Copies the staged files into the local folder: everything as is, `progress.log` cleaned.
fn publish(staging: &Path, local: &Path) -> anyhow::Result<()> {
    for entry in walk(staging) {
        let relative = entry.strip_prefix(staging).unwrap_or(&entry);
        let target = local.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let bytes = std::fs::read(&entry)?;
        let bytes = if relative
            .file_name()
            .is_some_and(|n| n == RunDir::PROGRESS_LOG)
        {
            clean_log(&String::from_utf8_lossy(&bytes)).into_bytes()
        } else {
            bytes
        };
        if std::fs::read(&target).ok().as_deref() != Some(bytes.as_slice()) {
            crate::results::write_atomic(&target, &bytes)?;
        }
    }
    Ok(())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// A warning when the mirrored run was written by another autobench version than this one (its
/// files may carry fields this version reads differently, or not at all).
fn version_warning(local: &Path) -> Option<String> {
    let text = std::fs::read_to_string(RunDir::new(local).meta()).ok()?;
    let meta: RunMeta = serde_json::from_str(&text).ok()?;
    let here = env!("CARGO_PKG_VERSION");
    (meta.autobench_version != here).then(|| {
        format!(
            "the remote run was written by autobench {} and this is autobench {here}: install the same version on both machines, or read the mirror with the remote's version",
            meta.autobench_version
        )
    })
}

/// Whether the mirrored events say the run ended (finished, interrupted or failed).
fn remote_finished(local: &Path) -> bool {
    let (events, _) = crate::reporter::read_events(&RunDir::new(local).events());
    let view = shared::events::RunView::from_events(&events);
    view.status.is_some_and(|s| s != RunStatus::Running)
}

/// What the remote machine says about the run's process.
#[derive(Debug, PartialEq)]
enum RemoteProcess {
    /// Still running, with this command line.
    Alive(String),
    /// Gone (or the pid now belongs to another program).
    Gone,
    /// The folder records no process (older autobench, upstream tool).
    Unknown,
}

/// `user@host` of `user@host:path` (rsync's remote syntax).
fn remote_host(remote: &str) -> Option<&str> {
    remote.split_once(':').map(|(host, _)| host)
}

/// Asks the remote host, over ssh, whether the pid in the mirrored `run_meta.json` is an
/// autobench process.
fn probe_remote(args: &MirrorArgs) -> anyhow::Result<RemoteProcess> {
    let meta: Option<RunMeta> = std::fs::read_to_string(RunDir::new(&args.local).meta())
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    let (Some(owner), Some(host)) = (
        meta.as_ref().and_then(RunOwner::from_meta),
        remote_host(&args.remote),
    ) else {
        return Ok(RemoteProcess::Unknown);
    };
    let output = Command::new("ssh")
        .args(["-o", "BatchMode=yes"])
        .args(args.ssh.split_whitespace())
        .arg(host)
        .arg(owner.probe_command())
        .output()
        .context("cannot run ssh")?;
    if !output.status.success() {
        bail!(
            "ssh {host} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let command = String::from_utf8_lossy(&output.stdout).trim().to_string();
    Ok(if is_autobench_command(&command) {
        RemoteProcess::Alive(command)
    } else {
        RemoteProcess::Gone
    })
}

/// One sync: rsync into the staging folder, then publish. Answers whether anything changed.
fn sync(args: &MirrorArgs, staging: &Path) -> anyhow::Result<bool> {
    let changed = rsync(args, staging)?;
    publish(staging, &args.local)?;
    Ok(changed)
}

/// What the stale check decided.
enum Health {
    KeepGoing,
    /// The remote process is gone without a final log line: stop mirroring.
    RunDied,
}

#[expect(clippy::print_stderr, reason = "the mirror reports its health")]
fn stale_check(args: &MirrorArgs, quiet: Duration) -> Health {
    let quiet = quiet.as_secs_f64();
    match probe_remote(args) {
        Ok(RemoteProcess::Alive(command)) => eprintln!(
            "mirror: WARNING: nothing changed for {quiet:.0} s, but the remote process is alive ({command}); is a trial hanging?"
        ),
        Ok(RemoteProcess::Gone) => {
            eprintln!(
                "mirror: ERROR: the remote run's process is gone, but its events.jsonl has no final event (killed, or the machine restarted); resume it there and mirror again"
            );
            return Health::RunDied;
        }
        Ok(RemoteProcess::Unknown) => eprintln!(
            "mirror: WARNING: nothing changed for {quiet:.0} s but the remote run has not finished; is it stuck, or is the connection down?"
        ),
        Err(e) => eprintln!(
            "mirror: WARNING: nothing changed for {quiet:.0} s, and the remote machine cannot be asked about the run: {e:#}"
        ),
    }
    Health::KeepGoing
}

/// `autobench mirror`.
#[expect(
    clippy::print_stderr,
    reason = "the mirror reports its syncs and its health"
)]
pub(crate) async fn mirror(args: &MirrorArgs) -> anyhow::Result<std::process::ExitCode> {
    let staging = args.local.join(".mirror");
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let interval = Duration::from_secs_f64(args.interval.max(0.1));
    let stale_after = Duration::from_secs_f64(args.stale_after.max(0.1));
    // A wrong host or path shows at once; later failures are a connection going up and down.
    sync(args, &staging)?;
    if let Some(warning) = version_warning(&args.local) {
        eprintln!("mirror: WARNING: {warning}");
    }
    let mut last_change = Instant::now();
    let mut next_check = last_change + stale_after;
    loop {
        let finished = remote_finished(&args.local);
        if args.once || finished {
            if finished {
                // One more pass picks up files written after the final log line.
                sync(args, &staging)?;
                eprintln!(
                    "mirror: the remote run ended; {} is complete",
                    args.local.display()
                );
            }
            return Ok(std::process::ExitCode::SUCCESS);
        }
        if Instant::now() >= next_check {
            next_check = Instant::now() + stale_after;
            if let Health::RunDied = stale_check(args, last_change.elapsed()) {
                return Ok(std::process::ExitCode::FAILURE);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => return Ok(std::process::ExitCode::from(130)),
        }
        match sync(args, &staging) {
            Ok(true) => {
                last_change = Instant::now();
                next_check = last_change + stale_after;
            }
            Ok(false) => {}
            Err(e) => eprintln!("mirror: WARNING: this sync failed, retrying: {e:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_written_by_another_version_is_warned_about() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = |version: &str| {
            let path = RunDir::new(dir.path()).meta();
            let text = format!("{{\"schema_version\": 1, \"autobench_version\": \"{version}\"}}");
            std::fs::write(path, text).expect("write run_meta.json");
        };
        assert_eq!(version_warning(dir.path()), None, "no run_meta.json yet");
        meta(env!("CARGO_PKG_VERSION"));
        assert_eq!(version_warning(dir.path()), None);
        meta("0.0.1");
        let warning = version_warning(dir.path()).expect("a warning");
        assert!(
            warning.starts_with(
                "the remote run was written by autobench 0.0.1 and this is autobench "
            ),
            "{warning}"
        );
    }

    #[test]
    fn the_host_comes_from_rsync_remote_syntax() {
        assert_eq!(remote_host("me@gpu1:/runs/a"), Some("me@gpu1"));
        assert_eq!(remote_host("/local/only"), None);
    }

    #[test]
    fn logs_lose_escapes_and_carriage_returns() {
        let raw = "start\n\u{1b}[32m 10%|#   |\r\u{1b}[32m 50%|#####|\u{1b}[0m\r100%|done|\nend\n";
        assert_eq!(clean_log(raw), "start\n100%|done|\nend\n");
        assert_eq!(clean_log("a\r\n"), "a\n");
        assert_eq!(strip_ansi("\u{1b}]0;title\u{7}x"), "x");
    }
}
