//! Secret declarations: each names exactly one source (`env`, `file`,
//! `command` or `keyring`), and a `keyring:` names a service and a name.
//! The values are read only by `run` (and `check --preconditions`); the
//! shape is checked here.

use super::{error, position};
use crate::document::{Diagnostic, Document, KeyringRef};

pub(super) fn sources(doc: &Document, out: &mut Vec<Diagnostic>) {
    for (name, spec) in &doc.front.secrets {
        let given: Vec<&str> = [
            ("env", spec.env.is_some()),
            ("file", spec.file.is_some()),
            ("command", spec.command.is_some()),
            ("keyring", spec.keyring.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        let message = match given.as_slice() {
            [] => format!(
                "secret `{name}` has no source: give one of `env`, `file`, `command` or `keyring`"
            ),
            [_] => {
                if let Some(k) = &spec.keyring {
                    keyring(doc, name, k, out);
                }
                continue;
            }
            many => format!(
                "secret `{name}` has more than one source (`{}`): give exactly one",
                many.join("`, `")
            ),
        };
        let span = position::front_key(doc, &["secrets", name]);
        out.push(error(doc, span, message));
    }
}

/// A `keyring:` needs a service and a name, both without control
/// characters (D-Bus strings cannot carry a NUL).
fn keyring(doc: &Document, secret: &str, k: &KeyringRef, out: &mut Vec<Diagnostic>) {
    let problem = if k.missing_separator() {
        format!(
            "`keyring: {k}` has no `/`: write `service/name` (split at the first `/`), or `{{service: …, name: …}}`"
        )
    } else if k.service.trim().is_empty() {
        "`keyring:` has an empty service: write `service/name`".to_string()
    } else if k.name.trim().is_empty() {
        "`keyring:` has an empty name: write `service/name`".to_string()
    } else if k
        .service
        .chars()
        .chain(k.name.chars())
        .any(char::is_control)
    {
        "`keyring:` holds a control character".to_string()
    } else {
        return;
    };
    let keys = ["secrets", secret, "keyring"];
    let span = match &k.written {
        Some(w) if !w.is_empty() => position::front_value(doc, &keys, w),
        _ => position::front_key(doc, &keys),
    };
    out.push(error(doc, span, format!("secret `{secret}`: {problem}")));
}
