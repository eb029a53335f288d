//! The terminal's gate prompter: shows the step, its target and the command
//! that will run (controls made visible, so a value carrying `\r` or
//! `ESC[2K` cannot rewrite the question), then reads y/s/a, `v` to see the
//! earlier steps' output, `e` to change a param first. An interrupt while
//! waiting wins at once.

use crate::engine::Sinks;
use crate::engine::gate::{Answer, Asking, Decision, GateQuestion, Prompter};
use crate::exec::process::{Interrupt, Interrupts};
use crate::report::visible_line;

/// Lines of the rendered command shown above a gate question.
const GATE_PREVIEW_LINES: usize = 20;

pub struct TerminalPrompter;

impl Prompter for TerminalPrompter {
    fn ask<'a>(
        &'a mut self,
        q: &'a GateQuestion<'a>,
        sinks: &'a mut Sinks,
        interrupts: &'a mut Interrupts,
    ) -> Asking<'a> {
        Box::pin(async move {
            let prompt = question(q);
            sinks.suspend(&mut || crate::console::err(&prompt));
            loop {
                match read(interrupts, q).await {
                    Read::Answer(a) => return a,
                    Read::View => {
                        let text = previous(q);
                        sinks.suspend(&mut || crate::console::err(&text));
                    }
                    Read::Edit => return edit(q, interrupts).await,
                }
            }
        })
    }

    /// Ctrl-C during the rollback: stop it, or go on with the undos left.
    /// Another interrupt, or the end of input, stops it.
    fn stop_rollback<'a>(
        &'a mut self,
        remaining: &'a [String],
        sinks: &'a mut Sinks,
        interrupts: &'a mut Interrupts,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + 'a>> {
        Box::pin(async move {
            let names: Vec<String> = remaining
                .iter()
                .map(|n| format!("`{}`", visible_line(n)))
                .collect();
            let prompt = format!(
                "\n── interrupted during the rollback; still to undo: {}\n   stop the rollback? [y]es, stop / [n]o, go on: ",
                names.join(", ")
            );
            sinks.suspend(&mut || crate::console::err(&prompt));
            loop {
                let Some(Some(line)) = line(interrupts).await else {
                    return true;
                };
                match line.trim().to_ascii_lowercase().as_str() {
                    "y" | "yes" | "s" | "stop" => return true,
                    "n" | "no" | "c" | "continue" => return false,
                    _ => crate::console::err("   please answer y or n: "),
                }
            }
        })
    }
}

/// Lines of the prose before a step shown above its gate.
const PROSE_LINES: usize = 6;

/// The earlier steps' output, for `[v]iew`, then the choices again.
fn previous(q: &GateQuestion<'_>) -> String {
    let mut out = String::new();
    for (name, text) in q.previous {
        out.push_str(&format!("\n── output of `{}`:\n", visible_line(name)));
        for l in text.lines() {
            out.push_str(&format!("   │ {}\n", visible_line(l)));
        }
    }
    out.push_str(&format!(
        "\n   {}\n   {}",
        visible_line(q.message),
        choices(q)
    ));
    out
}

/// `[y]es / [s]kip / [a]bort`, with `[v]iew` once an earlier step printed
/// something and `[e]dit params` when the runbook declares any.
fn choices(q: &GateQuestion<'_>) -> String {
    let mut c = String::from("[y]es / [s]kip / [a]bort");
    if !q.previous.is_empty() {
        c.push_str(" / [v]iew previous output");
    }
    if !q.params.is_empty() {
        c.push_str(" / [e]dit params");
    }
    c.push_str(": ");
    c
}

/// The answers understood: `y, s or a`, `y, s, a or v`, …
fn letters(q: &GateQuestion<'_>) -> String {
    let mut l = vec!["y", "s", "a"];
    if !q.previous.is_empty() {
        l.push("v");
    }
    if !q.params.is_empty() {
        l.push("e");
    }
    let last = l.pop().unwrap_or("a");
    format!("{} or {last}", l.join(", "))
}

/// `e`: the params as they stand, then which one and its new value.
async fn edit(q: &GateQuestion<'_>, interrupts: &mut Interrupts) -> Option<Answer> {
    let mut list = String::from("\n   params:\n");
    for (k, v) in q.params {
        list.push_str(&format!("     {} = {}\n", visible_line(k), visible_line(v)));
    }
    list.push_str("   param to change: ");
    crate::console::err(&list);
    let name = line(interrupts).await?.unwrap_or_default();
    crate::console::err(&format!("   new value for {}: ", visible_line(name.trim())));
    let value = line(interrupts).await?.unwrap_or_default();
    Some(Answer {
        decision: Decision::Edit,
        label: "edited",
        edit: Some((name.trim().to_string(), value.trim().to_string())),
    })
}

/// One line; `None` when interrupted, `Some(None)` at end of input.
async fn line(interrupts: &mut Interrupts) -> Option<Option<String>> {
    tokio::select! {
        biased;
        _ = interrupts.wait_for(|i| *i != Interrupt::None) => {
            crate::console::err("\n");
            None
        }
        line = crate::console::read_answer() => Some(line),
    }
}

/// The section heading and the paragraph before the step, as context.
fn context(q: &GateQuestion<'_>) -> String {
    let mut out = String::new();
    if let Some(h) = q.heading {
        out.push_str(&format!("   {}\n", visible_line(h)));
    }
    if let Some(p) = q.prose {
        let lines: Vec<&str> = p.lines().collect();
        for l in lines.iter().take(PROSE_LINES) {
            out.push_str(&format!("   {}\n", visible_line(l.trim())));
        }
        if lines.len() > PROSE_LINES {
            out.push_str("   …\n");
        }
    }
    out
}

fn question(q: &GateQuestion<'_>) -> String {
    let lines: Vec<&str> = q.command.lines().collect();
    let mut preview: String = lines
        .iter()
        .take(GATE_PREVIEW_LINES)
        .map(|l| format!("   │ {}\n", visible_line(l)))
        .collect();
    if lines.len() > GATE_PREVIEW_LINES {
        preview.push_str(&format!(
            "   │ … {} more lines\n",
            lines.len() - GATE_PREVIEW_LINES
        ));
    }
    let choices = choices(q);
    format!(
        "\n── gate: step `{}` (line {}) on {}\n{}{preview}   {}\n   {choices}",
        visible_line(q.step),
        q.line,
        visible_line(q.target),
        context(q),
        visible_line(q.message)
    )
}

/// What the operator typed: an answer (`None`: interrupted), `v` or `e`.
enum Read {
    Answer(Option<Answer>),
    View,
    Edit,
}

/// Reads until an answer is understood.
async fn read(interrupts: &mut Interrupts, q: &GateQuestion<'_>) -> Read {
    let can_view = !q.previous.is_empty();
    loop {
        // Interrupted: leave the question's line; the read is abandoned.
        let Some(line) = line(interrupts).await else {
            return Read::Answer(None);
        };
        // End of input: nobody is there to approve.
        let Some(line) = line else {
            return Read::Answer(Some(answer(Decision::Abort)));
        };
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return Read::Answer(Some(answer(Decision::Yes))),
            "s" | "skip" | "n" | "no" => return Read::Answer(Some(answer(Decision::Skip))),
            "a" | "abort" | "q" | "quit" => return Read::Answer(Some(answer(Decision::Abort))),
            "v" | "view" if can_view => return Read::View,
            "e" | "edit" if !q.params.is_empty() => return Read::Edit,
            _ => crate::console::err(&format!("   please answer {}: ", letters(q))),
        }
    }
}

fn answer(decision: Decision) -> Answer {
    let label = match decision {
        Decision::Yes => "approved",
        Decision::Skip => "skipped",
        Decision::Abort => "aborted",
        Decision::Edit => "edited",
    };
    Answer {
        decision,
        label,
        edit: None,
    }
}
