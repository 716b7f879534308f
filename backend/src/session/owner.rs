//! Which process writes a run folder: `run_meta.json` records its pid and host, so the dashboard
//! can tell a run whose process died (`kill -9`, a reboot) from one that is still going, and
//! `mirror` can ask the remote machine the same question over ssh.

use shared::run_meta::RunMeta;

/// The process that owns a run folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunOwner {
    /// Its process id.
    pub pid: u32,
    /// The host it runs on.
    pub host: String,
}

/// This machine's host name (empty when it cannot be read).
pub(crate) fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl RunOwner {
    /// This process.
    pub(crate) fn current() -> RunOwner {
        RunOwner {
            pid: std::process::id(),
            host: hostname(),
        }
    }

    /// Reads the `process` entry of `run_meta.json` (absent in older or upstream folders).
    pub(crate) fn from_meta(meta: &RunMeta) -> Option<RunOwner> {
        let process = meta.process.as_ref()?;
        Some(RunOwner {
            pid: process.pid,
            host: process.host.clone(),
        })
    }

    /// Whether the owner runs on this machine.
    pub(crate) fn is_local(&self) -> bool {
        !self.host.is_empty() && self.host == hostname()
    }

    /// Whether the pid is alive here and is an autobench process (a recycled pid is not).
    pub(crate) fn alive_locally(&self) -> bool {
        std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .is_ok_and(|cmdline| is_autobench_command(&String::from_utf8_lossy(&cmdline)))
    }

    /// A shell command for the owner's host that prints the process's command line, or nothing
    /// when it is gone.
    pub(crate) fn probe_command(&self) -> String {
        format!("ps -o args= -p {} || true", self.pid)
    }
}

/// Whether a process command line (from `ps` or `/proc`) is autobench's.
pub(crate) fn is_autobench_command(command: &str) -> bool {
    command.contains("autobench")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_round_trips_through_run_meta() {
        let owner = RunOwner::current();
        let meta: RunMeta = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "process": { "pid": owner.pid, "host": owner.host }
        }))
        .expect("meta");
        assert_eq!(RunOwner::from_meta(&meta), Some(owner.clone()));
        assert!(owner.is_local());
        let without: RunMeta =
            serde_json::from_value(serde_json::json!({ "schema_version": 1 })).expect("meta");
        assert_eq!(RunOwner::from_meta(&without), None);
    }

    #[test]
    fn a_dead_or_foreign_pid_is_not_alive() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let foreign = RunOwner {
            pid: child.id(),
            host: hostname(),
        };
        assert!(!foreign.alive_locally(), "a live pid that is not autobench");
        let _ = child.kill();
        let _ = child.wait();
        assert!(!foreign.alive_locally(), "a dead pid");
    }
}
