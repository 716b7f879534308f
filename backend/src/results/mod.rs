//! Result files. `live_results.jsonl` is appended and fsynced as each trial ends (so a crash loses
//! at most the trial in flight); `results.jsonl`, `results.csv` and `summary.md` are rewritten
//! whole after every trial and at the end, atomically (temp file + rename); `SUMMARY.md` and
//! `scenario_summary.{jsonl,csv}` cover several scenarios.

pub(crate) mod command;
pub(crate) mod csv_export;
pub(crate) mod jsonl;
pub(crate) mod markdown;

use std::io::Write as _;
use std::path::Path;

use anyhow::Context;

use shared::record::TrialRecord;

/// Writes `bytes` to `path` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_data())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let file = file
        .persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // Temp files are created private; result files are ordinary documents.
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    Ok(())
}

/// Appends one record to a JSONL file (one write of the whole line) and syncs it to disk. A torn
/// last line left by a crash or a full disk is set aside first, so the record never lands on
/// a fragment.
pub(crate) fn append_jsonl(path: &Path, record: &TrialRecord) -> anyhow::Result<()> {
    jsonl::repair_torn_tail(path)?;
    let mut file = jsonl::open_append(path)?;
    let line = serde_json::to_vec(record)?;
    jsonl::write_line(&mut file, line)
        .with_context(|| format!("cannot append to {}", path.display()))
}

/// Reads records from a JSONL file; a torn last line (from a crash mid-write) is skipped.
pub(crate) fn read_jsonl(path: &Path) -> anyhow::Result<Vec<TrialRecord>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut records = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(record) => records.push(record),
            Err(_) if index + 1 == lines.len() => {}
            Err(e) => anyhow::bail!("{}:{}: not a trial record: {e}", path.display(), index + 1),
        }
    }
    Ok(records)
}

/// Serialises records as JSONL text.
pub(crate) fn jsonl_bytes<T: serde::Serialize>(records: &[T]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for record in records {
        serde_json::to_writer(&mut out, record)?;
        out.push(b'\n');
    }
    Ok(out)
}
