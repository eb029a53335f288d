//! A code fence left open runs to the end of the file: every line after it
//! becomes part of the step's script. The parser may already have said so
//! (then it is not repeated); otherwise it is a warning at the fence.
//! A shell step made of comments only runs nothing: a warning too.

use super::position;
use crate::document::{Diagnostic, Document, Step};

pub(super) fn unclosed(doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
    if step.closed {
        return;
    }
    let already = doc
        .warnings
        .iter()
        .any(|w| w.line == step.line && w.message.contains("unclosed"));
    if already {
        return;
    }
    let span = position::fence(doc, step);
    out.push(
        Diagnostic::at(
            &doc.source,
            span.start,
            span.end,
            "unclosed code fence: the block runs to the end of the file",
        )
        .warning(),
    );
}

/// A shell step whose every line is a comment (or blank) runs nothing:
/// usually a block meant as an example, or commands commented out.
pub(super) fn runs_nothing(doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
    if !step.is_shell() {
        return;
    }
    let mut comments = 0;
    for line in step.code.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if !t.starts_with('#') {
            return;
        }
        comments += 1;
    }
    if comments == 0 {
        return;
    }
    let span = position::fence(doc, step);
    out.push(
        Diagnostic::at(
            &doc.source,
            span.start,
            span.end,
            format!(
                "step `{}` runs nothing: every line of it is a comment",
                step.name
            ),
        )
        .warning(),
    );
}
