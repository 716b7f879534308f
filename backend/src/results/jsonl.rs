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

/// Writes `line` plus a newline in one write, then syncs the data. A write that fails part-way
/// (a full disk) is cut off again, so the next line does not land on its fragment.
pub(crate) fn write_line(file: &mut std::fs::File, mut line: Vec<u8>) -> std::io::Result<()> {
    line.push(b'\n');
    let before = file.metadata()?.len();
    let written = file.write_all(&line).and_then(|()| file.sync_data());
    if written.is_err() {
        let _ = file.set_len(before);
    }
    written
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
    let aside = keep_aside(path, stamp, &fragment)
        .with_context(|| format!("cannot keep the torn line of {}", path.display()))?;
    file.set_len(keep)?;
    file.sync_data()?;
    Ok(Some(aside))
}

/// Writes `fragment` to `<path>.torn-<stamp>`, or `<path>.torn-<stamp>-<n>` when an earlier
/// fragment of the same second is there, never over another fragment.
fn keep_aside(path: &Path, stamp: u64, fragment: &[u8]) -> std::io::Result<PathBuf> {
    for n in 0_u32.. {
        let mut aside = path.as_os_str().to_owned();
        aside.push(format!(".torn-{stamp}"));
        if n > 0 {
            aside.push(format!("-{n}"));
        }
        let aside = PathBuf::from(aside);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&aside)
        {
            Ok(mut file) => {
                file.write_all(fragment)?;
                file.sync_data()?;
                return Ok(aside);
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
    }
    Err(std::io::Error::other("no free name for the torn line"))
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
    fn fragments_of_the_same_second_are_all_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("live.jsonl");
        let first = keep_aside(&path, 7, b"{\"a").expect("first");
        let second = keep_aside(&path, 7, b"{\"b").expect("second");
        assert_ne!(first, second);
        assert_eq!(std::fs::read(&first).expect("first"), b"{\"a");
        assert_eq!(std::fs::read(&second).expect("second"), b"{\"b");
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
