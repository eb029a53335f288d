//! The run as a Jupyter notebook (nbformat 4): the artifact teams used to
//! attach to tickets, produced headless and without a kernel. The run header
//! is the first Markdown cell; the runbook's prose between steps becomes
//! Markdown cells, verbatim; each step is a code cell in its language with
//! its (redacted) output as a stream, execution counts in run order, and
//! status, timing, target and gate in the cell's `runbook` metadata.
//!
//! Output is what the record keeps: stdout and stderr as they arrived, in
//! one stream (the record does not keep them apart), head and tail with the
//! cut marked.

use super::registry::{Report, ReportOptions};
use super::{markdown, output_lines};
use crate::document::Document;
use crate::record::{RunRecord, StepRecord, StepStatus};
use serde_json::{Value, json};

/// The `ipynb` format in the report registry.
pub struct Ipynb;

impl Report for Ipynb {
    fn name(&self) -> &'static str {
        "ipynb"
    }
    fn file_name(&self, stem: &str) -> String {
        format!("{stem}.ipynb")
    }
    fn render(&self, doc: &Document, record: &RunRecord, opts: &ReportOptions) -> String {
        to_ipynb(doc, record, opts.hide_code)
    }
}

/// Renders the notebook. `hide_code` tags every code cell `hide-input`.
pub fn to_ipynb(doc: &Document, rec: &RunRecord, hide_code: bool) -> String {
    let mut cells = vec![markdown_cell(&markdown::header_body(rec))];
    let text = doc.source.text.as_str();
    let mut at = doc.front_span.map_or(0, |s| s.end);
    let mut count = 0;
    for step in &doc.steps {
        push_prose(
            &mut cells,
            &text[at.min(step.block.start)..step.block.start],
        );
        at = step.insert_at;
        let Some(r) = rec.steps.iter().find(|r| r.name == step.name) else {
            continue;
        };
        let ran = r.started_at.is_some();
        count += usize::from(ran);
        let hide = hide_code || step.attrs.hide_code;
        cells.push(code_cell(&step.code, r, ran.then_some(count), hide));
    }
    push_prose(&mut cells, &text[at.min(text.len())..]);
    let lang = doc.steps.first().map_or("bash", |s| s.lang.as_str());
    // nbformat 4.5 wants a unique id per cell.
    for (i, cell) in cells.iter_mut().enumerate() {
        cell["id"] = json!(format!("cell-{i}"));
    }
    let mut nb = json!({
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "language_info": { "name": lang },
            "runbook": {
                "runbook": rec.runbook.path,
                "sha256": rec.runbook.sha256,
                "result": rec.result,
                "exit_code": rec.exit_code,
                "operator": rec.operator,
                "started_at": rec.started_at,
                "finished_at": rec.finished_at,
            },
        },
        "cells": cells,
    });
    // What `runbook verify --report` reads back, and who signed.
    if let Some(head) = &rec.chain_head {
        nb["metadata"]["runbook"]["chain_head"] = json!(head);
    }
    if let Some(s) = &rec.signature {
        nb["metadata"]["runbook"]["signature"] = json!(s);
    }
    if let Some(f) = &rec.resume_forced {
        nb["metadata"]["runbook"]["resume_forced"] = json!(f);
    }
    serde_json::to_string_pretty(&nb).unwrap_or_default() + "\n"
}

/// nbformat stores text as a list of lines, each with its line ending.
fn lines(text: &str) -> Value {
    Value::Array(
        text.split_inclusive('\n')
            .map(|l| Value::String(l.to_string()))
            .collect(),
    )
}

fn push_prose(cells: &mut Vec<Value>, prose: &str) {
    if !prose.trim().is_empty() {
        cells.push(markdown_cell(prose.trim_matches('\n')));
    }
}

fn markdown_cell(text: &str) -> Value {
    json!({
        "cell_type": "markdown",
        "metadata": {},
        "source": lines(text),
    })
}

fn code_cell(code: &str, r: &StepRecord, count: Option<usize>, hide: bool) -> Value {
    let mut outputs = Vec::new();
    let text = output_text(r);
    if !text.is_empty() {
        outputs.push(json!({ "output_type": "stream", "name": "stdout", "text": lines(&text) }));
    }
    outputs.extend(super::charts::ipynb_output(r));
    let mut metadata = json!({
        "runbook": {
            "name": r.name,
            "status": r.status,
            "reason": r.reason,
            "exit_code": r.exit_code,
            "started_at": r.started_at,
            "duration_ms": r.duration_ms,
            "target": r.target,
            "rendered": r.rendered,
            "gate": r.gate.as_ref().map(|g| json!({
                "message": g.message, "decision": g.decision,
                "operator": g.operator, "at": g.at,
            })),
        },
    });
    if hide {
        metadata["tags"] = json!(["hide-input"]);
    }
    json!({
        "cell_type": "code",
        "execution_count": count,
        "metadata": metadata,
        "source": lines(code.trim_end_matches('\n')),
        "outputs": outputs,
    })
}

/// A step's output as the record keeps it, per host for a fan-out, with a
/// line for a step that did not run or ended with an error.
fn output_text(r: &StepRecord) -> String {
    let mut out = String::new();
    if let Some(o) = &r.output {
        out.push_str(&output_lines(o).join("\n"));
    }
    for h in &r.hosts {
        out.push_str(&format!("── {} ({})\n", h.host, h.status.as_str()));
        out.push_str(&output_lines(&h.output).join("\n"));
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if r.status != StepStatus::Ok
        && r.output.is_none()
        && r.hosts.is_empty()
        && let Some(reason) = &r.reason
    {
        out.push_str(&format!("[runbook] {}: {reason}\n", r.status.as_str()));
    }
    out
}
