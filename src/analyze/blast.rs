//! `max_hosts`, the blast radius a runbook allows: the front matter's must
//! be at least 1 (a step's is checked by the attribute parser), and a step
//! that runs locally has no hosts to limit — said, so the author does not
//! believe a limit is in force. Whether a step's hosts fit is known only
//! once they are resolved (`check --preconditions`, and `run` before the
//! first step).

use super::{error, position};
use crate::document::{Diagnostic, Document, Step};

pub(super) fn front(doc: &Document, out: &mut Vec<Diagnostic>) {
    if doc.front.max_hosts == Some(0) {
        let span = position::front_value(doc, &["max_hosts"], "0");
        out.push(error(
            doc,
            span,
            "max_hosts: expected a whole number of hosts, at least 1".into(),
        ));
    }
}

pub(super) fn local_step(doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
    if step.attrs.max_hosts.is_some() && step.attrs.host.is_none() && step.attrs.hosts.is_none() {
        let span = position::attr(doc, step, "max_hosts");
        let message = format!(
            "step `{}`: max_hosts has no effect on a step that runs locally (no `host=`/`hosts=`)",
            step.name
        );
        out.push(error(doc, span, message).warning());
    }
}
