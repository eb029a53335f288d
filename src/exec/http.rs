//! HTTP steps. A rendered ```` ```http ```` block follows the `.http` file
//! convention (JetBrains, VS Code REST Client): optional comment lines, a
//! request line `METHOD URL [HTTP/1.1]`, header lines until a blank line,
//! then the body. This module parses that text, sends the request with
//! reqwest (rustls), and returns everything the runner needs for the record,
//! `expect_status=` and `capture=json`. It never sees Markdown.

use crate::duration::format_duration;
use crate::exec::process::{Interrupt, Interrupts};
use std::fmt;
use std::time::{Duration, Instant};

/// Largest response body kept in memory; the rest is not read.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Methods accepted on the request line.
pub const METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT",
];

/// A parsed request, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// Absolute `http://` or `https://` URL, as written (continuation lines joined).
    pub url: String,
    /// `HTTP/1.1` and the like when written; informational only (the client
    /// negotiates the version).
    pub version: Option<String>,
    /// Headers in the order written.
    pub headers: Vec<(String, String)>,
    /// The body: everything after the blank line that ends the headers,
    /// lines joined with `\n`, without the final line ending. `None` when
    /// there is no body.
    pub body: Option<String>,
}

/// A problem in an `http` block, at a 1-based line within the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpParseError {
    /// 1-based line within the block (the block's first content line is 1).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for HttpParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for HttpParseError {}

fn perr(line: usize, message: impl Into<String>) -> HttpParseError {
    HttpParseError {
        line,
        message: message.into(),
    }
}

fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('#') || t.starts_with("//")
}

/// Whether `name` is an HTTP header name (an RFC 9110 token).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Parses a rendered `http` block.
///
/// - Leading blank lines and comment lines (`#`, `//`) are skipped.
/// - The request line is `METHOD URL [HTTP/x]`; a line with only a URL is a
///   `GET`. Everything between the method and an optional trailing
///   `HTTP/x` is the URL, so a query may contain spaces (they are
///   percent-encoded when sent).
/// - Lines right after the request line that start with `?` or `&` (after
///   indentation) continue the URL, as in the REST Client convention.
/// - Header lines `Name: value` follow until a blank line; comment lines
///   among them are skipped.
/// - The rest is the body, byte for byte except line endings (`\n`) and the
///   final line ending.
pub fn parse_request(text: &str) -> Result<HttpRequest, HttpParseError> {
    parse(text, false)
}

/// Checks the structure of an `http` block **before** rendering (for
/// `runbook check`): the same rules as [`parse_request`], except that
/// anything containing template syntax (`{{`, `{%`) is given the benefit
/// of the doubt — a templated method, URL or header line, and lines that
/// are only a `{% ... %}` tag or a `{# ... #}` comment.
pub fn check_template(text: &str) -> Result<(), HttpParseError> {
    parse(text, true).map(|_| ())
}

fn has_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// A line that renders to nothing: `{% set x = ... %}`, `{# note #}`.
fn is_template_only(line: &str) -> bool {
    let t = line.trim();
    (t.starts_with("{%") && t.ends_with("%}")) || (t.starts_with("{#") && t.ends_with("#}"))
}

fn parse(text: &str, lenient: bool) -> Result<HttpRequest, HttpParseError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut i = request_line_index(&lines, lenient)?;
    let line_no = i + 1;
    let request_line = lines[i].trim();
    i += 1;

    let (method, rest) = split_method(request_line, lenient);
    let templated_method = lenient && has_template(method);
    if !(METHODS.contains(&method) || templated_method) {
        return Err(perr(
            line_no,
            format!(
                "unknown method `{method}` (expected one of {})",
                METHODS.join(", ")
            ),
        ));
    }
    let (mut url, version) = match rest.rsplit_once(char::is_whitespace) {
        Some((url, v)) if v.starts_with("HTTP/") => (url.trim().to_string(), Some(v.to_string())),
        _ if rest.starts_with("HTTP/") => (String::new(), Some(rest.to_string())),
        _ => (rest.to_string(), None),
    };
    if url.is_empty() {
        return Err(perr(line_no, format!("`{method}` needs a URL")));
    }
    while i < lines.len() {
        let t = lines[i].trim_start();
        if t.starts_with('?') || t.starts_with('&') {
            url.push_str(t.trim_end());
            i += 1;
        } else {
            break;
        }
    }
    check_url(&url, lenient, line_no)?;

    let headers = parse_headers(&lines, &mut i, lenient)?;

    // `###` separates requests in `.http` files; a step is one request.
    if let Some(extra) = (i..lines.len()).find(|&n| lines[n].trim_start().starts_with("###")) {
        return Err(perr(
            extra + 1,
            "`###` starts a second request: put each request in its own http block",
        ));
    }
    let body = if i < lines.len() {
        let body = lines[i..].join("\n");
        (!body.is_empty()).then_some(body)
    } else {
        None
    };

    Ok(HttpRequest {
        method: method.to_string(),
        url,
        version,
        headers,
        body,
    })
}

/// The index of the request line: the first line that is not blank, a
/// comment or (`lenient`) a line that renders to nothing.
fn request_line_index(lines: &[&str], lenient: bool) -> Result<usize, HttpParseError> {
    let skip = |line: &str| {
        line.trim().is_empty() || is_comment(line) || (lenient && is_template_only(line))
    };
    let mut i = 0;
    while i < lines.len() && skip(lines[i]) {
        i += 1;
    }
    if i == lines.len() {
        return Err(perr(
            lines.len().max(1),
            "no request line: expected `METHOD URL` or a URL",
        ));
    }
    Ok(i)
}

/// The method of a (trimmed) request line and the rest of it: `GET` when
/// the line starts with the URL.
fn split_method(request_line: &str, lenient: bool) -> (&str, &str) {
    // Unrendered: a leading `{{ ... }}` is a templated method, or the URL.
    let templated_start = request_line
        .strip_prefix("{{")
        .and_then(|r| r.find("}}"))
        .map(|end| end + 4)
        .filter(|_| lenient);
    if let Some(end) = templated_start {
        let after = &request_line[end..];
        let rest = after.trim();
        if after.starts_with(char::is_whitespace) && !rest.starts_with("HTTP/") {
            (&request_line[..end], rest)
        } else {
            ("GET", request_line)
        }
    } else {
        match request_line.split_once(char::is_whitespace) {
            Some((first, rest)) if !first.contains("://") => (first, rest.trim()),
            None if METHODS.contains(&request_line) => (request_line, ""),
            _ => ("GET", request_line),
        }
    }
}

/// An absolute http(s) URL, or (`lenient`) one with template syntax.
fn check_url(url: &str, lenient: bool, line_no: usize) -> Result<(), HttpParseError> {
    match reqwest::Url::parse(url) {
        _ if lenient && has_template(url) => Ok(()),
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        Ok(u) => Err(perr(
            line_no,
            format!(
                "unsupported URL scheme `{}` in `{url}` (use http or https)",
                u.scheme()
            ),
        )),
        Err(e) => Err(perr(line_no, format!("invalid URL `{url}`: {e}"))),
    }
}

/// The header lines from `lines[*i]` on, up to and including the blank
/// line that ends them (or up to a `###` line); `*i` is left at the
/// first line after them.
fn parse_headers(
    lines: &[&str],
    i: &mut usize,
    lenient: bool,
) -> Result<Vec<(String, String)>, HttpParseError> {
    let mut headers = Vec::new();
    while *i < lines.len() {
        let line = lines[*i];
        if line.trim().is_empty() {
            *i += 1;
            break;
        }
        if (is_comment(line) || (lenient && is_template_only(line)))
            && !line.trim_start().starts_with("###")
        {
            *i += 1;
            continue;
        }
        if line.trim_start().starts_with("###") {
            break;
        }
        if lenient && has_template(line) && !line.contains(':') {
            // e.g. `{{ auth_header }}`: renders to a header line, or nothing.
            *i += 1;
            continue;
        }
        headers.push(parse_header(line, *i + 1, lenient)?);
        *i += 1;
    }
    Ok(headers)
}

/// One `Name: value` line, at 1-based line `line_no`.
fn parse_header(
    line: &str,
    line_no: usize,
    lenient: bool,
) -> Result<(String, String), HttpParseError> {
    let Some((name, value)) = line.split_once(':') else {
        return Err(perr(
            line_no,
            format!(
                "expected a header `Name: value` or a blank line before the body, found `{}`",
                line.trim()
            ),
        ));
    };
    let name = name.trim();
    let templated_name = lenient && has_template(name);
    if !(is_token(name) || templated_name) {
        return Err(perr(line_no, format!("invalid header name `{name}`")));
    }
    let value = value.trim();
    if reqwest::header::HeaderValue::from_str(value).is_err() {
        return Err(perr(
            line_no,
            format!("invalid value for header `{name}`: control characters are not allowed"),
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

/// Why a request produced no (complete) response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The step's timeout elapsed (connect, headers and body included).
    TimedOut(Duration),
    /// The operator interrupted the run.
    Interrupted,
    /// Connection, TLS or protocol failure, with the innermost cause.
    Failed(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::TimedOut(d) => {
                write!(f, "no complete response within {}", format_duration(*d))
            }
            HttpError::Interrupted => f.write_str("interrupted"),
            HttpError::Failed(m) => f.write_str(m),
        }
    }
}

/// What came back.
#[derive(Debug, Clone, Default)]
pub struct HttpResponseData {
    /// `None` when no response head arrived.
    pub status: Option<u16>,
    /// Canonical reason phrase (`OK`, `Not Found`), empty when unknown.
    pub reason: String,
    /// `HTTP/1.1`, `HTTP/2`, ...
    pub version: String,
    /// Response headers in arrival order; names lowercase.
    pub headers: Vec<(String, String)>,
    /// At most [`MAX_BODY_BYTES`].
    pub body: Vec<u8>,
    /// The body was longer than [`MAX_BODY_BYTES`] and was cut.
    pub truncated: bool,
    pub elapsed: Duration,
    pub error: Option<HttpError>,
}

impl HttpResponseData {
    /// The body as text (lossy for invalid UTF-8).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `req`. Never fails: a transport problem, the timeout or an
/// interrupt end up in [`HttpResponseData::error`] (with whatever arrived
/// before it, e.g. the status when the body timed out).
///
/// Redirects are followed (up to 10); `status` is the final one. A
/// `User-Agent: runbook/VERSION` is sent unless the request sets its own.
pub async fn send(
    req: &HttpRequest,
    timeout: Option<Duration>,
    mut interrupts: Interrupts,
) -> HttpResponseData {
    let started = Instant::now();
    let mut data = HttpResponseData::default();
    if *interrupts.borrow_and_update() != Interrupt::None {
        data.error = Some(HttpError::Interrupted);
        return data;
    }
    let work = exchange(req, &mut data);
    let outcome = tokio::select! {
        r = async {
            match timeout {
                Some(t) => tokio::time::timeout(t, work).await.map_err(|_| HttpError::TimedOut(t)),
                None => Ok(work.await),
            }
        } => r.and_then(|r| r),
        _ = wait_interrupt(&mut interrupts) => Err(HttpError::Interrupted),
    };
    if let Err(e) = outcome {
        data.error = Some(e);
    }
    data.elapsed = started.elapsed();
    data
}

/// Resolves when an interrupt arrives; never when the sender is gone.
async fn wait_interrupt(rx: &mut Interrupts) {
    loop {
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        if *rx.borrow_and_update() != Interrupt::None {
            return;
        }
    }
}

async fn exchange(req: &HttpRequest, data: &mut HttpResponseData) -> Result<(), HttpError> {
    let client = reqwest::Client::builder()
        .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| HttpError::Failed(describe_error(&e)))?;
    let method = reqwest::Method::from_bytes(req.method.as_bytes())
        .map_err(|_| HttpError::Failed(format!("invalid method `{}`", req.method)))?;
    let mut builder = client.request(method, &req.url);
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(body) = &req.body {
        builder = builder.body(body.clone());
    }
    let mut resp = builder
        .send()
        .await
        .map_err(|e| HttpError::Failed(describe_error(&e)))?;
    let status = resp.status();
    data.status = Some(status.as_u16());
    data.reason = status.canonical_reason().unwrap_or("").to_string();
    data.version = format!("{:?}", resp.version());
    data.headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| HttpError::Failed(describe_error(&e)))?
    {
        let room = MAX_BODY_BYTES - data.body.len();
        if chunk.len() > room {
            data.body.extend_from_slice(&chunk[..room]);
            data.truncated = true;
            break;
        }
        data.body.extend_from_slice(&chunk);
    }
    Ok(())
}

/// A short, specific description of a reqwest error: the innermost cause
/// (`connection refused`, a DNS or TLS message) rather than reqwest's
/// generic "error sending request".
pub fn describe_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = e.to_string();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => return "connection reset by peer".into(),
                std::io::ErrorKind::TimedOut => return "connection timed out".into(),
                _ => {}
            }
        }
        let text = err.to_string();
        if !text.is_empty() {
            innermost = text;
        }
        cur = err.source();
    }
    innermost
}

/// Checks a status against `expect_status=`: `200`, `2xx`, `200,404`,
/// `2xx,404`. `None` means `2xx`. An invalid specification is an error
/// (`runbook check` can call this with any status to validate it).
pub fn status_matches(expect: Option<&str>, status: u16) -> Result<bool, String> {
    let Some(spec) = expect else {
        return Ok((200..300).contains(&status));
    };
    let invalid = |item: &str| {
        format!(
            "invalid expect_status `{spec}`: `{item}` is not a status (`200`), a class (`2xx`) or a list (`200,404`)"
        )
    };
    if spec.trim().is_empty() {
        return Err(invalid(""));
    }
    let mut matched = false;
    for item in spec.split(',') {
        let item = item.trim();
        let b = item.as_bytes();
        if b.len() != 3 {
            return Err(invalid(item));
        }
        if b[1..].eq_ignore_ascii_case(b"xx") && (b'1'..=b'5').contains(&b[0]) {
            matched |= status / 100 == u16::from(b[0] - b'0');
        } else if b.iter().all(u8::is_ascii_digit) && (b'1'..=b'5').contains(&b[0]) {
            let code: u16 = item.parse().map_err(|_| invalid(item))?;
            matched |= code == status;
        } else {
            return Err(invalid(item));
        }
    }
    Ok(matched)
}

/// The response as text for the step's output: status line, headers, a
/// blank line, the body (or a note for a binary or cut body, or the error).
pub fn response_text(resp: &HttpResponseData) -> String {
    let mut out = String::new();
    if let Some(status) = resp.status {
        out.push_str(&resp.version);
        out.push(' ');
        out.push_str(&status.to_string());
        if !resp.reason.is_empty() {
            out.push(' ');
            out.push_str(&resp.reason);
        }
        out.push('\n');
        for (k, v) in &resp.headers {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(v);
            out.push('\n');
        }
        out.push('\n');
        match std::str::from_utf8(&resp.body) {
            Ok(text) => {
                out.push_str(text);
                if !text.is_empty() && !text.ends_with('\n') {
                    out.push('\n');
                }
            }
            // A cut can split a UTF-8 sequence; keep the valid prefix.
            Err(e) if resp.truncated && e.error_len().is_none() => {
                out.push_str(&String::from_utf8_lossy(&resp.body[..e.valid_up_to()]));
                out.push('\n');
            }
            Err(_) => out.push_str(&format!("[binary body, {} bytes]\n", resp.body.len())),
        }
        if resp.truncated {
            out.push_str(&format!(
                "[body cut at {} MiB]\n",
                MAX_BODY_BYTES / (1024 * 1024)
            ));
        }
    }
    if let Some(e) = &resp.error {
        out.push_str(&format!("error: {e}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_only_is_get() {
        let r = parse_request("http://127.0.0.1:9090/-/ready\n").unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.url, "http://127.0.0.1:9090/-/ready");
        assert_eq!(r.version, None);
        assert!(r.headers.is_empty());
        assert_eq!(r.body, None);
    }

    #[test]
    fn full_request() {
        let text = "# query levels\n// second comment\n\nPOST http://h/api?x=1 HTTP/1.1\n  &y=2\nContent-Type: application/json\n# skipped\nX-A:  b c \n\n{\"a\": 1}\n\nend\n";
        let r = parse_request(text).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.url, "http://h/api?x=1&y=2");
        assert_eq!(r.version.as_deref(), Some("HTTP/1.1"));
        assert_eq!(
            r.headers,
            vec![
                ("Content-Type".to_string(), "application/json".to_string()),
                ("X-A".to_string(), "b c".to_string())
            ]
        );
        assert_eq!(r.body.as_deref(), Some("{\"a\": 1}\n\nend"));
    }

    #[test]
    fn crlf_and_spaces_in_url() {
        let r = parse_request("GET http://h/q?query=sum by (x) (up) HTTP/2\r\nA: 1\r\n").unwrap();
        assert_eq!(r.url, "http://h/q?query=sum by (x) (up)");
        assert_eq!(r.version.as_deref(), Some("HTTP/2"));
        assert_eq!(r.headers, vec![("A".to_string(), "1".to_string())]);
    }

    #[test]
    fn status_specs() {
        assert_eq!(status_matches(None, 204), Ok(true));
        assert_eq!(status_matches(None, 301), Ok(false));
        assert_eq!(status_matches(Some("200"), 200), Ok(true));
        assert_eq!(status_matches(Some("200"), 201), Ok(false));
        assert_eq!(status_matches(Some("4XX"), 404), Ok(true));
        assert_eq!(status_matches(Some("200, 404"), 404), Ok(true));
        assert_eq!(status_matches(Some("2xx,503"), 500), Ok(false));
        assert_eq!(
            status_matches(Some("200,ok"), 200),
            Err("invalid expect_status `200,ok`: `ok` is not a status (`200`), a class (`2xx`) or a list (`200,404`)".to_string())
        );
        assert_eq!(
            status_matches(Some("6xx"), 200),
            Err("invalid expect_status `6xx`: `6xx` is not a status (`200`), a class (`2xx`) or a list (`200,404`)".to_string())
        );
        assert!(status_matches(Some(""), 200).is_err());
        assert!(status_matches(Some("200,"), 200).is_err());
    }

    #[test]
    fn response_text_forms() {
        let resp = HttpResponseData {
            status: Some(404),
            reason: "Not Found".into(),
            version: "HTTP/1.1".into(),
            headers: vec![("content-type".into(), "text/plain".into())],
            body: b"nope".to_vec(),
            ..Default::default()
        };
        assert_eq!(
            response_text(&resp),
            "HTTP/1.1 404 Not Found\ncontent-type: text/plain\n\nnope\n"
        );
        let resp = HttpResponseData {
            error: Some(HttpError::Failed("connection refused".into())),
            ..Default::default()
        };
        assert_eq!(response_text(&resp), "error: connection refused\n");
        let resp = HttpResponseData {
            status: Some(200),
            reason: "OK".into(),
            version: "HTTP/1.1".into(),
            body: vec![0xff, 0x00, 0x12],
            ..Default::default()
        };
        assert_eq!(
            response_text(&resp),
            "HTTP/1.1 200 OK\n\n[binary body, 3 bytes]\n"
        );
    }
}
