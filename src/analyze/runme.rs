//! Runme's cell options where they cannot be honoured: `background` and
//! `interactive` apply to local shell steps; elsewhere (interpreters, HTTP,
//! SSH) the step runs in the foreground without a terminal, and `check`
//! says so rather than letting the option be silently ignored.

use super::position;
use crate::document::{Diagnostic, Document, Step};

pub(super) fn options(doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
    let local_shell = step.is_shell() && step.attrs.host.is_none() && step.attrs.hosts.is_none();
    if local_shell {
        return;
    }
    let set = [
        (
            "background",
            step.attrs.background,
            "runs in the foreground",
        ),
        (
            "interactive",
            step.attrs.interactive == Some(true),
            "runs without the terminal",
        ),
    ];
    for (key, on, instead) in set {
        if on {
            let span = position::attr(doc, step, key);
            out.push(
                Diagnostic::at(
                    &doc.source,
                    span.start,
                    span.end,
                    format!(
                        "`{key}` applies to local shell steps only: step `{}` {instead}",
                        step.name
                    ),
                )
                .warning(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::diagnostics;
    use crate::document::parse;

    #[test]
    fn background_and_interactive_off_local_shell_steps_warn() {
        let text = "```python {\"name\":\"py\",\"background\":\"true\"}\nprint(1)\n```\n\n```bash {\"name\":\"sh\",\"background\":\"true\",\"interactive\":\"1\"}\necho\n```\n";
        let doc = parse("rb.md", text.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let shown: Vec<String> = diagnostics(&doc)
            .iter()
            .map(|d| d.to_string().lines().next().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            shown,
            [
                "warning: `background` applies to local shell steps only: step `py` runs in the foreground"
            ]
        );
    }
}
