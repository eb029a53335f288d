//! Template-like text that is not runbook's: Go templates (`kubectl
//! --template='{{range .items}}{{.metadata.name}}{{end}}'`, `docker ps
//! --format '{{.ID}}'`, Helm's `{{ .Values.x }}`) and GitHub Actions'
//! `${{ … }}`. They are kept literally, in `check` and in `run` alike:
//! this one scanner decides for both.
//!
//! A `{{ … }}` that is valid minijinja is never reinterpreted. Go syntax is
//! an action that starts with `.` or `$`, or has an argument that does
//! (`range .items`: minijinja would read it as `range.items`, which nobody
//! writes with a space), or that is not minijinja and starts with a Go
//! keyword or function (`{{ len x }}`). Such an action is literal; a Go
//! `range`/`if`/`with`/`block`/`define` action takes everything up to its
//! matching `{{end}}` with it. `${{ … }}` is always literal. Text inside
//! `{% raw %}…{% endraw %}` and `{## … ##}` comments is skipped.

use std::borrow::Cow;

/// What a literal span is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralKind {
    /// Go template syntax.
    Go,
    /// A GitHub Actions expression, `${{ … }}`.
    Actions,
}

/// A span of a template kept as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Literal {
    pub start: usize,
    pub end: usize,
    pub kind: LiteralKind,
}

/// Go's keywords that open a block closed by `{{end}}`.
const GO_OPENERS: &[&str] = &["range", "if", "with", "block", "define"];

/// Go's other keywords and the functions templates commonly call (Go's
/// builtins, Helm/Sprig's usual ones).
const GO_WORDS: &[&str] = &[
    "template", "else", "end", "break", "continue", "and", "or", "not", "call", "html", "index",
    "slice", "js", "len", "print", "printf", "println", "urlquery", "eq", "ne", "lt", "le", "gt",
    "ge", "json", "toJson", "toYaml", "include", "required", "default", "quote", "upper", "lower",
    "title", "trim", "join", "tpl", "nindent", "indent",
];

/// The inner text of an action, without the trim markers of either syntax.
fn action_body(inner: &str) -> &str {
    inner
        .trim()
        .trim_start_matches(['-', '+'])
        .trim_end_matches(['-', '+'])
        .trim()
}

fn first_word(body: &str) -> &str {
    let end = body
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    &body[..end]
}

/// `body` without its quoted strings (a `"a .b"` is no Go argument).
fn unquoted(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut quote: Option<char> = None;
    for c in body.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' || c == '`' => {
                quote = Some(c);
                out.push(' ');
            }
            None => out.push(c),
        }
    }
    out
}

/// Whether an action's body is Go syntax whatever minijinja thinks: it
/// starts with `.`/`$`, or an argument does (`range .items`, `upper .Name`:
/// minijinja would read `range.items`, which nobody writes with a space).
fn go_syntax(body: &str) -> bool {
    let plain = unquoted(body);
    plain.starts_with('.')
        || plain.starts_with('$')
        || plain
            .split_whitespace()
            .skip(1)
            .any(|t| t.starts_with('.') || t.starts_with('$'))
}

/// Whether an action that is not minijinja reads as a Go keyword or
/// function call (`{{ len .x }}`, `{{ else }}`).
fn go_call(body: &str) -> bool {
    let word = first_word(body);
    let rest = &body[word.len()..];
    if word.is_empty() || !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return false;
    }
    (GO_OPENERS.contains(&word) || GO_WORDS.contains(&word))
        && (!rest.trim().is_empty() || word == "end" || word == "else")
}

/// Whether `{{ inner }}` compiles as minijinja (runbook's syntax).
fn minijinja_valid(env: &minijinja::Environment<'static>, inner: &str) -> bool {
    env.compile_expression(inner.trim().trim_start_matches('-').trim_end_matches('-'))
        .is_ok()
        && env.template_from_str(&format!("{{{{{inner}}}}}")).is_ok()
}

/// The `{{ … }}` action starting at `s`: the byte after its `}}`, or `None`
/// when unclosed.
fn action_end(text: &str, s: usize) -> Option<usize> {
    text[s + 2..].find("}}").map(|e| s + 2 + e + 2)
}

/// Every literal span of `text`, in order.
pub fn literals(text: &str) -> Vec<Literal> {
    let mut out = Vec::new();
    if !text.contains("{{") {
        return out;
    }
    let env = super::base_environment();
    // Actions `matching_end` may still look at: thousands of unclosed
    // `{{if .x}}` must not take quadratic time.
    let mut budget = MATCH_BUDGET;
    let mut i = 0;
    while let Some(rel) = text[i..].find('{') {
        let s = i + rel;
        let rest = &text[s..];
        if rest.starts_with(super::COMMENT_START) {
            i = text[s..]
                .find(super::COMMENT_END)
                .map_or(text.len(), |e| s + e + super::COMMENT_END.len());
            continue;
        }
        if rest.starts_with("{%") {
            i = skip_statement(text, s);
            continue;
        }
        if !rest.starts_with("{{") {
            i = s + 1;
            continue;
        }
        let Some(end) = action_end(text, s) else {
            break;
        };
        if s > 0 && text.as_bytes()[s - 1] == b'$' {
            out.push(Literal {
                start: s - 1,
                end,
                kind: LiteralKind::Actions,
            });
            i = end;
            continue;
        }
        let inner = &text[s + 2..end - 2];
        let body = action_body(inner);
        if !(go_syntax(body) || (go_call(body) && !minijinja_valid(&env, inner))) {
            i = end;
            continue;
        }
        let end = if GO_OPENERS.contains(&first_word(body)) {
            matching_end(text, end, &mut budget).unwrap_or(end)
        } else {
            end
        };
        out.push(Literal {
            start: s,
            end,
            kind: LiteralKind::Go,
        });
        i = end;
    }
    out
}

/// Past a `{% … %}` statement, or past the `{% endraw %}` of a raw block.
fn skip_statement(text: &str, s: usize) -> usize {
    let Some(e) = text[s + 2..].find("%}") else {
        return text.len();
    };
    let close = s + 2 + e + 2;
    let body = action_body(&text[s + 2..close - 2]);
    if body != "raw" {
        return close;
    }
    let mut j = close;
    while let Some(rel) = text[j..].find("{%") {
        let t = j + rel;
        let Some(e) = text[t + 2..].find("%}") else {
            return text.len();
        };
        let after = t + 2 + e + 2;
        if action_body(&text[t + 2..after - 2]) == "endraw" {
            return after;
        }
        j = after;
    }
    text.len()
}

/// Actions looked at, in all, when matching Go blocks to their `{{end}}`.
const MATCH_BUDGET: usize = 200_000;

/// The end of the `{{end}}` closing a Go block whose opening action ends
/// at `from`, nesting counted, within `budget` actions.
fn matching_end(text: &str, from: usize, budget: &mut usize) -> Option<usize> {
    let mut depth = 1usize;
    let mut i = from;
    while let Some(rel) = text[i..].find("{{") {
        *budget = budget.checked_sub(1)?;
        let s = i + rel;
        let end = action_end(text, s)?;
        let word = first_word(action_body(&text[s + 2..end - 2]));
        if GO_OPENERS.contains(&word) {
            depth += 1;
        } else if word == "end" {
            depth -= 1;
            if depth == 0 {
                return Some(end);
            }
        }
        i = end;
    }
    None
}

/// `text` with every literal span wrapped in `{% raw %}…{% endraw %}`, for
/// rendering: what is kept literally renders as written.
pub fn protect(text: &str) -> Cow<'_, str> {
    let spans = literals(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + spans.len() * 24);
    let mut at = 0;
    for l in spans {
        out.push_str(&text[at..l.start]);
        out.push_str("{% raw %}");
        out.push_str(&text[l.start..l.end]);
        out.push_str("{% endraw %}");
        at = l.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// `text` with every literal span blanked (spaces, line breaks kept), for
/// analysis: offsets and lines stay those of the original text.
pub fn blank(text: &str) -> Cow<'_, str> {
    let spans = literals(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for l in spans {
        out.push_str(&text[at..l.start]);
        for c in text[l.start..l.end].chars() {
            if c == '\n' || c == '\r' {
                out.push(c);
            } else {
                out.extend(std::iter::repeat_n(' ', c.len_utf8()));
            }
        }
        at = l.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> Vec<&str> {
        literals(text)
            .iter()
            .map(|l| &text[l.start..l.end])
            .collect()
    }

    #[test]
    fn go_templates_are_found() {
        assert_eq!(shown("docker ps --format '{{.ID}}'"), ["{{.ID}}"]);
        assert_eq!(
            shown(
                "kubectl get pods --template='{{range .items}}{{.metadata.name}}{{\"\\n\"}}{{end}}' {{ params.ns }}"
            ),
            ["{{range .items}}{{.metadata.name}}{{\"\\n\"}}{{end}}"]
        );
        assert_eq!(
            shown("{{ .Values.x }} {{- $x := .y -}} {{ upper .Name }}"),
            ["{{ .Values.x }}", "{{- $x := .y -}}", "{{ upper .Name }}"]
        );
        assert_eq!(
            shown("{{range .a}}{{if .b}}x{{end}}{{end}} {{ end }}"),
            ["{{range .a}}{{if .b}}x{{end}}{{end}}"]
        );
        assert_eq!(
            shown("run: echo ${{ secrets.TOKEN }} ${{ github.sha }}"),
            ["${{ secrets.TOKEN }}", "${{ github.sha }}"]
        );
    }

    #[test]
    fn valid_minijinja_is_never_reinterpreted() {
        for t in [
            "{{ x.y }}",
            "{{ params.ns }}",
            "{{ index }}",
            "{{ len(x) }}",
            "{{ x | upper }}",
            "{% raw %}{{.ID}}{% endraw %}",
            "{## {{.ID}} ##}",
            "{{ end }}",
            "{{ params.x }",
            "{{ 1 +",
        ] {
            assert_eq!(shown(t), Vec::<&str>::new(), "{t}");
        }
    }

    #[test]
    fn thousands_of_unclosed_go_blocks_stay_linear() {
        let text = "{{if .a}} x ".repeat(20_000);
        let started = std::time::Instant::now();
        assert_eq!(literals(&text).len(), 20_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn protect_and_blank_keep_what_they_must() {
        let t = "a {{.ID}}\n{{range .x}}\n{{.y}}\n{{end}} {{ v }}";
        assert_eq!(
            protect(t),
            "a {% raw %}{{.ID}}{% endraw %}\n{% raw %}{{range .x}}\n{{.y}}\n{{end}}{% endraw %} {{ v }}"
        );
        let b = blank(t);
        assert_eq!(b.len(), t.len());
        assert_eq!(b, "a        \n            \n      \n        {{ v }}");
    }
}
