//! Where a step runs: `host=` (one machine) and `hosts=` (a fan-out) are
//! mutually exclusive, and only shell steps run on a host (the script goes
//! to the remote shell on stdin; an interpreter or HTTP step has no remote
//! form). `cwd=`/`env=` on a remote step are refused by
//! [`crate::check::check_document`].

use super::{error, position};
use crate::document::{Diagnostic, Document};

pub(super) fn targets(doc: &Document, out: &mut Vec<Diagnostic>) {
    for step in &doc.steps {
        let a = &step.attrs;
        if a.host.is_some() && a.hosts.is_some() {
            out.push(error(
                doc,
                position::attr(doc, step, "hosts"),
                format!(
                    "step `{}` sets both `host` and `hosts`: use `host` for one machine \
                     or `hosts` for several, not both",
                    step.name
                ),
            ));
        }
        let key = if a.host.is_some() { "host" } else { "hosts" };
        if (a.host.is_some() || a.hosts.is_some()) && !step.is_shell() {
            out.push(error(
                doc,
                position::attr(doc, step, key),
                format!(
                    "step `{}`: only shell steps can run on a host (this one is `{}`)",
                    step.name, step.lang
                ),
            ));
        }
    }
}
