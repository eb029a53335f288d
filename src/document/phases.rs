//! Where the runbook's headings say which incident phase the run reaches:
//! an HTML comment `<!-- runbook: phase=mitigated -->` at the end of an ATX
//! heading's line, or on a line of its own after a heading (before any other
//! block). A comment is
//! invisible in every Markdown renderer (GitLab, GitHub, mdBook), so the
//! marker survives the runbook being read as documentation.
//!
//! This only finds the markers and where they stand; which names are valid
//! and what reaching one means is decided in `analyze::phases` and
//! `crate::phase`.

use super::{Document, Span};
use comrak::nodes::{AstNode, NodeValue};
use comrak::{Arena, Options, parse_document};

/// The text every phase marker starts with, after `<!--`.
const MARKER: &str = "runbook:";

/// One phase marker in the runbook's prose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseMarker {
    /// The value after `phase=` as written (quotes removed); empty when the
    /// marker has none.
    pub value: String,
    /// Where the value stands (the whole comment when there is no value).
    pub span: Span,
    /// The heading it belongs to: its text and 1-based line. `None` for a
    /// marker that follows no heading (ignored, with a warning).
    pub heading: Option<(String, usize)>,
}

/// Every phase marker of the document, in document order.
pub fn markers(doc: &Document) -> Vec<PhaseMarker> {
    let text = doc.source.text.as_str();
    let start = doc.header_at.min(text.len());
    // Most runbooks have none: skip the second parse.
    if !text[start..].contains(MARKER) {
        return Vec::new();
    }
    let body = &text[start..];
    let line0 = doc.source.line_col(start).0 - 1;
    let arena = Arena::new();
    let root = parse_document(&arena, body, &Options::default());
    let mut out = Vec::new();
    for node in root.descendants() {
        let data = node.data();
        let line = data.sourcepos.start.line + line0;
        match &data.value {
            NodeValue::HtmlBlock(b) => {
                let heading = node
                    .previous_sibling()
                    .filter(|p| matches!(p.data().value, NodeValue::Heading(_)))
                    .map(|p| (heading_text(p), p.data().sourcepos.start.line + line0));
                for (i, l) in b.literal.lines().enumerate() {
                    let heading = heading.clone().filter(|_| i == 0);
                    if let Some(m) = marker_in(doc, line + i, l, heading) {
                        out.push(m);
                    }
                }
            }
            NodeValue::HtmlInline(html) => {
                let heading = node
                    .ancestors()
                    .find(|a| matches!(a.data().value, NodeValue::Heading(_)))
                    .map(|h| (heading_text(h), h.data().sourcepos.start.line + line0));
                if let Some(m) = marker_in(doc, line, html, heading) {
                    out.push(m);
                }
            }
            _ => {}
        }
    }
    out
}

/// The plain text of a heading (its inline children), for messages.
fn heading_text<'a>(node: &'a AstNode<'a>) -> String {
    let mut s = String::new();
    for d in node.descendants() {
        match &d.data().value {
            NodeValue::Text(t) => s.push_str(t),
            NodeValue::Code(c) => s.push_str(&c.literal),
            _ => {}
        }
    }
    s.trim().to_string()
}

/// Reads `<!-- runbook: phase=VALUE -->` in `html` (one line of the
/// document, `line`), or `None` when it is not a phase marker.
fn marker_in(
    doc: &Document,
    line: usize,
    html: &str,
    heading: Option<(String, usize)>,
) -> Option<PhaseMarker> {
    let inner = html
        .trim()
        .strip_prefix("<!--")?
        .strip_suffix("-->")?
        .trim();
    let rest = inner.strip_prefix(MARKER)?.trim_start();
    let after = rest.strip_prefix("phase")?;
    if after.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let value = after
        .trim_start()
        .strip_prefix('=')
        .map(|v| v.trim().trim_matches(['"', '\'']).trim().to_string())
        .unwrap_or_default();
    let src = &doc.source;
    let line_start = src.offset(line, 1);
    let line_text = src.line_text(line);
    let comment = line_text.find("<!--").unwrap_or(0);
    let span = match (value.is_empty(), line_text[comment..].find(&value)) {
        (false, Some(i)) => Span::new(
            line_start + comment + i,
            line_start + comment + i + value.len(),
        ),
        _ => {
            let end = line_text[comment..]
                .find("-->")
                .map_or(line_text.len(), |i| comment + i + 3);
            Span::new(line_start + comment, line_start + end)
        }
    };
    Some(PhaseMarker {
        value,
        span,
        heading,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Found = (String, String, Option<(String, usize)>);

    fn found(text: &str) -> Vec<Found> {
        let doc =
            crate::document::parse("rb.md", text.to_string()).unwrap_or_else(|e| panic!("{e}"));
        markers(&doc)
            .into_iter()
            .map(|m| {
                (
                    m.value,
                    doc.source.text[m.span.start..m.span.end].to_string(),
                    m.heading,
                )
            })
            .collect()
    }

    #[test]
    fn markers_on_the_heading_line_or_the_next() {
        let text = "---\ntitle: x\n---\n# Triage\n\n## Mitigate <!-- runbook: phase=mitigated -->\n\n```bash\necho\n```\n\n## Verify `svc`\n<!-- runbook: phase=\"resolved\" -->\n\ntext\n";
        assert_eq!(
            found(text),
            vec![
                (
                    "mitigated".into(),
                    "mitigated".into(),
                    Some(("Mitigate".into(), 6))
                ),
                (
                    "resolved".into(),
                    "resolved".into(),
                    Some(("Verify svc".into(), 12))
                ),
            ]
        );
    }

    #[test]
    fn stray_empty_and_look_alike_markers() {
        let text = "# A\n\nprose\n\n<!-- runbook: phase=closed -->\n\n# B\n<!-- runbook: phase -->\n\n# C\n<!-- runbook: phases=x -->\n<!-- runbook:begin 0123 -->\n\n```bash\n# <!-- runbook: phase=active -->\n```\n";
        assert_eq!(
            found(text),
            vec![
                ("closed".into(), "closed".into(), None),
                (
                    String::new(),
                    "<!-- runbook: phase -->".into(),
                    Some(("B".into(), 7))
                ),
            ]
        );
    }

    #[test]
    fn no_marker_no_parse() {
        assert!(found("# A\n\n```bash\necho\n```\n").is_empty());
    }
}
