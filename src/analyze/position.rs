//! Where things stand in the runbook file, for diagnostics: a key path in
//! the YAML front matter, a value under it, an attribute of a step. One
//! place computes these so every rule points at the same spot.

use crate::document::{Document, Span, Step};
use regex::Regex;

/// The byte range of the last key of a path like `params.service.default`
/// in the front matter, found by successive searches (block or flow YAML).
/// Falls back to the deepest key found, or the opening `---`.
pub fn front_key(doc: &Document, keys: &[&str]) -> Span {
    let text = &doc.source.text;
    let Some(span) = doc.front_span else {
        return Span::new(0, 1);
    };
    let end = span.end.min(text.len());
    let mut at = span.start.min(end);
    let mut found = Span::new(at, at + 3);
    for key in keys {
        let pat = format!(r#"(?m)(?:^|[\s{{,])["']?({})["']?\s*:"#, regex::escape(key));
        let Ok(re) = Regex::new(&pat) else { break };
        match re.captures(&text[at..end]).and_then(|c| c.get(1)) {
            Some(m) => {
                found = Span::new(at + m.start(), at + m.end());
                at += m.end();
            }
            None => break,
        }
    }
    found
}

/// Line, column and width of the last key of a path, as [`front_key`] finds
/// it: for diagnostics built with [`Diagnostic::at_line_col`] (`run` uses it
/// for params it is given and secrets it reads).
///
/// [`Diagnostic::at_line_col`]: crate::document::Diagnostic::at_line_col
pub fn front_key_line_col(doc: &Document, keys: &[&str]) -> (usize, usize, usize) {
    let span = front_key(doc, keys);
    let (line, col) = doc.source.line_col(span.start);
    (line, col, span.len().max(1))
}

/// The byte range of `value` written under the key path, or of the key.
pub fn front_value(doc: &Document, keys: &[&str], value: &str) -> Span {
    let key = front_key(doc, keys);
    let text = &doc.source.text;
    let end = doc.front_span.map(|s| s.end).unwrap_or(0).min(text.len());
    if key.start < end
        && let Some(i) = text[key.start..end].find(value)
    {
        return Span::new(key.start + i, key.start + i + value.len());
    }
    key
}

/// Narrows `span` to where `value` itself stands inside it (after a key and
/// maybe a quote). A value not verbatim in the file (quoted with escapes) is
/// searched from the span start to the end of its line; not found, `span`.
pub fn inline(doc: &Document, span: Span, value: &str) -> Span {
    let text = &doc.source.text;
    if let Some(region) = text.get(span.start..span.end)
        && let Some(i) = region.find(value)
    {
        return Span::new(span.start + i, span.start + i + value.len());
    }
    let line_end = text[span.start.min(text.len())..]
        .find('\n')
        .map(|i| span.start + i)
        .unwrap_or(text.len());
    if let Some(region) = text.get(span.start..line_end)
        && let Some(i) = region.find(value)
    {
        return Span::new(span.start + i, span.start + i + value.len());
    }
    span
}

/// The opening fence of a step.
pub fn fence(doc: &Document, step: &Step) -> Span {
    let src = &doc.source;
    let start = src.offset(step.line, step.col);
    let len = src
        .line_text(step.line)
        .get(step.col.saturating_sub(1)..)
        .map(|rest| {
            rest.bytes()
                .take_while(|b| *b == b'`' || *b == b'~')
                .count()
        })
        .unwrap_or(3);
    Span::new(start, start + len.max(1))
}

/// The span of a step attribute (`key=value`), or the fence.
pub fn attr(doc: &Document, step: &Step, key: &str) -> Span {
    match step.attrs.span_of(key) {
        Some(s) if s.end <= doc.source.text.len() && s.start <= s.end => s,
        _ => fence(doc, step),
    }
}

/// Where `value` stands inside the attribute `key` (after `key=` and maybe
/// a quote), or the whole attribute.
pub fn attr_value(doc: &Document, step: &Step, key: &str, value: &str) -> Span {
    let span = attr(doc, step, key);
    match doc
        .source
        .text
        .get(span.start..span.end)
        .and_then(|r| r.find(value))
    {
        Some(i) => Span::new(span.start + i, span.start + i + value.len()),
        None => span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::testdoc::doc;
    use crate::document::Attrs;

    #[test]
    fn front_keys_by_path_in_block_and_flow_yaml() {
        let d = doc(
            "---\ntitle: x\nparams:\n  host: { default: a }\n  service: { required: true }\nhosts: { service: { ssh: u@h } }\n---\n",
            |_| Attrs::default(),
        );
        assert_eq!(front_key_line_col(&d, &["params"]), (3, 1, 6));
        assert_eq!(front_key_line_col(&d, &["params", "service"]), (5, 3, 7));
        // The path tells a param from a host of the same name.
        assert_eq!(front_key_line_col(&d, &["hosts", "service"]), (6, 10, 7));
        assert_eq!(
            front_key_line_col(&d, &["hosts", "service", "ssh"]),
            (6, 21, 3)
        );
        // Not there: the deepest key found, or the opening `---`.
        assert_eq!(front_key_line_col(&d, &["params", "nope"]), (3, 1, 6));
        assert_eq!(front_key_line_col(&d, &["secrets"]), (1, 1, 3));
        let none = doc("# T\n", |_| Attrs::default());
        assert_eq!(front_key_line_col(&none, &["params"]), (1, 1, 1));
    }

    #[test]
    fn inline_values_after_a_key_and_a_quote() {
        let d = doc("x: \"a\\\"b\" c\n", |_| Attrs::default());
        // Verbatim inside the span.
        assert_eq!(inline(&d, Span::new(0, 11), "c"), Span::new(10, 11));
        // Not inside the span: searched to the end of its line.
        assert_eq!(inline(&d, Span::new(0, 4), "c"), Span::new(10, 11));
        // Not found at all: the span.
        assert_eq!(inline(&d, Span::new(0, 4), "zz"), Span::new(0, 4));
    }
}
