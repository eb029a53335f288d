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
    /// The offending source line, without its line ending; a window
    /// around the column when the line is long (`...` marks the cuts).
    pub source_line: String,
    /// 1-based column (bytes) of the caret within `source_line`.
    #[serde(skip)]
    pub excerpt_col: usize,
}

/// Lines longer than this are shown as a window around the column.
const MAX_EXCERPT: usize = 160;
/// Bytes of context kept on each side of the caret in a window.
const CONTEXT: usize = 60;

/// The excerpt of `line` for a caret at byte `col0` (0-based) of `width`:
/// the text, the caret's 0-based byte position in it, and its width.
fn excerpt(line: &str, col0: usize, width: usize) -> (String, usize, usize) {
    if line.len() <= MAX_EXCERPT {
        return (line.to_string(), col0, width);
    }
    let floor = |mut i: usize| {
        i = i.min(line.len());
        while !line.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let width = width.min(CONTEXT);
    let start = floor(col0.saturating_sub(CONTEXT));
    let end = floor(col0 + width + CONTEXT);
    let mut text = String::with_capacity(end - start + 6);
    if start > 0 {
        text.push_str("...");
    }
    text.push_str(&line[start..end]);
    if end < line.len() {
        text.push_str("...");
    }
    let col = col0 - start + if start > 0 { 3 } else { 0 };
    (text, col, width)
}

impl Diagnostic {
    /// A diagnostic at a byte range of `src`.
    pub fn at(src: &Source, start: usize, end: usize, message: impl Into<String>) -> Self {
        let (line, col) = src.line_col(start);
        let full = src.line_text(line);
        // The caret stays on the first line of the span.
        let max = full.len().saturating_sub(col - 1).max(1);
        let width = end.saturating_sub(start).clamp(1, max);
        let (source_line, col0, width) = excerpt(full, col - 1, width);
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            path: src.display_path(),
            line,
            col,
            width,
            source_line,
            excerpt_col: col0 + 1,
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
            .take(self.excerpt_col.saturating_sub(1))
            .map(|b| if b == b'\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "{pad} | {lead}{}", "^".repeat(self.width))
    }
}
