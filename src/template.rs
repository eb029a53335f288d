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

/// In `--dry-run` (and in `check`), results of steps that did not run
/// render as a visible placeholder (`⟨steps.x.stdout⟩`) instead of failing;
/// the shell-context guard defers its value checks on them.
#[derive(Debug)]
struct Placeholder(String);

impl minijinja::value::Object for Placeholder {
    fn repr(self: &std::sync::Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }
    fn get_value(self: &std::sync::Arc<Self>, key: &Value) -> Option<Value> {
        touch();
        Some(placeholder(&format!("{}.{}", self.0, key)))
    }
    fn render(self: &std::sync::Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        touch();
        write!(f, "⟨{}⟩", self.0)
    }
    fn is_true(self: &std::sync::Arc<Self>) -> bool {
        touch();
        true
    }
}

thread_local! {
    /// Set when a template used a placeholder (see [`tracking`]).
    static TOUCHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn touch() {
    TOUCHED.with(|t| t.set(true));
}

/// Runs `f` (a render on this thread) and tells whether it used a dry-run
/// placeholder: its result then depends on a step the dry run did not run.
pub fn tracking<R>(f: impl FnOnce() -> R) -> (R, bool) {
    TOUCHED.with(|t| t.set(false));
    let r = f();
    (r, TOUCHED.with(|t| t.replace(false)))
}

/// A deferred value named `path` (e.g. `steps.build`): any attribute of it
/// is another placeholder, and it renders as `⟨path⟩`.
pub fn placeholder(path: &str) -> Value {
    Value::from_object(Placeholder(path.to_string()))
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
    /// The shell-context guard refused a value (arithmetic, nested shell,
    /// here-document): known before anything runs, so the run stops early.
    pub refused: bool,
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
        refused: false,
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
                // A plain object is a dry-run placeholder for a result
                // not known yet: shown, never executed.
                let plain = value.kind() == minijinja::value::ValueKind::Plain;
                shellctx::placeholder(text, plain)
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
        self.render_as(text, escape, ctx, false)
    }

    /// Renders for a dry run or the check before a run: dry-run
    /// placeholders of results not known yet pass the arithmetic check
    /// (they are shown, never executed); everything else is checked.
    pub fn preview(
        &self,
        text: &str,
        escape: Escape,
        ctx: &Value,
    ) -> Result<String, TemplateError> {
        self.render_as(text, escape, ctx, true)
    }

    fn render_as(
        &self,
        text: &str,
        escape: Escape,
        ctx: &Value,
        preview: bool,
    ) -> Result<String, TemplateError> {
        let name = match escape {
            Escape::Shell => "shell:step",
            Escape::None => "text:step",
        };
        // Go templates and `${{ }}` render as written (see `literal`).
        let text = literal::protect(text);
        let tmpl = self
            .env
            .template_from_named_str(name, &text)
            .map_err(convert)?;
        match escape {
            Escape::None => tmpl.render(ctx).map_err(convert),
            Escape::Shell => {
                let _scope = shellctx::Scope::begin(preview);
                let rendered = tmpl.render(ctx).map_err(convert)?;
                shellctx::substitute(&rendered).map_err(|(line, message)| TemplateError {
                    line: Some(line),
                    message,
                    refused: true,
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
            .template_from_named_str("text:check", &literal::protect(text))
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

pub mod literal;
mod shellctx;

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
            t.render("echo {{ params.host }}", Escape::Shell, &ctx)
                .unwrap(),
            "echo '$(touch /tmp/x)'"
        );
        // ssh joins its arguments into a script for the remote shell: every
        // value after `ssh` is quoted for that shell, then for this one.
        assert_eq!(
            t.render("ssh {{ params.host }}", Escape::Shell, &ctx)
                .unwrap(),
            r"ssh ''\''$(touch /tmp/x)'\'''"
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
