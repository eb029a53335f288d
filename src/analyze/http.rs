//! `http` blocks: the request structure (request line, headers, body) is
//! checked before rendering with [`crate::exec::http::check_template`], the
//! same parser the run uses after rendering, lenient only where template
//! syntax stands.

use super::error;
use super::templates::map_code_offset;
use crate::document::{Diagnostic, Document, Span, StepKind};

pub(super) fn blocks(doc: &Document, out: &mut Vec<Diagnostic>) {
    for step in &doc.steps {
        if step.kind != StepKind::Http {
            continue;
        }
        let Err(e) = crate::exec::http::check_template(&step.code) else {
            continue;
        };
        // The offending line of the block, as a range of `step.code`.
        let start: usize = step
            .code
            .split_inclusive('\n')
            .take(e.line.saturating_sub(1))
            .map(str::len)
            .sum();
        let start = start.min(step.code.len());
        let rest = &step.code[start..];
        let len = rest.find('\n').unwrap_or(rest.len());
        let span = Span::new(
            map_code_offset(&doc.source, step, start),
            map_code_offset(&doc.source, step, start + len),
        );
        out.push(error(
            doc,
            span,
            format!("step `{}`: invalid HTTP request: {}", step.name, e.message),
        ));
    }
}
