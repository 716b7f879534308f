//! Append-only JSONL files (`live_results.jsonl`, `events.jsonl`): each line is written whole in
//! one write and synced, and a torn last line (a crash or a full disk between writes) is moved
//! aside before the next append, so a new line never lands on a fragment.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Opens `path` for appending, creating it.
pub(crate) fn open_append(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Writes `line` plus a newline in one write, then syncs the data.
pub(crate) fn write_line(file: &mut std::fs::File, mut line: Vec<u8>) -> std::io::Result<()> {
    line.push(b'\n');
    file.write_all(&line)?;
    file.sync_data()
}

/// When `path` ends without a newline, cuts the fragment after the last newline, keeps it in
/// `<path>.torn-<unix seconds>` beside the file, and returns that path.
pub(crate) fn repair_torn_tail(path: &Path) -> anyhow::Result<Option<PathBuf>> {
    let Ok(mut file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    else {
        return Ok(None);
    };
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let keep = complete_prefix_len(&mut file, len)?;
    if keep == len {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(keep))?;
    let mut fragment = Vec::new();
    file.read_to_end(&mut fragment)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".torn-{stamp}"));
    let aside = PathBuf::from(aside);
    std::fs::write(&aside, &fragment)
        .with_context(|| format!("cannot keep the torn line of {}", path.display()))?;
    file.set_len(keep)?;
    file.sync_data()?;
    Ok(Some(aside))
}

/// Length of the file up to and including its last newline (reads backwards in blocks).
fn complete_prefix_len(file: &mut std::fs::File, len: u64) -> std::io::Result<u64> {
    let mut end = len;
    let mut block = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let size = usize::try_from(end - start).unwrap_or(block.len());
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block[..size])?;
        if let Some(pos) = block[..size].iter().rposition(|b| *b == b'\n') {
            return Ok(start + pos as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_tail_is_set_aside_and_the_next_line_starts_clean() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("live.jsonl");
        std::fs::write(&path, "{\"a\":1}\n{\"b\":").expect("write");
        let aside = repair_torn_tail(&path).expect("repair").expect("torn");
        assert_eq!(std::fs::read_to_string(&aside).expect("aside"), "{\"b\":");
        let mut file = open_append(&path).expect("open");
        write_line(&mut file, b"{\"c\":3}".to_vec()).expect("write");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"a\":1}\n{\"c\":3}\n"
        );
        assert_eq!(repair_torn_tail(&path).expect("repair"), None);
    }

    #[test]
    fn a_file_that_is_only_a_fragment_becomes_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("live.jsonl");
        std::fs::write(&path, "{\"torn").expect("write");
        assert!(repair_torn_tail(&path).expect("repair").is_some());
        assert_eq!(std::fs::read(&path).expect("read").len(), 0);
    }
}
