//! The annotated copy: Markdown bodies for the run header and for each step,
//! spliced into the untouched source by [`crate::document::splice`].
//!
//! The annotated copy itself is `splice(&doc.source.text, &inserts(..))`.
//!
//! Every body line is either plain text that starts with a character that
//! cannot open a Markdown block (so it can never break out of the list or
//! blockquote the step lives in), part of a fenced block whose fence is
//! longer than any backtick run inside it, or one of the fixed lines of a
//! fold (`<details><summary>Output: N lines</summary>` and `</details>`,
//! each followed or preceded by a blank line, so each is an HTML block of
//! its own and the fenced block between them is Markdown). Values from the
//! record are flattened to one line and escaped, so output can never forge
//! structure; output inside a fold is inside the fence, so a `</details>` in
//! it is text.

use super::{one_line, output_lines, status_symbol, visible_controls};
use crate::document::Document;
use crate::document::splice::Insert;
use crate::duration::format_duration_ms;
use crate::record::{
    HostResult, HttpRecord, OutputRecord, RollbackRecord, RunRecord, StepRecord, StepStatus,
};

/// Output blocks longer than this many lines are folded in `<details>`.
pub const FOLD_LINES: usize = 20;

/// What goes into the step bodies besides status and output.
#[derive(Debug, Clone, Default)]
pub struct MarkdownOptions {
    /// Always show the command as rendered (templates resolved, secrets
    /// still shown as their template), even where it is the step's code as
    /// written. Without it the copy shows it exactly when it differs
    /// ([`step_body_for`]); dry-run steps always show it: it is all they
    /// have.
    pub show_rendered: bool,
}

/// Which alert drove the run: its name and status, since when, its
/// fingerprint and labels, each as code.
fn alert_cell(a: &crate::record::AlertRecord) -> String {
    let mut cell = format!(
        "{} ({})",
        code(a.alertname.as_deref().unwrap_or("unnamed alert")),
        inline(&a.status)
    );
    if let Some(t) = &a.starts_at {
        cell.push_str(&format!(" since {}", inline(t)));
    }
    if let Some(f) = &a.fingerprint {
        cell.push_str(&format!(", fingerprint {}", code(f)));
    }
    let labels: Vec<String> = a
        .labels
        .iter()
        .filter(|(k, _)| *k != "alertname")
        .map(|(k, v)| code(&format!("{k}={v}")))
        .collect();
    if !labels.is_empty() {
        cell.push_str(": ");
        cell.push_str(&labels.join(", "));
    }
    cell
}

/// The run header: what ran, where, by whom, with which params and result.
pub fn header_body(rec: &RunRecord) -> String {
    let mut rows: Vec<(&str, String)> = Vec::new();
    if let Some(title) = &rec.runbook.title {
        rows.push(("Title", inline(title)));
    }
    rows.push(("Runbook", code(&rec.runbook.path)));
    rows.push(("sha256", code(&rec.runbook.sha256)));
    rows.push(("Tool", format!("runbook {}", inline(&rec.tool_version))));
    rows.push(("Operator", inline(&rec.operator)));
    if let Some(url) = &rec.job_url {
        rows.push(("CI job", format!("<{}>", url_text(url))));
    }
    rows.push(("Machine", inline(&rec.machine)));
    let mode = if rec.mode.is_empty() {
        "full run".to_string()
    } else {
        rec.mode
            .iter()
            .map(|m| code(m))
            .collect::<Vec<_>>()
            .join(", ")
    };
    rows.push(("Mode", mode));
    if let Some(a) = &rec.alert {
        rows.push(("Alert", alert_cell(a)));
    }
    if !rec.params.is_empty() {
        let params = rec
            .params
            .iter()
            .map(|(k, v)| code(&format!("{k}={}", super::plain_value(v))))
            .collect::<Vec<_>>()
            .join(", ");
        rows.push(("Params", params));
    }
    rows.push(("Started", inline(&rec.started_at)));
    if let Some(end) = &rec.finished_at {
        rows.push(("Finished", inline(end)));
    }
    if let Some(ms) = rec.duration_ms {
        rows.push(("Duration", format_duration_ms(ms)));
    }
    for p in &rec.preconditions {
        let mut cell = format!(
            "{} {} {}",
            if p.ok { "✓" } else { "✗" },
            inline(&p.kind),
            code(&p.target)
        );
        if let Some(d) = &p.detail {
            cell.push_str(": ");
            cell.push_str(&inline(d));
        }
        rows.push(("Precondition", cell));
    }

    if let Some(rb) = &rec.rollback {
        rows.push(("Rollback", rollback_cell(rb)));
    }
    if let Some(f) = &rec.resume_forced {
        rows.push(("Resume", inline(&super::resume_forced_text(f))));
    }
    let mut result = format!("{} {}", run_symbol(rec), rec.result_text());
    if let Some(code) = rec.exit_code {
        result.push_str(&format!(" (exit {code})"));
    }
    let mut out = format!("| Runbook run | {} |\n|---|---|", cell(&result));
    for (k, v) in rows {
        out.push_str(&format!("\n| {k} | {} |", cell(&v)));
    }
    out
}

/// One step's generated block: a summary line, then its output. The
/// rendered command is shown for dry-run steps, or for every step with
/// [`MarkdownOptions::show_rendered`].
pub fn step_body(step: &StepRecord, opts: &MarkdownOptions) -> String {
    body(
        step,
        step.status == StepStatus::DryRun || opts.show_rendered,
    )
}

/// One step's generated block in the copy of the runbook whose step runs
/// `script` (its code as written; for a transcript, its commands): as
/// [`step_body`], and the rendered command is also shown whenever it is not
/// `script` (line endings and trailing newlines aside) — the code block
/// above keeps the template source, this shows what ran.
pub fn step_body_for(step: &StepRecord, script: &str, opts: &MarkdownOptions) -> String {
    let differs = step
        .rendered
        .as_deref()
        .is_some_and(|r| text_lines(r) != text_lines(script));
    body(
        step,
        step.status == StepStatus::DryRun || opts.show_rendered || differs,
    )
}

fn body(step: &StepRecord, show_rendered: bool) -> String {
    let mut lines = vec![summary_line(step)];

    if show_rendered
        && step.status != StepStatus::NotRun
        && let Some(rendered) = &step.rendered
    {
        lines.push(String::new());
        lines.push("Rendered:".to_string());
        lines.push(String::new());
        fenced(&mut lines, &text_lines(rendered));
    }

    if step.status == StepStatus::NotRun {
        return lines.join("\n");
    }

    if let Some(http) = &step.http {
        // The output is the response as received (status line, headers,
        // body): show the request line above it, not the record again.
        let body = step.output.as_ref().map(output_lines).unwrap_or_default();
        let mut block = if body.is_empty() {
            http_lines(http)
        } else {
            vec![one_line(&format!("{} {}", http.method, http.url))]
        };
        if !body.is_empty() {
            block.push(String::new());
            block.extend(body);
        }
        lines.push(String::new());
        output_block(&mut lines, &block);
    } else if !step.hosts.is_empty() {
        for b in &step.batches {
            lines.push(String::new());
            lines.push(batch_line(b, step.batches.len()));
        }
        for host in &step.hosts {
            lines.push(String::new());
            lines.push(host_line(host));
            push_output(&mut lines, &host.output);
        }
    } else if let Some(out) = &step.output {
        push_output(&mut lines, out);
    }
    push_expected(&mut lines, step);
    lines.extend(super::charts::markdown_lines(step, &code, &cell));
    if lines.last().is_some_and(|l| l == "</details>") {
        // `</details>` opens an HTML block that only a blank line ends: the
        // end marker and the source after it must not be swallowed. (The
        // splice drops one final line ending: the body ends in two.)
        lines.extend([String::new(), String::new()]);
    }
    lines.join("\n")
}

/// A transcript's sample output, and how `expect=` compared it with the
/// output: a diff when they differ.
fn push_expected(lines: &mut Vec<String>, step: &StepRecord) {
    // Beside what really came out: not for a step that did not run.
    if step.output.is_none() {
        return;
    }
    if let Some(expected) = &step.expected {
        lines.push(String::new());
        lines.push("Expected (from the runbook):".to_string());
        lines.push(String::new());
        fenced(lines, &text_lines(expected));
    }
    if let Some(e) = &step.expect {
        lines.push(String::new());
        lines.push(super::expect_line(e));
        if let Some(diff) = &e.diff {
            lines.push(String::new());
            fenced_as(lines, "diff", &text_lines(diff));
        }
    }
}

/// The generated blocks for a document: the run header, then one per step
/// of `doc.steps` that has a record (matched by index).
///
/// The rollback phase's undos go under their block: a rollback block's
/// body is its undo's record, an inline undo follows its step's body.
pub fn inserts(doc: &Document, rec: &RunRecord, opts: &MarkdownOptions) -> Vec<Insert> {
    let mut out = vec![doc.header_insert(header_body(rec))];
    let undo = |i: usize| {
        rec.rollback
            .as_ref()
            .and_then(|rb| rb.undos.iter().find(|u| u.index == i))
    };
    for step in &doc.steps {
        let Some(sr) = rec.steps.iter().find(|s| s.index == step.index) else {
            continue;
        };
        let body = match undo(step.index) {
            Some(u) if step.is_rollback() => undo_body(u, step.script(), opts),
            Some(u) => format!(
                "{}\n\n{}",
                step_body_for(sr, step.script(), opts),
                undo_body(u, "", opts)
            ),
            None => step_body_for(sr, step.script(), opts),
        };
        out.push(step.insert(format!("step={}", step.name), body));
    }
    out
}

/// An undo of the rollback phase: what it undoes, then its record.
fn undo_body(u: &StepRecord, script: &str, opts: &MarkdownOptions) -> String {
    let what = u.undoes.as_deref().unwrap_or_default();
    format!(
        "Rollback of {}:\n\n{}",
        code(what),
        step_body_for(u, script, opts)
    )
}

/// The header's Rollback row: what started it, the undos in the order they
/// ran, and what had no undo.
fn rollback_cell(rb: &RollbackRecord) -> String {
    let undos: Vec<String> = rb
        .undos
        .iter()
        .map(|u| format!("{} {}", status_symbol(u.status), code(&u.name)))
        .collect();
    let mut cell = format!(
        "{} after {} {}: {}",
        inline(rb.result.as_str()),
        code(&rb.trigger),
        inline(&rb.cause),
        undos.join(", ")
    );
    if !rb.without_rollback.is_empty() {
        let none: Vec<String> = rb.without_rollback.iter().map(|n| code(n)).collect();
        cell.push_str(&format!("; no rollback: {}", none.join(", ")));
    }
    cell
}

/// The annotated copy: the source with every generated block spliced in.
pub fn annotate(doc: &Document, rec: &RunRecord, opts: &MarkdownOptions) -> String {
    crate::document::splice::splice(&doc.source.text, &inserts(doc, rec, opts))
}

fn run_symbol(rec: &RunRecord) -> &'static str {
    use crate::record::RunResult::*;
    match rec.result {
        Ok | DryRunOk => "✓",
        Failed | PreconditionFailed | DryRunFailed => "✗",
        Aborted => "■",
        Interrupted => "✋",
        Running => "…",
    }
}

fn summary_line(step: &StepRecord) -> String {
    let mut parts = vec![format!(
        "{} {}",
        status_symbol(step.status),
        step.status.as_str()
    )];
    if let Some(code) = step.exit_code {
        parts.push(format!("exit {code}"));
    }
    if let Some(at) = &step.started_at {
        parts.push(format!("started {}", inline(at)));
    }
    if let Some(ms) = step.duration_ms {
        parts.push(format_duration_ms(ms));
    }
    if step.status != StepStatus::NotRun || step.target != "local" {
        parts.push(format!("on {}", inline(&step.target)));
    }
    if let Some(g) = &step.gate {
        parts.push(format!(
            "gate “{}” {} by {} at {}",
            inline(&g.message),
            inline(&g.decision),
            inline(&g.operator),
            inline(&g.at)
        ));
    }
    if step.attempts.len() > 1 {
        parts.push(format!("{} attempts", step.attempts.len()));
    }
    if let Some(r) = &step.reason {
        parts.push(format!("reason: {}", inline(r)));
    }
    if let Some(e) = step.http.as_ref().and_then(|h| h.error.as_ref()) {
        parts.push(format!("error: {}", inline(e)));
    }
    if step.output.as_ref().is_some_and(|o| o.leaked) {
        parts.push("a background process kept the output open".to_string());
    }
    parts.join(" · ")
}

/// `batch 1 of a rollout: web00 · 1 ok · 0 failed`, then why it stopped.
fn batch_line(b: &crate::record::BatchRecord, ran: usize) -> String {
    let mut parts = vec![format!(
        "batch {} (of {ran} run): {}",
        b.batch,
        inline(&b.hosts.join(", "))
    )];
    parts.push(format!("{} ok", b.ok));
    parts.push(format!("{} failed", b.failed));
    if let Some(d) = &b.decision {
        parts.push(format!("gate: {}", inline(d)));
    }
    if let Some(why) = &b.stopped {
        parts.push(format!("rollout stopped: {}", inline(why)));
    }
    parts.join(" · ")
}

fn host_line(host: &HostResult) -> String {
    let mut parts = vec![format!(
        "{} {}{}: {}",
        status_symbol(host.status),
        inline(&host.host),
        host.address
            .as_ref()
            .map(|a| format!(" ({})", inline(a)))
            .unwrap_or_default(),
        host.status.as_str()
    )];
    if let Some(code) = host.exit_code {
        parts.push(format!("exit {code}"));
    }
    parts.push(format_duration_ms(host.duration_ms));
    if let Some(e) = &host.error {
        parts.push(format!("error: {}", inline(e)));
    }
    if host.output.leaked {
        parts.push("a background process kept the output open".to_string());
    }
    parts.join(" · ")
}

fn http_lines(http: &HttpRecord) -> Vec<String> {
    let mut lines = vec![one_line(&format!("{} {}", http.method, http.url))];
    if let Some(status) = http.status {
        lines.push(format!("HTTP {status}"));
    }
    for (k, v) in &http.headers {
        lines.push(one_line(&format!("{k}: {v}")));
    }
    lines
}

fn push_output(lines: &mut Vec<String>, out: &OutputRecord) {
    let body = output_lines(out);
    lines.push(String::new());
    if body.is_empty() {
        lines.push("No output.".to_string());
    } else {
        output_block(lines, &body);
    }
}

/// Output in a fenced `text` block; longer than [`FOLD_LINES`], folded in
/// `<details>` (the blank lines make the tags HTML blocks of their own, so
/// GitHub and GitLab render the fence between them as Markdown).
fn output_block(lines: &mut Vec<String>, content: &[String]) {
    if content.len() <= FOLD_LINES {
        fenced(lines, content);
        return;
    }
    lines.push(format!(
        "<details><summary>Output: {} lines</summary>",
        content.len()
    ));
    lines.push(String::new());
    fenced(lines, content);
    lines.push(String::new());
    lines.push("</details>".to_string());
}

fn text_lines(text: &str) -> Vec<String> {
    output_lines(&OutputRecord {
        head: text.to_string(),
        ..OutputRecord::default()
    })
}

/// A fenced `text` block around `content`, its fence longer than any
/// backtick run inside.
fn fenced(lines: &mut Vec<String>, content: &[String]) {
    fenced_as(lines, "text", content);
}

/// A fenced block in `lang` around `content`, as [`fenced`].
fn fenced_as(lines: &mut Vec<String>, lang: &str, content: &[String]) {
    let content: Vec<String> = content.iter().map(|l| visible_controls(l)).collect();
    let longest = content
        .iter()
        .map(|l| longest_run(l, '`'))
        .max()
        .unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    lines.push(format!("{fence}{lang}"));
    lines.extend(content);
    lines.push(fence);
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut cur) = (0, 0);
    for ch in s.chars() {
        if ch == c {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// Text from the record for use inside a line: flattened to one line,
/// Markdown punctuation that could start inline structure escaped.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in one_line(text).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '<' | '>' | '[' | ']' | '&' | '~' | '|' | '!' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A URL for an autolink: nothing that ends the link or the line.
fn url_text(url: &str) -> String {
    one_line(url)
        .chars()
        .filter(|c| !matches!(c, '<' | '>' | ' ' | '|' | '`'))
        .collect()
}

/// An inline code span that holds any text: delimiters longer than any
/// backtick run inside, padded when the content touches a backtick.
fn code(text: &str) -> String {
    let text = one_line(text);
    let n = longest_run(&text, '`') + 1;
    let ticks = "`".repeat(n);
    if text.starts_with('`') || text.ends_with('`') || text.is_empty() {
        format!("{ticks} {text} {ticks}")
    } else {
        format!("{ticks}{text}{ticks}")
    }
}

/// A table cell: a `|` ends a cell even inside a code span in GFM.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut escaped = false;
    for c in text.chars() {
        if c == '|' && !escaped {
            out.push('\\');
        }
        escaped = c == '\\' && !escaped;
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_is_longer_than_any_backtick_run() {
        let mut lines = Vec::new();
        fenced(&mut lines, &["```".to_string(), "a ````` b".to_string()]);
        assert_eq!(lines, ["``````text", "```", "a ````` b", "``````"]);
    }

    #[test]
    fn inline_values_cannot_open_structure() {
        assert_eq!(inline("<!-- x -->\n# y"), "\\<\\!-- x --\\> \\# y");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
        assert_eq!(cell("a|b \\| c"), "a\\|b \\| c");
    }
}
