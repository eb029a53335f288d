//! Secrets: where their values come from, and keeping them out of every
//! report.
//!
//! A runbook declares secrets in its front matter (`env:`, `file:`,
//! `command:` or `keyring:`, the last in [`keyring`]); [`resolve`] reads
//! them once at the start of a run. From then
//! on every byte of step output goes through a [`Redactor`] before it is kept
//! anywhere, so the audit copy, the JSON/JUnit/HTML reports and the full logs
//! never hold a secret value.
//!
//! A value is not only printed as it is: tools log it base64-encoded (HTTP
//! basic auth, Kubernetes secrets, JWT parts), URL-encoded (query strings,
//! connection URLs) or JSON-escaped. For each secret the redactor builds
//! every such form and replaces any of them with `[REDACTED:NAME]`.
//!
//! Base64 needs care: when the secret sits inside a longer blob (as in
//! `user:password`), its encoding depends on where it starts modulo 3. For
//! each of the three alignments only the characters whose 6 bits come from
//! the secret alone are stable; that inner substring is what we look for.
//!
//! Matching is leftmost-longest over bytes (output need not be UTF-8), and
//! [`StreamRedactor`] holds back `longest pattern - 1` bytes between chunks,
//! so a secret split across two reads of a pipe is still caught and a
//! partial secret is never emitted.

pub mod keyring;

use crate::document::{Document, SecretSpec};
use crate::error::Error;
use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use indexmap::IndexMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// Secrets shorter than this are only redacted in their exact form: their
/// encodings would be too short to search for without mangling unrelated
/// output.
pub const MIN_ENCODED_LEN: usize = 4;

/// How long a `command:` source may take. It may prompt (gpg, vault
/// login), so the operator gets time to answer; a command that hangs
/// beyond this fails the run instead of stalling it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// Reads every declared secret. Each must name exactly one source.
///
/// - `env: NAME`: the environment variable `NAME`.
/// - `file: PATH`: the file's content, one trailing newline (`\n` or
///   `\r\n`) removed.
/// - `command: CMD`: the standard output of `sh -c CMD`, one trailing
///   newline removed; stdin and stderr stay the operator's, so prompts
///   (gpg, vault login) work. A non-zero exit is an error, and so is a
///   command still running after [`COMMAND_TIMEOUT`]. It runs as a tokio
///   child process: the runtime is never blocked while it waits.
/// - `keyring: service/name`: the item of the OS keyring, see [`keyring`].
///
/// Error messages name the secret and the source, never the value.
pub async fn resolve(specs: &IndexMap<String, SecretSpec>) -> Result<Vec<(String, String)>, Error> {
    resolve_within(specs, COMMAND_TIMEOUT).await
}

/// [`resolve`] for a run of `doc`: a `keyring:` secret that cannot be read
/// is a diagnostic at its declaration in the front matter (the keyring's
/// state is outside the runbook, so the operator is shown where it is
/// asked for and what to do).
pub async fn resolve_declared(
    doc: &Document,
    specs: &IndexMap<String, SecretSpec>,
) -> Result<Vec<(String, String)>, Error> {
    resolve_each(specs, COMMAND_TIMEOUT)
        .await
        .map_err(|(name, e)| keyring::at_declaration(doc, &name, e))
}

/// [`resolve`] with another limit for `command:` sources.
pub async fn resolve_within(
    specs: &IndexMap<String, SecretSpec>,
    timeout: Duration,
) -> Result<Vec<(String, String)>, Error> {
    resolve_each(specs, timeout).await.map_err(|(_, e)| e)
}

/// Every secret in declaration order; an error comes with the name of the
/// secret it is about.
async fn resolve_each(
    specs: &IndexMap<String, SecretSpec>,
    timeout: Duration,
) -> Result<Vec<(String, String)>, (String, Error)> {
    let mut out = Vec::with_capacity(specs.len());
    for (name, spec) in specs {
        let failed = |e| (name.clone(), e);
        let value = match (read_passive(name, spec).map_err(failed)?, spec) {
            (Some(value), _) => value,
            (
                None,
                SecretSpec {
                    command: Some(cmd), ..
                },
            ) => run_command(name, cmd, timeout).await.map_err(failed)?,
            (
                None,
                SecretSpec {
                    keyring: Some(k), ..
                },
            ) => keyring::read(name, k).await.map_err(failed)?,
            (None, _) => {
                return Err(failed(Error::Other(format!(
                    "secret {name}: no source given"
                ))));
            }
        };
        out.push((name.clone(), value));
    }
    Ok(out)
}

/// The secrets that can be read without side effects (`env:` and `file:`
/// sources that resolve), for `check`: a `command:` may prompt or cost
/// something, so it is not run there, and a `keyring:` is read only by
/// `check --preconditions`.
pub fn resolve_passive(specs: &IndexMap<String, SecretSpec>) -> Vec<(String, String)> {
    specs
        .iter()
        .filter(|(_, s)| s.command.is_none() && s.keyring.is_none())
        .filter_map(|(n, s)| read_passive(n, s).ok().flatten().map(|v| (n.clone(), v)))
        .collect()
}

/// Checks that `spec` names exactly one source and reads it when it is
/// `env:` or `file:`; `None` for a `command:` or `keyring:`, which the
/// caller reads.
fn read_passive(name: &str, spec: &SecretSpec) -> Result<Option<String>, Error> {
    let given: Vec<&str> = [
        ("env", spec.env.is_some()),
        ("file", spec.file.is_some()),
        ("command", spec.command.is_some()),
        ("keyring", spec.keyring.is_some()),
    ]
    .iter()
    .filter(|(_, set)| *set)
    .map(|(k, _)| *k)
    .collect();
    if given.is_empty() {
        return Err(Error::Other(format!(
            "secret {name}: no source given (use one of env, file, command, keyring)"
        )));
    }
    if given.len() > 1 {
        return Err(Error::Other(format!(
            "secret {name}: more than one source given ({}); use exactly one",
            given.join(", ")
        )));
    }
    if let Some(var) = &spec.env {
        return match std::env::var(var) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Err(Error::Other(format!(
                "secret {name}: environment variable {var} is not set"
            ))),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::Other(format!(
                "secret {name}: environment variable {var} is not valid UTF-8"
            ))),
        };
    }
    if let Some(path) = &spec.file {
        let bytes = crate::input::read(path)
            .map_err(|e| Error::Other(format!("secret {name}: cannot read {path}: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::Other(format!("secret {name}: {path} is not valid UTF-8")))?;
        return Ok(Some(trim_one_newline(text)));
    }
    Ok(None)
}

/// The standard output of `sh -c cmd`, one trailing newline removed.
async fn run_command(name: &str, cmd: &str, timeout: Duration) -> Result<String, Error> {
    let cannot_run =
        |e: std::io::Error| Error::Other(format!("secret {name}: cannot run `{cmd}`: {e}"));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(cannot_run)?;
    let mut stdout = child.stdout.take();
    let finished = tokio::time::timeout(timeout, async {
        let mut bytes = Vec::new();
        let read = match stdout.as_mut() {
            Some(out) => out.read_to_end(&mut bytes).await.map(|_| ()),
            None => Ok(()),
        };
        (bytes, read, child.wait().await)
    })
    .await;
    let Ok((bytes, read, status)) = finished else {
        // Dropping the child (kill_on_drop) stops the command.
        return Err(Error::Other(format!(
            "secret {name}: command `{cmd}` did not finish within {}",
            crate::duration::format_duration(timeout)
        )));
    };
    let status = status.map_err(cannot_run)?;
    read.map_err(|e| {
        Error::Other(format!(
            "secret {name}: cannot read the output of `{cmd}`: {e}"
        ))
    })?;
    if !status.success() {
        let how = match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(s)) => format!("was killed by signal {s}"),
            (None, None) => "failed".to_string(),
        };
        return Err(Error::Other(format!(
            "secret {name}: command `{cmd}` {how}"
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::Other(format!(
            "secret {name}: the output of `{cmd}` is not valid UTF-8"
        ))
    })?;
    Ok(trim_one_newline(text))
}

fn trim_one_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

/// Replaces secret values (and their encodings) in text. Cheap to clone.
#[derive(Clone)]
pub struct Redactor {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` when there is nothing to redact.
    matcher: Option<AhoCorasick>,
    /// Replacement for each pattern, by pattern index.
    replacements: Vec<Vec<u8>>,
    /// Length of the longest pattern.
    max_len: usize,
    warnings: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the patterns: they are the secrets.
        f.debug_struct("Redactor")
            .field("patterns", &self.inner.replacements.len())
            .finish()
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Self::empty()
    }
}

impl Redactor {
    /// A redactor that changes nothing.
    pub fn empty() -> Self {
        Redactor {
            inner: Arc::new(Inner {
                matcher: None,
                replacements: Vec::new(),
                max_len: 0,
                warnings: Vec::new(),
            }),
        }
    }

    /// Builds the patterns for `(name, value)` pairs. Empty values are
    /// ignored; values shorter than [`MIN_ENCODED_LEN`] bytes are only
    /// redacted as they are (see [`Redactor::warnings`]).
    pub fn new(secrets: Vec<(String, String)>) -> Self {
        let mut by_pattern: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut replacements: Vec<Vec<u8>> = Vec::new();
        let mut warnings = Vec::new();
        for (name, value) in &secrets {
            if value.is_empty() {
                continue;
            }
            let forms = if value.len() < MIN_ENCODED_LEN {
                warnings.push(format!(
                    "secret {name} is shorter than {MIN_ENCODED_LEN} bytes: only its exact value is redacted"
                ));
                vec![value.as_bytes().to_vec()]
            } else {
                forms(value)
            };
            for form in forms {
                if form.is_empty() || by_pattern.contains_key(&form) {
                    continue;
                }
                by_pattern.insert(form.clone(), patterns.len());
                patterns.push(form);
                replacements.push(format!("[REDACTED:{name}]").into_bytes());
            }
        }
        // A placeholder stands for itself, so redacting twice changes
        // nothing even when a secret is a piece of one (`RED`).
        for (name, _) in secrets.iter().filter(|(_, v)| !v.is_empty()) {
            let placeholder = format!("[REDACTED:{name}]").into_bytes();
            if !by_pattern.contains_key(&placeholder) {
                by_pattern.insert(placeholder.clone(), patterns.len());
                patterns.push(placeholder.clone());
                replacements.push(placeholder);
            }
        }
        let max_len = patterns.iter().map(Vec::len).max().unwrap_or(0);
        let matcher = if patterns.is_empty() {
            None
        } else {
            // Building only fails past size limits that a list of secrets
            // cannot reach; fall back to the raw values alone if it does.
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .ok()
        };
        Redactor {
            inner: Arc::new(Inner {
                matcher,
                replacements,
                max_len,
                warnings,
            }),
        }
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.inner.matcher.is_none()
    }

    /// One message per secret that is only partly protected (too short).
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// Length in bytes of the longest form searched for.
    pub fn max_pattern_len(&self) -> usize {
        self.inner.max_len
    }

    /// Redacts a complete text.
    pub fn redact(&self, s: &str) -> String {
        let Some(ac) = &self.inner.matcher else {
            return s.to_string();
        };
        let mut out = String::with_capacity(s.len());
        ac.replace_all_with(s, &mut out, |m, _, dst| {
            // Replacements are built from `[REDACTED:NAME]` strings.
            dst.push_str(&String::from_utf8_lossy(
                &self.inner.replacements[m.pattern().as_usize()],
            ));
            true
        });
        out
    }

    /// Redacts complete bytes.
    pub fn redact_bytes(&self, s: &[u8]) -> Vec<u8> {
        let mut stream = self.stream();
        let mut out = stream.push(s);
        out.extend(stream.finish());
        out
    }

    /// A redactor for a stream of chunks.
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor {
            inner: Arc::clone(&self.inner),
            pending: Vec::new(),
        }
    }
}

/// Redacts a byte stream that arrives in chunks. Holds back the last
/// `longest pattern - 1` bytes until more data (or [`finish`]) shows
/// whether they start a secret.
///
/// [`finish`]: StreamRedactor::finish
pub struct StreamRedactor {
    inner: Arc<Inner>,
    pending: Vec<u8>,
}

impl StreamRedactor {
    /// Feeds a chunk; returns the bytes that are now safe to emit.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let Some(ac) = &self.inner.matcher else {
            return chunk.to_vec();
        };
        self.pending.extend_from_slice(chunk);
        let hold = self.inner.max_len.saturating_sub(1);
        if self.pending.len() <= hold {
            return Vec::new();
        }
        // Any match starting before `boundary` ends inside the buffer, so
        // it is final (leftmost-longest cannot change with more data).
        let boundary = self.pending.len() - hold;
        let mut out = Vec::with_capacity(boundary + 32);
        let mut pos = 0;
        for m in ac.find_iter(&self.pending) {
            if m.start() >= boundary {
                break;
            }
            out.extend_from_slice(&self.pending[pos..m.start()]);
            out.extend_from_slice(&self.inner.replacements[m.pattern().as_usize()]);
            pos = m.end();
        }
        let cut = pos.max(boundary);
        out.extend_from_slice(&self.pending[pos..cut]);
        self.pending.drain(..cut);
        out
    }

    /// Flushes what was held back.
    pub fn finish(&mut self) -> Vec<u8> {
        let pending = std::mem::take(&mut self.pending);
        let Some(ac) = &self.inner.matcher else {
            return pending;
        };
        let mut out = Vec::with_capacity(pending.len());
        let mut pos = 0;
        for m in ac.find_iter(&pending) {
            out.extend_from_slice(&pending[pos..m.start()]);
            out.extend_from_slice(&self.inner.replacements[m.pattern().as_usize()]);
            pos = m.end();
        }
        out.extend_from_slice(&pending[pos..]);
        out
    }
}

/// Secrets shorter than this (in characters) get a warning: replacing
/// them hides ordinary text, and where they were replaced shows what they
/// are.
pub const MIN_SAFE_CHARS: usize = 6;

/// Warnings about secrets the redactor cannot protect well: too short, or
/// present in the runbook text itself (which the annotated copy keeps as
/// written). Names and line numbers only, never values.
pub fn weak_secret_warnings(secrets: &[(String, String)], source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in secrets.iter().filter(|(_, v)| !v.is_empty()) {
        if value.chars().count() < MIN_SAFE_CHARS {
            out.push(format!(
                "secret {name} is shorter than {MIN_SAFE_CHARS} characters: redacting it also hides ordinary text"
            ));
        }
        if let Some(at) = source.find(value.as_str()) {
            let line = 1 + source[..at].matches('\n').count();
            out.push(format!(
                "secret {name} occurs in the runbook text (line {line}): the annotated copy keeps the runbook as written"
            ));
        }
    }
    out
}

/// Every form of `value` searched for: raw, base64 (also wrapped at 64
/// and 76 columns, as openssl and coreutils print it), URL-encoded,
/// JSON-escaped.
fn forms(value: &str) -> Vec<Vec<u8>> {
    let mut out = vec![value.as_bytes().to_vec()];
    for b64 in base64_forms(value.as_bytes()) {
        out.push(b64.as_bytes().to_vec());
        out.push(to_url_safe(&b64).into_bytes());
        out.extend(wrapped_forms(&b64));
    }
    for u in url_forms(value) {
        out.push(u.into_bytes());
    }
    for j in json_forms(value) {
        out.push(j.into_bytes());
    }
    out
}

/// Standard-alphabet base64 forms: the whole value padded and unpadded,
/// and the stable inner substring for each of the 3 alignments.
fn base64_forms(v: &[u8]) -> Vec<String> {
    let mut out = vec![STANDARD.encode(v), STANDARD_NO_PAD.encode(v)];
    let n = v.len();
    for a in 0..3usize {
        let mut buf = vec![0u8; a];
        buf.extend_from_slice(v);
        let enc = STANDARD_NO_PAD.encode(&buf);
        // Character j covers bits [6j, 6j+6); keep those entirely inside
        // the secret's bits [8a, 8(a+n)).
        let start = (8 * a).div_ceil(6);
        let end = (8 * (a + n)) / 6;
        if end > start
            && end <= enc.len()
            && let Some(s) = enc.get(start..end)
        {
            out.push(s.to_string());
        }
    }
    out
}

/// `b64` with a line break every `width` columns, for every position the
/// first break can fall at (where the encoded blob started is unknown).
fn wrapped_forms(b64: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for width in [64usize, 76] {
        for first in 1..=width.min(b64.len().saturating_sub(1)) {
            let mut form = Vec::with_capacity(b64.len() + b64.len() / width + 1);
            for (i, b) in b64.bytes().enumerate() {
                if i >= first && (i - first) % width == 0 {
                    form.push(b'\n');
                }
                form.push(b);
            }
            out.push(form);
        }
    }
    out
}

fn to_url_safe(b64: &str) -> String {
    b64.chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect()
}

/// RFC 3986: everything but `A-Z a-z 0-9 - . _ ~` encoded.
const URL_STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// application/x-www-form-urlencoded (HTML forms, the `url` crate).
const URL_FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');
/// JavaScript's encodeURIComponent.
const URL_JS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');
/// Python's urllib.parse.quote (keeps `/`).
const URL_PYTHON: &AsciiSet = &URL_STRICT.remove(b'/');

/// WHATWG URL percent-encode sets (what browsers, `reqwest` and the `url`
/// crate send, so what a server echoes back): fragment, query, special
/// query, path, userinfo and component.
const WHATWG_FRAGMENT: &AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`');
const WHATWG_QUERY: &AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>');
const WHATWG_SPECIAL_QUERY: &AsciiSet = &WHATWG_QUERY.add(b'\'');
const WHATWG_PATH: &AsciiSet = &WHATWG_QUERY.add(b'?').add(b'`').add(b'{').add(b'}');
const WHATWG_USERINFO: &AsciiSet = &WHATWG_PATH
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'=')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'|');
const WHATWG_COMPONENT: &AsciiSet = &WHATWG_USERINFO
    .add(b'$')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b',');

fn url_forms(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    for set in [
        URL_STRICT,
        URL_FORM,
        URL_JS,
        URL_PYTHON,
        WHATWG_FRAGMENT,
        WHATWG_QUERY,
        WHATWG_SPECIAL_QUERY,
        WHATWG_PATH,
        WHATWG_USERINFO,
        WHATWG_COMPONENT,
    ] {
        let enc = percent_encoding::utf8_percent_encode(v, set).to_string();
        if enc == v {
            continue;
        }
        let plus = enc.replace("%20", "+");
        for e in [enc, plus] {
            let lower = lowercase_percent_hex(&e);
            out.push(e);
            out.push(lower);
        }
    }
    out
}

fn lowercase_percent_hex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut after_percent = 0;
    for c in s.chars() {
        if after_percent > 0 {
            out.push(c.to_ascii_lowercase());
            after_percent -= 1;
        } else {
            if c == '%' {
                after_percent = 2;
            }
            out.push(c);
        }
    }
    out
}

/// As serde_json escapes it inside a string, and with non-ASCII as
/// `\uXXXX` (Python's `json.dumps` default).
fn json_forms(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let quoted = serde_json::Value::String(v.to_string()).to_string();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_string();
    if !v.is_ascii() {
        let mut ascii = String::with_capacity(inner.len() * 2);
        for c in inner.chars() {
            if c.is_ascii() {
                ascii.push(c);
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    ascii.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
        out.push(ascii);
    }
    out.push(inner);
    // Go escapes `<`, `>`, `&` (and U+2028/9) as `\u00XX`; PHP escapes
    // `/` as `\/`. Either, or both (a PHP service behind a Go proxy).
    let base = out.clone();
    for b in base {
        let go = b
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029");
        let php = b.replace('/', "\\/");
        let both = go.replace('/', "\\/");
        for f in [go, php, both] {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    out
}
