//! One error type for the whole tool. Every variant knows its exit code, and
//! errors that come from the runbook carry a [`Diagnostic`] pointing into the
//! source so they render as `file:line:col` with the line and a caret.

use crate::document::Diagnostic;
use std::path::PathBuf;

/// Exit codes, documented in the README.
pub mod exit {
    pub const OK: i32 = 0;
    pub const STEP_FAILED: i32 = 1;
    pub const INVALID: i32 = 2;
    pub const PRECONDITION: i32 = 3;
    pub const ABORTED: i32 = 4;
    /// The run ended but its record (the copy or a report) could not be
    /// written.
    pub const REPORT: i32 = 5;
    /// A step failed (or the operator aborted at a gate) and every step
    /// that had succeeded was undone by its rollback.
    pub const ROLLED_BACK: i32 = 6;
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more problems in a runbook, each with its position.
    #[error("{}", render_diagnostics(.0))]
    Invalid(Vec<Diagnostic>),
    /// Bad command-line usage that clap could not catch.
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Anything else, with a message that already says what and where.
    #[error("{0}")]
    Other(String),
}

/// One blank line between diagnostics, as `runbook check` prints them.
fn render_diagnostics(d: &[Diagnostic]) -> String {
    d.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n\n")
}

impl Error {
    pub fn code(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::Usage(_) => exit::INVALID,
            Error::Io { .. } | Error::Other(_) => exit::INVALID,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<Diagnostic> for Error {
    fn from(d: Diagnostic) -> Self {
        Error::Invalid(vec![d])
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
