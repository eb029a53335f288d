//! The HTTP side of publishing: one client per publish with the token in
//! a header (`PRIVATE-TOKEN` for REST, `Authorization: Bearer` for
//! GraphQL) and never in a URL, and GitLab's answers turned into
//! [`PublishError`]s that name what to check. Every REST request the
//! incident needs is here: uploads, notes (public or internal), the issue
//! itself (for its global id) and its labels.

use super::{GitLabTarget, PublishConfig, PublishError, Upload};
use std::time::Duration;

/// A report to upload: its file name and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// What a 404 means for a request.
#[derive(Clone, Copy)]
enum Missing {
    Project,
    Issue,
}

/// A connection to one incident.
pub struct GitLab {
    pub(super) http: reqwest::Client,
    /// The REST API root without a trailing `/` (`…/api/v4`).
    pub(super) base: String,
    pub(super) token: String,
    pub(super) target: GitLabTarget,
}

impl GitLab {
    /// A client for `target`; each request gives up after `timeout`.
    pub fn new(
        cfg: &PublishConfig,
        target: &GitLabTarget,
        timeout: Duration,
    ) -> Result<Self, PublishError> {
        let base = cfg.base_url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(PublishError::BadUrl(cfg.base_url.clone()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PublishError::Network {
                url: base.clone(),
                message: error_chain(&e),
            })?;
        Ok(GitLab {
            http,
            base,
            token: cfg.token.clone(),
            target: target.clone(),
        })
    }

    fn issue_url(&self) -> String {
        format!(
            "{}/projects/{}/issues/{}",
            self.base, self.target.project, self.target.issue_iid
        )
    }

    /// `POST /projects/:id/uploads` (multipart, field `file`).
    pub async fn upload(&self, file: &ReportFile) -> Result<Upload, PublishError> {
        let url = format!("{}/projects/{}/uploads", self.base, self.target.project);
        let part = reqwest::multipart::Part::bytes(file.bytes.clone())
            .file_name(file.name.clone())
            .mime_str(mime_for(&file.name))
            .map_err(|e| PublishError::Response {
                url: url.clone(),
                message: e.to_string(),
            })?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let req = self.rest(self.http.post(&url)).multipart(form);
        let text = self.send("POST", &url, req, Missing::Project).await?;
        parse(&url, &text)
    }

    /// `POST /projects/:id/issues/:iid/notes`; `internal: true` makes it
    /// visible to project members only. Returns the note's id.
    pub async fn note(&self, body: &str, internal: bool) -> Result<Option<u64>, PublishError> {
        let url = format!("{}/notes", self.issue_url());
        let mut json = serde_json::json!({ "body": body });
        if internal {
            json["internal"] = serde_json::Value::Bool(true);
        }
        let req = self.rest(self.http.post(&url)).json(&json);
        let text = self.send("POST", &url, req, Missing::Issue).await?;
        let note: serde_json::Value = parse(&url, &text)?;
        Ok(note.get("id").and_then(|v| v.as_u64()))
    }

    /// `GET /projects/:id/issues/:iid`: the incident's global id
    /// (`gid://gitlab/Issue/<id>`), which GraphQL addresses it by.
    pub async fn issue_gid(&self) -> Result<String, PublishError> {
        let url = self.issue_url();
        let req = self.rest(self.http.get(&url));
        let text = self.send("GET", &url, req, Missing::Issue).await?;
        let issue: serde_json::Value = parse(&url, &text)?;
        match issue.get("id").and_then(|v| v.as_u64()) {
            Some(id) => Ok(format!("gid://gitlab/Issue/{id}")),
            None => Err(PublishError::Response {
                url,
                message: "no numeric `id` in the issue".into(),
            }),
        }
    }

    /// `PUT /projects/:id/issues/:iid` with `add_labels`/`remove_labels`
    /// (comma-separated): one phase label on, the others off; with `close`,
    /// `state_event: close` in the same request (the `closed` phase).
    pub async fn move_label(
        &self,
        add: &str,
        remove: &[String],
        close: bool,
    ) -> Result<(), PublishError> {
        let url = self.issue_url();
        let mut json = serde_json::json!({
            "add_labels": add,
            "remove_labels": remove.join(","),
        });
        if close {
            json["state_event"] = "close".into();
        }
        let req = self.rest(self.http.put(&url)).json(&json);
        let text = self.send("PUT", &url, req, Missing::Issue).await?;
        parse::<serde_json::Value>(&url, &text).map(|_| ())
    }

    fn rest(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        req.header("PRIVATE-TOKEN", &self.token)
    }

    /// Sends, and returns the body of a 2xx answer.
    async fn send(
        &self,
        method: &str,
        url: &str,
        req: reqwest::RequestBuilder,
        missing: Missing,
    ) -> Result<String, PublishError> {
        let resp = req.send().await.map_err(|e| network(url, &e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| network(url, &e))?;
        if status.is_success() {
            return Ok(text);
        }
        Err(self.refused(method, url, status, &text, missing))
    }

    fn refused(
        &self,
        method: &str,
        url: &str,
        status: reqwest::StatusCode,
        text: &str,
        missing: Missing,
    ) -> PublishError {
        let status_s = status_text(status);
        match (status.as_u16(), missing) {
            (401 | 403, _) => PublishError::Unauthorized { status: status_s },
            (404, Missing::Project) => PublishError::ProjectNotFound {
                project: self.target.project_display(),
                status: status_s,
                base_url: self.base.clone(),
            },
            (404, Missing::Issue) => PublishError::IssueNotFound {
                project: self.target.project_display(),
                iid: self.target.issue_iid,
                status: status_s,
                base_url: self.base.clone(),
            },
            _ => PublishError::Status {
                method: method.to_string(),
                url: url.to_string(),
                status: status_s,
                message: api_message(text),
            },
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(url: &str, text: &str) -> Result<T, PublishError> {
    serde_json::from_str(text).map_err(|e| PublishError::Response {
        url: url.to_string(),
        message: e.to_string(),
    })
}

fn mime_for(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".html") || lower.ends_with(".htm") {
        "text/html"
    } else if lower.ends_with(".md") {
        "text/markdown"
    } else if lower.ends_with(".json") {
        "application/json"
    } else if lower.ends_with(".xml") {
        "application/xml"
    } else if lower.ends_with(".svg") {
        "image/svg+xml"
    } else if lower.ends_with(".log") || lower.ends_with(".txt") {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}

pub(super) fn status_text(s: reqwest::StatusCode) -> String {
    match s.canonical_reason() {
        Some(r) => format!("{} {r}", s.as_u16()),
        None => s.as_u16().to_string(),
    }
}

/// GitLab errors are `{"message": ...}` or `{"error": ...}`; fall back to the
/// start of the body.
pub(super) fn api_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        for key in ["message", "error"] {
            if let Some(m) = v.get(key) {
                return match m.as_str() {
                    Some(s) => s.to_string(),
                    None => m.to_string(),
                };
            }
        }
    }
    let t = body.trim();
    if t.is_empty() {
        "(empty body)".to_string()
    } else {
        t.chars().take(200).collect()
    }
}

pub(super) fn network(url: &str, e: &reqwest::Error) -> PublishError {
    PublishError::Network {
        url: url.to_string(),
        message: error_chain(e),
    }
}

/// reqwest's top-level message is vague ("error sending request"); the
/// sources say what happened (connection refused, dns, tls).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let m = s.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        cur = s.source();
    }
    out
}
