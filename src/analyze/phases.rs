//! Incident phases: `phase=` on a step, `<!-- runbook: phase=... -->` after
//! a heading and the front matter's `phases:` labels must name one of the
//! four phases (`crate::phase::PHASES`), and a label must be one GitLab can
//! set. A runbook whose phases go backwards (mitigated, then active) is
//! probably wrong: a warning.

use super::position;
use crate::document::phases::markers;
use crate::document::{Diagnostic, Document, Span};
use crate::phase::{PHASES, rank, suggest};

pub(super) fn rules(doc: &Document, out: &mut Vec<Diagnostic>) {
    let src = &doc.source;
    for step in &doc.steps {
        if let Some(v) = step.attrs.phase.as_deref() {
            let span = position::attr_value(doc, step, "phase", v);
            if let Some(m) = unknown(v) {
                out.push(Diagnostic::at(src, span.start, span.end, m));
            }
        }
    }
    for m in markers(doc) {
        let (start, end) = (m.span.start, m.span.end);
        if m.value.is_empty() {
            out.push(Diagnostic::at(
                src,
                start,
                end,
                "phase marker without a phase: write `<!-- runbook: phase=mitigated -->`",
            ));
        } else if let Some(msg) = unknown(&m.value) {
            out.push(Diagnostic::at(src, start, end, msg));
        } else if m.heading.is_none() {
            out.push(
                Diagnostic::at(
                    src,
                    start,
                    end,
                    format!(
                        "phase marker `{}` follows no heading and is ignored: put it at the end of a heading's line or on the line after the heading",
                        m.value
                    ),
                )
                .warning(),
            );
        }
    }
    labels(doc, out);
    backwards(doc, out);
}

/// `unknown phase ...` when `name` is not a phase.
fn unknown(name: &str) -> Option<String> {
    if rank(name).is_some() {
        return None;
    }
    let hint = suggest(name)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    Some(format!(
        "unknown phase `{name}`{hint}: phases are {}",
        PHASES.join(", ")
    ))
}

/// The front matter's `phases:` map: known phases, labels GitLab accepts
/// (`add_labels` is comma-separated), no label for two phases.
fn labels(doc: &Document, out: &mut Vec<Diagnostic>) {
    let src = &doc.source;
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (phase, label) in &doc.front.phases {
        let key = position::front_key(doc, &["phases", phase]);
        if let Some(msg) = unknown(phase) {
            out.push(Diagnostic::at(
                src,
                key.start,
                key.end,
                format!("front matter: `phases`: {msg}"),
            ));
            continue;
        }
        let at = |value: &str| -> Span {
            if value.is_empty() {
                key
            } else {
                position::front_value(doc, &["phases", phase], value)
            }
        };
        let problem = if label.trim().is_empty() {
            Some("the label is empty".to_string())
        } else if label.contains(',') {
            Some("a label cannot contain `,` (GitLab separates labels with commas)".into())
        } else if label.chars().any(char::is_control) {
            Some("a label cannot contain control characters".into())
        } else if label.chars().count() > 255 {
            Some("a label is at most 255 characters".into())
        } else if label.trim() != label {
            Some("a label has no blanks around it".into())
        } else {
            seen.iter()
                .find(|(_, l)| *l == label.as_str())
                .map(|(p, _)| format!("`{label}` is already the label of `{p}`"))
        };
        match problem {
            Some(why) => {
                let s = at(label.trim());
                out.push(Diagnostic::at(
                    src,
                    s.start,
                    s.end,
                    format!("front matter: `phases.{phase}`: {why}"),
                ));
            }
            None => seen.push((phase, label)),
        }
    }
}

/// A phase point earlier in the order than one before it.
fn backwards(doc: &Document, out: &mut Vec<Diagnostic>) {
    let src = &doc.source;
    let mut furthest: Option<&crate::phase::PhasePoint> = None;
    let points = crate::phase::points(doc);
    for p in &points {
        if let Some(f) = furthest
            && rank(p.phase) < rank(f.phase)
        {
            let span = match (&p.marker, &p.reached) {
                (Some(m), _) => *m,
                (None, crate::phase::Reached::AfterStep(name)) => match doc.step(name) {
                    Some(step) => position::attr_value(doc, step, "phase", p.phase),
                    None => Span::new(0, 1),
                },
                (None, _) => Span::new(0, 1),
            };
            out.push(
                Diagnostic::at(
                    src,
                    span.start,
                    span.end,
                    format!(
                        "phase `{}` after `{}` (line {}): the incident's phase goes backwards",
                        p.phase, f.phase, f.line
                    ),
                )
                .warning(),
            );
        }
        if furthest.is_none_or(|f| rank(p.phase) >= rank(f.phase)) {
            furthest = Some(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::diagnostics;

    fn shown(text: &str) -> Vec<String> {
        let doc =
            crate::document::parse("rb.md", text.to_string()).unwrap_or_else(|e| panic!("{e}"));
        diagnostics(&doc).iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn unknown_phase_on_a_step_points_at_the_value() {
        assert_eq!(
            shown("```bash {name=fix phase=mitigate}\necho\n```\n"),
            [
                "error: unknown phase `mitigate` (did you mean `mitigated`?): phases are active, mitigated, resolved, closed\n --> rb.md:1:25\n  |\n1 | ```bash {name=fix phase=mitigate}\n  |                         ^^^^^^^^"
            ]
        );
    }

    #[test]
    fn heading_markers_labels_and_order() {
        let text = "---\nphases:\n  mitigated: \"CWF::Incident::Mitigated\"\n  resolvd: x\n  closed: \"a,b\"\n  active: \"CWF::Incident::Mitigated\"\n---\n# Fix <!-- runbook: phase=resolved -->\n\n```bash {name=a phase=mitigated}\necho\n```\n\n# Again\n<!-- runbook: phase=actve -->\n\nprose\n\n<!-- runbook: phase=closed -->\n\n# Empty\n<!-- runbook: phase= -->\n";
        let got: Vec<String> = shown(text)
            .iter()
            .map(|d| d.lines().take(2).collect::<Vec<_>>().join(" | "))
            .collect();
        assert_eq!(
            got,
            [
                "error: front matter: `phases`: unknown phase `resolvd` (did you mean `resolved`?): phases are active, mitigated, resolved, closed |  --> rb.md:4:3",
                "error: front matter: `phases.closed`: a label cannot contain `,` (GitLab separates labels with commas) |  --> rb.md:5:12",
                "error: front matter: `phases.active`: `CWF::Incident::Mitigated` is already the label of `mitigated` |  --> rb.md:6:12",
                "warning: phase `mitigated` after `resolved` (line 8): the incident's phase goes backwards |   --> rb.md:10:23",
                "error: unknown phase `actve` (did you mean `active`?): phases are active, mitigated, resolved, closed |   --> rb.md:15:21",
                "warning: phase marker `closed` follows no heading and is ignored: put it at the end of a heading's line or on the line after the heading |   --> rb.md:19:21",
                "error: phase marker without a phase: write `<!-- runbook: phase=mitigated -->` |   --> rb.md:22:1",
            ]
        );
    }
}
