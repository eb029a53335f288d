//! The plan an operator sees on a terminal before the first step: the
//! runbook, its params (secrets masked), each step numbered with its
//! language, target, gate and `when`, then `Start? [y/N]`. Skipped with
//! `--yes` and in a dry run, absent without a terminal (CI). Declining
//! starts nothing and writes nothing (exit 4).

use super::RunArgs;
use super::prompt_env::interrupted;
use crate::document::Document;
use crate::engine::gate::gate_message;
use crate::error::{Result, exit};
use crate::report::{plain_value as plain, visible_line};
use crate::secrets::Redactor;
use indexmap::IndexMap;
use std::io::IsTerminal;

/// Shows the plan and asks; `Some(exit code)` when the operator declined.
pub async fn confirm(
    args: &RunArgs,
    doc: &Document,
    params: &IndexMap<String, serde_json::Value>,
    redactor: &Redactor,
) -> Result<Option<i32>> {
    let tty = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if args.yes || args.dry_run || !tty {
        return Ok(None);
    }
    crate::console::err(&plan(args, doc, params, redactor));
    let answer = tokio::select! {
        a = crate::console::read_answer() => a,
        _ = tokio::signal::ctrl_c() => interrupted(),
    };
    match answer.as_deref().map(str::trim) {
        Some("y" | "Y" | "yes") => Ok(None),
        _ => {
            crate::console::err("not started: no step ran and no record was written\n");
            Ok(Some(exit::ABORTED))
        }
    }
}

/// Which undo goes with a step, and which step a rollback block undoes.
pub fn rollback_note(doc: &Document, s: &crate::document::Step) -> String {
    use crate::document::Rollback;
    if s.is_rollback() {
        return match crate::engine::rollback_of(doc, s) {
            Some(step) => format!("  (rollback of `{step}`)"),
            None => "  (rollback block, unused)".to_string(),
        };
    }
    match &s.attrs.rollback {
        Some(Rollback::Block(b)) => format!("  rollback: `{b}`"),
        Some(Rollback::Inline(c)) => format!("  rollback: \"{c}\""),
        None => String::new(),
    }
}

fn plan(
    args: &RunArgs,
    doc: &Document,
    params: &IndexMap<String, serde_json::Value>,
    redactor: &Redactor,
) -> String {
    let mut out = String::from("\n");
    let title = doc.front.title.as_deref().unwrap_or("(untitled)");
    out.push_str(&format!(
        "runbook: {} ({})\n",
        visible_line(title),
        visible_line(&args.file.display().to_string())
    ));
    if !params.is_empty() {
        let shown: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", redactor.redact(&plain(v))))
            .collect();
        out.push_str(&format!("params: {}\n", visible_line(&shown.join(", "))));
    }
    let width = doc
        .steps
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(4);
    out.push_str("steps:\n");
    for s in &doc.steps {
        let target = s.attrs.hosts.as_deref().or(s.attrs.host.as_deref());
        let mut line = format!(
            "  {:>3}  {:<width$}  {:<6} {}",
            s.index + 1,
            s.name,
            s.lang,
            target.map_or("local".to_string(), |t| format!("on {t}")),
        );
        if let Some(g) = gate_message(doc, s, args.step) {
            line.push_str(&format!("  gate: \"{}\"", redactor.redact(&g)));
        }
        if let Some(w) = &s.attrs.when {
            line.push_str(&format!("  when: {w}"));
        }
        if s.attrs.skip {
            line.push_str("  (skip)");
        }
        line.push_str(&rollback_note(doc, s));
        out.push_str(&visible_line(&line));
        out.push('\n');
    }
    out.push_str("Start? [y/N] ");
    out
}
