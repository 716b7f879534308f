//! What the target GPU can run, probed without creating a CUDA context: `nvidia-smi` reports the
//! compute capability of the first GPU the *server* will see (its `CUDA_VISIBLE_DEVICES`, not
//! autobench's own device 0). No `nvidia-smi`, no answer: nothing is filtered.

use std::process::Command;

/// Whether FlashAttention 3 kernels can run: compute capability 8.x or 9.x. `None` when unknown.
pub(crate) fn fa3_supported(server_env: &[(String, String)]) -> Option<bool> {
    let visible = server_env
        .iter()
        .find(|(k, _)| k == "CUDA_VISIBLE_DEVICES")
        .map(|(_, v)| v.split(',').next().unwrap_or_default().trim().to_string())
        .filter(|d| !d.is_empty());
    let mut command = Command::new("nvidia-smi");
    command.args(["--query-gpu=compute_cap", "--format=csv,noheader"]);
    if let Some(device) = &visible {
        command.args(["-i", device]);
    }
    let output = command.output().ok().filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&output.stdout);
    let major: u32 = text
        .lines()
        .next()?
        .trim()
        .split('.')
        .next()?
        .parse()
        .ok()?;
    Some(matches!(major, 8 | 9))
}
