//! Inventory settings that `exec::inventory` parses when a step connects:
//! `host_key_checking` (a closed set) and `connect_timeout`. Checked for
//! every entry up front, with the same parsers, so a typo is not found by
//! the first remote step half-way through an incident. A host group's
//! members must be declared hosts too.

use super::{error, position};
use crate::document::{Diagnostic, Document};
use crate::duration::parse_duration;
use crate::exec::inventory::HostKeyChecking;

pub(super) fn settings(doc: &Document, out: &mut Vec<Diagnostic>) {
    for (name, spec) in &doc.front.hosts {
        if let Some(v) = &spec.host_key_checking
            && !templated(v)
            && let Err(e) = HostKeyChecking::parse(v)
        {
            let span = position::front_value(doc, &["hosts", name, "host_key_checking"], v);
            out.push(error(doc, span, format!("host `{name}`: {e}")));
        }
        if let Some(v) = &spec.connect_timeout
            && !templated(v)
            && let Some(message) = timeout_problem(v)
        {
            let span = position::front_value(doc, &["hosts", name, "connect_timeout"], v);
            out.push(error(doc, span, format!("host `{name}`: {message}")));
        }
    }
}

/// Every member of a host group (`group: [a, b]`) is declared under `hosts:`.
pub(super) fn groups(doc: &Document, out: &mut Vec<Diagnostic>) {
    let hosts = &doc.front.hosts;
    for (name, h) in hosts {
        for member in h.group.iter().flatten() {
            if !hosts.contains_key(member) {
                let span = position::front_value(doc, &["hosts", name, "group"], member);
                out.push(error(
                    doc,
                    span,
                    format!(
                        "host group `{name}` lists `{member}`, which is not declared under `hosts:`"
                    ),
                ));
            }
        }
    }
}

/// Entries can be templates rendered during the run; those are checked then.
fn templated(v: &str) -> bool {
    v.contains("{{") || v.contains("{%")
}

fn timeout_problem(v: &str) -> Option<String> {
    match parse_duration(v) {
        Err(e) => Some(format!("connect_timeout: {e}")),
        Ok(d) if d < std::time::Duration::from_secs(1) => {
            Some("connect_timeout must be at least 1s (ssh counts whole seconds)".to_string())
        }
        Ok(_) => None,
    }
}
