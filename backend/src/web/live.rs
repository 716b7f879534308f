//! Live updates: a filesystem watcher on the results root (notify) turns every change into the id
//! of the run it belongs to, broadcast to the browsers' server-sent event streams. A trial line
//! appended by a CLI run, a dashboard run or a sync from another machine reaches the page within
//! about a second (changes are coalesced for 200 ms).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::broadcast;

/// Starts watching `root`; the returned watcher must be kept alive.
pub(super) fn watch(
    root: &Path,
    changes: broadcast::Sender<String>,
) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Only writes count: the dashboard's own reads of run files (access events) must not
        // announce a change, or every fetch would trigger the next one.
        if let Ok(event) = event
            && is_write(&event.kind)
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })?;
    watcher.watch(root, RecursiveMode::Recursive)?;
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = BTreeSet::new();
            batch.insert(run_of(&root, &first));
            tokio::time::sleep(Duration::from_millis(200)).await;
            while let Ok(path) = rx.try_recv() {
                batch.insert(run_of(&root, &path));
            }
            for id in batch {
                let _ = changes.send(id);
            }
        }
    });
    Ok(watcher)
}

/// Whether an event changed something (created, wrote, renamed or removed), as opposed to a
/// read (open, close without writing, access).
fn is_write(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::ModifyKind;
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(notify::event::AccessKind::Close(notify::event::AccessMode::Write)) => {
            true
        }
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

/// The id of the run folder holding `path` (the nearest ancestor with run files), or `""` when
/// none (a new folder: the runs list should refresh).
fn run_of(root: &Path, path: &Path) -> String {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let relative = canonical.strip_prefix(root).unwrap_or(&canonical);
    let mut dir = root.join(relative);
    loop {
        if super::runs::is_run(&dir) {
            let id = dir
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            return if id.is_empty() { ".".into() } else { id };
        }
        if dir == root || !dir.pop() {
            return String::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, ModifyKind};

    #[test]
    fn reads_are_not_changes() {
        assert!(!is_write(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!is_write(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(is_write(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(is_write(&EventKind::Modify(ModifyKind::Data(
            DataChange::Any
        ))));
        assert!(is_write(&EventKind::Create(CreateKind::File)));
    }
}
