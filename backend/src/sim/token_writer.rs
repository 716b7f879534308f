//! The fixed-latency simulator's token writers: a few threads that each keep a heap of due
//! tokens and write every token straight to its connection's socket at its due time, as one
//! chunk of the HTTP/1.1 chunked body.
//!
//! Through an ordinary async server, every token costs a timer wake-up, a task wake-up and a
//! pass through the HTTP library's body encoder, and the first token crosses two threads (the
//! timer's and a runtime worker's) before it leaves. Here a token is a heap pop and one
//! non-blocking `write`, made by the thread whose precise timer fired: the simulator stays
//! cheap next to the client it measures, and its TTFT and inter-token delays are what it
//! promises, to about [`crate::timer::QUANTUM`] plus the kernel's wake-up latency.
//!
//! A writer never blocks: when a socket cannot take a whole chunk at once (the client is not
//! reading), it hands the rest of the stream back to the connection's task
//! ([`Outcome::Blocked`]), which finishes it with ordinary async writes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::http::FixedPlan;

/// Most writer threads worth starting.
pub(super) const MAX_THREADS: usize = 4;

/// Most bytes of due tokens gathered into one write.
const MAX_WRITE: usize = 64 * 1024;

/// How a stream handed to a writer ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Every token and the chunked body's end were written.
    Finished,
    /// The socket could not take a whole write: `unwritten` (framed bytes) and the tokens from
    /// `next` on are left to the caller.
    Blocked { unwritten: Vec<u8>, next: usize },
    /// The connection failed (the client went away).
    Failed,
}

/// One streamed response in a writer's hands.
struct Stream {
    socket: Arc<TcpStream>,
    plan: Arc<FixedPlan>,
    next: usize,
    done: oneshot::Sender<Outcome>,
}

/// What a writer thread is doing, so a new stream knows whether it must wake it.
#[derive(Clone, Copy)]
enum Activity {
    Working,
    SleepingUntil(Instant),
    Idle,
}

struct Shared {
    incoming: Mutex<(Vec<Stream>, Activity)>,
    changed: Condvar,
}

impl Shared {
    /// Queues `stream` for the writer, waking it when it sleeps past `first_due`.
    fn admit(&self, stream: Stream, first_due: Instant) {
        let mut incoming = self.incoming.lock().unwrap_or_else(PoisonError::into_inner);
        incoming.0.push(stream);
        let wake = match incoming.1 {
            Activity::Working => false,
            Activity::SleepingUntil(until) => first_due < until,
            Activity::Idle => true,
        };
        drop(incoming);
        if wake {
            self.changed.notify_one();
        }
    }
}

/// The pool of writer threads.
pub(super) struct TokenWriters {
    shards: Vec<Arc<Shared>>,
    next: AtomicUsize,
}

impl TokenWriters {
    /// Starts `threads` writers (at least one).
    pub(super) fn start(threads: usize) -> io::Result<Self> {
        let shards = (0..threads.max(1))
            .map(|index| {
                let shared = Arc::new(Shared {
                    incoming: Mutex::new((Vec::new(), Activity::Idle)),
                    changed: Condvar::new(),
                });
                let for_thread = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("sim-writer-{index}"))
                    .spawn(move || Writer::default().run(&for_thread))
                    .map(|_| shared)
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self {
            shards,
            next: AtomicUsize::new(0),
        })
    }

    /// Writes `plan`'s tokens to `socket` at their due times; the response head must already be
    /// written. Resolves when the writer is done with the stream.
    pub(super) async fn stream(&self, socket: Arc<TcpStream>, plan: Arc<FixedPlan>) -> Outcome {
        let (done, outcome) = oneshot::channel();
        let first_due = plan.due(0);
        let stream = Stream {
            socket,
            plan,
            next: 0,
            done,
        };
        let shard = &self.shards[self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len()];
        shard.admit(stream, first_due);
        // A writer that is gone drops the sender: treat it as a failed connection.
        outcome.await.unwrap_or(Outcome::Failed)
    }
}

/// Appends `payload` framed as one chunk of a chunked HTTP/1.1 body; the last one also ends the
/// body.
pub(super) fn frame(payload: &[u8], last: bool, into: &mut Vec<u8>) {
    // Writing to a `Vec` cannot fail; no `String` is built per token.
    let _ = write!(into, "{:x}\r\n", payload.len());
    into.extend_from_slice(payload);
    into.extend_from_slice(b"\r\n");
    if last {
        into.extend_from_slice(b"0\r\n\r\n");
    }
}

/// One writer thread's own state.
#[derive(Default)]
struct Writer {
    /// (due, slot) of every stream's next token.
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    slots: Vec<Option<Stream>>,
    free: Vec<usize>,
    buffer: Vec<u8>,
}

impl Writer {
    fn run(mut self, shared: &Shared) {
        // Precise kernel timers for this thread (the default slack is 50 µs).
        let _ = nix::sys::prctl::set_timerslack(1_000);
        let mut incoming = shared
            .incoming
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            for stream in incoming.0.drain(..) {
                self.admit(stream);
            }
            let now = Instant::now();
            match self.heap.peek().map(|top| top.0.0) {
                Some(due) if due <= now => {
                    incoming.1 = Activity::Working;
                    drop(incoming);
                    self.write_due(now);
                    incoming = shared
                        .incoming
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                }
                Some(due) => {
                    let wait = due
                        .saturating_duration_since(now)
                        .max(crate::timer::QUANTUM);
                    incoming.1 = Activity::SleepingUntil(now + wait);
                    incoming = shared
                        .changed
                        .wait_timeout(incoming, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                None => {
                    incoming.1 = Activity::Idle;
                    incoming = shared
                        .changed
                        .wait(incoming)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }

    fn admit(&mut self, stream: Stream) {
        let due = stream.plan.due(stream.next);
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(stream);
                slot
            }
            None => {
                self.slots.push(Some(stream));
                self.slots.len() - 1
            }
        };
        self.heap.push(Reverse((due, slot)));
    }

    /// Writes every token due by `now`. A stream with several tokens due (its writer fell
    /// behind) gets them in one write, so a loaded writer spends fewer system calls per token
    /// and catches up instead of falling further behind.
    fn write_due(&mut self, now: Instant) {
        while let Some(&Reverse((due, slot))) = self.heap.peek() {
            if due > now {
                return;
            }
            self.heap.pop();
            let Some(mut stream) = self.slots.get_mut(slot).and_then(Option::take) else {
                continue;
            };
            self.buffer.clear();
            let len = stream.plan.len();
            while stream.next < len
                && (self.buffer.is_empty()
                    || (stream.plan.due(stream.next) <= now && self.buffer.len() < MAX_WRITE))
            {
                let last = stream.next + 1 == len;
                frame(&stream.plan.payload(stream.next), last, &mut self.buffer);
                stream.next += 1;
            }
            let outcome = match stream.socket.try_write(&self.buffer) {
                Ok(written) if written == self.buffer.len() && stream.next == len => {
                    Some(Outcome::Finished)
                }
                Ok(written) if written == self.buffer.len() => None,
                Ok(written) => Some(self.blocked(&stream, written)),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    Some(self.blocked(&stream, 0))
                }
                Err(_) => Some(Outcome::Failed),
            };
            match outcome {
                Some(outcome) => {
                    let _ = stream.done.send(outcome);
                    self.free.push(slot);
                }
                None => {
                    self.heap
                        .push(Reverse((stream.plan.due(stream.next), slot)));
                    self.slots[slot] = Some(stream);
                }
            }
        }
    }

    /// The stream's socket took `written` bytes of the buffer: the rest goes back to the caller.
    fn blocked(&self, stream: &Stream, written: usize) -> Outcome {
        Outcome::Blocked {
            unwritten: self.buffer.get(written..).unwrap_or_default().to_vec(),
            next: stream.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_chunked_encoding_and_the_last_ends_the_body() {
        let mut out = b"left".to_vec();
        frame(b"data: x\n\n", false, &mut out);
        assert_eq!(out, b"left9\r\ndata: x\n\n\r\n");
        out.clear();
        frame(&[b'a'; 26], true, &mut out);
        assert_eq!(
            out,
            [&b"1a\r\n"[..], &[b'a'; 26], b"\r\n0\r\n\r\n"].concat()
        );
    }
}
