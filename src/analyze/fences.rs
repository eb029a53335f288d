//! A code fence left open runs to the end of the file: every line after it
//! becomes part of the step's script. The parser may already have said so
//! (then it is not repeated); otherwise it is a warning at the fence.

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
