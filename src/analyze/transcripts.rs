//! Transcript blocks (`$ ` prompts with sample output, see
//! `document/transcript.rs`) and `expect=`. A block with `$ ` lines that
//! does not start with a prompt runs as a whole script, where `$` is a
//! command that does not exist: a warning (a mixed transcript), as is a
//! `# ` root prompt that reads like a comment or output. `expect=`
//! needs a sample to compare with, one its mode can read, and one output
//! to compare it to (not a fan-out): errors, so `run` refuses them too.

use super::position;
use crate::document::{Diagnostic, Document, Step};

pub(super) fn mixed(doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
    if !step.is_shell() || step.transcript.is_some() {
        return;
    }
    let Some(line) = crate::document::transcript::first_prompt_line(&step.code) else {
        return;
    };
    let file_line = step.code_line + line;
    let text = doc.source.line_text(file_line);
    let col = text.find("$ ").or_else(|| text.find('$')).unwrap_or(0) + 1;
    out.push(
        Diagnostic::at_line_col(
            &doc.source,
            file_line,
            col,
            1,
            format!(
                "mixed transcript: step `{}` has `$ ` prompt lines but does not start with one, \
                 so it runs as a whole script and `$` runs as a command; \
                 start every command with `$ ` (the other lines are then sample output) \
                 or remove the prompts",
                step.name
            ),
        )
        .warning(),
    );
}

/// A `# ` line in a transcript is a root prompt: it runs. One that reads
/// like a comment or like output is most likely not meant to.
pub(super) fn root_prose(doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
    let Some(t) = &step.transcript else {
        return;
    };
    for c in t.commands.iter().filter(|c| c.root) {
        let first = c.command.lines().next().unwrap_or_default();
        if !crate::document::transcript::looks_like_prose(first) {
            continue;
        }
        let file_line = step.code_line + c.line;
        out.push(
            Diagnostic::at_line_col(
                &doc.source,
                file_line,
                1,
                doc.source.line_text(file_line).len().max(1),
                format!(
                    "`# ` in a transcript is a root prompt, so step `{}` runs `{}` as a command; \
                     a comment is written `$ # …` (or goes in the prose), output has no `# ` in front",
                    step.name,
                    first.trim()
                ),
            )
            .warning(),
        );
    }
}

pub(super) fn expect(doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
    let Some(mode) = step.attrs.expect else {
        return;
    };
    let span = position::attr(doc, step, "expect");
    let problem = match step.sample() {
        None => Some(
            "the block has no sample output to compare with: write it as a transcript, \
             each command behind a `$ ` prompt and the output it prints under it"
                .to_string(),
        ),
        Some(_) if step.attrs.hosts.is_some() => Some(
            "a fan-out step (`hosts=`) has one output per machine; compare on one `host=`"
                .to_string(),
        ),
        Some(sample) => crate::expect::sample_problem(mode, &sample),
    };
    if let Some(p) = problem {
        out.push(super::error(
            doc,
            span,
            format!("`expect={}` on step `{}`: {p}", mode.as_str(), step.name),
        ));
    }
}
