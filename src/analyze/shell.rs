//! Shell-context refusals that do not depend on a value. The shell
//! templates' guard (`src/template/shellctx.rs`) refuses some places a
//! value can never be proven safe in, whatever it is (inside an `sh -c "…"`
//! script the outer shell expands first, for one). `run` found those only
//! when it rendered the steps, so `check` accepted runbooks `run` refused.
//! This rule renders every shell step with values that pass every context
//! (integer-like params, `0` secrets, dry-run placeholders for step results
//! and the environment), so what is left refused is refused for the place,
//! not the value. Refusals that depend on the value (an arithmetic context
//! given a word) stay with `run`; other render errors (an undefined name)
//! are reported by the reference rules (`references.rs`).

use crate::document::{Diagnostic, Document};
use crate::template::{Escape, Templates, placeholder, to_value};
use indexmap::IndexMap;

pub(super) fn contexts(doc: &Document, out: &mut Vec<Diagnostic>) {
    let steps: Vec<_> = doc
        .steps
        .iter()
        .filter(|s| s.is_shell() && !s.attrs.skip)
        .collect();
    if steps.is_empty() {
        return;
    }
    let templates = Templates::new();
    let ctx = harmless_context(doc);
    for step in steps {
        let Err(e) = templates.preview(step.script(), Escape::Shell, &ctx) else {
            continue;
        };
        if !e.refused {
            continue;
        }
        // Positioned and worded as `run` reports a render failure.
        let file_line = step.code_line + e.line.unwrap_or(1) - 1;
        let line = if e.line.is_some() {
            file_line
        } else {
            step.line
        };
        out.push(Diagnostic::at_line_col(
            &doc.source,
            line,
            1,
            doc.source.line_text(file_line).len().max(1),
            format!("template error in step `{}`: {}", step.name, e.message),
        ));
    }
}

/// Params as their default when that is an integer literal, else `0`;
/// secrets `0`; env and step results deferred placeholders; hosts as
/// declared.
fn harmless_context(doc: &Document) -> minijinja::Value {
    let params: IndexMap<String, serde_json::Value> = doc
        .front
        .params
        .iter()
        .map(|(name, p)| {
            let value = match &p.default {
                Some(v @ serde_json::Value::Number(n)) if n.is_i64() || n.is_u64() => v.clone(),
                Some(serde_json::Value::String(s)) if s.trim().parse::<i64>().is_ok() => {
                    serde_json::Value::String(s.clone())
                }
                _ => serde_json::Value::String("0".into()),
            };
            (name.clone(), value)
        })
        .collect();
    let secrets: IndexMap<String, String> = doc
        .front
        .secrets
        .keys()
        .map(|k| (k.clone(), "0".to_string()))
        .collect();
    let hosts: IndexMap<String, serde_json::Value> = doc
        .front
        .hosts
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
        .collect();
    let steps: std::collections::BTreeMap<String, minijinja::Value> = doc
        .steps
        .iter()
        .map(|s| (s.name.clone(), placeholder(&format!("steps.{}", s.name))))
        .collect();
    minijinja::context! {
        params => to_value(&params),
        env => placeholder("env"),
        secrets => to_value(&secrets),
        hosts => to_value(&hosts),
        run => to_value(&serde_json::json!({
            "started_at": "0",
            "operator": "0",
            "machine": "0",
            "dry_run": false,
            "runbook": "0",
        })),
        steps => minijinja::Value::from(steps),
    }
}
