//! `runbook list`: a runbook's params and steps with their gates and
//! targets, for people or (`--format json`) for tools.

use crate::cli::ListFormat;
use crate::document;
use crate::engine::gate::gate_message;
use crate::error::{Error, Result, exit};
use crate::report::plain_value as plain;
use std::path::Path;

pub fn list_command(file: &Path, format: ListFormat) -> Result<i32> {
    let doc = document::parse_file(file)?;
    match format {
        ListFormat::Names | ListFormat::Tags => {
            let mut seen = std::collections::BTreeSet::new();
            let words: Vec<&str> = match format {
                ListFormat::Names => doc.steps.iter().map(|s| s.name.as_str()).collect(),
                _ => doc
                    .steps
                    .iter()
                    .flat_map(|s| s.attrs.tags.iter().map(String::as_str))
                    .collect(),
            };
            let mut out = String::new();
            for w in words.into_iter().filter(|w| seen.insert(*w)) {
                out.push_str(w);
                out.push('\n');
            }
            crate::console::out(out.as_bytes()).map_err(|e| Error::io("<stdout>", e))?;
        }
        ListFormat::Json => {
            let steps: Vec<serde_json::Value> = doc
                .steps
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "name": s.name,
                        "lang": s.lang,
                        "line": s.line,
                        "gate": gate_message(&doc, s, false),
                        "target": s.attrs.hosts.as_deref().or(s.attrs.host.as_deref()).unwrap_or("local"),
                        "safe": s.attrs.safe,
                        "exclude_from_run_all": s.attrs.exclude_from_run_all,
                        "background": s.attrs.background,
                        "interactive": s.attrs.interactive.unwrap_or(false),
                        "tags": s.attrs.tags,
                        "rollback": match &s.attrs.rollback {
                            Some(document::Rollback::Block(b)) => serde_json::json!({"block": b}),
                            Some(document::Rollback::Inline(c)) => serde_json::json!({"inline": c}),
                            None => serde_json::Value::Null,
                        },
                        "rollback_of": s.is_rollback().then(|| crate::engine::rollback_of(&doc, s)).flatten(),
                        "is_rollback": s.is_rollback(),
                    })
                })
                .collect();
            let params: serde_json::Value =
                serde_json::to_value(&doc.front.params).unwrap_or_default();
            let out = serde_json::json!({
                "runbook": file.display().to_string(),
                "title": doc.front.title,
                "params": params,
                "steps": steps,
            });
            let text = serde_json::to_string_pretty(&out).unwrap_or_default() + "\n";
            crate::console::out(text.as_bytes()).map_err(|e| Error::io("<stdout>", e))?;
        }
        ListFormat::Human => {
            let mut out = String::new();
            if let Some(t) = &doc.front.title {
                out.push_str(&format!("{t}\n"));
            }
            if !doc.front.params.is_empty() {
                out.push_str("params:\n");
                for (name, p) in &doc.front.params {
                    let mut bits = Vec::new();
                    if p.required {
                        bits.push("required".to_string());
                    }
                    if let Some(d) = &p.default {
                        bits.push(format!("default {}", plain(d)));
                    }
                    if let Some(c) = &p.choices {
                        let c: Vec<String> = c.iter().map(plain).collect();
                        bits.push(format!("one of {}", c.join("|")));
                    }
                    let desc = p
                        .description
                        .as_ref()
                        .map(|d| format!("  {d}"))
                        .unwrap_or_default();
                    out.push_str(&format!("  {name} ({}){desc}\n", bits.join(", ")));
                }
            }
            out.push_str("steps:\n");
            let width = doc.steps.iter().map(|s| s.name.len()).max().unwrap_or(4);
            for s in &doc.steps {
                let target = s
                    .attrs
                    .hosts
                    .as_deref()
                    .or(s.attrs.host.as_deref())
                    .unwrap_or("local");
                let gate = gate_message(&doc, s, false)
                    .map(|m| format!("  gate: \"{m}\""))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  {:>3}  {:<width$}  {:<6} line {:<4} {target}{gate}{}{}\n",
                    s.index + 1,
                    s.name,
                    s.lang,
                    s.line,
                    crate::cli::plan::rollback_note(&doc, s),
                    runme_notes(s),
                ));
            }
            // A runbook is input too: its controls are shown, not obeyed.
            let out = crate::report::visible_controls(&out);
            crate::console::out(out.as_bytes()).map_err(|e| Error::io("<stdout>", e))?;
        }
    }
    Ok(exit::OK)
}

/// Runme's cell options that change how a step runs, for the human list.
fn runme_notes(s: &document::Step) -> String {
    let mut notes = Vec::new();
    if s.attrs.exclude_from_run_all {
        notes.push("excludeFromRunAll: runs only when named".to_string());
    }
    if s.attrs.background {
        notes.push("background".to_string());
    }
    if s.attrs.interactive == Some(true) {
        notes.push("interactive".to_string());
    }
    if !s.attrs.tags.is_empty() {
        notes.push(format!("tag: {}", s.attrs.tags.join(",")));
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!("  [{}]", notes.join("; "))
    }
}
