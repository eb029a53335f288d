//! Parameter declarations must be consistent: a required param's default is
//! never used (a warning), and a default must be one of the param's
//! `choices` (an error: the run would refuse the very value it defaults to).
//!
//! Param values are compared as their plain text: `-p env=1` on the command
//! line is the string `"1"`, and it must match `choices: [1, 2]` written as
//! YAML numbers. Both the analysis (a default among the choices) and the run
//! (a given value among the choices) use [`same_value`], so they never
//! disagree on what a choice is.

use super::{error, position};
use crate::document::{Diagnostic, Document};
use crate::report::plain_value as plain;

/// Whether two param values are the same choice.
pub fn same_value(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    plain(a) == plain(b)
}

pub(super) fn declarations(doc: &Document, out: &mut Vec<Diagnostic>) {
    for (name, p) in &doc.front.params {
        if let Some(path) = &p.from_alert
            && let Err(why) = crate::alert::AlertPath::parse(path)
        {
            let key = ["params", name.as_str(), "from_alert"];
            let span = position::front_value(doc, &key, path);
            out.push(error(doc, span, format!("param `{name}`: {why}")));
        }
        if p.required && p.default.is_some() {
            let span = position::front_key(doc, &["params", name, "default"]);
            out.push(
                Diagnostic::at(
                    &doc.source,
                    span.start,
                    span.end,
                    format!(
                        "param `{name}` is required and has a default: the default is never used"
                    ),
                )
                .warning(),
            );
        }
        if let (Some(def), Some(choices)) = (&p.default, &p.choices)
            && !choices.iter().any(|c| same_value(c, def))
        {
            let span = position::front_key(doc, &["params", name, "default"]);
            let list = choices.iter().map(plain).collect::<Vec<_>>().join(", ");
            out.push(error(
                doc,
                span,
                format!(
                    "default `{}` of param `{name}` is not one of its choices: {list}",
                    plain(def)
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::diagnostics;
    use crate::analyze::testdoc::{doc, render};
    use crate::document::Attrs;
    use serde_json::json;

    #[test]
    fn numbers_and_their_text_are_the_same_choice() {
        assert!(same_value(&json!(1), &json!("1")));
        assert!(same_value(&json!(true), &json!("true")));
        assert!(same_value(&json!("api"), &json!("api")));
        assert!(!same_value(&json!(1), &json!("01")));
        assert!(!same_value(&json!("api"), &json!("worker")));
    }

    #[test]
    fn param_declarations() {
        let text = "---\nparams:\n  a: { required: true, default: 1 }\n  b:\n    choices: [x, w]\n    default: z\n  c: { choices: [1, 2], default: 2 }\n---\n";
        let d = doc(text, |_| Attrs::default());
        let out = diagnostics(&d);
        assert_eq!(
            render(&out),
            "\
warning: param `a` is required and has a default: the default is never used
 --> rb.md:3:24
  |
3 |   a: { required: true, default: 1 }
  |                        ^^^^^^^
error: default `z` of param `b` is not one of its choices: x, w
 --> rb.md:6:5
  |
6 |     default: z
  |     ^^^^^^^"
        );
    }
}
