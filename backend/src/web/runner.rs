//! Runs started from the dashboard: `autobench run` child processes, one per run folder. A child
//! gets SIGTERM if the dashboard dies (parent-death signal), which it treats like Ctrl-C: partial
//! results are written and its servers are stopped. Stop sends SIGINT, with the same effect. The
//! child knows the dashboard's pid, so however many of these signals arrive, they count once
//! ([`crate::stop_signals`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// Why a run could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub(super) enum RunnerError {
    /// The run name is not a plain folder name (the message says why).
    #[error("{0}")]
    BadName(String),
    /// That folder already has a run going from this dashboard.
    #[error("run `{0}` is already running")]
    Busy(String),
    /// Nothing to stop.
    #[error("no run `{0}` started from this dashboard is running")]
    NotRunning(String),
    /// The process could not be started.
    #[error("cannot start autobench run: {0}")]
    Spawn(std::io::Error),
}

/// The children.
#[derive(Debug, Default)]
pub(super) struct Runner {
    children: Mutex<HashMap<String, Child>>,
}

/// The longest run name: a folder name well below the file system's 255-byte limit, with room
/// for the `.yaml` and `.console.log` files named after it.
pub(super) const MAX_NAME_LEN: usize = 100;

/// Checks that `name` can be a run folder: 1 to [`MAX_NAME_LEN`] letters, digits, '.', '_' or
/// '-', not starting with '.'.
pub(super) fn check_name(name: &str) -> Result<(), RunnerError> {
    let rule = format!(
        "a run name is 1 to {MAX_NAME_LEN} characters: letters, digits, '.', '_' or '-', not starting with '.'"
    );
    let problem = if name.is_empty() {
        "it is empty".to_string()
    } else if name.chars().count() > MAX_NAME_LEN {
        format!("this one has {} characters", name.chars().count())
    } else if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        format!("`{name}` contains {bad:?}")
    } else if name.starts_with('.') {
        format!("`{name}` starts with '.'")
    } else {
        return Ok(());
    };
    Err(RunnerError::BadName(format!("{rule}; {problem}")))
}

impl Runner {
    /// Starts `autobench run` on `yaml` into `root/name`; the config is kept in
    /// `root/.dashboard/name.yaml`, and its relative paths are taken from `paths_from` (where
    /// `/api/validate` takes them from), not from that copy's folder.
    #[expect(
        unsafe_code,
        reason = "pre_exec is unsafe; the closure only calls the async-signal-safe prctl"
    )]
    pub(super) fn start(
        &self,
        root: &Path,
        name: &str,
        yaml: &str,
        paths_from: &Path,
    ) -> Result<PathBuf, RunnerError> {
        check_name(name)?;
        let mut children = self
            .children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        children.retain(|_, child| matches!(child.try_wait(), Ok(None)));
        if children.contains_key(name) {
            return Err(RunnerError::Busy(name.to_string()));
        }
        let configs = root.join(".dashboard");
        std::fs::create_dir_all(&configs).map_err(RunnerError::Spawn)?;
        let config = configs.join(format!("{name}.yaml"));
        // Secrets reach the run through its environment, never through the file.
        std::fs::write(&config, super::secrets::redact_yaml(yaml)).map_err(RunnerError::Spawn)?;
        let output = root.join(name);
        let console = std::fs::File::create(configs.join(format!("{name}.console.log")))
            .map_err(RunnerError::Spawn)?;
        let mut command = Command::new(crate::config::current_exe());
        command
            .args(["run", "--quiet", "--config"])
            .arg(&config)
            .arg("--output-dir")
            .arg(&output)
            .arg("--paths-from")
            .arg(paths_from)
            .envs(super::secrets::secret_env_values(yaml))
            // Its signals count once in the run (see crate::stop_signals), parent death included.
            .env(
                crate::stop_signals::DASHBOARD_PID,
                std::process::id().to_string(),
            )
            .stdin(Stdio::null())
            .stdout(console.try_clone().map_err(RunnerError::Spawn)?)
            .stderr(console)
            .kill_on_drop(false);
        // SAFETY: runs in the forked child before exec; prctl is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
            });
        }
        let child = command.spawn().map_err(RunnerError::Spawn)?;
        children.insert(name.to_string(), child);
        Ok(output)
    }

    /// Whether this dashboard started the run `name` and it is still running.
    pub(super) fn owns(&self, name: &str) -> bool {
        let mut children = self
            .children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        children
            .get_mut(name)
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Interrupts the run `name` (SIGINT: partial results are kept).
    pub(super) fn stop(&self, name: &str) -> Result<(), RunnerError> {
        let children = self
            .children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pid = children
            .get(name)
            .and_then(Child::id)
            .and_then(|id| i32::try_from(id).ok())
            .ok_or_else(|| RunnerError::NotRunning(name.to_string()))?;
        kill(Pid::from_raw(pid), Signal::SIGINT)
            .map_err(|e| RunnerError::Spawn(std::io::Error::from(e)))
    }

    /// Interrupts every run (dashboard shutdown).
    pub(super) fn stop_all(&self) {
        let children = self
            .children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for child in children.values() {
            if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_are_plain_folder_names() {
        let longest = "x".repeat(MAX_NAME_LEN);
        for good in ["quick", "h200-run_2.1", longest.as_str()] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "..", ".hidden", "a/b", "a b", "../x", "a\nb"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        let long = check_name(&"x".repeat(5000)).expect_err("too long");
        assert!(
            long.to_string().contains("this one has 5000 characters")
                && long.to_string().len() < 200,
            "{long}"
        );
    }
}
