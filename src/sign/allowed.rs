//! OpenSSH's `allowed_signers` file (ssh-keygen(1), "ALLOWED SIGNERS"):
//! who may sign, with which key, for which namespaces, and when. One entry a
//! line:
//!
//! ```text
//! principals [options] keytype base64-key [comment]
//! ```
//!
//! `principals` is a comma-separated list (quoted when it holds spaces);
//! options are `namespaces="PATTERN-LIST"`, `valid-after="TIME"`,
//! `valid-before="TIME"` (`YYYYMMDD[HHMM[SS]]`, UTC, an optional `Z`) and
//! `cert-authority` (a CA key: it never matches a plain key, so such lines
//! never name a signer here). Blank lines and `#` comments are skipped.

use crate::error::{Error, Result};
use ssh_key::PublicKey;
use std::path::Path;

/// One entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// 1-based line in the file.
    pub line: usize,
    pub principals: Vec<String>,
    pub opts: Options,
    pub key: PublicKey,
}

/// An entry's options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub namespaces: Option<String>,
    /// Seconds since the epoch.
    pub valid_after: Option<i64>,
    pub valid_before: Option<i64>,
    pub cert_authority: bool,
}

/// Why a signer is not allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No entry has the key.
    NotListed,
    /// The key's entries (lines) exclude the namespace.
    Namespace(Vec<usize>),
    /// The key's entry (line) was not valid at that time.
    Time(usize, String),
}

/// Reads and parses a file; any malformed line is an error naming it.
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let text = crate::input::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(&text).map_err(|(line, why)| {
        Error::Usage(format!(
            "{}:{line}: not an allowed_signers entry: {why}",
            path.display()
        ))
    })
}

/// Parses a file's text.
pub fn parse(text: &str) -> std::result::Result<Vec<Entry>, (usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        out.push(entry(i + 1, l).map_err(|e| (i + 1, e))?);
    }
    Ok(out)
}

/// The next field: a quoted string (quotes kept out) or up to whitespace.
fn field(s: &str) -> std::result::Result<(&str, &str), String> {
    let s = s.trim_start();
    if let Some(rest) = s.strip_prefix('"') {
        let end = rest.find('"').ok_or("an unterminated quote")?;
        return Ok((&rest[..end], &rest[end + 1..]));
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Ok((&s[..end], &s[end..]))
}

/// The options field: up to the first whitespace outside quotes.
fn options_field(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (&s[..i], &s[i..]),
            _ => {}
        }
    }
    (s, "")
}

fn entry(line: usize, l: &str) -> std::result::Result<Entry, String> {
    let (principals, rest) = field(l)?;
    let principals: Vec<String> = principals
        .split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    if principals.is_empty() {
        return Err("no principals".into());
    }
    let rest = rest.trim_start();
    let mut opts = Options::default();
    let key = match PublicKey::from_openssh(rest) {
        Ok(k) => k,
        Err(_) => {
            let (o, key) = options_field(rest);
            options(&mut opts, o)?;
            PublicKey::from_openssh(key.trim()).map_err(|err| format!("a bad key ({err})"))?
        }
    };
    Ok(Entry {
        line,
        principals,
        opts,
        key,
    })
}

fn options(e: &mut Options, opts: &str) -> std::result::Result<(), String> {
    let mut rest = opts;
    while !rest.is_empty() {
        let (opt, tail) = split_option(rest);
        rest = tail;
        let (name, value) = match opt.split_once('=') {
            Some((n, v)) => {
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .ok_or_else(|| format!("option `{n}`: the value must be quoted"))?;
                (n, Some(v))
            }
            None => (opt, None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("cert-authority", None) => e.cert_authority = true,
            ("namespaces", Some(v)) => e.namespaces = Some(v.to_string()),
            ("valid-after", Some(v)) => e.valid_after = Some(time(v)?),
            ("valid-before", Some(v)) => e.valid_before = Some(time(v)?),
            _ => return Err(format!("an unknown option `{opt}`")),
        }
    }
    Ok(())
}

/// The first option of a comma-separated list (commas inside quotes kept).
fn split_option(s: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => return (&s[..i], &s[i + 1..]),
            _ => {}
        }
    }
    (s, "")
}

/// `YYYYMMDD[HHMM[SS]][Z]` as seconds since the epoch (UTC).
fn time(v: &str) -> std::result::Result<i64, String> {
    let bad = || format!("`{v}`: expected YYYYMMDD[HHMM[SS]][Z]");
    let d = v.strip_suffix(['Z', 'z']).unwrap_or(v);
    if !d.bytes().all(|c| c.is_ascii_digit()) || !matches!(d.len(), 8 | 12 | 14) {
        return Err(bad());
    }
    let n = |r: std::ops::Range<usize>| d.get(r).map(|x| x.parse::<i32>().unwrap_or(0));
    let (y, mo, da) = (n(0..4), n(4..6), n(6..8));
    let (h, mi, s) = (n(8..10), n(10..12), n(12..14));
    let dt = jiff::civil::DateTime::new(
        y.unwrap_or(0) as i16,
        mo.unwrap_or(0) as i8,
        da.unwrap_or(0) as i8,
        h.unwrap_or(0) as i8,
        mi.unwrap_or(0) as i8,
        s.unwrap_or(0) as i8,
        0,
    )
    .map_err(|_| bad())?;
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_second())
        .map_err(|_| bad())
}

/// OpenSSH's `match_pattern`: `*` and `?` wildcards.
fn pattern(p: &[u8], s: &[u8]) -> bool {
    // Iterative with one backtrack point: linear in practice.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// OpenSSH's `match_pattern_list`: a comma-separated list where a `!`
/// pattern that matches refuses, whatever else matches.
pub fn pattern_list(list: &str, s: &str) -> bool {
    let mut ok = false;
    for p in list.split(',') {
        if let Some(neg) = p.strip_prefix('!') {
            if pattern(neg.as_bytes(), s.as_bytes()) {
                return false;
            }
        } else if pattern(p.as_bytes(), s.as_bytes()) {
            ok = true;
        }
    }
    ok
}

/// The principals allowed to sign with `key` for `namespace` at `when`
/// (seconds since the epoch), or why none is.
pub fn principals(
    entries: &[Entry],
    key: &PublicKey,
    namespace: &str,
    when: i64,
) -> std::result::Result<Vec<String>, Refusal> {
    let mine: Vec<&Entry> = entries
        .iter()
        .filter(|e| !e.opts.cert_authority && e.key.key_data() == key.key_data())
        .collect();
    if mine.is_empty() {
        return Err(Refusal::NotListed);
    }
    let in_ns: Vec<&&Entry> = mine
        .iter()
        .filter(|e| {
            e.opts
                .namespaces
                .as_deref()
                .is_none_or(|n| pattern_list(n, namespace))
        })
        .collect();
    if in_ns.is_empty() {
        return Err(Refusal::Namespace(mine.iter().map(|e| e.line).collect()));
    }
    let mut out = Vec::new();
    let mut refusal = None;
    for e in in_ns {
        if e.opts.valid_after.is_some_and(|t| when < t) {
            refusal.get_or_insert(Refusal::Time(e.line, "not valid yet (valid-after)".into()));
        } else if e.opts.valid_before.is_some_and(|t| when >= t) {
            refusal.get_or_insert(Refusal::Time(e.line, "expired (valid-before)".into()));
        } else {
            out.extend(e.principals.iter().cloned());
        }
    }
    match (out.is_empty(), refusal) {
        (true, Some(r)) => Err(r),
        (true, None) => Err(Refusal::NotListed),
        (false, _) => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOQW4rlGuBMqnxWbyC5eyjhnXwBX5MjnKeuzvNF2BFqc";

    #[test]
    fn options_and_quoted_principals() {
        let text = format!(
            "# comment\n\nalice@example.com,bob {KEY} alice\n\"carol x\" namespaces=\"git,runbook-*\",valid-after=\"20260101\" {KEY}\n"
        );
        let e = parse(&text).expect("parses");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].principals, ["alice@example.com", "bob"]);
        assert_eq!(e[0].line, 3);
        assert_eq!(e[1].principals, ["carol x"]);
        assert_eq!(e[1].opts.namespaces.as_deref(), Some("git,runbook-*"));
        assert_eq!(e[1].opts.valid_after, Some(1_767_225_600));
        let when = 1_800_000_000;
        let p = principals(&e, &e[0].key, "runbook-record", when).expect("allowed");
        assert_eq!(p, ["alice@example.com", "bob", "carol x"]);
        assert_eq!(
            principals(&e[1..], &e[0].key, "file", when),
            Err(Refusal::Namespace(vec![4]))
        );
        assert_eq!(
            principals(&e[1..], &e[0].key, "runbook-record", 0),
            Err(Refusal::Time(4, "not valid yet (valid-after)".into()))
        );
    }

    #[test]
    fn bad_lines_are_named() {
        assert_eq!(parse("x\n").unwrap_err().0, 1);
        let bad = format!("a bogus=\"1\" {KEY}\n");
        assert!(parse(&bad).unwrap_err().1.contains("unknown option"));
        assert!(parse(&format!("a valid-after=\"2026\" {KEY}")).is_err());
    }

    #[test]
    fn patterns() {
        assert!(pattern_list("runbook-*", "runbook-record"));
        assert!(!pattern_list("*,!runbook-record", "runbook-record"));
        assert!(pattern_list("a?c,x", "abc"));
        assert!(!pattern_list("git", "runbook-record"));
    }
}
