//! Incident phases: the four states an incident moves through (`active`,
//! `mitigated`, `resolved`, `closed`), the label each one has on the
//! incident (a team's own names from the front matter's `phases:`, else
//! GitLab scoped labels `incident::<phase>`), and where in a runbook each
//! phase is reached: after a step with `phase=` succeeds, or when the run
//! gets to a heading marked `<!-- runbook: phase=... -->`.
//!
//! Neutral ground: `analyze` checks names against it, `run --publish`
//! moves the incident's label and timeline with it.

use crate::document::phases::markers;
use crate::document::{Document, FrontMatter, Span};

/// The phases, in the order an incident goes through them.
pub const PHASES: [&str; 4] = ["active", "mitigated", "resolved", "closed"];

/// The position of a phase in [`PHASES`].
pub fn rank(name: &str) -> Option<usize> {
    PHASES.iter().position(|p| *p == name)
}

/// The closest phase name, when `name` looks like a typo of one.
pub fn suggest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    PHASES
        .iter()
        .map(|p| (crate::document::attrs::distance(&lower, p), *p))
        .filter(|(d, p)| *d <= 2.max(p.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, p)| p)
}

/// The label of `phase` when the front matter names none: a GitLab scoped
/// label, so the incident carries one phase at a time.
pub fn default_label(phase: &str) -> String {
    format!("incident::{phase}")
}

/// Every phase with its label, in order.
pub fn labels(front: &FrontMatter) -> Vec<(&'static str, String)> {
    PHASES
        .iter()
        .map(|p| {
            let label = front
                .phases
                .get(*p)
                .cloned()
                .unwrap_or_else(|| default_label(p));
            (*p, label)
        })
        .collect()
}

/// Where a phase is reached in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reached {
    /// When the step of this name succeeds.
    AfterStep(String),
    /// When the run gets to this heading: the first step after it (its
    /// index) is about to run, or, with no step after it, the run
    /// succeeded.
    AtHeading {
        heading: String,
        first_step: Option<usize>,
    },
}

/// A phase the runbook reaches somewhere, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhasePoint {
    pub phase: &'static str,
    pub line: usize,
    pub reached: Reached,
    /// Where a heading's marker names the phase (`None` for a step: its
    /// `phase=` attribute).
    pub marker: Option<Span>,
}

/// Every valid phase point of the runbook, in document order (unknown
/// names are left out: `analyze` refuses them before a run).
pub fn points(doc: &Document) -> Vec<PhasePoint> {
    let mut out: Vec<PhasePoint> = Vec::new();
    for step in doc.steps.iter().filter(|s| !s.is_rollback()) {
        if let Some(phase) = step.attrs.phase.as_deref().and_then(known) {
            out.push(PhasePoint {
                phase,
                line: step.line,
                reached: Reached::AfterStep(step.name.clone()),
                marker: None,
            });
        }
    }
    for m in markers(doc) {
        let span = m.span;
        let (Some(phase), Some((heading, line))) = (known(&m.value), m.heading) else {
            continue;
        };
        let first_step = doc
            .steps
            .iter()
            .find(|s| s.line > line && !s.is_rollback())
            .map(|s| s.index);
        out.push(PhasePoint {
            phase,
            line,
            reached: Reached::AtHeading {
                heading,
                first_step,
            },
            marker: Some(span),
        });
    }
    out.sort_by_key(|p| p.line);
    out
}

fn known(name: &str) -> Option<&'static str> {
    PHASES.iter().find(|p| **p == name).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_in_document_order() {
        let text = "---\nphases:\n  mitigated: \"CWF::Incident::Mitigated\"\n---\n# Triage <!-- runbook: phase=active -->\n\n```bash {name=look}\nuptime\n```\n\n```bash {name=fix phase=mitigated}\necho\n```\n\n## Done\n<!-- runbook: phase=resolved -->\n";
        let doc =
            crate::document::parse("rb.md", text.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let p = points(&doc);
        assert_eq!(
            p,
            vec![
                PhasePoint {
                    phase: "active",
                    line: 5,
                    reached: Reached::AtHeading {
                        heading: "Triage".into(),
                        first_step: Some(0)
                    },
                    marker: Some(Span::new(85, 91)),
                },
                PhasePoint {
                    phase: "mitigated",
                    line: 11,
                    reached: Reached::AfterStep("fix".into()),
                    marker: None,
                },
                PhasePoint {
                    phase: "resolved",
                    line: 15,
                    reached: Reached::AtHeading {
                        heading: "Done".into(),
                        first_step: None
                    },
                    marker: Some(Span::new(202, 210)),
                },
            ]
        );
        assert_eq!(
            labels(&doc.front),
            vec![
                ("active", "incident::active".to_string()),
                ("mitigated", "CWF::Incident::Mitigated".to_string()),
                ("resolved", "incident::resolved".to_string()),
                ("closed", "incident::closed".to_string()),
            ]
        );
        assert_eq!(suggest("mitigate"), Some("mitigated"));
        assert_eq!(suggest("Resolved"), Some("resolved"));
        assert_eq!(suggest("banana"), None);
    }
}
