//! A problem in a runbook, with its position. Renders like rustc / just:
//!
//! ```text
//! error: unknown attribute `tiemout`
//!   --> runbooks/x.md:12:17
//!    |
//! 12 | ```bash {name=a tiemout=3s}
//!    |                 ^^^^^^^
//! ```

use super::source::Source;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub path: String,
    /// 1-based line and column (bytes).
    pub line: usize,
    pub col: usize,
    /// Width of the caret run (at least 1).
    pub width: usize,
    /// The offending source line, without its line ending.
    pub source_line: String,
}

impl Diagnostic {
    /// A diagnostic at a byte range of `src`.
    pub fn at(src: &Source, start: usize, end: usize, message: impl Into<String>) -> Self {
        let (line, col) = src.line_col(start);
        let source_line = src.line_text(line).to_string();
        // The caret stays on the first line of the span.
        let max = source_line.len().saturating_sub(col - 1).max(1);
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            path: src.display_path(),
            line,
            col,
            width: end.saturating_sub(start).clamp(1, max),
            source_line,
        }
    }

    /// A diagnostic at a 1-based line and column of `src`.
    pub fn at_line_col(
        src: &Source,
        line: usize,
        col: usize,
        width: usize,
        message: impl Into<String>,
    ) -> Self {
        let start = src.offset(line, col);
        Self::at(src, start, start + width.max(1), message)
    }

    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// `file:line:col: message`, for one-line outputs.
    pub fn short(&self) -> String {
        format!(
            "{}:{}:{}: {}: {}",
            self.path,
            self.line,
            self.col,
            match self.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            self.message
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        writeln!(f, "{label}: {}", self.message)?;
        writeln!(f, "{pad}--> {}:{}:{}", self.path, self.line, self.col)?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{num} | {}", self.source_line)?;
        // Carets line up under the culprit even when the line has tabs.
        let lead: String = self
            .source_line
            .bytes()
            .take(self.col - 1)
            .map(|b| if b == b'\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "{pad} | {lead}{}", "^".repeat(self.width))
    }
}
