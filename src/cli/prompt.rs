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
            read(interrupts).await
        })
    }
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
    format!(
        "\n── gate: step `{}` (line {}) on {}\n{preview}   {}\n   [y]es / [s]kip / [a]bort: ",
        visible_line(q.step),
        q.line,
        visible_line(q.target),
        visible_line(q.message)
    )
}

/// Reads answers until one is understood; `None` when interrupted.
async fn read(interrupts: &mut Interrupts) -> Option<Answer> {
    loop {
        let line = tokio::select! {
            biased;
            _ = interrupts.wait_for(|i| *i != Interrupt::None) => {
                // Leave the question's line; the read is abandoned.
                crate::console::err("\n");
                return None;
            }
            line = crate::console::read_answer() => line,
        };
        // End of input: nobody is there to approve.
        let Some(line) = line else {
            return Some(answer(Decision::Abort));
        };
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return Some(answer(Decision::Yes)),
            "s" | "skip" | "n" | "no" => return Some(answer(Decision::Skip)),
            "a" | "abort" | "q" | "quit" => return Some(answer(Decision::Abort)),
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
