//! The terminal's gate prompter: shows the step, its target and the command
//! that will run (controls made visible, so a value carrying `\r` or
//! `ESC[2K` cannot rewrite the question), then reads y/s/a. An interrupt
//! while waiting wins at once.

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
                match read(interrupts, !q.previous.is_empty()).await {
                    Read::Answer(a) => return a,
                    Read::View => {
                        let text = previous(q);
                        sinks.suspend(&mut || crate::console::err(&text));
                    }
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
        CHOICES_WITH_VIEW
    ));
    out
}

const CHOICES: &str = "[y]es / [s]kip / [a]bort: ";
const CHOICES_WITH_VIEW: &str = "[y]es / [s]kip / [a]bort / [v]iew previous output: ";

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
    let choices = if q.previous.is_empty() {
        CHOICES
    } else {
        CHOICES_WITH_VIEW
    };
    format!(
        "\n── gate: step `{}` (line {}) on {}\n{}{preview}   {}\n   {choices}",
        visible_line(q.step),
        q.line,
        visible_line(q.target),
        context(q),
        visible_line(q.message)
    )
}

/// What the operator typed: an answer (`None`: interrupted), or `v`.
enum Read {
    Answer(Option<Answer>),
    View,
}

/// Reads until an answer is understood.
async fn read(interrupts: &mut Interrupts, can_view: bool) -> Read {
    loop {
        let line = tokio::select! {
            biased;
            _ = interrupts.wait_for(|i| *i != Interrupt::None) => {
                // Leave the question's line; the read is abandoned.
                crate::console::err("\n");
                return Read::Answer(None);
            }
            line = crate::console::read_answer() => line,
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
            _ if can_view => crate::console::err("   please answer y, s, a or v: "),
            _ => crate::console::err("   please answer y, s or a: "),
        }
    }
}

fn answer(decision: Decision) -> Answer {
    let label = match decision {
        Decision::Yes => "approved",
        Decision::Skip => "skipped",
        Decision::Abort => "aborted",
    };
    Answer { decision, label }
}
