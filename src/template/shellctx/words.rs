//! What a word means to the lexer: which commands run their arguments as a
//! script (`sh -c`, `eval`, `ssh`, …) or evaluate them as arithmetic, where
//! a here-document starts, and how a value is escaped for the context it
//! lands in. Split from the lexer, which only tracks where it is.

use super::{Cmd, Ctx, JOINERS, SHELLS, Script};
use crate::template::shell_quote;

pub(super) fn begin_word(cmd: &mut Cmd) {
    if cmd.in_word {
        return;
    }
    cmd.in_word = true;
    if cmd.script_next && cmd.script.is_none() {
        let trigger = cmd
            .words
            .iter()
            .rev()
            .find(|w| SHELLS.contains(&basename(w)))
            .map(|w| format!("{} -c", basename(w)))
            .unwrap_or_else(|| "sh -c".into());
        cmd.script = Some(Script {
            single_word: true,
            trigger,
            ..Script::default()
        });
    }
}

/// Notes what a finished word means for the words after it.
pub(super) fn classify(cmd: &mut Cmd, word: &str) {
    let base = basename(word);
    if JOINERS.contains(&base) {
        cmd.script = Some(Script {
            trigger: base.to_string(),
            ..Script::default()
        });
    } else if SHELLS.contains(&base) {
        cmd.shell_seen = true;
    } else if cmd.shell_seen
        && (word == "--command"
            || (word.starts_with('-') && !word.starts_with("--") && word.contains('c')))
    {
        cmd.script_next = true;
    } else if cmd.words.is_empty() && word == "let" {
        cmd.arith = Some("let");
    } else if matches!(
        cmd.words.last().map(String::as_str),
        Some("declare" | "local" | "typeset" | "readonly" | "export")
    ) && word.starts_with('-')
        && word.contains('i')
    {
        cmd.arith = Some("declare -i");
    }
}

/// `NAME[` in an assignment word: the subscript of an indexed array is
/// arithmetic (`a[x[$(cmd)]]=1` runs `cmd`).
pub(super) fn array_assignment(cmd: &Cmd) -> bool {
    let ident = crate::text::is_identifier(&cmd.word);
    let prefix_ok = cmd.words.iter().all(|w| w.contains('='))
        || matches!(
            cmd.words.first().map(String::as_str),
            Some("declare" | "local" | "typeset" | "readonly" | "export")
        );
    cmd.in_word && ident && prefix_ok
}

/// Whether a here-document on this command is read by a shell as a script.
pub(super) fn runs_stdin_script(cmd: &Cmd) -> bool {
    cmd.words
        .iter()
        .chain(std::iter::once(&cmd.word))
        .any(|w| SHELLS.contains(&basename(w)) || JOINERS.contains(&basename(w)))
}

pub(super) fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

pub(super) fn is_integer(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `[[ … ]]` with `-eq`-style operators evaluates both sides as arithmetic.
pub(super) fn test_is_arithmetic(rest: &[char]) -> bool {
    let text: String = rest.iter().take(4096).collect();
    let body = match text.find("]]") {
        Some(end) => &text[..end],
        None => &text,
    };
    ["-eq", "-ne", "-lt", "-le", "-gt", "-ge"]
        .iter()
        .any(|op| body.split_whitespace().any(|w| w == *op))
}

/// `<<[-] ['"]WORD['"]`: delimiter, quoted, strip tabs, chars used.
pub(super) fn heredoc_op(rest: &[char]) -> Option<(String, bool, bool, usize)> {
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

pub(super) fn backquote_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for ch in s.chars() {
        if matches!(ch, '\\' | '`' | '$') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

pub(super) fn escape_for(ctx: &Ctx, value: &str) -> Result<String, String> {
    Ok(match ctx {
        Ctx::Unquoted | Ctx::Subst | Ctx::Backtick | Ctx::Arith(..) => shell_quote(value),
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
        Ctx::Heredoc(delim, quoted, strip, _) => {
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
