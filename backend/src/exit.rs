//! The process exit codes of every command (documented in docs/commands.md).

/// A candidate met the SLA.
pub const MET: u8 = 0;
/// No candidate met the SLA.
pub const NOT_MET: u8 = 1;
/// Bad input or a failure.
pub const ERROR: u8 = 2;
/// Stopped by SIGINT/SIGTERM (partial results written).
pub const INTERRUPTED: u8 = 130;
