//! Stop signals of `autobench run`. SIGINT, SIGTERM and SIGHUP (the terminal went away) stop the
//! run with complete partial results; a second one means "now": the servers are killed and the
//! process exits 130 at once.
//!
//! Signals from the dashboard that started a run count once. The dashboard gives its runs a
//! parent-death signal (SIGTERM, `PR_SET_PDEATHSIG`), and the kernel sends it once per exiting
//! *thread* of the parent: when the multi-threaded dashboard is killed, each of its threads that
//! exits while the run is still its child re-sends it, so one `kill -9` of the dashboard arrived
//! as two or more SIGTERMs, and the second one threw the partial results away. A time window
//! ("signals within 1 s count as one") would depend on how fast a dying process's threads exit on
//! a loaded machine, and `getppid()` cannot tell the copies apart either: the run is first handed
//! to the dashboard's other threads, so its parent pid only changes at the last copy. What
//! identifies every copy is the sender: the kernel fills `si_pid` with the dying dashboard's pid.
//! So the dashboard passes its pid in [`DASHBOARD_PID`], the handler reads each signal's
//! `siginfo`, and only the first signal from that pid counts. The dashboard's Stop button and
//! its shutdown (SIGINT) come from the same pid and also mean "stop with partial results", never
//! "now". Other senders are unaffected: a second Ctrl-C, or a `kill` from a shell, still means
//! "now", and `autobench run` started any other way keeps the plain behaviour.

use std::os::fd::IntoRawFd as _;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

use nix::libc;
use tokio::io::AsyncReadExt as _;

use crate::exit;

/// What the signal handler counts. Only atomics: it runs inside the handler.
#[derive(Debug)]
struct Tally {
    /// The pid whose signals count once (0: no such rule).
    parent: AtomicI32,
    /// Whether a signal from `parent` was already counted.
    parent_seen: AtomicBool,
    /// Signals that count.
    counted: AtomicU32,
}

impl Tally {
    const fn new() -> Tally {
        Tally {
            parent: AtomicI32::new(0),
            parent_seen: AtomicBool::new(false),
            counted: AtomicU32::new(0),
        }
    }

    /// Records a signal from `sender` (0 for the kernel's own, such as a terminal's Ctrl-C);
    /// returns whether it counted.
    fn record(&self, sender: i32) -> bool {
        let parent = self.parent.load(Ordering::SeqCst);
        if parent != 0 && sender == parent && self.parent_seen.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.counted.fetch_add(1, Ordering::SeqCst);
        true
    }

    fn counted(&self) -> u32 {
        self.counted.load(Ordering::SeqCst)
    }
}

/// Set by the dashboard on the runs it starts: its own pid, whose signals count once.
pub(crate) const DASHBOARD_PID: &str = "AUTOBENCH_DASHBOARD_PID";

static TALLY: Tally = Tally::new();
/// The write end of the pipe that wakes [`forward`] (-1 until installed).
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
/// Whether the handlers are installed (once per process).
static INSTALLED: AtomicBool = AtomicBool::new(false);

#[expect(
    unsafe_code,
    reason = "reading siginfo and write(2) in a signal handler; both are async-signal-safe"
)]
fn on_signal(info: &libc::siginfo_t) {
    // SAFETY: SIGINT, SIGTERM and SIGHUP carry the kill(2) layout of siginfo (si_pid, si_uid);
    // signals the kernel raises itself have it zeroed.
    let sender = unsafe { info.si_pid() };
    if !TALLY.record(sender) {
        return;
    }
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: `fd` is the non-blocking write end of a socket pair kept open for the life of
        // the process; a full buffer only drops a wake-up, the count is already recorded.
        let _ = unsafe { libc::write(fd, [1_u8].as_ptr().cast(), 1) };
    }
}

/// Installs the handlers (once per process) and returns the read end of the wake-up pipe.
#[expect(
    unsafe_code,
    reason = "signal_hook_registry::register_sigaction is unsafe: the handler must be async-signal-safe, which on_signal is"
)]
fn install() -> std::io::Result<UnixStream> {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return Err(std::io::Error::other("stop signals are already handled"));
    }
    let (reader, writer) = UnixStream::pair()?;
    writer.set_nonblocking(true)?;
    reader.set_nonblocking(true)?;
    if let Some(dashboard) = std::env::var(DASHBOARD_PID)
        .ok()
        .and_then(|pid| pid.parse::<i32>().ok())
        .filter(|pid| *pid > 0)
    {
        TALLY.parent.store(dashboard, Ordering::SeqCst);
    }
    // The write end stays open for the life of the process: the handler writes to it.
    WAKE_FD.store(writer.into_raw_fd(), Ordering::SeqCst);
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: on_signal only touches atomics and calls write(2).
        unsafe { signal_hook_registry::register_sigaction(signal, on_signal) }?;
    }
    Ok(reader)
}

/// Turns stop signals into cancellation of the run (the first that counts) and into "kill the
/// servers and exit 130 now" (the second). Runs until aborted.
pub(crate) async fn forward(cancel: crate::cancel::CancelSender) {
    let Ok(reader) = install() else {
        return;
    };
    let Ok(mut reader) = tokio::net::UnixStream::from_std(reader) else {
        return;
    };
    let mut buffer = [0_u8; 64];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let counted = TALLY.counted();
        if counted >= 1 {
            let _ = cancel.send(true);
        }
        if counted >= 2 {
            crate::launcher::registry::kill_all();
            std::process::exit(i32::from(exit::INTERRUPTED));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_from_the_parent_count_once() {
        let tally = Tally::new();
        tally.parent.store(4242, Ordering::SeqCst);
        assert!(
            tally.record(4242),
            "the parent's first signal stops the run"
        );
        for _ in 0..5 {
            assert!(!tally.record(4242), "its copies do not");
        }
        assert_eq!(tally.counted(), 1);
        assert!(tally.record(0), "a second Ctrl-C still counts");
        assert_eq!(tally.counted(), 2);
    }

    #[test]
    fn without_a_parent_rule_every_signal_counts() {
        let tally = Tally::new();
        assert!(tally.record(4242) && tally.record(4242) && tally.record(0));
        assert_eq!(tally.counted(), 3);
    }
}
