//! Rollbacks must be able to run when they are needed, which is exactly
//! when nobody wants a surprise: every `rollback=NAME` names a block marked
//! `{rollback}` (a normal step named there would run twice), a rollback
//! block undoes one step (it cannot have a rollback of its own: the
//! attribute parser refuses `rollback` twice), it is never a
//! step of the normal flow (`background`, `excludeFromRunAll`), and a block
//! that takes its step's host (it names none) can run there.

use super::{error, position};
use crate::document::{Diagnostic, Document, Rollback, Step};

/// Every rule about rollbacks, over the whole document.
pub(super) fn rules(doc: &Document, out: &mut Vec<Diagnostic>) {
    let mut undone_by: Vec<(&str, &str)> = Vec::new();
    for step in &doc.steps {
        if step.is_rollback() {
            block(doc, step, out);
        }
        let Some(Rollback::Block(name)) = &step.attrs.rollback else {
            continue;
        };
        let at = position::attr_value(doc, step, "rollback", name);
        let Some(target) = doc.step(name) else {
            out.push(error(
                doc,
                at,
                format!(
                    "step `{}`: `rollback={name}` names no block (mark the undo \
                     ```bash {{name={name} rollback}}```, or quote a command: rollback=\"...\")",
                    step.name
                ),
            ));
            continue;
        };
        if !target.is_rollback() {
            out.push(error(
                doc,
                at,
                format!(
                    "step `{}`: `{name}` is a normal step, not a rollback block: it would \
                     also run in the normal flow (mark it {{name={name} rollback}})",
                    step.name
                ),
            ));
            continue;
        }
        if let Some((_, first)) = undone_by.iter().find(|(b, _)| *b == name) {
            out.push(error(
                doc,
                at,
                format!(
                    "step `{}`: rollback block `{name}` already undoes step `{first}` \
                     (a rollback block undoes one step)",
                    step.name
                ),
            ));
            continue;
        }
        undone_by.push((name, &step.name));
        inherits_host(doc, step, target, out);
    }
    for step in doc.steps.iter().filter(|s| s.is_rollback()) {
        if !undone_by.iter().any(|(b, _)| *b == step.name) {
            out.push(
                error(
                    doc,
                    position::attr(doc, step, "rollback"),
                    format!(
                        "rollback block `{}` is not the rollback of any step: it never runs",
                        step.name
                    ),
                )
                .warning(),
            );
        }
    }
}

/// A rollback block's own rules.
fn block(doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
    for (key, set) in [
        ("background", step.attrs.background),
        ("excludeFromRunAll", step.attrs.exclude_from_run_all),
    ] {
        if set {
            out.push(error(
                doc,
                position::attr(doc, step, key),
                format!(
                    "rollback block `{}` cannot be `{key}`: it runs only to undo its step",
                    step.name
                ),
            ));
        }
    }
}

/// A rollback block that names no host runs on its step's: it must be a
/// shell block there.
fn inherits_host(doc: &Document, step: &Step, target: &Step, out: &mut Vec<Diagnostic>) {
    let remote = step.attrs.host.is_some() || step.attrs.hosts.is_some();
    let own = target.attrs.host.is_some() || target.attrs.hosts.is_some();
    if remote && !own && !target.is_shell() {
        out.push(error(
            doc,
            position::fence(doc, target),
            format!(
                "rollback block `{}` runs on the host of step `{}` (it names none), \
                 but only shell steps can run on a host (this one is `{}`)",
                target.name, step.name, target.lang
            ),
        ));
    }
}
