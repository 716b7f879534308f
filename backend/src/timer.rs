//! Sub-millisecond sleeps for async code. tokio's timer fires on whole milliseconds (its wheel
//! rounds a deadline up to the next millisecond, and the worker's `epoll_wait` takes a millisecond
//! timeout), so a request or a token due at 20.3 ms goes out anywhere up to 2 ms late. That is
//! noise a load generator must not add to the latencies it reports, nor the fixed-latency
//! simulator to the TTFT it promises.
//!
//! One background thread keeps a heap of deadlines and sleeps on a condition variable with a
//! relative timeout (a high-resolution kernel timer, with the thread's timer slack set to 1 µs),
//! then wakes every task whose deadline has passed. To bound the wake-ups when deadlines are dense
//! (hundreds of thousands of tokens per second), it sleeps at least [`QUANTUM`], so a sleep ends
//! at most about that much late, and never early.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Shortest sleep of the timer thread: the most a deadline fires late, beyond the kernel's own
/// wake-up latency.
pub(crate) const QUANTUM: Duration = Duration::from_micros(100);

/// Sleeps until `due` (on the std clock), to within about [`QUANTUM`].
pub(crate) fn sleep_until(due: Instant) -> Sleep {
    Sleep {
        due,
        registered: None,
    }
}

/// The future of [`sleep_until`].
#[derive(Debug)]
pub(crate) struct Sleep {
    due: Instant,
    registered: Option<Waker>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.due {
            return Poll::Ready(());
        }
        let fresh = self
            .registered
            .as_ref()
            .is_none_or(|waker| !waker.will_wake(cx.waker()));
        match wheel() {
            Some(wheel) if fresh => {
                wheel.register(self.due, cx.waker().clone());
                self.registered = Some(cx.waker().clone());
            }
            Some(_) => {}
            None => cx.waker().wake_by_ref(),
        }
        Poll::Pending
    }
}

struct Entry {
    due: Instant,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.due.cmp(&other.due)
    }
}

#[derive(Default)]
struct State {
    heap: BinaryHeap<Reverse<Entry>>,
    /// What the thread sleeps towards (`None`: no deadline, waits for a registration).
    sleeping_until: Option<Instant>,
}

struct Wheel {
    state: Mutex<State>,
    changed: Condvar,
}

/// The wheel, or `None` when its thread could not be started (sleeps then poll busily, which is
/// correct but costly).
fn wheel() -> Option<&'static Wheel> {
    static WHEEL: OnceLock<Option<&'static Wheel>> = OnceLock::new();
    *WHEEL.get_or_init(|| {
        let wheel: &'static Wheel = Box::leak(Box::new(Wheel {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("autobench-timer".into())
            .spawn(move || wheel.run())
            .ok()
            .map(|_| wheel)
    })
}

impl Wheel {
    fn register(&self, due: Instant, waker: Waker) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let earlier = state.sleeping_until.is_none_or(|until| due < until);
        state.heap.push(Reverse(Entry { due, waker }));
        drop(state);
        if earlier {
            self.changed.notify_one();
        }
    }

    fn run(&self) {
        // Precise kernel timers for this thread (the default slack is 50 µs).
        let _ = nix::sys::prctl::set_timerslack(1_000);
        let mut ready: Vec<Waker> = Vec::new();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = Instant::now();
            while state.heap.peek().is_some_and(|top| top.0.due <= now) {
                if let Some(Reverse(entry)) = state.heap.pop() {
                    ready.push(entry.waker);
                }
            }
            if !ready.is_empty() {
                drop(state);
                ready.drain(..).for_each(Waker::wake);
                state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let next = state.heap.peek().map(|top| top.0.due);
            state.sleeping_until = next.map(|due| due.max(now + QUANTUM));
            state = match next {
                None => self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(due) => {
                    let wait = due.saturating_duration_since(now).max(QUANTUM);
                    self.changed
                        .wait_timeout(state, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleeps_never_end_early_and_all_fire() {
        let start = Instant::now();
        let dues: Vec<Instant> = (0..200)
            .map(|i| start + Duration::from_micros(300 + 37 * (i % 50)))
            .collect();
        let tasks: Vec<_> = dues
            .iter()
            .map(|due| {
                let due = *due;
                tokio::spawn(async move {
                    sleep_until(due).await;
                    Instant::now() >= due
                })
            })
            .collect();
        for task in tasks {
            assert!(
                task.await.expect("join"),
                "a sleep ended before its deadline"
            );
        }
    }

    #[tokio::test]
    async fn a_past_deadline_is_ready_at_once() {
        let past = Instant::now();
        tokio::time::timeout(Duration::from_secs(1), sleep_until(past))
            .await
            .expect("ready");
    }
}
