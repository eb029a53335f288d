//! What of a run may leave for the incident's public side. A step marked
//! `internal` keeps its output out of every public note, timeline event and
//! uploaded report: the reports are rendered again from a record where
//! that output is replaced by a line saying it was withheld, and the output
//! itself goes into an internal note (`internal: true`, project members
//! only).

use crate::document::Document;
use crate::record::{OutputRecord, RunRecord, StepRecord, StepStatus};
use std::fmt::Write as _;

/// What stands in an internal step's place in the public reports.
pub const WITHHELD: &str =
    "(output withheld: internal step; it is in an internal note on the incident)";

/// The names of the runbook's `internal` steps.
pub fn internal_steps(doc: &Document) -> Vec<String> {
    doc.steps
        .iter()
        .filter(|s| s.attrs.internal)
        .map(|s| s.name.clone())
        .collect()
}

/// `record` with every internal step's output (and what is derived from
/// it: captured JSON, HTTP response headers, the expect diff, the log
/// path) replaced by [`WITHHELD`].
pub fn withhold_internal(doc: &Document, record: &RunRecord) -> RunRecord {
    let internal = internal_steps(doc);
    let mut r = record.clone();
    let hide = |s: &mut StepRecord| {
        if internal.contains(&s.name) {
            withhold(s);
        }
    };
    r.steps.iter_mut().for_each(hide);
    if let Some(rb) = &mut r.rollback {
        rb.undos.iter_mut().for_each(hide);
    }
    r
}

fn withhold(s: &mut StepRecord) {
    let stand_in = |o: &OutputRecord| OutputRecord {
        head: if o.total_bytes == 0 && o.head.is_empty() && o.tail.is_empty() {
            String::new()
        } else {
            format!("{WITHHELD}\n")
        },
        tail: String::new(),
        total_bytes: 0,
        total_lines: 0,
        omitted_lines: 0,
        log_path: None,
        leaked: o.leaked,
    };
    if let Some(o) = &mut s.output {
        *o = stand_in(o);
    }
    for h in &mut s.hosts {
        h.output = stand_in(&h.output);
    }
    if let Some(h) = &mut s.http {
        h.headers.clear();
    }
    if s.json.is_some() {
        s.json = Some(serde_json::Value::String(WITHHELD.into()));
    }
    if let Some(e) = &mut s.expect {
        e.diff = None;
    }
}

/// The body of the internal note for one finished step: its output, in a
/// fence no line of the output can close. `None` when it printed nothing.
pub fn internal_note(step: &StepRecord, redact: &dyn Fn(&str) -> String) -> Option<String> {
    let mut parts: Vec<(Option<String>, String)> = Vec::new();
    if let Some(o) = &step.output {
        parts.push((None, output_text(o)));
    }
    for h in &step.hosts {
        parts.push((Some(h.host.clone()), output_text(&h.output)));
    }
    if let Some(j) = &step.json
        && parts.iter().all(|(_, t)| t.trim().is_empty())
    {
        parts.push((None, j.to_string()));
    }
    parts.retain(|(_, t)| !t.trim().is_empty());
    if parts.is_empty() {
        return None;
    }
    let mut b = String::new();
    let _ = writeln!(
        b,
        "**runbook** output of internal step `{}` (line {}, {}):",
        step.name.replace('`', "'"),
        step.line,
        status_word(step.status)
    );
    for (host, text) in parts {
        let text = redact(&text);
        b.push('\n');
        if let Some(h) = host {
            let _ = writeln!(b, "`{}`:\n", redact(&h).replace('`', "'"));
        }
        let fence = "`".repeat(longest_backtick_run(&text).max(2) + 1);
        let _ = writeln!(b, "{fence}text\n{}\n{fence}", text.trim_end_matches('\n'));
    }
    Some(b)
}

fn status_word(s: StepStatus) -> &'static str {
    s.as_str()
}

fn output_text(o: &OutputRecord) -> String {
    let mut t = o.head.clone();
    if o.omitted_lines > 0 {
        if !t.ends_with('\n') && !t.is_empty() {
            t.push('\n');
        }
        let _ = writeln!(t, "… {} lines omitted …", o.omitted_lines);
    }
    t.push_str(&o.tail);
    t
}

fn longest_backtick_run(s: &str) -> usize {
    let mut best = 0;
    let mut cur = 0;
    for c in s.chars() {
        if c == '`' {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step() -> StepRecord {
        serde_json::from_value(serde_json::json!({
            "index": 0, "name": "diag", "lang": "bash", "line": 7,
            "status": "ok", "reason": null, "exit_code": 0, "started_at": null,
            "duration_ms": 3, "rendered": "cat /etc/diag", "gate": null,
            "target": "local", "attempts": [],
            "output": {"head": "token=abc\n```\nend\n", "tail": "", "total_bytes": 20,
                       "total_lines": 3, "omitted_lines": 0, "log_path": "/tmp/x.log"},
            "http": null, "json": null
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn internal_note_fences_and_redacts_the_output() {
        let note =
            internal_note(&step(), &|s: &str| s.replace("abc", "[secret]")).unwrap_or_default();
        assert_eq!(
            note,
            "**runbook** output of internal step `diag` (line 7, ok):\n\n````text\ntoken=[secret]\n```\nend\n````\n"
        );
    }

    #[test]
    fn withheld_output_says_so() {
        let mut s = step();
        withhold(&mut s);
        let o = s.output.unwrap_or_default();
        assert_eq!(o.head, format!("{WITHHELD}\n"));
        assert_eq!(o.log_path, None);
        assert_eq!(s.rendered.as_deref(), Some("cat /etc/diag"));
    }
}
