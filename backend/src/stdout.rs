//! The commands' output on stdout. `println!` panics when stdout is a pipe whose reader has gone
//! (`autobench plan --config X | head -1`); these functions return that as
//! [`StdoutError::Closed`] instead, and [`crate::cli::dispatch`] ends the command quietly with
//! success, as ripgrep does. Commands whose exit status is their answer (`run`, `validate`)
//! keep it with [`unless_closed`].

use std::fmt::Display;
use std::io::{self, Write as _};

/// Writing to stdout failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StdoutError {
    /// The reader closed the pipe: nobody wants the rest, which is not a failure.
    #[error("stdout was closed")]
    Closed,
    /// Any other write error.
    #[error("cannot write to stdout")]
    Write(#[source] io::Error),
}

impl StdoutError {
    /// A broken pipe is [`StdoutError::Closed`]; anything else is a write error.
    fn of(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::BrokenPipe {
            StdoutError::Closed
        } else {
            StdoutError::Write(error)
        }
    }
}

/// Writes `text` to stdout and flushes it.
pub(crate) fn print(text: impl Display) -> Result<(), StdoutError> {
    let mut out = io::stdout().lock();
    write!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(StdoutError::of)
}

/// Writes `text` and a newline to stdout and flushes it.
pub(crate) fn println(text: impl Display) -> Result<(), StdoutError> {
    print(format_args!("{text}\n"))
}

/// `Ok` when stdout was closed: the output ends there, the command's answer (its exit status)
/// does not.
pub(crate) fn unless_closed(result: Result<(), StdoutError>) -> Result<(), StdoutError> {
    match result {
        Err(StdoutError::Closed) => Ok(()),
        other => other,
    }
}

/// Whether `error` is, or was caused by, a closed stdout.
pub(crate) fn is_closed(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| matches!(cause.downcast_ref(), Some(StdoutError::Closed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_a_closed_stdout_and_nothing_else_is() {
        let closed = StdoutError::of(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(matches!(closed, StdoutError::Closed));
        let full = StdoutError::of(io::Error::from(io::ErrorKind::StorageFull));
        assert!(matches!(full, StdoutError::Write(_)));
        let error = anyhow::Error::from(closed).context("printing the plan");
        assert!(is_closed(&error));
        assert!(!is_closed(&anyhow::Error::from(full)));
        let other = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(
            !is_closed(&other),
            "a broken pipe elsewhere (a child's stdin) is an error"
        );
        assert!(unless_closed(Err(StdoutError::Closed)).is_ok());
    }
}
