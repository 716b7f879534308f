//! Every process group autobench started and has not yet stopped, so that every exit path (normal,
//! error, signal, panic) can kill them; plus the on-disk record that lets a later run reap
//! survivors of a `kill -9`.
//!
//! Ownership is proven, never guessed: each server gets a unique `AUTOBENCH_SERVER_MARKER`
//! environment value, inherited by all its children; the reaper kills only processes whose
//! environment carries a marker this output directory recorded. Nothing is ever killed by name or
//! by port.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Environment variable carrying a server's ownership marker.
pub const MARKER_ENV: &str = "AUTOBENCH_SERVER_MARKER";

static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Remembers a live process group.
pub fn register(pgid: i32) {
    if let Ok(mut groups) = LIVE_GROUPS.lock() {
        groups.push(pgid);
    }
}

/// Forgets a process group that has been stopped.
pub fn unregister(pgid: i32) {
    if let Ok(mut groups) = LIVE_GROUPS.lock() {
        groups.retain(|g| *g != pgid);
    }
}

/// SIGKILLs every live group (panic hook and last-resort paths).
pub fn kill_all() {
    let groups = match LIVE_GROUPS.lock() {
        Ok(groups) => groups.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    for pgid in groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

/// Installs a panic hook that kills every live server group before the default hook runs.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        kill_all();
        previous(info);
    }));
}

/// Appends a started server's marker to `<dir>/servers.jsonl`.
pub fn record_marker(dir: &Path, marker: &str, pgid: i32) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("servers.jsonl"))?;
    let line = serde_json::json!({"marker": marker, "pgid": pgid, "started_at": chrono::Utc::now().to_rfc3339()});
    writeln!(file, "{line}")?;
    file.sync_data()
}

/// Processes alive now that carry a marker recorded in `<dir>/servers.jsonl`.
pub fn surviving_processes(dir: &Path) -> Vec<i32> {
    let Ok(text) = std::fs::read_to_string(dir.join("servers.jsonl")) else {
        return Vec::new();
    };
    let markers: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            v.get("marker")
                .and_then(|m| m.as_str())
                .map(|m| format!("{MARKER_ENV}={m}"))
        })
        .collect();
    if markers.is_empty() {
        return Vec::new();
    }
    let own = std::process::id().cast_signed();
    processes_with_any_marker(&markers)
        .into_iter()
        .filter(|pid| *pid != own && !is_zombie(*pid))
        .collect()
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Kills processes still carrying a marker recorded in `<dir>/servers.jsonl` (survivors of a
/// previous run that was killed with SIGKILL). Returns the pids killed.
pub fn reap_survivors(dir: &Path) -> Vec<i32> {
    let mut killed = Vec::new();
    for pid in surviving_processes(dir) {
        if nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
            killed.push(pid);
        }
    }
    killed
}

fn processes_with_any_marker(markers: &[String]) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                environ
                    .split(|b| *b == 0)
                    .any(|entry| markers.iter().any(|m| entry == m.as_bytes()))
            })
        })
        .collect()
}
