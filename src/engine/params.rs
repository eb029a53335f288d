//! Params as a run uses them: `-p key=value` and a params file checked
//! against the declarations (undeclared, required, choices compared with the
//! same typing `check` uses), every problem reported at once. A param
//! declared `from_alert:` takes the alert's value when neither `-p` nor the
//! params file gives one; no param is ever filled from an alert by name.

use crate::alert::{Alert, AlertPath};
use crate::analyze::params::same_value;
use crate::analyze::position::front_key_line_col;
use crate::document::{Diagnostic, Document};
use crate::error::{Error, Result};
use crate::report::plain_value as plain;
use indexmap::IndexMap;
use std::path::Path;

/// Parses `key=value` pairs and a params file against the declared params.
pub fn resolve_params(
    doc: &Document,
    cli: &[String],
    file: Option<&Path>,
    alert: Option<&Alert>,
) -> Result<IndexMap<String, serde_json::Value>> {
    let mut given: IndexMap<String, serde_json::Value> = IndexMap::new();
    if let Some(f) = file {
        let text = crate::input::read_to_string(f).map_err(|e| Error::io(f, e))?;
        let map: IndexMap<String, serde_json::Value> = serde_saphyr::from_str(&text)
            .map_err(|e| Error::Usage(format!("{}: invalid params file: {e}", f.display())))?;
        given.extend(map);
    }
    for kv in cli {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(Error::Usage(format!(
                "invalid param `{kv}`: expected KEY=VALUE"
            )));
        };
        given.insert(
            k.trim().to_string(),
            serde_json::Value::String(v.to_string()),
        );
    }
    let declared = &doc.front.params;
    let mut diags = Vec::new();
    let (pline, pcol, pwidth) = front_key_line_col(doc, &["params"]);
    for k in given.keys() {
        if !declared.contains_key(k) {
            let names: Vec<&str> = declared.keys().map(|s| s.as_str()).collect();
            let msg = if names.is_empty() {
                format!("param `{k}` is not declared: this runbook declares no params")
            } else {
                format!(
                    "param `{k}` is not declared (declared: {})",
                    names.join(", ")
                )
            };
            diags.push(Diagnostic::at_line_col(
                &doc.source,
                pline,
                pcol,
                pwidth,
                msg,
            ));
        }
    }
    let mut out = IndexMap::new();
    for (name, spec) in declared {
        let from_alert = from_alert(spec.from_alert.as_deref(), alert);
        let value = match given
            .get(name)
            .or(from_alert.as_ref())
            .or(spec.default.as_ref())
        {
            Some(v) => v.clone(),
            None if spec.required => {
                let (l, c, w) = front_key_line_col(doc, &["params", name]);
                let why = match (&spec.from_alert, alert) {
                    (Some(p), Some(_)) => format!(": the alert has no `{p}`"),
                    (Some(p), None) => format!(" (from_alert: {p}, and no --alert)"),
                    _ => String::new(),
                };
                diags.push(Diagnostic::at_line_col(
                    &doc.source,
                    l,
                    c,
                    w,
                    format!("param `{name}` is required{why}: pass it with -p {name}=VALUE"),
                ));
                continue;
            }
            None => serde_json::Value::Null,
        };
        if let Some(choices) = &spec.choices
            && !value.is_null()
            && !choices.iter().any(|c| same_value(c, &value))
        {
            let (l, c, w) = front_key_line_col(doc, &["params", name]);
            let list: Vec<String> = choices.iter().map(plain).collect();
            diags.push(Diagnostic::at_line_col(
                &doc.source,
                l,
                c,
                w,
                format!(
                    "param `{name}` must be one of {} (got `{}`)",
                    list.join(", "),
                    plain(&value)
                ),
            ));
        }
        out.insert(name.clone(), value);
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(Error::Invalid(diags))
    }
}

/// The alert's value at a `from_alert:` path (a string, as alerts carry
/// them); `None` without an alert, a valid path, or the value.
fn from_alert(path: Option<&str>, alert: Option<&Alert>) -> Option<serde_json::Value> {
    let path = AlertPath::parse(path?).ok()?;
    let value = alert?.get(&path)?;
    Some(serde_json::Value::String(value.to_string()))
}
