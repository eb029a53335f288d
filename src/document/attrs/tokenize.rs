//! The syntax of an attribute list, `{k=v k2="v 2" flag}` or Runme's
//! `{"k":"v","k2":false}`, into raw key/value pairs with their exact
//! spans. Split from `attrs`, which gives the pairs their meaning.

use super::{AttrError, RawAttr};
use crate::document::source::Span;

/// Reads the attributes after the language: `{k=v k2="v 2" flag}` or the
/// JSON form `{"k":"v","k2":false}`. `base` is the absolute offset of
/// `text` in the document. Only syntax is checked here; see [`super::validate`].
pub fn tokenize(text: &str, base: usize) -> Result<Vec<RawAttr>, AttrError> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if i == b.len() {
        return Ok(Vec::new());
    }
    if b[i] != b'{' {
        return Err(AttrError::new(
            base + i,
            base + text.trim_end().len(),
            "expected attributes in braces after the language, e.g. `{name=x}`",
        ));
    }
    let open = i;
    i = skip_ws(b, i + 1);
    // `{"k":"v","k2":true}` or `{k=v k2="v 2" flag}`.
    let (attrs, close) = if i < b.len() && b[i] == b'"' {
        attr_list(text, base, open, i, |i| json_entry(text, base, open, i))?
    } else {
        attr_list(text, base, open, i, |i| kv_entry(text, base, i))?
    };
    let after = skip_ws(b, close + 1);
    if after < b.len() {
        return Err(AttrError::new(
            base + after,
            base + text.trim_end().len(),
            "unexpected text after the attributes",
        ));
    }
    Ok(attrs)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn unclosed(base: usize, open: usize) -> AttrError {
    AttrError::new(base + open, base + open + 1, "unclosed `{` in attributes")
}

fn char_at(text: &str, i: usize) -> &str {
    let end = (i + 1..=text.len())
        .find(|&e| text.is_char_boundary(e))
        .unwrap_or(text.len());
    &text[i..end]
}

/// The loop both forms share: entries up to the closing `}`, each read by
/// `entry` from its first character (whitespace before it skipped), which
/// returns the attribute and where to go on. Returns the attributes and
/// the offset of `}`.
fn attr_list(
    text: &str,
    base: usize,
    open: usize,
    mut i: usize,
    mut entry: impl FnMut(usize) -> Result<(RawAttr, usize), AttrError>,
) -> Result<(Vec<RawAttr>, usize), AttrError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    loop {
        i = skip_ws(b, i);
        if i == b.len() {
            return Err(unclosed(base, open));
        }
        if b[i] == b'}' {
            return Ok((out, i));
        }
        let (attr, next) = entry(i)?;
        out.push(attr);
        i = next;
    }
}

/// One `k=v`, `k="v"` or `flag` at `i`: the attribute and its end.
fn kv_entry(text: &str, base: usize, mut i: usize) -> Result<(RawAttr, usize), AttrError> {
    let b = text.as_bytes();
    let ks = i;
    while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'}' | b'"') {
        i += 1;
    }
    if i == ks {
        return Err(AttrError::new(
            base + i,
            base + i + 1,
            format!("unexpected `{}` in attributes", char_at(text, i)),
        ));
    }
    let key = text[ks..i].to_string();
    let key_span = Span::new(base + ks, base + i);
    if i < b.len() && b[i] == b'"' {
        return Err(AttrError::new(
            base + i,
            base + i + 1,
            "unexpected `\"` in attributes",
        ));
    }
    if i == b.len() || b[i] != b'=' {
        let flag = RawAttr {
            key,
            key_span,
            value: None,
            value_span: key_span,
            span: key_span,
        };
        return Ok((flag, i));
    }
    i += 1;
    let vs = i;
    let value = if i < b.len() && b[i] == b'[' {
        let end = list_end(text, base, i)?;
        i = end;
        text[vs..end].to_string()
    } else if i < b.len() && b[i] == b'"' {
        let mut v = String::new();
        i += 1;
        loop {
            let Some(c) = text[i..].chars().next() else {
                return Err(AttrError::new(
                    base + vs,
                    base + vs + 1,
                    "unterminated string in attributes",
                ));
            };
            i += c.len_utf8();
            match c {
                '"' => break,
                '\\' => match text[i..].chars().next() {
                    Some(n @ ('"' | '\\')) => {
                        v.push(n);
                        i += 1;
                    }
                    _ => v.push('\\'),
                },
                c => v.push(c),
            }
        }
        if i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'}' {
            return Err(AttrError::new(
                base + i,
                base + i + 1,
                format!("unexpected `{}` after a quoted value", char_at(text, i)),
            ));
        }
        v
    } else {
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'}' | b'"') {
            i += 1;
        }
        if i < b.len() && b[i] == b'"' {
            return Err(AttrError::new(
                base + i,
                base + i + 1,
                "unexpected `\"` in a value (quote the whole value)",
            ));
        }
        text[vs..i].to_string()
    };
    let attr = RawAttr {
        key,
        key_span,
        value: Some(value),
        value_span: Span::new(base + vs, base + i),
        span: Span::new(base + ks, base + i),
    };
    Ok((attr, i))
}

/// Reads a JSON string starting at the `"` at `i`: (decoded, end offset).
fn json_string(text: &str, base: usize, i: usize) -> Result<(String, usize), AttrError> {
    let b = text.as_bytes();
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => {
                let raw = &text[i..=j];
                return serde_json::from_str::<String>(raw)
                    .map(|s| (s, j + 1))
                    .map_err(|_| {
                        AttrError::new(base + i, base + j + 1, "invalid JSON string in attributes")
                    });
            }
            _ => j += 1,
        }
    }
    Err(AttrError::new(
        base + i,
        base + i + 1,
        "unterminated string in attributes",
    ))
}

/// One `"k":value` at `i` and the `,` after it: the attribute and the
/// offset after the `,` (or of the `}`).
fn json_entry(
    text: &str,
    base: usize,
    open: usize,
    mut i: usize,
) -> Result<(RawAttr, usize), AttrError> {
    let b = text.as_bytes();
    if b[i] != b'"' {
        return Err(AttrError::new(
            base + i,
            base + i + 1,
            format!(
                "expected a quoted key in JSON attributes, found `{}`",
                char_at(text, i)
            ),
        ));
    }
    let ks = i;
    let (key, kend) = json_string(text, base, i)?;
    let key_span = Span::new(base + ks + 1, base + kend - 1);
    i = skip_ws(b, kend);
    if i == b.len() {
        return Err(unclosed(base, open));
    }
    if b[i] != b':' {
        return Err(AttrError::new(
            base + i,
            base + i + 1,
            format!("expected `:` after `\"{key}\"` in JSON attributes"),
        ));
    }
    i = skip_ws(b, i + 1);
    if i == b.len() {
        return Err(unclosed(base, open));
    }
    let vs = i;
    let value = if b[i] == b'"' {
        let (v, end) = json_string(text, base, i)?;
        i = end;
        Some(v)
    } else {
        while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'-' | b'+' | b'.')) {
            i += 1;
        }
        let word = &text[vs..i];
        match word {
            "true" | "false" => Some(word.to_string()),
            "null" => None,
            w if !w.is_empty() && serde_json::from_str::<serde_json::Number>(w).is_ok() => {
                Some(w.to_string())
            }
            _ => {
                let end = if i == vs {
                    vs + char_at(text, vs).len()
                } else {
                    i
                };
                return Err(AttrError::new(
                    base + vs,
                    base + end,
                    "unsupported JSON value in attributes (use a string, number or boolean)",
                ));
            }
        }
    };
    let value_span = Span::new(base + vs, base + i);
    let attr = RawAttr {
        key,
        key_span,
        value,
        value_span,
        span: Span::new(base + ks, base + i),
    };
    i = skip_ws(b, i);
    if i < b.len() && b[i] == b',' {
        i += 1;
    } else if i < b.len() && b[i] != b'}' {
        return Err(AttrError::new(
            base + i,
            base + i + 1,
            format!(
                "expected `,` or `}}` in JSON attributes, found `{}`",
                char_at(text, i)
            ),
        ));
    }
    Ok((attr, i))
}

/// `[1, "10%", "100%"]` (e.g. `serial=`): the value runs to the `]` that
/// closes the `[` at `i`, blanks and quoted strings inside included. Returns
/// the offset after `]`.
fn list_end(text: &str, base: usize, i: usize) -> Result<usize, AttrError> {
    let b = text.as_bytes();
    let mut j = i + 1;
    let mut quoted = false;
    while j < b.len() {
        match b[j] {
            b'"' => quoted = !quoted,
            b'\\' if quoted => j += 1,
            b']' | b'}' if !quoted => break,
            _ => {}
        }
        j += 1;
    }
    if j >= b.len() || b[j] != b']' {
        return Err(AttrError::new(
            base + i,
            base + i + 1,
            "unclosed `[` in attributes",
        ));
    }
    j += 1;
    if j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'}' {
        return Err(AttrError::new(
            base + j,
            base + j + 1,
            format!("unexpected `{}` after a list", char_at(text, j)),
        ));
    }
    Ok(j)
}
