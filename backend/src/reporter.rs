//! Where a run's events go. The session reports every [`RunEvent`] once to a [`Reporter`]; the
//! event log ([`EventLog`], `events.jsonl`) keeps them for every other reader, and the console and
//! `progress.log` ([`crate::progress::Progress`]) render them as human lines.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use shared::events::{EventLine, RunEvent, parse_lines};

use crate::results::jsonl;

/// Receives a run's events.
pub(crate) trait Reporter: Send + Sync {
    /// Takes one event.
    fn report(&self, event: &RunEvent);
}

/// Sends each event to several reporters, in order.
pub(crate) struct Fanout(pub Vec<Box<dyn Reporter>>);

impl Reporter for Fanout {
    fn report(&self, event: &RunEvent) {
        for reporter in &self.0 {
            reporter.report(event);
        }
    }
}

/// `events.jsonl`: each event appended as one line in one write and synced to disk, like trial
/// records. Sequence numbers continue across resumes.
pub(crate) struct EventLog {
    path: PathBuf,
    state: Mutex<LogState>,
}

struct LogState {
    file: Option<std::fs::File>,
    next_seq: u64,
    warned: bool,
}

impl EventLog {
    /// Opens (or creates) the log; a torn last line from a crash is set aside first.
    pub(crate) fn open(path: &Path) -> anyhow::Result<EventLog> {
        jsonl::repair_torn_tail(path)?;
        let next_seq = std::fs::read_to_string(path)
            .map(|text| {
                let (events, _) = parse_lines(&text);
                events.last().map_or(0, |e| e.seq + 1)
            })
            .unwrap_or(0);
        let file = jsonl::open_append(path)?;
        Ok(EventLog {
            path: path.to_path_buf(),
            state: Mutex::new(LogState {
                file: Some(file),
                next_seq,
                warned: false,
            }),
        })
    }
}

impl Reporter for EventLog {
    #[expect(clippy::print_stderr, reason = "a failing event log is reported once")]
    fn report(&self, event: &RunEvent) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let line = EventLine {
            seq: state.next_seq,
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            event: event.clone(),
        };
        state.next_seq += 1;
        let written = match (state.file.as_mut(), serde_json::to_vec(&line)) {
            (Some(file), Ok(bytes)) => jsonl::write_line(file, bytes).map_err(anyhow::Error::from),
            (None, _) => Ok(()),
            (_, Err(error)) => Err(error.into()),
        };
        if let Err(error) = written
            && !state.warned
        {
            state.warned = true;
            eprintln!(
                "warning: cannot append to {}: {error:#}; the run goes on, but the dashboard may miss events",
                self.path.display()
            );
        }
    }
}

/// Reads a run's events: every line that parses, with a warning per line that does not.
pub(crate) fn read_events(path: &Path) -> (Vec<EventLine>, Vec<String>) {
    let Ok(bytes) = std::fs::read(path) else {
        return (Vec::new(), Vec::new());
    };
    let (events, skipped) = parse_lines(&String::from_utf8_lossy(&bytes));
    let warnings = skipped
        .into_iter()
        .map(|s| format!("{}:{}: skipped: {}", path.display(), s.line, s.reason))
        .collect();
    (events, warnings)
}
