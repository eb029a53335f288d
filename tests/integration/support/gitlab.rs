//! A GitLab on 127.0.0.1 for the publish tests, speaking the shapes of the
//! real APIs: REST v4 (uploads with a multipart `file`, notes with
//! `internal`, the issue with its global `id`, label moves with
//! `add_labels`/`remove_labels`) and GraphQL at `/api/graphql` (the request
//! is parsed as `{"query", "variables"}`, `timelineEventCreate` is checked
//! the way GitLab checks it, and refusals come back in GraphQL's shape:
//! top-level `errors`, or the mutation's own `errors`). It checks the
//! token on every request (`PRIVATE-TOKEN` for REST, `Authorization:
//! Bearer` for GraphQL) and records every request in order.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

pub const TOKEN: &str = "glpat-test-0123456789";
/// The incident's global id (`gid://gitlab/Issue/9001`).
pub const ISSUE_ID: u64 = 9001;
const PROJECT: &str = "/api/v4/projects/sre%2Fincidents";

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub token: Option<String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// One line saying what the request was, for asserting sequences:
    /// `GET issue`, `timeline: <note>`, `labels +A -B,C`, `note: …`,
    /// `internal note: …`, `upload NAME`.
    pub fn line(&self) -> String {
        let v = self.json();
        let issue = format!("{PROJECT}/issues/42");
        match (self.method.as_str(), self.path.as_str()) {
            ("GET", p) if p == issue => "GET issue".into(),
            ("PUT", p) if p == issue => format!(
                "labels +{} -{}{}",
                v["add_labels"].as_str().unwrap_or("?"),
                v["remove_labels"].as_str().unwrap_or("?"),
                v["state_event"]
                    .as_str()
                    .map(|e| format!(" state_event={e}"))
                    .unwrap_or_default()
            ),
            ("POST", "/api/graphql") => format!(
                "timeline: {}",
                v["variables"]["input"]["note"].as_str().unwrap_or("?")
            ),
            ("POST", p) if p == format!("{issue}/notes") => {
                let internal = v["internal"].as_bool() == Some(true);
                let first = v["body"]
                    .as_str()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("");
                format!("{}note: {first}", if internal { "internal " } else { "" })
            }
            ("POST", p) if p == format!("{PROJECT}/uploads") => {
                let name = multipart_file(self.content_type.as_deref(), &self.body)
                    .map(|(n, _)| n)
                    .unwrap_or_default();
                format!("upload {name}")
            }
            (m, p) => format!("{m} {p}"),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Mode {
    GitLab,
    /// Answers every request 401 like GitLab does for a bad token.
    Unauthorized,
    /// The project exists but the issue does not.
    NoIssue,
    /// Notes fail with a 500 and GitLab's error JSON.
    Broken,
    /// The first N requests get 503 Service Unavailable, then GitLab.
    FailFirst(usize),
    /// The issue is not an incident: GraphQL refuses timeline events with
    /// a top-level `errors` list (HTTP 200), REST works.
    NotIncident,
    /// Takes every request and never answers (an overloaded GitLab).
    Hang,
}

pub struct Server {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    labels: Arc<Mutex<Vec<String>>>,
    closed: Arc<AtomicBool>,
}

impl Server {
    /// The REST root, as `--gitlab-url` takes it.
    pub fn api(&self) -> String {
        format!("http://{}/api/v4", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// The incident's labels now.
    pub fn labels(&self) -> Vec<String> {
        self.labels.lock().expect("lock").clone()
    }

    /// `state_event: close` was sent.
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

struct Shared {
    mode: Mode,
    seen: Arc<Mutex<Vec<Seen>>>,
    labels: Arc<Mutex<Vec<String>>>,
    closed: Arc<AtomicBool>,
    count: AtomicUsize,
    events: AtomicUsize,
}

pub async fn start(mode: Mode) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let labels = Arc::new(Mutex::new(vec!["incident".to_string()]));
    let closed = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared {
        mode,
        seen: seen.clone(),
        labels: labels.clone(),
        closed: closed.clone(),
        count: AtomicUsize::new(0),
        events: AtomicUsize::new(0),
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| handle(req, shared.clone()));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Server {
        addr,
        seen,
        labels,
        closed,
    }
}

fn json_response(status: StatusCode, v: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("header"));
    r
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = req.method().to_string();
    // The raw path, as sent: `%2F` must arrive encoded.
    let path = req.uri().path().to_string();
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let seen = Seen {
        method,
        path,
        token: header("private-token"),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: req.into_body().collect().await?.to_bytes().to_vec(),
    };
    shared.seen.lock().expect("lock").push(seen.clone());
    if matches!(shared.mode, Mode::Hang) {
        std::future::pending::<()>().await;
    }
    let n = shared.count.fetch_add(1, Ordering::SeqCst);
    if let Mode::FailFirst(k) = shared.mode
        && n < k
    {
        return Ok(json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"message": "503 Service Unavailable"}),
        ));
    }
    if seen.path == "/api/graphql" {
        return Ok(graphql(&seen, &shared));
    }
    if matches!(shared.mode, Mode::Unauthorized) || seen.token.as_deref() != Some(TOKEN) {
        return Ok(json_response(
            StatusCode::UNAUTHORIZED,
            json!({"message": "401 Unauthorized"}),
        ));
    }
    Ok(rest(&seen, &shared))
}

fn issue(labels: &[String], closed: bool) -> Value {
    json!({
        "id": ISSUE_ID,
        "iid": 42,
        "project_id": 1,
        "title": "api latency",
        "state": if closed { "closed" } else { "opened" },
        "issue_type": "incident",
        "labels": labels,
    })
}

fn rest(seen: &Seen, shared: &Shared) -> Response<Full<Bytes>> {
    let issue_path = format!("{PROJECT}/issues/42");
    let (m, p) = (seen.method.as_str(), seen.path.as_str());
    if m == "POST" && p == format!("{PROJECT}/uploads") {
        let Some((name, _)) = multipart_file(seen.content_type.as_deref(), &seen.body) else {
            return json_response(StatusCode::BAD_REQUEST, json!({"error": "file is missing"}));
        };
        let secret = format!("{:032x}", seen.body.len() * 7919);
        return json_response(
            StatusCode::CREATED,
            json!({
                "id": 5,
                "alt": name,
                "url": format!("/uploads/{secret}/{name}"),
                "full_path": format!("/-/project/1/uploads/{secret}/{name}"),
                "markdown": format!("[{name}](/uploads/{secret}/{name})"),
            }),
        );
    }
    let no_issue = || {
        json_response(
            StatusCode::NOT_FOUND,
            json!({"message": "404 Issue Not Found"}),
        )
    };
    if p == issue_path && m == "GET" {
        if matches!(shared.mode, Mode::NoIssue) {
            return no_issue();
        }
        return json_response(
            StatusCode::OK,
            issue(
                &shared.labels.lock().expect("lock"),
                shared.closed.load(Ordering::SeqCst),
            ),
        );
    }
    if p == issue_path && m == "PUT" {
        if matches!(shared.mode, Mode::NoIssue) {
            return no_issue();
        }
        let v = seen.json();
        let split = |k: &str| -> Vec<String> {
            v[k].as_str()
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut labels = shared.labels.lock().expect("lock");
        let remove = split("remove_labels");
        labels.retain(|l| !remove.contains(l));
        for add in split("add_labels") {
            // A scoped label replaces the one of the same scope.
            if let Some((scope, _)) = add.rsplit_once("::") {
                labels.retain(|l| l.rsplit_once("::").map(|(s, _)| s) != Some(scope));
            }
            if !labels.contains(&add) {
                labels.push(add);
            }
        }
        match v["state_event"].as_str() {
            Some("close") => shared.closed.store(true, Ordering::SeqCst),
            Some("reopen") => shared.closed.store(false, Ordering::SeqCst),
            _ => {}
        }
        return json_response(
            StatusCode::OK,
            issue(&labels, shared.closed.load(Ordering::SeqCst)),
        );
    }
    if m == "POST" && p == format!("{issue_path}/notes") {
        if matches!(shared.mode, Mode::Broken) {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "500 Internal Server Error"}),
            );
        }
        if matches!(shared.mode, Mode::NoIssue) {
            return no_issue();
        }
        let v = seen.json();
        if !v["body"].is_string() {
            return json_response(StatusCode::BAD_REQUEST, json!({"error": "body is missing"}));
        }
        return json_response(
            StatusCode::CREATED,
            json!({
                "id": 302,
                "body": v["body"],
                "author": {"id": 1, "username": "runbook-bot"},
                "noteable_type": "Issue",
                "noteable_iid": 42,
                "internal": v["internal"].as_bool().unwrap_or(false),
                "system": false,
            }),
        );
    }
    json_response(
        StatusCode::NOT_FOUND,
        json!({"message": "404 Project Not Found"}),
    )
}

/// `POST /api/graphql`: only `timelineEventCreate`, checked as GitLab does.
fn graphql(seen: &Seen, shared: &Shared) -> Response<Full<Bytes>> {
    let bearer = format!("Bearer {TOKEN}");
    if matches!(shared.mode, Mode::Unauthorized) || seen.authorization.as_deref() != Some(&bearer) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"errors": [{"message": "Invalid token"}]}),
        );
    }
    let Ok(req) = serde_json::from_slice::<Value>(&seen.body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"errors": [{"message": "Invalid JSON in request body"}]}),
        );
    };
    let query = req["query"].as_str().unwrap_or("");
    if !query.contains("timelineEventCreate(input: $input)")
        || !query.contains("$input: TimelineEventCreateInput!")
    {
        return json_response(
            StatusCode::OK,
            json!({"errors": [{"message": "this test server knows timelineEventCreate only", "locations": [{"line": 1, "column": 1}]}]}),
        );
    }
    let input = &req["variables"]["input"];
    let gid = format!("gid://gitlab/Issue/{ISSUE_ID}");
    if input["incidentId"].as_str() != Some(gid.as_str())
        || matches!(shared.mode, Mode::NotIncident)
    {
        return json_response(
            StatusCode::OK,
            json!({
                "errors": [{
                    "message": "The resource that you are attempting to access does not exist or you don't have permission to perform this action",
                    "locations": [{"line": 1, "column": 76}],
                    "path": ["timelineEventCreate"],
                }],
                "data": {"timelineEventCreate": null},
            }),
        );
    }
    let note = input["note"].as_str().unwrap_or("");
    let when_ok = input["occurredAt"]
        .as_str()
        .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok());
    let mut errors = Vec::new();
    if note.is_empty() {
        errors.push("Timeline text can't be blank".to_string());
    }
    if note.chars().count() > 280 {
        errors.push("Timeline text is too long (maximum is 280 characters)".to_string());
    }
    if !when_ok {
        errors.push("Occurred at can't be blank".to_string());
    }
    if !errors.is_empty() {
        return json_response(
            StatusCode::OK,
            json!({"data": {"timelineEventCreate": {"timelineEvent": null, "errors": errors}}}),
        );
    }
    let id = shared.events.fetch_add(1, Ordering::SeqCst) + 1;
    json_response(
        StatusCode::OK,
        json!({"data": {"timelineEventCreate": {
            "timelineEvent": {"id": format!("gid://gitlab/IncidentManagement::TimelineEvent/{id}")},
            "errors": [],
        }}}),
    )
}

/// Returns the file name and content of the `file` field of a multipart body.
pub fn multipart_file(content_type: Option<&str>, body: &[u8]) -> Option<(String, Vec<u8>)> {
    let ct = content_type?;
    let boundary = ct.split("boundary=").nth(1)?.trim_matches('"');
    let delim = format!("--{boundary}");
    let text = String::from_utf8_lossy(body).into_owned();
    for part in text.split(&delim) {
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        if !head.contains("name=\"file\"") {
            continue;
        }
        let name = head
            .split("filename=\"")
            .nth(1)?
            .split('"')
            .next()?
            .to_string();
        let content = content.strip_suffix("\r\n").unwrap_or(content);
        return Some((name, content.as_bytes().to_vec()));
    }
    None
}

/// Runs the real binary (off the runtime thread, so the server keeps
/// answering) in `dir` with `GITLAB_TOKEN=token`.
pub async fn run_binary(
    dir: std::path::PathBuf,
    args: Vec<String>,
    token: &'static str,
) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        command(&dir, &args, token).output().expect("spawn runbook")
    })
    .await
    .expect("join")
}

/// `runbook ARGS` in `dir` as alice outside GitLab CI, with `token` as
/// GITLAB_TOKEN and no input.
pub fn command(dir: &std::path::Path, args: &[String], token: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_runbook"));
    cmd.args(args)
        .current_dir(dir)
        .env("GITLAB_TOKEN", token)
        .env("USER", "alice")
        .env_remove("GITLAB_USER_LOGIN")
        .env_remove("CI_API_V4_URL")
        .env_remove("GITLAB_CI")
        .stdin(std::process::Stdio::null());
    cmd
}
