//! GPU memory as `nvidia-smi` reports it, so a candidate starts on GPUs only once the one before
//! it has given their memory back (a server's CUDA context can outlive its process group by
//! seconds). And a fake `nvidia-smi` for tests without GPUs: the same binary run under the name
//! `nvidia-smi` answers the two queries from files the simulator writes
//! (`$AUTOBENCH_FAKE_GPU_DIR/<pid>.json`: the GPUs it holds, how many MiB, its name, and how long
//! the memory stays after the process is gone, `--sim-gpu-release-s`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// How long one `nvidia-smi` query may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(15);

/// Used memory per GPU index (MiB); `None` when `nvidia-smi` is missing or fails.
pub(crate) async fn memory_used() -> Option<BTreeMap<String, f64>> {
    let text = query(&[
        "--query-gpu=index,memory.used",
        "--format=csv,noheader,nounits",
    ])
    .await?;
    let mut used = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split(',').map(str::trim);
        let (Some(index), Some(mib)) = (parts.next(), parts.next()) else {
            continue;
        };
        used.insert(index.to_string(), mib.parse().ok()?);
    }
    Some(used)
}

/// The compute processes on `gpus`, for an error message: `pid 123 python3 (2048 MiB) on GPU 1`.
pub(crate) async fn processes_on(gpus: &[String]) -> Vec<String> {
    let Some(ids) = query(&["--query-gpu=index,uuid", "--format=csv,noheader"]).await else {
        return Vec::new();
    };
    let index_of: BTreeMap<String, String> = ids
        .lines()
        .filter_map(|l| {
            let (index, uuid) = l.split_once(',')?;
            Some((uuid.trim().to_string(), index.trim().to_string()))
        })
        .collect();
    let Some(apps) = query(&[
        "--query-compute-apps=gpu_uuid,pid,process_name,used_memory",
        "--format=csv,noheader,nounits",
    ])
    .await
    else {
        return Vec::new();
    };
    apps.lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split(',').map(str::trim).collect();
            let [uuid, pid, name, mib] = parts.as_slice() else {
                return None;
            };
            let index = index_of.get(*uuid)?;
            gpus.contains(index)
                .then(|| format!("pid {pid} {name} ({mib} MiB) on GPU {index}"))
        })
        .collect()
}

async fn query(args: &[&str]) -> Option<String> {
    let child = tokio::process::Command::new("nvidia-smi")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let output = tokio::time::timeout(QUERY_TIMEOUT, child.wait_with_output())
        .await
        .ok()?
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).to_string())
}

/// The GPUs of `set` whose use is more than `margin` MiB above `baseline`, with their use.
pub(crate) fn above_baseline(
    used: &BTreeMap<String, f64>,
    baseline: &BTreeMap<String, f64>,
    set: &[String],
    margin: f64,
) -> Vec<(String, f64)> {
    set.iter()
        .filter_map(|gpu| {
            let now = *used.get(gpu)?;
            let before = baseline.get(gpu).copied().unwrap_or(0.0);
            (now > before + margin).then(|| (gpu.clone(), now - before))
        })
        .collect()
}

/// What a simulated server holds, in its file under `$AUTOBENCH_FAKE_GPU_DIR`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FakeHolding {
    /// GPU indices (`CUDA_VISIBLE_DEVICES`).
    pub gpus: Vec<String>,
    /// MiB on each.
    pub mib: f64,
    /// Process name.
    pub name: String,
    /// Seconds the memory stays after the process is gone.
    pub release_s: f64,
    /// When the process was first seen gone (Unix seconds), written by the fake `nvidia-smi`.
    #[serde(default)]
    pub gone_at: Option<f64>,
}

/// The environment variable naming the fake GPUs' folder.
pub(crate) const FAKE_DIR_ENV: &str = "AUTOBENCH_FAKE_GPU_DIR";

/// Records that this process holds `mib` on each of `gpus` (the simulator, when the fake is on).
pub(crate) fn fake_hold(gpus: &str, mib: f64, release_s: f64) {
    let Some(dir) = std::env::var_os(FAKE_DIR_ENV).map(PathBuf::from) else {
        return;
    };
    let holding = FakeHolding {
        gpus: gpus
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect(),
        mib,
        name: "autobench-sim".into(),
        release_s,
        gone_at: None,
    };
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(text) = serde_json::to_string(&holding) {
        let _ = std::fs::write(dir.join(format!("{}.json", std::process::id())), text);
    }
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The fake `nvidia-smi`: `$AUTOBENCH_FAKE_GPUS` GPUs (default 8), each using what the live (or
/// recently gone) simulated servers hold on it. Returns the exit status.
#[expect(clippy::print_stdout, reason = "nvidia-smi's answer is its output")]
pub(crate) fn fake_nvidia_smi(args: &[String]) -> u8 {
    let count: usize = std::env::var("AUTOBENCH_FAKE_GPUS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let holdings = std::env::var_os(FAKE_DIR_ENV)
        .map(|d| current_holdings(Path::new(&d)))
        .unwrap_or_default();
    let query = |name: &str| args.iter().any(|a| a.starts_with(name));
    if query("--query-gpu=index,memory.used") {
        for gpu in 0..count {
            let used: f64 = holdings
                .iter()
                .filter(|(_, h)| h.gpus.contains(&gpu.to_string()))
                .map(|(_, h)| h.mib)
                .sum();
            println!("{gpu}, {used:.0}");
        }
    } else if query("--query-gpu=index,uuid") {
        for gpu in 0..count {
            println!("{gpu}, GPU-fake-{gpu}");
        }
    } else if query("--query-compute-apps") {
        for (pid, holding) in &holdings {
            for gpu in &holding.gpus {
                println!(
                    "GPU-fake-{gpu}, {pid}, {}, {:.0}",
                    holding.name, holding.mib
                );
            }
        }
    } else {
        println!("NVIDIA-SMI (autobench's fake for tests): {count} GPUs");
    }
    0
}

/// The holdings still in effect: live processes, and gone ones within their release time.
fn current_holdings(dir: &Path) -> Vec<(u32, FakeHolding)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(pid) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Some(mut holding) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<FakeHolding>(&t).ok())
        else {
            continue;
        };
        let alive = i32::try_from(pid)
            .ok()
            .is_some_and(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok());
        if !alive {
            let gone = *holding.gone_at.get_or_insert_with(now_s);
            if now_s() >= gone + holding.release_s {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if let Ok(text) = serde_json::to_string(&holding) {
                let _ = std::fs::write(&path, text);
            }
        }
        out.push((pid, holding));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gpus_of_the_set_above_their_margin_count() {
        let used: BTreeMap<String, f64> = [
            ("0".into(), 900.0),
            ("1".into(), 5000.0),
            ("2".into(), 9000.0),
        ]
        .into();
        let baseline: BTreeMap<String, f64> = [("0".into(), 500.0), ("1".into(), 500.0)].into();
        let set = ["0".to_string(), "1".to_string()];
        assert_eq!(
            above_baseline(&used, &baseline, &set, 1024.0),
            [("1".to_string(), 4500.0)]
        );
    }
}
