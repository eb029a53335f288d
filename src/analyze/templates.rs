//! Template syntax, and where a template stands in the file. Every step
//! body, `when=`/`cwd=`/`env=`/`host=` value and `requires:` entry is a
//! template compiled with the environment the run renders with; a syntax
//! error is reported here, at the offending character of the file. The
//! offset mapping (a step body through its code lines and container prefix,
//! an inline value through its byte range) is shared by every rule that
//! points inside a template, so they all point at the same spot.

use super::position;
use crate::document::{Diagnostic, Document, Source, Span, Step};
use crate::template::literal::{self, LiteralKind};
use std::collections::HashSet;

/// The top-level names templates see.
pub const TEMPLATE_ROOTS: &[&str] = &["params", "env", "secrets", "hosts", "run", "steps", "alert"];

/// The minijinja environment used to compile templates: the one the run
/// renders with ([`crate::template::environment`]), with debug info.
pub fn template_env() -> minijinja::Environment<'static> {
    let mut env = crate::template::environment();
    env.set_debug(true);
    env
}

/// Where a template sits in the file, to map positions inside it back.
#[derive(Clone, Copy)]
pub(super) enum Origin<'a> {
    /// A step body: template offsets map through the step's code lines.
    Body(&'a Step),
    /// A string that appears verbatim (or nearly) at this byte range of the
    /// file: an attribute or a front matter value.
    Inline(Span),
}

impl Origin<'_> {
    /// Maps a byte offset inside the template to a file offset.
    pub(super) fn map(self, src: &Source, offset: usize) -> usize {
        match self {
            Origin::Inline(span) => (span.start + offset).min(span.end.max(span.start)),
            Origin::Body(step) => map_code_offset(src, step, offset),
        }
    }

    /// Where the template as a whole is pointed at: the step's fence, or the
    /// inline range.
    pub(super) fn start(self, doc: &Document) -> Span {
        match self {
            Origin::Body(step) => position::fence(doc, step),
            Origin::Inline(span) => span,
        }
    }
}

/// Compiles a template; a syntax error is reported and gives `None`, else
/// the variables it uses (`root.name` paths).
pub(super) fn compile(
    env: &minijinja::Environment<'static>,
    doc: &Document,
    text: &str,
    origin: Origin<'_>,
    out: &mut Vec<Diagnostic>,
) -> Option<HashSet<String>> {
    // Literal Go / GitHub Actions text is blanked: offsets stay the file's.
    let text = &*literal::blank(text);
    match env.template_from_str(text) {
        Ok(t) => Some(t.undeclared_variables(true)),
        Err(e) => {
            let span = error_span(doc, text, origin, &e);
            let message = format!("template syntax error: {}", error_detail(&e));
            out.push(Diagnostic::at(&doc.source, span.start, span.end, message));
            None
        }
    }
}

/// Compiles a bare expression (`when=`); like [`compile`].
pub(super) fn compile_expression(
    env: &minijinja::Environment<'static>,
    doc: &Document,
    text: &str,
    span: Span,
    out: &mut Vec<Diagnostic>,
) -> Option<HashSet<String>> {
    match env.compile_expression(text) {
        Ok(x) => Some(x.undeclared_variables(true)),
        Err(e) => {
            let at = error_span(doc, text, Origin::Inline(span), &e);
            let message = format!("expression syntax error: {}", error_detail(&e));
            out.push(Diagnostic::at(&doc.source, at.start, at.end, message));
            None
        }
    }
}

/// The file range of a minijinja error.
fn error_span(doc: &Document, text: &str, origin: Origin<'_>, e: &minijinja::Error) -> Span {
    let src = &doc.source;
    if let Some(r) = e.range()
        && r.start <= text.len()
    {
        let end = r.end.clamp(r.start, text.len());
        return Span::new(origin.map(src, r.start), origin.map(src, end));
    }
    if let Some(line) = e.line() {
        // Line only: point at the first non-blank character of that line.
        let start = text
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(str::len)
            .sum::<usize>();
        let rest = &text[start.min(text.len())..];
        let indent = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        let s = start + indent;
        return Span::new(origin.map(src, s), origin.map(src, s + 1));
    }
    origin.start(doc)
}

fn error_detail(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => d.to_string(),
        None => e.kind().to_string(),
    }
}

/// Go template text and `${{ }}` in a step body are kept literally, in
/// `check` as in `run` (one scanner, [`literal::literals`], decides for
/// both): a warning says so, and how to write it so that it is explicit.
pub(super) fn literals(doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
    let script = step.script();
    for l in literal::literals(script) {
        let text = &script[l.start..l.end];
        let first = text.lines().next().unwrap_or_default();
        let (shown, how) = if first.len() < text.len() || first.chars().count() > 60 {
            let cut: String = first.chars().take(60).collect();
            (
                format!("{cut}…"),
                "{% raw %}…{% endraw %} around it".to_string(),
            )
        } else {
            (
                text.to_string(),
                format!("`{{% raw %}}{text}{{% endraw %}}`"),
            )
        };
        let what = match l.kind {
            LiteralKind::Go => "Go template syntax, not runbook's",
            LiteralKind::Actions => "a GitHub Actions expression",
        };
        let start = map_code_offset(&doc.source, step, l.start);
        let end = map_code_offset(&doc.source, step, l.start + first.len());
        out.push(
            Diagnostic::at(
                &doc.source,
                start,
                end.max(start + 1),
                format!("`{shown}` is {what}: it is kept literally (write {how} to say so)"),
            )
            .warning(),
        );
    }
}

/// Maps a byte offset in `step.script()` to a byte offset in the file: line
/// `code_line + n`, and the column shifted by the container prefix (`> `,
/// list indentation) the file line carries before the code.
pub fn map_code_offset(src: &Source, step: &Step, offset: usize) -> usize {
    let code = step.script();
    let offset = offset.min(code.len());
    let before = &code[..floor_char_boundary(code, offset)];
    let line_idx = before.matches('\n').count();
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col_in_code = before.len() - line_start;
    let code_line_text = code[line_start..]
        .split('\n')
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r');
    let file_line = step.code_line + line_idx;
    let file_text = src.line_text(file_line);
    let prefix = if file_text.ends_with(code_line_text) {
        file_text.len() - code_line_text.len()
    } else {
        0
    };
    src.offset(file_line, prefix + col_in_code + 1)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Byte ranges of `{{ ... }}` and `{% ... %}` regions in a template.
pub(super) fn regions(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(rel) = text[i..].find('{') {
        let s = i + rel;
        let close = match text.get(s + 1..s + 2) {
            Some("{") => "}}",
            Some("%") => "%}",
            _ => {
                i = s + 1;
                continue;
            }
        };
        match text[s + 2..].find(close) {
            Some(e) => {
                let end = s + 2 + e + 2;
                out.push((s, end));
                i = end;
            }
            None => {
                out.push((s, text.len()));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::testdoc::{doc, named, render};

    #[test]
    fn template_syntax_error_maps_to_file_line_in_a_blockquote() {
        let d = doc(
            "# T\n\n> ```bash {name=a}\n> echo one\n> echo {{ params.x }\n> ```\n",
            |_| named("a"),
        );
        let out = crate::analyze::diagnostics(&d);
        // Line 2 of the code is line 5 of the file; the column counts the
        // `> ` prefix of the blockquote.
        assert_eq!(
            render(&out),
            "\
error: template syntax error: unexpected `}`, expected end of variable block
 --> rb.md:5:20
  |
5 | > echo {{ params.x }
  |                    ^"
        );
    }

    #[test]
    fn shell_length_expansion_is_not_a_template_comment() {
        let d = doc("```bash {name=a}\nn=${#arr[@]}\necho $n\n```\n", |_| {
            named("a")
        });
        assert_eq!(render(&crate::analyze::diagnostics(&d)), "");
    }

    #[test]
    fn regions_are_found_and_an_unclosed_one_runs_to_the_end() {
        assert_eq!(
            regions("a {{ b }} c {% d %} e {{ f"),
            vec![(2, 9), (12, 19), (22, 26)]
        );
        assert!(regions("${#arr[@]} { x }").is_empty());
    }
}
