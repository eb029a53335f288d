//! Where a step runs: `host=` (one machine) and `hosts=` (a fan-out) are
//! mutually exclusive, and only shell steps run on a host (the script goes
//! to the remote shell on stdin; an interpreter or HTTP step has no remote
//! form). `cwd=`/`env=` are refused on a remote step, which does its own
//! `cd` / `export` in the script.

use super::{error, position};
use crate::document::{Diagnostic, Document, Step};

/// `cwd=` and `env=` set on a step that runs on a host.
pub(super) fn local_only(doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
    let a = &step.attrs;
    if a.host.is_none() && a.hosts.is_none() {
        return;
    }
    for key in ["cwd", "env"] {
        if a.span_of(key).is_some() {
            out.push(error(
                doc,
                position::attr(doc, step, key),
                format!(
                    "`{key}` is not supported on remote hosts: use `cd` / `export` in the step"
                ),
            ));
        }
    }
}

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
