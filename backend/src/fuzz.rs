//! Support for the property tests of the parsers (config, dataset rows, HTTP responses): a seeded
//! generator, a per-thread allocation meter, so a test can bound the memory one parse takes, and a
//! runner that turns each panicking case into a report with its seed and input.
//!
//! The meter is the global allocator of the library's unit tests: the system allocator plus two
//! thread-local counters (no allocation of their own), so a parse that runs on the test's thread
//! is measured exactly, whatever other tests do meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use rand::SeedableRng;
use rand::rngs::StdRng;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn size(bytes: usize) -> isize {
    isize::try_from(bytes).unwrap_or(isize::MAX)
}

struct Metered;

#[expect(
    unsafe_code,
    reason = "a global allocator is unsafe to implement; this one forwards to the system allocator"
)]
// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the contract;
// the counters only observe sizes.
unsafe impl GlobalAlloc for Metered {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout contract is passed on unchanged.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            note(size(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            note(size(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which is `System`'s, with this layout.
        unsafe { System.dealloc(ptr, layout) };
        note(-size(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller guarantees `new_size`'s contract.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            note(size(new_size) - size(layout.size()));
        }
        moved
    }
}

#[global_allocator]
static METERED: Metered = Metered;

/// Runs `f` and returns its result with the most bytes it held allocated at once (on this thread,
/// beyond what was allocated before).
pub(crate) fn peak_alloc<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get);
    (out, usize::try_from(peak - start).unwrap_or(0))
}

/// The generator of a property test: the same seed gives the same cases.
pub(crate) fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Runs `cases` cases: `make` builds case `i`'s input, `check` runs the parser on it (returning
/// `Err` for a property that does not hold) and must not panic or allocate more than
/// `max_bytes` at once. Fails with every bad case, its index and a prefix of its input.
pub(crate) fn run_cases<I: std::fmt::Debug>(
    name: &str,
    cases: usize,
    max_bytes: usize,
    mut make: impl FnMut(usize) -> I,
    mut check: impl FnMut(&I) -> Result<(), String>,
) {
    let mut bad = Vec::new();
    for case in 0..cases {
        let input = make(case);
        let (outcome, peak) = peak_alloc(|| catch_unwind(AssertUnwindSafe(|| check(&input))));
        let problem = match outcome {
            Err(_) => Some("panicked".to_string()),
            Ok(Err(message)) => Some(message),
            Ok(Ok(())) if peak > max_bytes => Some(format!(
                "allocated {peak} bytes at once (limit {max_bytes})"
            )),
            Ok(Ok(())) => None,
        };
        if let Some(problem) = problem {
            let shown: String = format!("{input:?}").chars().take(600).collect();
            bad.push(format!("{name} case {case}: {problem}; input: {shown}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {cases} cases failed:\n{}",
        bad.len(),
        bad.iter().take(8).cloned().collect::<Vec<_>>().join("\n")
    );
}
