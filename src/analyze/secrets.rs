//! Secret declarations: each names exactly one source (`env`, `file` or
//! `command`). The values are read only by `run`; the shape is checked here.

use super::{error, position};
use crate::document::{Diagnostic, Document};

pub(super) fn sources(doc: &Document, out: &mut Vec<Diagnostic>) {
    for (name, spec) in &doc.front.secrets {
        let given: Vec<&str> = [
            ("env", spec.env.is_some()),
            ("file", spec.file.is_some()),
            ("command", spec.command.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        let message = match given.as_slice() {
            [] => format!("secret `{name}` has no source: give one of `env`, `file` or `command`"),
            [_] => continue,
            many => format!(
                "secret `{name}` has more than one source (`{}`): give exactly one",
                many.join("`, `")
            ),
        };
        let span = position::front_key(doc, &["secrets", name]);
        out.push(error(doc, span, message));
    }
}
