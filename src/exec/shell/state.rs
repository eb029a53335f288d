//! Reading a shell's own description of its state: the `export -p` output
//! of bash, dash or zsh (and our restore scripts, which use the same
//! syntax) parsed back into variables and the `cd` directory. Split from
//! the kernel because it is a small shell-word lexer of its own, with its
//! quoting rules (`'…'`, `"…"`, `$'…'`), and nothing to do with spawning.

use super::{Var, is_identifier};
use std::collections::HashSet;

/// Parses `export -p` output of bash, dash or zsh (and our own restore
/// scripts): the exported variables and the `cd` directory.
pub(super) fn parse_state(text: &str) -> (Vec<Var>, Option<String>) {
    let mut vars = Vec::new();
    let mut cwd = None;
    let mut seen = HashSet::new();
    for stmt in statements(text) {
        let words: Vec<&Word> = stmt.words.iter().collect();
        let Some(first) = words.first() else {
            continue;
        };
        let all_ok = words.iter().all(|w| w.ok);
        match first.value.as_str() {
            "cd" => {
                // `cd -- DIR || exit 1`
                if let Some(dir) = words[1..].iter().find(|w| w.value != "--")
                    && dir.ok
                {
                    cwd = Some(dir.value.clone());
                }
            }
            "unset" => {}
            "export" | "declare" | "typeset" => {
                let opts: String = words[1..]
                    .iter()
                    .take_while(|w| w.value.starts_with('-'))
                    .map(|w| w.value.as_str())
                    .collect();
                let rest = &words[1 + words[1..]
                    .iter()
                    .take_while(|w| w.value.starts_with('-'))
                    .count()..];
                let first_name = rest
                    .first()
                    .map(|w| w.value.split('=').next().unwrap_or("").to_string())
                    .filter(|n| is_identifier(n));
                let plain = all_ok && !opts.contains(['T', 'f', 'F', 'a', 'A', 'n']);
                if !plain {
                    if let Some(n) = &first_name
                        && n != "_"
                        && seen.insert(n.clone())
                    {
                        vars.push(Var::Raw(Some(n.clone()), stmt.raw.to_string()));
                    }
                    continue;
                }
                for w in rest {
                    let (name, value) = match w.value.split_once('=') {
                        Some((n, v)) => (n, Some(v)),
                        None => (w.value.as_str(), None),
                    };
                    if !is_identifier(name) || name == "_" || !seen.insert(name.to_string()) {
                        continue;
                    }
                    vars.push(match value {
                        Some(v) => Var::Set(name.to_string(), v.to_string()),
                        None => Var::Declared(name.to_string()),
                    });
                }
            }
            _ => {}
        }
    }
    (vars, cwd)
}

pub(super) struct Word {
    /// Unquoted value.
    pub(super) value: String,
    /// False when the quoting could not be read exactly.
    ok: bool,
}

pub(super) struct Statement<'a> {
    raw: &'a str,
    pub(super) words: Vec<Word>,
}

/// Splits shell text into simple statements (words up to an unquoted
/// newline or `;`), undoing quoting: '...', "...", $'...', backslashes.
pub(super) fn statements(text: &str) -> Vec<Statement<'_>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        // Skip blanks and separators; comments run to the end of the line.
        match chars[i].1 {
            ' ' | '\t' | '\n' | ';' => {
                i += 1;
                continue;
            }
            '#' => {
                while i < chars.len() && chars[i].1 != '\n' {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        let start = chars[i].0;
        let mut words = Vec::new();
        while i < chars.len() && !matches!(chars[i].1, '\n' | ';') {
            if matches!(chars[i].1, ' ' | '\t') {
                i += 1;
                continue;
            }
            let mut w = Word {
                value: String::new(),
                ok: true,
            };
            while i < chars.len() && !matches!(chars[i].1, ' ' | '\t' | '\n' | ';') {
                let c = chars[i].1;
                i += 1;
                match c {
                    '\'' => {
                        let mut closed = false;
                        while i < chars.len() {
                            let d = chars[i].1;
                            i += 1;
                            if d == '\'' {
                                closed = true;
                                break;
                            }
                            w.value.push(d);
                        }
                        w.ok &= closed;
                    }
                    '"' => {
                        let mut closed = false;
                        while i < chars.len() {
                            let d = chars[i].1;
                            i += 1;
                            match d {
                                '"' => {
                                    closed = true;
                                    break;
                                }
                                '\\' if i < chars.len() => {
                                    let e = chars[i].1;
                                    i += 1;
                                    match e {
                                        '$' | '`' | '"' | '\\' => w.value.push(e),
                                        '\n' => {}
                                        _ => {
                                            w.value.push('\\');
                                            w.value.push(e);
                                        }
                                    }
                                }
                                // Expansions would need a shell.
                                '$' | '`' => {
                                    w.ok = false;
                                    w.value.push(d);
                                }
                                _ => w.value.push(d),
                            }
                        }
                        w.ok &= closed;
                    }
                    '$' if i < chars.len() && chars[i].1 == '\'' => {
                        i += 1;
                        let (closed, ok) = ansi_c(&chars, &mut i, &mut w.value);
                        w.ok &= closed && ok;
                    }
                    '\\' if i < chars.len() => {
                        let e = chars[i].1;
                        i += 1;
                        if e != '\n' {
                            w.value.push(e);
                        }
                    }
                    '$' | '`' | '(' | ')' | '|' | '&' | '<' | '>' | '*' | '?' | '[' => {
                        w.ok = false;
                        w.value.push(c);
                    }
                    _ => w.value.push(c),
                }
            }
            words.push(w);
        }
        let end = if i < chars.len() {
            chars[i].0
        } else {
            text.len()
        };
        out.push(Statement {
            raw: &text[start..end],
            words,
        });
    }
    out
}

/// Control-X: `?` is DEL, other ASCII characters keep their low 5 bits.
fn control(x: char) -> Option<char> {
    match x {
        '?' => Some('\x7f'),
        x if x.is_ascii() => char::from_u32(x as u32 & 0x1f),
        _ => None,
    }
}

/// Reads a `$'...'` body after the opening quote; returns (closed, exact).
fn ansi_c(chars: &[(usize, char)], i: &mut usize, out: &mut String) -> (bool, bool) {
    let mut exact = true;
    let hex = |chars: &[(usize, char)], i: &mut usize, max: usize| -> Option<u32> {
        let mut v = 0u32;
        let mut n = 0;
        while n < max && *i < chars.len() && chars[*i].1.is_ascii_hexdigit() {
            v = v * 16 + chars[*i].1.to_digit(16).unwrap_or(0);
            *i += 1;
            n += 1;
        }
        (n > 0).then_some(v)
    };
    while *i < chars.len() {
        let c = chars[*i].1;
        *i += 1;
        match c {
            '\'' => return (true, exact),
            '\\' if *i < chars.len() => {
                let e = chars[*i].1;
                *i += 1;
                match e {
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'e' | 'E' => out.push('\x1b'),
                    'f' => out.push('\x0c'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\x0b'),
                    '\\' | '\'' | '"' | '?' => out.push(e),
                    '0'..='7' => {
                        let mut v = e.to_digit(8).unwrap_or(0);
                        let mut n = 1;
                        while n < 3 && *i < chars.len() && ('0'..='7').contains(&chars[*i].1) {
                            v = v * 8 + chars[*i].1.to_digit(8).unwrap_or(0);
                            *i += 1;
                            n += 1;
                        }
                        // A byte, which is only a character when ASCII.
                        match char::from_u32(v).filter(|c| c.is_ascii()) {
                            Some(c) => out.push(c),
                            None => exact = false,
                        }
                    }
                    'x' => match hex(chars, i, 2)
                        .and_then(char::from_u32)
                        .filter(char::is_ascii)
                    {
                        Some(c) => out.push(c),
                        None => exact = false,
                    },
                    'u' => match hex(chars, i, 4).and_then(char::from_u32) {
                        Some(c) => out.push(c),
                        None => exact = false,
                    },
                    'U' => match hex(chars, i, 8).and_then(char::from_u32) {
                        Some(c) => out.push(c),
                        None => exact = false,
                    },
                    'c' if *i < chars.len() => {
                        let x = chars[*i].1;
                        *i += 1;
                        match control(x) {
                            Some(c) => out.push(c),
                            None => exact = false,
                        }
                    }
                    // zsh: \C-X is control-X.
                    'C' if *i + 1 < chars.len() && chars[*i].1 == '-' => {
                        let x = chars[*i + 1].1;
                        *i += 2;
                        match control(x) {
                            Some(c) => out.push(c),
                            None => exact = false,
                        }
                    }
                    _ => {
                        exact = false;
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            _ => out.push(c),
        }
    }
    (false, exact)
}
