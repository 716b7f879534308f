//! How much of a latency tail the machine itself adds, measured beside a load test so a user can
//! tell client or server overhead from the host's jitter:
//!
//! - **steal**: CPU time the hypervisor gave to other guests while this VM's CPUs wanted to run
//!   (`/proc/stat`, Linux). A vCPU that is not running delays whatever thread was on it by
//!   milliseconds at a time, client and server alike.
//! - **bystander lateness**: a thread that sleeps 1 ms in a loop and records how late it wakes.
//!   It does no work of its own, so its tail is the scheduling and virtualisation jitter that
//!   every wake-up on the machine pays, at the current load.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Seconds of CPU time stolen by the hypervisor from all of this machine's CPUs since boot, or
/// `None` where `/proc/stat` has no steal column (not Linux, or no virtualisation accounting).
pub(crate) fn steal_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    Some(steal_ticks(&stat)? / clock_ticks_per_second()?)
}

/// The kernel's clock tick rate (`CLK_TCK`), the unit of the CPU times in `/proc`.
pub(crate) fn clock_ticks_per_second() -> Option<f64> {
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    Some(per_second as f64)
}

/// The steal field (the 8th number) of the aggregate `cpu` line of `/proc/stat`.
fn steal_ticks(stat: &str) -> Option<f64> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    line.split_whitespace().nth(8)?.parse().ok()
}

/// Steal as a percentage of all CPU time over `wall_s` seconds.
pub(crate) fn steal_percent(stolen_s: f64, wall_s: f64) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
    100.0 * stolen_s / (wall_s * cores).max(1e-9)
}

/// What the bystander thread saw: how late its 1 ms sleeps ended, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Lateness {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub samples: usize,
}

/// A running bystander thread; [`StallProbe::finish`] stops it and summarises.
pub(crate) struct StallProbe {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<f64>>>,
}

/// The bystander's sleep.
const NAP: Duration = Duration::from_millis(1);

impl StallProbe {
    /// Starts the bystander (`None` if no thread can be started).
    pub(crate) fn start() -> Option<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("stall-probe".into())
            .spawn(move || {
                // The kernel's default 50 µs timer slack would show up as lateness.
                let _ = nix::sys::prctl::set_timerslack(1_000);
                let mut late_ms = Vec::with_capacity(64 * 1024);
                while !flag.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    std::thread::sleep(NAP);
                    late_ms.push(start.elapsed().saturating_sub(NAP).as_secs_f64() * 1000.0);
                }
                late_ms
            })
            .ok()?;
        Some(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the bystander and summarises its lateness (`None` if it saw nothing).
    pub(crate) fn finish(mut self) -> Option<Lateness> {
        self.stop.store(true, Ordering::Relaxed);
        let late = self.thread.take()?.join().ok()?;
        summarize(late)
    }
}

impl Drop for StallProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn summarize(mut late_ms: Vec<f64>) -> Option<Lateness> {
    late_ms.sort_by(f64::total_cmp);
    let at = |q: f64| late_ms[((late_ms.len() as f64 * q) as usize).min(late_ms.len() - 1)];
    let max_ms = *late_ms.last()?;
    Some(Lateness {
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms,
        samples: late_ms.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_the_eighth_number_of_the_cpu_line() {
        let stat = "cpu  2887094 172 340354 3563141 20652 0 25851 28285 0 0\n\
                    cpu0 1393843 73 161161 1846158 5592 0 11832 13740 0 0\n";
        assert_eq!(steal_ticks(stat), Some(28285.0));
    }

    #[test]
    fn a_kernel_without_a_steal_column_gives_none() {
        assert_eq!(steal_ticks("cpu  1 2 3 4 5 6 7\n"), None);
        assert_eq!(steal_ticks("intr 5\n"), None);
    }

    #[test]
    fn steal_percent_is_of_all_cores() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
        let percent = steal_percent(cores, 10.0);
        assert!((percent - 10.0).abs() < 1e-9, "{percent}");
    }

    #[test]
    fn lateness_percentiles_are_nearest_rank() {
        let late: Vec<f64> = (0..100).map(f64::from).rev().collect();
        let summary = summarize(late).expect("samples");
        assert_eq!(summary.p50_ms, 50.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(summary.max_ms, 99.0);
        assert_eq!(summary.samples, 100);
        assert_eq!(summarize(Vec::new()), None);
    }

    #[test]
    fn the_probe_samples_until_finished() {
        let probe = StallProbe::start().expect("thread");
        std::thread::sleep(Duration::from_millis(50));
        let seen = probe.finish().expect("samples");
        assert!(seen.samples >= 5, "{seen:?}");
        assert!(seen.p50_ms >= 0.0 && seen.max_ms >= seen.p99_ms);
    }
}
