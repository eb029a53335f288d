//! Context-aware shell escaping. Values are first rendered as placeholders;
//! then the rendered script is scanned with a small shell lexer that knows
//! whether each placeholder stands unquoted, inside '…', "…", $'…', a
//! comment, a here-document, an arithmetic context or the script of a
//! nested shell, and each value is escaped for exactly that context.
//!
//! Quoting every value the same way would be wrong: `"[{{ x }}]"` with a
//! single-quoted value still expands `$(…)` inside the double quotes, bash
//! evaluates `a[$(cmd)]` inside `$(( ))` whatever the quoting, and the
//! script of `bash -c '…'` is parsed a second time by the inner shell.
//! Arithmetic contexts accept integer literals only; nested scripts are
//! quoted once for the inner shell (found by lexing the script itself) and
//! once more for the enclosing context. Where the lexer cannot prove what
//! the inner shell will see, it refuses to render.

use std::cell::RefCell;
use words::*;

mod words;

const OPEN: char = '\u{F8F0}';
const CLOSE: char = '\u{F8F1}';

/// One interpolated value. `deferred` values are dry-run placeholders for
/// results not known yet (shown, never executed).
#[derive(Debug, Clone)]
pub struct Val {
    pub text: String,
    pub deferred: bool,
}

thread_local! {
    static VALUES: RefCell<Option<Vec<Val>>> = const { RefCell::new(None) };
    static PREVIEW: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Collects the values of one render on this thread.
pub struct Scope;

impl Scope {
    /// `preview`: a dry run or the check before a run, where results of
    /// steps not run yet are placeholders (`⟨steps.x.stdout⟩`).
    pub fn begin(preview: bool) -> Scope {
        VALUES.with(|v| *v.borrow_mut() = Some(Vec::new()));
        PREVIEW.with(|p| p.set(preview));
        Scope
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        VALUES.with(|v| *v.borrow_mut() = None);
        PREVIEW.with(|p| p.set(false));
    }
}

/// Stores a value and returns its placeholder (or, outside a scope, the
/// value single-quoted).
pub fn placeholder(text: String, plain_object: bool) -> String {
    // Only a preview defers: in a real run every value is checked.
    let deferred = PREVIEW.with(|p| p.get()) && (plain_object || text.contains('⟨'));
    VALUES.with(|v| match v.borrow_mut().as_mut() {
        Some(values) => {
            values.push(Val { text, deferred });
            format!("{OPEN}{}{CLOSE}", values.len() - 1)
        }
        None => super::shell_quote(&text),
    })
}

/// Shells whose `-c` argument is a script.
const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "busybox", "su", "runuser",
];
/// Commands whose later arguments are joined and run as a script.
const JOINERS: &[&str] = &["eval", "ssh", "watch"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// `))`
    Parens,
    /// `]`
    Bracket,
    /// `}`
    Brace,
    /// `]]`
    Test,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ctx {
    Unquoted,
    Single,
    Double,
    AnsiC,
    Comment,
    /// A here-document body: delimiter, quoted, strip tabs, and whether the
    /// body is the script of a shell (`bash <<EOF`, `ssh h <<EOF`).
    Heredoc(String, bool, bool, bool),
    Subst,
    Backtick,
    /// An arithmetic context: its name for messages, nesting depth, closer.
    Arith(&'static str, usize, Close),
}

impl Ctx {
    fn is_command(&self) -> bool {
        matches!(self, Ctx::Unquoted | Ctx::Subst | Ctx::Backtick)
    }
    fn is_quote(&self) -> bool {
        matches!(self, Ctx::Single | Ctx::Double | Ctx::AnsiC)
    }
}

/// The script a nested shell will parse, as far as it is known.
#[derive(Debug, Clone, Default)]
struct Script {
    /// What the inner shell receives (after the outer shell's quote removal).
    text: String,
    /// Set when the outer shell expands something in it first.
    opaque: bool,
    /// `bash -c WORD`: only that word; `eval A B`: every later word.
    single_word: bool,
    trigger: String,
}

/// The simple command being read in a command-level context.
#[derive(Debug, Clone, Default)]
struct Cmd {
    words: Vec<String>,
    word: String,
    in_word: bool,
    shell_seen: bool,
    script_next: bool,
    script: Option<Script>,
    /// `let`, `declare -i`: arguments are arithmetic.
    arith: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct Frame {
    ctx: Ctx,
    cmd: Cmd,
    /// The body so far of a here-document that is a shell script.
    body: Option<Script>,
}

impl Frame {
    fn new(ctx: Ctx) -> Self {
        Frame {
            ctx,
            cmd: Cmd::default(),
            body: None,
        }
    }
}

/// A pending here-document: delimiter, quoted, strip tabs, nested.
type Pending = (String, bool, bool, bool);

struct Lexer {
    stack: Vec<Frame>,
    pending: Vec<Pending>,
    line: usize,
}

/// Replaces every placeholder with its value escaped for its context. An
/// error names the (1-based) line of the rendered text and the reason.
pub fn substitute(rendered: &str) -> Result<String, (usize, String)> {
    let values = VALUES.with(|v| v.borrow().clone()).unwrap_or_default();
    if values.is_empty() {
        return Ok(rendered.to_string());
    }
    let chars: Vec<char> = rendered.chars().collect();
    let mut out = String::with_capacity(rendered.len() + 16);
    let mut lexer = Lexer::new();
    lexer.run(&chars, &values, &mut out)?;
    Ok(out)
}

impl Lexer {
    fn new() -> Self {
        Lexer {
            stack: vec![Frame::new(Ctx::Unquoted)],
            pending: Vec::new(),
            line: 1,
        }
    }

    fn top(&self) -> Ctx {
        self.stack
            .last()
            .map(|f| f.ctx.clone())
            .unwrap_or(Ctx::Unquoted)
    }

    fn push(&mut self, ctx: Ctx) {
        self.stack.push(Frame::new(ctx));
    }

    fn pop(&mut self) {
        if self.stack.len() > 1 {
            self.stack.pop();
        }
    }

    /// The command whose current word the next character belongs to: the
    /// nearest command-level frame with only quotes above it.
    fn cmd(&mut self) -> Option<&mut Cmd> {
        for f in self.stack.iter_mut().rev() {
            if f.ctx.is_command() {
                return Some(&mut f.cmd);
            }
            if !f.ctx.is_quote() {
                return None;
            }
        }
        None
    }

    /// Adds text as the inner shell will see it.
    fn append(&mut self, s: &str) {
        if let Some(f) = self.stack.last_mut()
            && let Some(body) = f.body.as_mut()
        {
            body.text.push_str(s);
            return;
        }
        if let Some(cmd) = self.cmd() {
            begin_word(cmd);
            cmd.word.push_str(s);
            if let Some(script) = cmd.script.as_mut() {
                script.text.push_str(s);
            }
        }
    }

    /// The outer shell expands something here: the script is not provable.
    fn opaque(&mut self) {
        if let Some(f) = self.stack.last_mut()
            && let Some(body) = f.body.as_mut()
        {
            body.opaque = true;
            return;
        }
        if let Some(cmd) = self.cmd() {
            begin_word(cmd);
            if let Some(script) = cmd.script.as_mut() {
                script.opaque = true;
            }
        }
    }

    fn run(
        &mut self,
        chars: &[char],
        values: &[Val],
        out: &mut String,
    ) -> Result<(), (usize, String)> {
        let mut i = 0;
        let mut line_start = true;
        while i < chars.len() {
            let c = chars[i];
            if c == OPEN
                && let Some(end) = chars[i..].iter().position(|&x| x == CLOSE).map(|p| i + p)
            {
                let idx: String = chars[i + 1..end].iter().collect();
                let value = idx
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| values.get(n))
                    .ok_or((self.line, "internal error: unknown placeholder".to_string()))?;
                self.begin();
                let (escaped, inner) = self.escape(value).map_err(|m| (self.line, m))?;
                self.append(&inner);
                out.push_str(&escaped);
                i = end + 1;
                line_start = false;
                continue;
            }
            let used = self.step(chars, i, line_start, out);
            line_start = c == '\n';
            if c == '\n' {
                self.line += 1;
            }
            i += used;
        }
        Ok(())
    }

    /// The escaped value for the current context, and the text the inner
    /// shell sees when this is a nested script.
    fn escape(&self, value: &Val) -> Result<(String, String), String> {
        if let Some(what) = self.arithmetic() {
            let v = &value.text;
            if value.deferred || is_integer(v) {
                return Ok((v.clone(), v.clone()));
            }
            return Err(format!(
                "a value in `{what}` must be an integer literal (arithmetic can run commands), got {v:?}"
            ));
        }
        let ctx = self.top();
        let (inner, script) = match self.script() {
            Some(s) if s.opaque => {
                return Err(format!(
                    "a value in the script run by `{}` cannot be proven safe: the outer shell \
                     expands `$` or `` ` `` in that script first; pass the value as an argument \
                     (`sh -c '… \"$1\"' sh VALUE`) or through env=",
                    s.trigger
                ));
            }
            Some(s) => {
                let mut lexer = Lexer::new();
                let chars: Vec<char> = s.text.chars().collect();
                let mut sink = String::new();
                lexer.run(&chars, &[], &mut sink).map_err(|(_, m)| m)?;
                lexer.begin();
                (lexer.escape(value)?.0, true)
            }
            None => (value.text.clone(), false),
        };
        let mut escaped = escape_for(&ctx, &inner)?;
        // Inside `…` the shell first removes one level of `\` before `\`,
        // `` ` `` and `$`: add one level per enclosing backquote.
        for _ in self.stack.iter().filter(|f| f.ctx == Ctx::Backtick) {
            escaped = backquote_escape(&escaped);
        }
        Ok((escaped, if script { inner } else { value.text.clone() }))
    }

    /// The arithmetic context a placeholder here is in, if any.
    fn arithmetic(&self) -> Option<&'static str> {
        for f in &self.stack {
            if let Ctx::Arith(what, ..) = f.ctx {
                return Some(what);
            }
        }
        let mut quoted_only = true;
        for f in self.stack.iter().rev() {
            if f.ctx.is_command() && quoted_only {
                return f.cmd.arith;
            }
            quoted_only &= f.ctx.is_quote();
        }
        None
    }

    /// The nested script a placeholder here belongs to, if any.
    /// A placeholder nested deeper (in `$(…)` inside the script) finds the
    /// script too: the expansion made it opaque, so the value is refused.
    fn script(&self) -> Option<&Script> {
        for f in self.stack.iter().rev() {
            if let Some(body) = &f.body {
                return Some(body);
            }
            if let (true, Some(s)) = (f.ctx.is_command(), f.cmd.script.as_ref()) {
                return Some(s);
            }
        }
        None
    }

    /// Consumes the character at `i` (and any it belongs with); returns how
    /// many were used.
    fn step(&mut self, chars: &[char], i: usize, line_start: bool, out: &mut String) -> usize {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        out.push(c);
        let ctx = self.top();
        match ctx {
            Ctx::Heredoc(ref delim, quoted, strip, _) => {
                if line_start {
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
                        self.pop();
                        let text: String = chars[i + 1..end].iter().collect();
                        out.push_str(&text);
                        return end - i;
                    }
                }
                if quoted {
                    self.append(&c.to_string());
                    return 1;
                }
                match c {
                    '\\' if matches!(next, Some('$' | '`' | '\\')) => {
                        let n = next.unwrap_or('\\');
                        out.push(n);
                        self.append(&n.to_string());
                        2
                    }
                    '$' | '`' => {
                        self.opaque();
                        out.pop();
                        self.expansion(chars, i, out)
                    }
                    _ => {
                        self.append(&c.to_string());
                        1
                    }
                }
            }
            Ctx::Single => {
                if c == '\'' {
                    self.pop();
                } else {
                    self.append(&c.to_string());
                }
                1
            }
            Ctx::AnsiC => {
                self.opaque();
                if c == '\\' {
                    if let Some(n) = next {
                        out.push(n);
                        return 2;
                    }
                } else if c == '\'' {
                    self.pop();
                }
                1
            }
            Ctx::Double => match c {
                '\\' => match next {
                    Some(n) => {
                        out.push(n);
                        if matches!(n, '$' | '`' | '"' | '\\') {
                            self.append(&n.to_string());
                        } else if n != '\n' {
                            self.append(&format!("\\{n}"));
                        }
                        2
                    }
                    None => 1,
                },
                '"' => {
                    self.pop();
                    1
                }
                '$' | '`' => {
                    self.opaque();
                    out.pop();
                    self.expansion(chars, i, out)
                }
                _ => {
                    self.append(&c.to_string());
                    1
                }
            },
            Ctx::Comment => {
                if c == '\n' {
                    self.pop();
                    self.command_end();
                    self.open_heredocs();
                }
                1
            }
            Ctx::Arith(what, depth, close) => self.arith_char(chars, i, out, what, depth, close),
            Ctx::Unquoted | Ctx::Subst | Ctx::Backtick => self.command_char(chars, i, out, &ctx),
        }
    }

    /// `$…` or `` ` `` where the shell expands: pushes the right context.
    /// The caller has not written `chars[i]` yet.
    fn expansion(&mut self, chars: &[char], i: usize, out: &mut String) -> usize {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let next2 = chars.get(i + 2).copied();
        out.push(c);
        if c == '`' {
            if self.top() == Ctx::Backtick {
                self.pop();
            } else {
                self.push(Ctx::Backtick);
            }
            return 1;
        }
        match (next, next2) {
            (Some('('), Some('(')) => {
                out.push_str("((");
                self.push(Ctx::Arith("$(( … ))", 0, Close::Parens));
                3
            }
            (Some('('), _) => {
                out.push('(');
                self.push(Ctx::Subst);
                2
            }
            (Some('['), _) => {
                out.push('[');
                self.push(Ctx::Arith("$[ … ]", 0, Close::Bracket));
                2
            }
            (Some('{'), _) => {
                out.push('{');
                self.push(Ctx::Arith("${ … }", 0, Close::Brace));
                2
            }
            _ => 1,
        }
    }

    fn arith_char(
        &mut self,
        chars: &[char],
        i: usize,
        out: &mut String,
        what: &'static str,
        depth: usize,
        close: Close,
    ) -> usize {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let (open, shut) = match close {
            Close::Parens => ('(', ')'),
            Close::Bracket | Close::Test => ('[', ']'),
            Close::Brace => ('{', '}'),
        };
        let set_depth = |s: &mut Self, d: usize| {
            if let Some(f) = s.stack.last_mut() {
                f.ctx = Ctx::Arith(what, d, close);
            }
        };
        match c {
            '$' | '`' => {
                out.pop();
                self.expansion(chars, i, out)
            }
            '\'' if close != Close::Parens => {
                self.push(Ctx::Single);
                1
            }
            '"' => {
                self.push(Ctx::Double);
                1
            }
            '\\' => {
                if let Some(n) = next {
                    out.push(n);
                    return 2;
                }
                1
            }
            _ if c == open => {
                set_depth(self, depth + 1);
                1
            }
            _ if c == shut && depth > 0 => {
                set_depth(self, depth - 1);
                1
            }
            _ if c == shut => match close {
                Close::Parens | Close::Test if next == Some(shut) => {
                    out.push(shut);
                    self.pop();
                    2
                }
                Close::Parens | Close::Test => 1,
                Close::Bracket | Close::Brace => {
                    self.pop();
                    1
                }
            },
            _ => 1,
        }
    }

    fn command_char(&mut self, chars: &[char], i: usize, out: &mut String, ctx: &Ctx) -> usize {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let at_word_start = self.cmd().is_some_and(|cmd| !cmd.in_word);
        match c {
            '\\' => {
                if let Some(n) = next {
                    out.push(n);
                    if n != '\n' {
                        self.append(&n.to_string());
                    }
                    return 2;
                }
                1
            }
            '\'' => {
                self.begin();
                self.push(Ctx::Single);
                1
            }
            '"' => {
                self.begin();
                self.push(Ctx::Double);
                1
            }
            '$' if next == Some('\'') => {
                self.opaque();
                out.push('\'');
                self.push(Ctx::AnsiC);
                2
            }
            '$' => {
                self.opaque();
                out.pop();
                self.expansion(chars, i, out)
            }
            ')' if *ctx == Ctx::Subst => {
                self.pop();
                1
            }
            '`' if *ctx == Ctx::Backtick => {
                self.pop();
                1
            }
            '`' => {
                self.opaque();
                self.push(Ctx::Backtick);
                1
            }
            '#' if at_word_start => {
                self.push(Ctx::Comment);
                1
            }
            '(' if next == Some('(') && at_word_start => {
                out.push('(');
                let name = match self.cmd().and_then(|c| c.words.last().cloned()) {
                    Some(w) if w == "for" => "for (( … ))",
                    _ => "(( … ))",
                };
                self.push(Ctx::Arith(name, 0, Close::Parens));
                2
            }
            '[' if next == Some('[') && at_word_start && test_is_arithmetic(&chars[i..]) => {
                out.push('[');
                self.push(Ctx::Arith("[[ … -eq … ]]", 0, Close::Test));
                2
            }
            '[' if self.cmd().is_some_and(|c| array_assignment(c)) => {
                self.append("[");
                self.push(Ctx::Arith("NAME[ … ]", 0, Close::Bracket));
                1
            }
            '<' if next == Some('<') && chars.get(i + 2) != Some(&'<') => {
                out.push('<');
                if let Some((delim, quoted, strip, _)) = heredoc_op(&chars[i + 2..]) {
                    let nested = match self.cmd() {
                        Some(c) => runs_stdin_script(c),
                        None => false,
                    };
                    self.pending.push((delim, quoted, strip, nested));
                }
                2
            }
            ' ' | '\t' => {
                self.finish_word();
                1
            }
            '\n' => {
                self.command_end();
                self.open_heredocs();
                1
            }
            ';' | '&' | '|' | '(' | ')' => {
                self.command_end();
                1
            }
            _ => {
                self.append(&c.to_string());
                1
            }
        }
    }

    /// A word starts here (a quote, an expansion or a placeholder).
    fn begin(&mut self) {
        if let Some(cmd) = self.cmd() {
            begin_word(cmd);
        }
    }

    fn finish_word(&mut self) {
        let Some(cmd) = self.cmd() else { return };
        if !cmd.in_word {
            return;
        }
        cmd.in_word = false;
        let word = std::mem::take(&mut cmd.word);
        if let Some(script) = cmd.script.as_mut() {
            if script.single_word {
                cmd.script = None;
                cmd.script_next = false;
            } else {
                script.text.push(' ');
            }
        } else {
            classify(cmd, &word);
        }
        cmd.words.push(word);
    }

    fn command_end(&mut self) {
        self.finish_word();
        if let Some(cmd) = self.cmd() {
            *cmd = Cmd::default();
        }
    }

    /// Here-documents start on the line after their operator.
    fn open_heredocs(&mut self) {
        let pending: Vec<Pending> = self.pending.drain(..).collect();
        for (d, q, st, nested) in pending.into_iter().rev() {
            let mut frame = Frame::new(Ctx::Heredoc(d, q, st, nested));
            if nested {
                frame.body = Some(Script {
                    trigger: "a here-document read by a shell".into(),
                    ..Script::default()
                });
            }
            self.stack.push(frame);
        }
    }
}
