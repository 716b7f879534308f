//! Server processes: launch in a new process group with a parent-death signal, log to a file,
//! wait for readiness while watching the process (a server that exits during start-up fails at
//! once with its classified log tail), and stop with SIGTERM to the group, a grace period, then
//! SIGKILL. See [`registry`] for the exit-path and `kill -9` guarantees.

pub mod group;
pub mod registry;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use shared::record::Diagnosis;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// Everything needed to start one server.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Log file for stdout and stderr.
    pub log_path: PathBuf,
    /// URL the server will answer on.
    pub base_url: String,
    /// Readiness path.
    pub health_path: String,
    /// Start-up timeout.
    pub ready_timeout: Duration,
    /// Grace between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Where the ownership marker is recorded.
    pub state_dir: PathBuf,
}

/// Why a server did not come up.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The program could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The server exited before it became ready.
    #[error("server exited during start-up ({status}); log tail:\n{log_tail}")]
    ExitedEarly {
        /// Exit status text.
        status: String,
        /// Last lines of its log.
        log_tail: String,
    },
    /// The server did not become ready in time.
    #[error("server was not ready after {seconds:.0} s; log tail:\n{log_tail}")]
    Timeout {
        /// Seconds waited.
        seconds: f64,
        /// Last lines of its log.
        log_tail: String,
    },
    /// The run was cancelled while waiting.
    #[error("cancelled while the server was starting")]
    Cancelled,
}

/// A failure's class, its one-line cause and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// Class.
    pub diagnosis: Diagnosis,
    /// The one line that explains it (a log line, or the launcher's own reason).
    pub cause: Option<String>,
    /// What the user can do.
    pub hint: String,
}

impl LaunchError {
    /// Failure class, cause and hint, for records and summaries; `None` when cancelled.
    pub fn classify(&self) -> Option<Classified> {
        Some(match self {
            LaunchError::Spawn { program, source } => {
                let not_found = source.kind() == std::io::ErrorKind::NotFound
                    || source.kind() == std::io::ErrorKind::PermissionDenied;
                Classified {
                    diagnosis: Diagnosis::SpawnFailed,
                    cause: Some(if not_found {
                        format!("cannot start `{program}`: {source}")
                    } else {
                        source.to_string()
                    }),
                    hint: if not_found {
                        "Check server.command_prefix: the program was not found or is not executable.".into()
                    } else {
                        "The server could not be started; see the cause.".into()
                    },
                }
            }
            LaunchError::ExitedEarly { log_tail, .. } => classify(log_tail),
            LaunchError::Timeout { seconds, log_tail } => Classified {
                diagnosis: Diagnosis::StartupTimeout,
                cause: cause_line(log_tail)
                    .or_else(|| Some(format!("no answer to the health check after {seconds:.0} s"))),
                hint: "The server did not answer its health check in time; raise benchmark.ready_check_timeout_sec or check the server log.".into(),
            },
            LaunchError::Cancelled => return None,
        })
    }
}

const OOM_PATTERNS: [&str; 8] = [
    "out of memory",
    "cuda out of memory",
    "hip out of memory",
    "cudnn_status_alloc_failed",
    "std::bad_alloc",
    "memoryerror",
    "memory allocation",
    "no available memory",
];

/// Upstream's OOM hint, extended with the flags that usually fix it.
pub const OOM_HINT: &str = "Candidate likely OOMed. Increase GPU count or use GPUs with larger memory \
    (or lower mem_fraction_static, chunked_prefill_size or cuda_graph_max_bs).";

const BAD_FLAG_PATTERNS: [&str; 5] = [
    "unrecognized arguments",
    "invalid choice",
    "error: argument",
    "no such option",
    "unexpected argument",
];

/// Words that mark the line explaining a crash (a Python exception, a fatal error).
const CAUSE_MARKERS: [&str; 7] = [
    "error",
    "exception",
    "fatal",
    "killed",
    "abort",
    "panicked",
    "fault",
];

/// Classifies a failure from its log text: `oom`, `bad_flag` or `crashed`, with the line that
/// shows it and a hint.
pub fn classify(log_tail: &str) -> Classified {
    let line_with = |patterns: &[&str]| {
        log_tail
            .lines()
            .rev()
            .find(|l| {
                let lower = l.to_ascii_lowercase();
                patterns.iter().any(|p| lower.contains(p))
            })
            .map(|l| short(l.trim()))
    };
    if let Some(line) = line_with(&OOM_PATTERNS) {
        return Classified {
            diagnosis: Diagnosis::Oom,
            cause: Some(line),
            hint: OOM_HINT.into(),
        };
    }
    if let Some(line) = line_with(&BAD_FLAG_PATTERNS) {
        return Classified {
            diagnosis: Diagnosis::BadFlag,
            cause: Some(line),
            hint: "The server rejected a flag or value: check it against the server's --help."
                .into(),
        };
    }
    Classified {
        diagnosis: Diagnosis::Crashed,
        cause: cause_line(log_tail),
        hint: "The server exited; see its log for the cause.".into(),
    }
}

/// The last log line that reads like the cause of a failure (`ModuleNotFoundError: ...`).
fn cause_line(log_tail: &str) -> Option<String> {
    log_tail
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| {
            let lower = l.to_ascii_lowercase();
            !l.is_empty() && CAUSE_MARKERS.iter().any(|m| lower.contains(m))
        })
        .map(short)
}

/// At most 300 characters of a line.
fn short(line: &str) -> String {
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// Last `max_bytes` of a log file (whole lines).
pub fn log_tail(path: &Path, max_bytes: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(max_bytes);
    let tail = String::from_utf8_lossy(&text[start..]).to_string();
    match (start > 0, tail.find('\n')) {
        (true, Some(i)) => tail[i + 1..].to_string(),
        _ => tail,
    }
}

/// What a log gained after byte `from`, at most its last `max_bytes`.
pub fn log_since(path: &Path, from: u64, max_bytes: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let from = usize::try_from(from).unwrap_or(usize::MAX).min(text.len());
    let start = from.max(text.len().saturating_sub(max_bytes));
    String::from_utf8_lossy(&text[start..]).to_string()
}

/// A started server. Dropping it kills its process group (belt and braces; call
/// [`RunningServer::shutdown`] for a graceful stop).
#[derive(Debug)]
pub struct RunningServer {
    child: Child,
    pgid: i32,
    /// URL it answers on.
    pub base_url: String,
    /// Its log file.
    pub log_path: PathBuf,
    grace: Duration,
    stopped: bool,
}

impl RunningServer {
    /// The server's process id (it leads its process group).
    pub fn pid(&self) -> i32 {
        self.pgid
    }
}

/// Spawns the server and waits until it is ready.
pub async fn launch(
    spec: &LaunchSpec,
    cancel: &mut crate::cancel::CancelReceiver,
) -> Result<RunningServer, LaunchError> {
    let mut server = spawn(spec)?;
    match wait_ready(&mut server, &mut [], spec, cancel).await {
        Ok(()) => Ok(server),
        Err(error) => {
            server.shutdown().await;
            Err(error)
        }
    }
}

#[expect(
    unsafe_code,
    reason = "pre_exec is unsafe; the closure only calls async-signal-safe prctl/getppid"
)]
pub(crate) fn spawn(spec: &LaunchSpec) -> Result<RunningServer, LaunchError> {
    let program = spec.argv.first().cloned().unwrap_or_default();
    let spawn_error = |source| LaunchError::Spawn {
        program: program.clone(),
        source,
    };
    if let Some(dir) = spec.log_path.parent() {
        std::fs::create_dir_all(dir).map_err(spawn_error)?;
    }
    let log = std::fs::File::create(&spec.log_path).map_err(spawn_error)?;
    let log_err = log.try_clone().map_err(spawn_error)?;
    let marker = format!("{}-{}", std::process::id(), uuid_like());
    let parent = std::process::id();
    let mut command = Command::new(&program);
    command
        .args(&spec.argv[1..])
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env(registry::MARKER_ENV, &marker)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .kill_on_drop(false);
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe
    // system calls (prctl, getppid, kill on itself).
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            if nix::unistd::getppid().as_raw().cast_unsigned() != parent {
                return Err(std::io::Error::other(
                    "parent exited before the server started",
                ));
            }
            Ok(())
        });
    }
    let child = command.spawn().map_err(spawn_error)?;
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .unwrap_or(0);
    registry::register(pgid);
    let _ = registry::record_marker(&spec.state_dir, &marker, pgid);
    Ok(RunningServer {
        child,
        pgid,
        base_url: spec.base_url.clone(),
        log_path: spec.log_path.clone(),
        grace: spec.grace,
        stopped: false,
    })
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}")
}

/// Waits until `server` answers its health check; fails at once when it or one of `followers`
/// (the other nodes of a multi-node server) exits.
pub(crate) async fn wait_ready(
    server: &mut RunningServer,
    followers: &mut [RunningServer],
    spec: &LaunchSpec,
    cancel: &mut crate::cancel::CancelReceiver,
) -> Result<(), LaunchError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    let url = format!("{}{}", spec.base_url, spec.health_path);
    let deadline = Instant::now() + spec.ready_timeout;
    loop {
        if let Some(status) = server.exit_status() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Err(LaunchError::ExitedEarly {
                status,
                log_tail: log_tail(&spec.log_path, 4000),
            });
        }
        if let Some((rank, follower)) = followers.iter_mut().enumerate().find_map(|(i, f)| {
            f.exit_status()
                .map(|status| (i + 1, (status, f.log_path.clone())))
        }) {
            let (status, log) = follower;
            return Err(LaunchError::ExitedEarly {
                status: format!("node rank {rank} exited: {status}"),
                log_tail: log_tail(&log, 4000),
            });
        }
        if client
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(LaunchError::Timeout {
                seconds: spec.ready_timeout.as_secs_f64(),
                log_tail: log_tail(&spec.log_path, 4000),
            });
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = crate::cancel::cancelled(cancel) => return Err(LaunchError::Cancelled),
        }
    }
}

impl RunningServer {
    /// The exit status text if the process has exited.
    pub fn exit_status(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    /// Whether the process has exited, waiting up to `wait` for it to do so.
    pub async fn exited_within(&mut self, wait: Duration) -> bool {
        matches!(
            tokio::time::timeout(wait, self.child.wait()).await,
            Ok(Ok(_))
        ) || self.exit_status().is_some()
    }

    /// The process group id.
    pub fn pgid(&self) -> i32 {
        self.pgid
    }

    /// SIGTERM to the group, wait up to the grace period for the whole group to go, then SIGKILL.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        if self.stopped || self.pgid <= 0 {
            return;
        }
        let group = Pid::from_raw(self.pgid);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + self.grace;
        loop {
            let _ = self.child.try_wait();
            let group_gone = killpg(group, None).is_err();
            if group_gone || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        registry::unregister(self.pgid);
        self.stopped = true;
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if !self.stopped && self.pgid > 0 {
            let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
            registry::unregister(self.pgid);
        }
    }
}

/// Checks that `host:port` is free; never touches whoever holds it.
pub fn port_is_free(host: &str, port: u16) -> bool {
    std::net::TcpListener::bind((host, port)).is_ok()
}

/// A free port on `host`, chosen by the OS.
pub fn free_port(host: &str) -> Option<u16> {
    std::net::TcpListener::bind((host, 0))
        .ok()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_failures() {
        assert_eq!(
            classify("RuntimeError: CUDA out of memory. Tried").diagnosis,
            Diagnosis::Oom
        );
        let bad = classify("INFO start\nlaunch_server.py: error: unrecognized arguments: --foo\n");
        assert_eq!(bad.diagnosis, Diagnosis::BadFlag);
        assert_eq!(
            bad.cause.as_deref(),
            Some("launch_server.py: error: unrecognized arguments: --foo")
        );
        let missing = classify(
            "Traceback (most recent call last):\n  File \"x\", line 1\nModuleNotFoundError: No module named 'sglang'\n",
        );
        assert_eq!(missing.diagnosis, Diagnosis::Crashed);
        assert_eq!(
            missing.cause.as_deref(),
            Some("ModuleNotFoundError: No module named 'sglang'")
        );
        assert_eq!(classify("Segmentation fault").diagnosis, Diagnosis::Crashed);
        assert!(
            classify("CUDA out of memory")
                .hint
                .contains("Increase GPU count")
        );
    }
}
