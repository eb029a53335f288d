//! Reports rendered from a [`crate::record::RunRecord`]: the annotated
//! Markdown copy, JSON, JUnit XML, HTML, and terminal progress.
//!
//! The small formatting helpers shared by the renderers live here so every
//! format spells durations, statuses and cut markers the same way.

pub mod charts;
pub mod html;
pub mod ipynb;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod progress;
pub mod redacting;
pub mod registry;
pub mod terminal;
pub mod tty;

pub use registry::{Report, ReportOptions};

use crate::record::{OutputRecord, RunRecord, StepRecord, StepStatus};

/// Escapes `&`, `<` and `>`, which HTML and XML escape alike, and hands
/// every other character to `other`, which writes it as its format wants
/// (quotes, line breaks and control characters differ).
pub fn escape_markup(s: &str, other: impl Fn(char, &mut String)) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => other(c, &mut out),
        }
    }
    out
}

/// A count with thin groups of three digits: `123 456`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Steps by outcome, as every summary counts them. A failure that
/// `allow_failure` let pass is neither ok nor a plain failure, and a step
/// the operator aborted was not skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub ok: usize,
    pub failed: usize,
    pub failed_allowed: usize,
    pub skipped: usize,
    pub aborted: usize,
    pub not_run: usize,
    /// Steps a dry run planned without running them.
    pub planned: usize,
}

impl Counts {
    pub fn of(rec: &RunRecord) -> Self {
        let mut c = Counts::default();
        // A rollback block is not a step of the run: it is counted only
        // when a dry run plans it.
        let rollback_block = |s: &&StepRecord| s.undoes.is_some() && s.status == StepStatus::NotRun;
        for s in rec.steps.iter().filter(|s| !rollback_block(s)) {
            match s.status {
                StepStatus::Ok => c.ok += 1,
                StepStatus::DryRun => c.planned += 1,
                StepStatus::FailedAllowed => c.failed_allowed += 1,
                StepStatus::Skipped => c.skipped += 1,
                StepStatus::Aborted => c.aborted += 1,
                StepStatus::NotRun => c.not_run += 1,
                s if s.is_failure() || s == StepStatus::Running => c.failed += 1,
                _ => {}
            }
        }
        c
    }

    /// `2 ok, 0 failed, 1 failed (allowed), 0 skipped, 1 aborted`: ok,
    /// failed and skipped always, the others when there are any.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{} ok", self.ok), format!("{} failed", self.failed)];
        if self.planned > 0 {
            parts.insert(0, format!("{} planned", self.planned));
        }
        if self.failed_allowed > 0 {
            parts.push(format!("{} failed (allowed)", self.failed_allowed));
        }
        parts.push(format!("{} skipped", self.skipped));
        if self.aborted > 0 {
            parts.push(format!("{} aborted", self.aborted));
        }
        if self.not_run > 0 {
            parts.push(format!("{} not run", self.not_run));
        }
        parts.join(", ")
    }
}

/// The run's mode for people: the flags joined, or `full run`.
pub fn mode_text(rec: &RunRecord) -> Option<String> {
    (!rec.mode.is_empty()).then(|| rec.mode.join(" "))
}

/// `--resume --force` for people: who forced it, when, and what could not
/// be trusted.
pub fn resume_forced_text(f: &crate::record::ResumeForced) -> String {
    format!(
        "forced (--resume --force) by {} at {}: {}",
        f.operator,
        f.at,
        f.reasons.join("; ")
    )
}

/// The record's trust facts for the HTML header: the chain head, who
/// signed it, a forced resume.
pub fn trust_facts(rec: &RunRecord) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(h) = &rec.chain_head {
        out.push(("Chain head", h.clone()));
    }
    if let Some(s) = &rec.signature {
        let mut v = format!("{} {}", s.key_type, s.fingerprint);
        if !s.comment.is_empty() {
            v.push_str(&format!(" ({})", s.comment));
        }
        out.push(("Signed by", v));
    }
    if let Some(f) = &rec.resume_forced {
        out.push(("Resume", resume_forced_text(f)));
    }
    out
}

/// One symbol per status, used in Markdown, HTML and the terminal.
pub fn status_symbol(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Ok => "✓",
        StepStatus::Failed => "✗",
        StepStatus::FailedAllowed => "⚠",
        StepStatus::TimedOut => "⏱",
        StepStatus::Interrupted => "✋",
        StepStatus::Skipped => "↷",
        StepStatus::Aborted => "■",
        StepStatus::NotRun => "○",
        StepStatus::Running => "…",
        StepStatus::DryRun => "◇",
    }
}

/// How `expect=` went, in one line (Markdown, HTML, terminal).
pub fn expect_line(e: &crate::record::ExpectRecord) -> String {
    if e.ok {
        format!(
            "✓ expect={}: the output matches the runbook's sample",
            e.mode
        )
    } else {
        format!(
            "✗ expect={}: the output does not match the runbook's sample",
            e.mode
        )
    }
}

/// The line shown between head and tail when output was cut.
pub fn cut_marker(out: &OutputRecord) -> String {
    let lines = if out.omitted_lines == 1 {
        "line"
    } else {
        "lines"
    };
    match &out.log_path {
        Some(p) => format!(
            "… {} {lines} omitted (full log: {}) …",
            group_thousands(out.omitted_lines),
            one_line(p)
        ),
        None => format!("… {} {lines} omitted …", group_thousands(out.omitted_lines)),
    }
}

/// Output as lines: head, the cut marker when cut, tail. Line endings are
/// normalised (a lone `\r`, as progress bars print, ends a line too) and the
/// final line ending dropped. Empty when there was no output.
pub fn output_lines(out: &OutputRecord) -> Vec<String> {
    let mut lines = split_lines(&out.head);
    if out.is_cut() {
        lines.push(cut_marker(out));
    }
    if !out.tail.is_empty() {
        lines.extend(split_lines(&out.tail));
    }
    lines
}

pub(crate) fn split_lines(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let text = text.strip_suffix('\n').unwrap_or(&text);
    text.split('\n').map(str::to_string).collect()
}

/// A value for one line of text: line breaks and tabs become spaces, other
/// control characters become their visible Unicode pictures (`␛`).
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' | '\u{2028}' | '\u{2029}' | '\u{85}' => ' ',
            c => visible_control(c).unwrap_or(c),
        })
        .collect()
}

/// Control characters (other than tab and line feed) made visible, so no
/// renderer or terminal ever interprets them.
pub fn visible_controls(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            c => visible_control(c).unwrap_or(c),
        })
        .collect()
}

/// One line for a person to read and approve (a gate's question, target
/// and command): every control character and line break shown as a
/// symbol, bidirectional overrides as `<U+202E>`, so nothing in it can
/// move the cursor, erase what was shown or reorder the text. Tabs stay.
pub fn visible_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push(c),
            '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' => {
                out.push_str(&format!("<U+{:04X}>", c as u32));
            }
            c => out.push(visible_control(c).unwrap_or(c)),
        }
    }
    out
}

fn visible_control(c: char) -> Option<char> {
    match c {
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32),
        '\u{7f}' => Some('␡'),
        '\u{80}'..='\u{9f}' => Some('\u{fffd}'),
        _ => None,
    }
}

/// A JSON value as a person writes it: strings without quotes.
pub fn plain_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_to_approve_shows_every_control() {
        assert_eq!(
            visible_line("db-1\r\x1b[2Kstaging\nfake\u{202e}x\ty"),
            "db-1␍␛[2Kstaging␊fake<U+202E>x\ty"
        );
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(7), "7");
        assert_eq!(group_thousands(1_000), "1 000");
        assert_eq!(group_thousands(123_456), "123 456");
        assert_eq!(group_thousands(1_234_567), "1 234 567");
    }

    #[test]
    fn output_lines_normalise_endings_and_insert_the_cut_marker() {
        let out = OutputRecord {
            head: "a\r\nb\rc\n".into(),
            tail: "y\nz\n".into(),
            total_bytes: 100,
            total_lines: 10,
            omitted_lines: 5,
            log_path: Some("out.md.logs/step_1.log".into()),
            leaked: false,
        };
        assert_eq!(
            output_lines(&out),
            [
                "a",
                "b",
                "c",
                "… 5 lines omitted (full log: out.md.logs/step_1.log) …",
                "y",
                "z"
            ]
        );
    }

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(one_line("a\nb\u{1b}[0m\u{7}"), "a b␛[0m␇");
        assert_eq!(visible_controls("a\n\tb\u{0}"), "a\n\tb␀");
    }
}
