//! Confirmation gates need someone to answer them. A runbook marked
//! `interactive: false` is meant for pipelines, where nobody can: a gate
//! there (`confirm: all` in the front matter, or `confirm` on a step) would
//! stop the run at the gate, so it is refused up front.

use super::{error, position};
use crate::document::{Diagnostic, Document, Step};

/// `confirm: all` in a runbook that is `interactive: false`.
pub(super) fn runbook(doc: &Document, out: &mut Vec<Diagnostic>) {
    let front = &doc.front;
    if front.interactive == Some(false)
        && let Some(c) = &front.confirm
        && c.gates_all()
    {
        out.push(error(
            doc,
            position::front_key(doc, &["confirm"]),
            "`confirm: all` gates every step, but the runbook is `interactive: false`: \
             a pipeline cannot answer gates"
                .to_string(),
        ));
    }
}

/// A step's `confirm` in a runbook that is `interactive: false`.
pub(super) fn step(doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
    if step.attrs.confirm.is_some() && doc.front.interactive == Some(false) {
        out.push(error(
            doc,
            position::attr(doc, step, "confirm"),
            format!(
                "step `{}` has a confirmation gate, but the runbook is `interactive: false`: \
                 a pipeline cannot answer gates",
                step.name
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::diagnostics;
    use crate::analyze::testdoc::{doc, named};
    use crate::document::{Attrs, Confirm, Diagnostic};

    #[test]
    fn gates_in_a_non_interactive_runbook_are_errors() {
        let text = "---\ninteractive: false\nconfirm: all\n---\n```bash {name=a confirm}\nrm -rf /tmp/x\n```\n";
        let d = doc(text, |_| Attrs {
            confirm: Some(Confirm::Default),
            ..named("a")
        });
        assert_eq!(
            diagnostics(&d)
                .iter()
                .map(Diagnostic::short)
                .collect::<Vec<_>>(),
            vec![
                "rb.md:3:1: error: `confirm: all` gates every step, but the runbook is `interactive: false`: a pipeline cannot answer gates",
                "rb.md:5:17: error: step `a` has a confirmation gate, but the runbook is `interactive: false`: a pipeline cannot answer gates",
            ]
        );
    }
}
