//! Progress reporting: a plain-text `progress.log` in the output directory that a person can
//! `tail -f` (no ANSI codes, no carriage returns), plus, on a terminal, a progress bar with ETA and
//! the running best; off a terminal (or with `--quiet` off), the same plain lines on stderr.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How chatty the console is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleMode {
    /// Progress bar on a terminal, plain lines otherwise.
    Normal,
    /// Nothing but errors and the final summary.
    Quiet,
}

/// The run's progress sink.
pub struct Progress {
    log: Mutex<Option<std::fs::File>>,
    bar: Option<ProgressBar>,
    plain: bool,
}

impl Progress {
    /// Opens `progress.log` (appending) and sets up the console.
    pub fn new(log_path: &Path, mode: ConsoleMode) -> Progress {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .ok();
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = (mode == ConsoleMode::Normal && terminal).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let color = std::env::var_os("NO_COLOR").is_none();
            let template = if color {
                "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} trials, ETA {eta} | {msg}"
            } else {
                "{elapsed_precise} [{bar:30}] {pos}/{len} trials, ETA {eta} | {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(500));
            bar
        });
        Progress {
            log: Mutex::new(log),
            plain: mode == ConsoleMode::Normal && !terminal,
            bar,
        }
    }

    /// Logs one line.
    #[expect(clippy::print_stderr, reason = "progress lines go to stderr by design")]
    pub fn line(&self, message: &str) {
        let stamped = format!(
            "{} {message}",
            chrono::Local::now().format("%Y-%m-%d %H:%M:%S")
        );
        if let Ok(mut guard) = self.log.lock()
            && let Some(file) = guard.as_mut()
        {
            let _ = writeln!(file, "{stamped}");
            let _ = file.flush();
        }
        if let Some(bar) = &self.bar {
            bar.println(message);
        } else if self.plain {
            eprintln!("{stamped}");
        }
    }

    /// Sets the expected trial count.
    pub fn set_total(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// Counts one finished (or skipped) trial.
    pub fn advance(&self, trials: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(trials);
        }
    }

    /// Shows the running best.
    pub fn set_best(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
