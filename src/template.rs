//! The minijinja environment steps are rendered with, just before each runs.
//!
//! Shell steps are rendered with a custom auto-escape: every interpolated
//! value is shell-quoted, so a parameter such as `$(touch /tmp/x)` is passed
//! as data and never executed. `{{ x | raw }}` opts out, visibly. Other steps
//! (HTTP, Python, ...) are rendered as is. Undefined variables are errors.

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// Name prefix that selects shell quoting.
const SHELL: &str = "shell:";

/// How interpolated values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    Shell,
    None,
}

/// The template environment. Build once per run.
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

/// A template error, positioned relative to the template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// 1-based line within the template, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn convert(err: minijinja::Error) -> TemplateError {
    let mut message = err.kind().to_string();
    if let Some(detail) = err.detail() {
        message = format!("{message}: {detail}");
    }
    TemplateError {
        line: err.line(),
        message,
    }
}

/// The comment delimiters. Jinja's default `{# #}` collides with shell:
/// `${#var}` (string length) and `${#arr[@]}` would open a comment. `{##`
/// does not occur in ordinary shell.
pub const COMMENT_START: &str = "{##";
pub const COMMENT_END: &str = "##}";

/// The base environment every template of a runbook is compiled with (the
/// runner and `runbook check` share it): strict undefined, trailing newline
/// kept, shell-friendly comment delimiters.
pub fn base_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .comment_delimiters(COMMENT_START, COMMENT_END)
        .build()
    {
        env.set_syntax(syntax);
    }
    env
}

/// The environment the run renders every template with: the base syntax,
/// shell auto-escaping for `shell:` templates, the formatter and the
/// runbook filters (`raw`, `tojson`). `runbook check` compiles with this
/// same environment, so both know the same filters and tests.
pub fn environment() -> Environment<'static> {
    let mut env = base_environment();
    env.set_auto_escape_callback(|name| {
        if name.starts_with(SHELL) {
            AutoEscape::Custom("shell".into())
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(|out, state, value| {
        if value.is_undefined() || value.is_none() {
            return Ok(());
        }
        let text = if value.kind() == minijinja::value::ValueKind::Map
            || value.kind() == minijinja::value::ValueKind::Seq
        {
            serde_json::to_string(value).unwrap_or_else(|_| value.to_string())
        } else {
            value.to_string()
        };
        let shown = match state.auto_escape() {
            AutoEscape::Custom(name) if name == "shell" && !value.is_safe() => {
                shellctx::placeholder(text)
            }
            _ => text,
        };
        out.write_str(&shown)
            .map_err(|_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write failed"))
    });
    env.add_filter("raw", |v: Value| -> Value {
        Value::from_safe_string(if v.is_none() || v.is_undefined() {
            String::new()
        } else {
            v.to_string()
        })
    });
    // Not marked safe: in shell steps JSON is quoted like any value.
    env.add_filter("tojson", |v: Value| -> Result<Value, minijinja::Error> {
        serde_json::to_string(&v).map(Value::from).map_err(|e| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
        })
    });
    env
}

impl Templates {
    pub fn new() -> Self {
        Templates { env: environment() }
    }

    /// Renders a step body (or any text) with the given context.
    pub fn render(&self, text: &str, escape: Escape, ctx: &Value) -> Result<String, TemplateError> {
        let name = match escape {
            Escape::Shell => "shell:step",
            Escape::None => "text:step",
        };
        let tmpl = self
            .env
            .template_from_named_str(name, text)
            .map_err(convert)?;
        match escape {
            Escape::None => tmpl.render(ctx).map_err(convert),
            Escape::Shell => {
                let _scope = shellctx::Scope::begin();
                let rendered = tmpl.render(ctx).map_err(convert)?;
                shellctx::substitute(&rendered).map_err(|message| TemplateError {
                    line: None,
                    message,
                })
            }
        }
    }

    /// Evaluates a `when=` expression; true when the value is truthy.
    pub fn eval_bool(&self, expr: &str, ctx: &Value) -> Result<bool, TemplateError> {
        let expr = strip_braces(expr);
        let compiled = self.env.compile_expression(expr).map_err(convert)?;
        compiled.eval(ctx).map(|v| v.is_true()).map_err(convert)
    }

    /// Checks syntax only.
    pub fn syntax(&self, text: &str) -> Result<(), TemplateError> {
        self.env
            .template_from_named_str("text:check", text)
            .map(|_| ())
            .map_err(convert)
    }
}

/// Turns any serialisable value into a template value.
pub fn to_value<T: serde::Serialize>(v: &T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// `when="{{ x }}"` and `when="x"` mean the same.
pub fn strip_braces(expr: &str) -> &str {
    let t = expr.trim();
    match t.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
        Some(inner) => inner.trim(),
        None => t,
    }
}

/// POSIX shell quoting: safe words stay as they are, anything else is put in
/// single quotes with `'` written as `'\''`.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b))
    {
        return s.to_string();
    }
    crate::exec::shell::quote(s)
}

/// Context-aware shell escaping. Values are first rendered as placeholders;
/// then the rendered script is scanned with a small shell lexer that knows
/// whether each placeholder stands unquoted, inside '…', "…", $'…', a
/// comment or a here-document, and each value is escaped for exactly that
/// context. Quoting every value the same way would be wrong: `"[{{ x }}]"`
/// with a single-quoted value still expands `$(…)` inside the double quotes.
mod shellctx {
    use std::cell::RefCell;

    const OPEN: char = '\u{F8F0}';
    const CLOSE: char = '\u{F8F1}';

    thread_local! {
        static VALUES: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
    }

    /// Collects the values of one render on this thread.
    pub struct Scope;

    impl Scope {
        pub fn begin() -> Scope {
            VALUES.with(|v| *v.borrow_mut() = Some(Vec::new()));
            Scope
        }
    }

    impl Drop for Scope {
        fn drop(&mut self) {
            VALUES.with(|v| *v.borrow_mut() = None);
        }
    }

    /// Stores a value and returns its placeholder (or, outside a scope, the
    /// value single-quoted).
    pub fn placeholder(value: String) -> String {
        VALUES.with(|v| match v.borrow_mut().as_mut() {
            Some(values) => {
                values.push(value);
                format!("{OPEN}{}{CLOSE}", values.len() - 1)
            }
            None => super::shell_quote(&value),
        })
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Ctx {
        Unquoted,
        Single,
        Double,
        AnsiC,
        Comment,
        /// Inside a here-document body: (delimiter, quoted, strip tabs).
        Heredoc(String, bool, bool),
        /// `$(` … `)` nested in double quotes (or deeper): its own lexing.
        Subst,
        Backtick,
    }

    /// Replaces every placeholder with its value escaped for its context.
    pub fn substitute(rendered: &str) -> Result<String, String> {
        let values = VALUES.with(|v| v.borrow().clone()).unwrap_or_default();
        if values.is_empty() {
            return Ok(rendered.to_string());
        }
        let mut out = String::with_capacity(rendered.len() + 16);
        let mut stack: Vec<Ctx> = vec![Ctx::Unquoted];
        let mut pending_heredocs: Vec<(String, bool, bool)> = Vec::new();
        let chars: Vec<char> = rendered.chars().collect();
        let mut i = 0;
        let mut line_start = true;
        while i < chars.len() {
            let c = chars[i];
            if c == OPEN {
                let end = chars[i..].iter().position(|&x| x == CLOSE).map(|p| i + p);
                let Some(end) = end else {
                    out.push(c);
                    i += 1;
                    continue;
                };
                let idx: usize = chars[i + 1..end]
                    .iter()
                    .collect::<String>()
                    .parse()
                    .map_err(|_| "internal error: bad placeholder".to_string())?;
                let value = values
                    .get(idx)
                    .ok_or_else(|| "internal error: unknown placeholder".to_string())?;
                let ctx = stack.last().cloned().unwrap_or(Ctx::Unquoted);
                let mut escaped = escape_for(&ctx, value)?;
                // Inside `…` the shell first removes one level of `\` before
                // `\`, `` ` `` and `$`: add one level per enclosing backquote.
                for _ in stack.iter().filter(|c| **c == Ctx::Backtick) {
                    escaped = backquote_escape(&escaped);
                }
                out.push_str(&escaped);
                i = end + 1;
                line_start = false;
                continue;
            }
            let ctx = stack.last().cloned().unwrap_or(Ctx::Unquoted);
            out.push(c);
            let next = chars.get(i + 1).copied();
            match ctx {
                Ctx::Heredoc(ref delim, _, strip) => {
                    if line_start {
                        // Is this line the delimiter?
                        let end = chars[i..]
                            .iter()
                            .position(|&x| x == '\n')
                            .map(|p| i + p)
                            .unwrap_or(chars.len());
                        let line: String = chars[i..end].iter().collect();
                        let line = if strip {
                            line.trim_start_matches('\t')
                        } else {
                            &line
                        };
                        if line.trim_end_matches('\r') == delim {
                            stack.pop();
                        }
                    }
                }
                Ctx::Single => {
                    if c == '\'' {
                        stack.pop();
                    }
                }
                Ctx::AnsiC => {
                    if c == '\\' {
                        if let Some(n) = next {
                            out.push(n);
                            i += 1;
                        }
                    } else if c == '\'' {
                        stack.pop();
                    }
                }
                Ctx::Double => match c {
                    '\\' => {
                        if let Some(n) = next {
                            out.push(n);
                            i += 1;
                        }
                    }
                    '"' => {
                        stack.pop();
                    }
                    '$' if next == Some('(') => {
                        out.push('(');
                        i += 1;
                        stack.push(Ctx::Subst);
                    }
                    '`' => stack.push(Ctx::Backtick),
                    _ => {}
                },
                Ctx::Comment => {
                    if c == '\n' {
                        stack.pop();
                    }
                }
                Ctx::Unquoted | Ctx::Subst | Ctx::Backtick => match c {
                    '\\' => {
                        if let Some(n) = next {
                            out.push(n);
                            i += 1;
                        }
                    }
                    '\'' => stack.push(Ctx::Single),
                    '"' => stack.push(Ctx::Double),
                    '$' if next == Some('\'') => {
                        out.push('\'');
                        i += 1;
                        stack.push(Ctx::AnsiC);
                    }
                    '$' if next == Some('(') => {
                        out.push('(');
                        i += 1;
                        stack.push(Ctx::Subst);
                    }
                    ')' if ctx == Ctx::Subst => {
                        stack.pop();
                    }
                    '`' if ctx == Ctx::Backtick => {
                        stack.pop();
                    }
                    '`' => stack.push(Ctx::Backtick),
                    '#' if word_start(&out) => stack.push(Ctx::Comment),
                    '<' if next == Some('<') && chars.get(i + 2) != Some(&'<') => {
                        if let Some((delim, quoted, strip, used)) = heredoc_op(&chars[i + 2..]) {
                            out.push('<');
                            i += 1;
                            pending_heredocs.push((delim, quoted, strip));
                            let _ = used;
                        }
                    }
                    '\n' => {
                        // Here-documents start on the line after their operator.
                        for (d, q, st) in pending_heredocs.drain(..).rev() {
                            stack.push(Ctx::Heredoc(d, q, st));
                        }
                    }
                    _ => {}
                },
            }
            line_start = c == '\n';
            if c == '\n' && matches!(ctx, Ctx::Heredoc(..)) {
                line_start = true;
            }
            i += 1;
        }
        Ok(out)
    }

    /// Whether a `#` here would start a comment (at a word start).
    fn word_start(out: &str) -> bool {
        let before = out[..out.len() - 1].chars().last();
        matches!(
            before,
            None | Some(' ' | '\t' | '\n' | ';' | '&' | '|' | '(')
        )
    }

    /// `<<[-] ['"]WORD['"]`: delimiter, quoted, strip tabs, chars used.
    fn heredoc_op(rest: &[char]) -> Option<(String, bool, bool, usize)> {
        let mut j = 0;
        let strip = rest.first() == Some(&'-');
        if strip {
            j += 1;
        }
        while rest.get(j) == Some(&' ') || rest.get(j) == Some(&'\t') {
            j += 1;
        }
        let quote = match rest.get(j) {
            Some(&q) if q == '\'' || q == '"' => {
                j += 1;
                Some(q)
            }
            _ => None,
        };
        let start = j;
        while let Some(&ch) = rest.get(j) {
            if ch.is_alphanumeric() || ch == '_' || ch == '-' || ch == '.' {
                j += 1;
            } else {
                break;
            }
        }
        if j == start {
            return None;
        }
        let word: String = rest[start..j].iter().collect();
        if let Some(q) = quote {
            if rest.get(j) != Some(&q) {
                return None;
            }
            j += 1;
        }
        Some((word, quote.is_some(), strip, j))
    }

    fn backquote_escape(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 4);
        for ch in s.chars() {
            if matches!(ch, '\\' | '`' | '$') {
                out.push('\\');
            }
            out.push(ch);
        }
        out
    }

    fn escape_for(ctx: &Ctx, value: &str) -> Result<String, String> {
        Ok(match ctx {
            Ctx::Unquoted | Ctx::Subst | Ctx::Backtick => super::shell_quote(value),
            Ctx::Single => value.replace('\'', "'\\''"),
            Ctx::AnsiC => value.replace('\\', "\\\\").replace('\'', "\\'"),
            Ctx::Double => {
                let mut s = String::with_capacity(value.len());
                for ch in value.chars() {
                    if matches!(ch, '$' | '`' | '"' | '\\') {
                        s.push('\\');
                    }
                    s.push(ch);
                }
                s
            }
            Ctx::Comment => value.replace(['\n', '\r'], " "),
            Ctx::Heredoc(delim, quoted, strip) => {
                let ends = value.lines().any(|l| {
                    let l = if *strip {
                        l.trim_start_matches('\t')
                    } else {
                        l
                    };
                    l == delim
                });
                if ends {
                    return Err(format!(
                        "a value would end the here-document `{delim}` early; refusing to render"
                    ));
                }
                if *quoted {
                    value.to_string()
                } else {
                    let mut s = String::with_capacity(value.len());
                    for ch in value.chars() {
                        if matches!(ch, '$' | '`' | '\\') {
                            s.push('\\');
                        }
                        s.push(ch);
                    }
                    s
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn shell_values_are_quoted() {
        let t = Templates::new();
        let ctx = to_value(&serde_json::json!({
            "params": {"host": "$(touch /tmp/x)", "plain": "web-1.example.com", "q": "it's"}
        }));
        assert_eq!(
            t.render("ssh {{ params.host }}", Escape::Shell, &ctx)
                .unwrap(),
            "ssh '$(touch /tmp/x)'"
        );
        assert_eq!(
            t.render("ping {{ params.plain }}", Escape::Shell, &ctx)
                .unwrap(),
            "ping web-1.example.com"
        );
        assert_eq!(
            t.render("echo {{ params.q }}", Escape::Shell, &ctx)
                .unwrap(),
            "echo 'it'\\''s'"
        );
        assert_eq!(
            t.render("{{ params.host | raw }}", Escape::Shell, &ctx)
                .unwrap(),
            "$(touch /tmp/x)"
        );
        assert_eq!(
            t.render("GET {{ params.host }}", Escape::None, &ctx)
                .unwrap(),
            "GET $(touch /tmp/x)"
        );
        assert_eq!(
            t.render("echo {{ '' }}", Escape::Shell, &ctx).unwrap(),
            "echo ''"
        );
    }

    /// Every context, checked by running the script with bash and a
    /// payload that would create a file if it were ever evaluated.
    #[test]
    fn values_never_execute_in_any_quoting_context() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("pwned");
        let m = marker.display().to_string();
        let payloads = [
            format!("$(touch {m})"),
            format!("`touch {m}`"),
            format!("x; touch {m}"),
            format!("'; touch {m}; '"),
            format!("\"; touch {m}; \""),
            format!("a\ntouch {m}"),
            format!("\\'$(touch {m})"),
            format!("EOF\ntouch {m}"),
            format!("`;touch {m};`"),
            format!("\\`;touch {m};\\`"),
            format!("$(touch {m})`"),
        ];
        let script = "echo {{ v }}\necho \"[{{ v }}]\"\necho '[{{ v }}]'\necho $'[{{ v }}]'\necho \"$(echo {{ v }})\"\n# {{ v }}\ncat <<EOF\n{{ v }}\nEOF\ncat <<'Q'\n{{ v }}\nQ\necho `echo {{ v }}`\necho \"`echo {{ v }}`\"\necho `echo \"{{ v }}\"`\necho `printf '%s' {{ v }}`\n";
        let t = Templates::new();
        for p in payloads {
            let ctx = to_value(&serde_json::json!({ "v": p }));
            let rendered = match t.render(script, Escape::Shell, &ctx) {
                Ok(r) => r,
                Err(e) => {
                    // Only the here-document guard may refuse.
                    assert!(e.message.contains("here-document"), "{e}");
                    continue;
                }
            };
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(&rendered)
                .output()
                .unwrap();
            assert!(!marker.exists(), "payload {p:?} executed via:\n{rendered}");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.contains(p.lines().next().unwrap()),
                "payload {p:?} not printed literally:\n{rendered}\n---\n{stdout}"
            );
        }
    }

    #[test]
    fn undefined_is_an_error_with_line() {
        let t = Templates::new();
        let err = t
            .render(
                "echo ok\necho {{ params.nope }}",
                Escape::Shell,
                &context! { params => context!{} },
            )
            .unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(
            err.message.starts_with("undefined value"),
            "{}",
            err.message
        );
    }

    #[test]
    fn shell_length_expansion_is_not_a_comment() {
        let t = Templates::new();
        let ctx = context! { params => context! { n => 2 } };
        assert_eq!(
            t.render(
                "a=(1 2); echo ${#a[@]} {{ params.n }} {## note ##}",
                Escape::Shell,
                &ctx
            )
            .unwrap(),
            "a=(1 2); echo ${#a[@]} 2 "
        );
    }

    #[test]
    fn when_expressions() {
        let t = Templates::new();
        let ctx = context! { params => context! { env => "prod" } };
        assert!(t.eval_bool("{{ params.env == 'prod' }}", &ctx).unwrap());
        assert!(!t.eval_bool("params.env == 'dev'", &ctx).unwrap());
    }
}
