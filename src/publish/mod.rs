//! Publishing a run to a GitLab incident: the reports are uploaded to the
//! project and a note is posted on the incident with the run summary, links to
//! the uploads and a `/timeline` quick action, so the audit record lands on the
//! ticket where the incident is being handled.
//!
//! The final note speaks GitLab's REST API v4: `POST /projects/:id/uploads`
//! (multipart, field `file`) and `POST /projects/:id/issues/:iid/notes`
//! (quick actions in a note body are executed by GitLab, `/timeline` adds an
//! incident timeline event: `/timeline <comment> | <YYYY-MM-DD> <HH:MM>`).
//!
//! While a run goes (`run --publish`), [`live`] turns its events into
//! timeline events (GraphQL, [`graphql`]), phase label moves and internal
//! notes; [`public`] withholds the output of `internal` steps from what is
//! uploaded. The HTTP side is [`client`].

pub mod client;
pub mod graphql;
pub mod live;
pub mod public;

pub use client::{GitLab, ReportFile};

use crate::record::{RunRecord, StepStatus};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// Characters encoded in a project path: everything except what GitLab keeps
/// verbatim in a path segment. `/` becomes `%2F` as the API requires.
const PROJECT_PATH: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// GitLab incident timeline events are limited to 280 characters.
const TIMELINE_MAX: usize = 280;

/// Where to publish: an issue (incident) of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitLabTarget {
    /// A numeric project id, or the URL-encoded full path (`group%2Fproj`).
    pub project: String,
    /// The issue's project-local number (`#42`).
    pub issue_iid: u64,
}

impl GitLabTarget {
    /// The project as the user wrote it (`group/proj` or `1234`), for messages.
    pub fn project_display(&self) -> String {
        percent_decode_str(&self.project)
            .decode_utf8_lossy()
            .into_owned()
    }
}

impl std::fmt::Display for GitLabTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "gitlab:{}#{}", self.project_display(), self.issue_iid)
    }
}

/// Parses `gitlab:<project>#<iid>`, where project is a numeric id or a full
/// path (`group/subgroup/project`, URL-encoded or not).
pub fn parse_target(s: &str) -> Result<GitLabTarget, String> {
    let usage = "expected gitlab:<project>#<issue>, e.g. gitlab:group/project#42";
    let Some(rest) = s.strip_prefix("gitlab:") else {
        return Err(format!("unknown publish target `{s}`: {usage}"));
    };
    let Some((project, iid)) = rest.rsplit_once('#') else {
        return Err(format!("publish target `{s}` has no issue number: {usage}"));
    };
    let project = project.trim_matches('/');
    if project.is_empty() {
        return Err(format!("publish target `{s}` has no project: {usage}"));
    }
    let issue_iid = match iid.parse::<u64>() {
        Ok(n) if n > 0 => n,
        _ => {
            return Err(format!(
                "publish target `{s}`: issue number `{iid}` is not a positive integer"
            ));
        }
    };
    // Decode first so an already encoded path is not encoded twice.
    let decoded = percent_decode_str(project).decode_utf8_lossy();
    let project = utf8_percent_encode(&decoded, PROJECT_PATH).to_string();
    Ok(GitLabTarget { project, issue_iid })
}

/// How to reach GitLab. `Debug` does not show the token.
#[derive(Clone)]
pub struct PublishConfig {
    /// The API root, e.g. `https://gitlab.example.com/api/v4` (`CI_API_V4_URL`
    /// in a pipeline, or `--gitlab-url`).
    pub base_url: String,
    /// A personal, project or group access token with the `api` scope
    /// (`GITLAB_TOKEN`). The CI job token cannot post notes.
    pub token: String,
}

impl std::fmt::Debug for PublishConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishConfig")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// What the note says about the run. The caller fills it from the run record
/// ([`PublishSummary::from_record`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishSummary {
    /// The runbook's path as given to `runbook run`.
    pub runbook: String,
    /// The front matter title, if any.
    pub title: Option<String>,
    /// `succeeded`, `failed`, `aborted`, ... (the record's result word).
    pub result: String,
    pub exit_code: Option<i32>,
    pub operator: String,
    pub machine: String,
    /// RFC 3339 timestamps.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub dry_run: bool,
    /// Steps that ran and succeeded, and the total number of steps.
    pub steps_ok: usize,
    pub steps_total: usize,
    /// The first failed step, if any.
    pub failed_step: Option<FailedStep>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedStep {
    pub name: String,
    /// 1-based line of its fence in the runbook.
    pub line: usize,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
}

impl PublishSummary {
    pub fn from_record(r: &RunRecord) -> Self {
        let failed_step = r
            .steps
            .iter()
            .find(|s| s.status.is_failure())
            .map(|s| FailedStep {
                name: s.name.clone(),
                line: s.line,
                exit_code: s.exit_code,
                reason: s.reason.clone(),
            });
        PublishSummary {
            runbook: r.runbook.path.clone(),
            title: r.runbook.title.clone(),
            result: r.result.as_str().to_string(),
            exit_code: r.exit_code,
            operator: r.operator.clone(),
            machine: r.machine.clone(),
            started_at: r.started_at.clone(),
            finished_at: r.finished_at.clone(),
            dry_run: r.dry_run,
            steps_ok: r
                .steps
                .iter()
                .filter(|s| s.status == StepStatus::Ok)
                .count(),
            steps_total: r.steps.len(),
            failed_step,
        }
    }
}

/// One uploaded file, as GitLab answered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Upload {
    /// `[report.html](/uploads/<secret>/report.html)`.
    pub markdown: String,
    /// `/uploads/<secret>/report.html` (relative to the project).
    pub url: String,
    /// `/-/project/<id>/uploads/<secret>/report.html` (GitLab 17+).
    #[serde(default)]
    pub full_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOutcome {
    /// Where it was published (`gitlab:group/project#42`).
    pub target: String,
    pub uploads: Vec<Upload>,
    /// The id of the created note.
    pub note_id: Option<u64>,
    /// The note body that was posted.
    pub body: String,
}

/// `published to gitlab:sre/incidents#42: note 302, 2 reports uploaded`.
impl std::fmt::Display for PublishOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "published to {}: ", self.target)?;
        if let Some(id) = self.note_id {
            write!(f, "note {id}, ")?;
        }
        let charts = self.uploads.iter().filter(|u| is_chart(u)).count();
        let n = self.uploads.len() - charts;
        write!(
            f,
            "{n} {} uploaded",
            if n == 1 { "report" } else { "reports" }
        )?;
        if charts > 0 {
            write!(
                f,
                ", {charts} {}",
                if charts == 1 { "chart" } else { "charts" }
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(
        "GitLab rejected the token ({status}): check GITLAB_TOKEN has the api scope; the CI job token cannot post notes"
    )]
    Unauthorized { status: String },
    #[error("GitLab project `{project}` not found ({status}) at {base_url}")]
    ProjectNotFound {
        project: String,
        status: String,
        base_url: String,
    },
    #[error("GitLab issue {project}#{iid} not found ({status}) at {base_url}")]
    IssueNotFound {
        project: String,
        iid: u64,
        status: String,
        base_url: String,
    },
    #[error("cannot reach GitLab at {url}: {message}")]
    Network { url: String, message: String },
    #[error("GitLab answered {status} to {method} {url}: {message}")]
    Status {
        method: String,
        url: String,
        status: String,
        message: String,
    },
    #[error("GitLab answered POST {url} with an unexpected body: {message}")]
    Response { url: String, message: String },
    #[error("cannot read report {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("GitLab URL `{0}` is not an http(s) URL")]
    BadUrl(String),
    #[error("GitLab's GraphQL API refused the timeline event: {message}")]
    GraphQl { message: String },
}

impl PublishError {
    /// Whether trying again later may help: the network, or GitLab busy
    /// or failing (5xx, 408, 429). A refused token, a missing issue or a
    /// request GitLab calls invalid stays as it is.
    pub fn retryable(&self) -> bool {
        match self {
            PublishError::Network { .. } => true,
            PublishError::Status { status, .. } => {
                status.starts_with('5') || status.starts_with("408") || status.starts_with("429")
            }
            _ => false,
        }
    }
}

impl From<PublishError> for crate::Error {
    fn from(e: PublishError) -> Self {
        crate::Error::Other(e.to_string())
    }
}

/// Uploads each report file, then posts one note on the issue with the run
/// summary, the upload links and a `/timeline` quick action.
pub async fn publish(
    cfg: &PublishConfig,
    target: &GitLabTarget,
    summary: &PublishSummary,
    files: &[PathBuf],
) -> Result<PublishOutcome, PublishError> {
    // Every file is read before anything is sent.
    let mut reports = Vec::with_capacity(files.len());
    for path in files {
        let bytes = crate::input::read(path).map_err(|source| PublishError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "report".to_string());
        reports.push(ReportFile { name, bytes });
    }
    publish_files(cfg, target, summary, &reports).await
}

/// [`publish`] with the reports in memory (the public renderings of a run
/// with `internal` steps are never written to disk).
pub async fn publish_files(
    cfg: &PublishConfig,
    target: &GitLabTarget,
    summary: &PublishSummary,
    files: &[ReportFile],
) -> Result<PublishOutcome, PublishError> {
    let gitlab = GitLab::new(cfg, target, Duration::from_secs(60))?;
    let mut uploads = Vec::with_capacity(files.len());
    for f in files {
        uploads.push(gitlab.upload(f).await?);
    }
    let body = note_body(summary, &uploads);
    let note_id = gitlab.note(&body, false).await?;
    Ok(PublishOutcome {
        target: target.to_string(),
        uploads,
        note_id,
        body,
    })
}

/// The note posted on the incident. The `/timeline` quick action must be on
/// its own line outside any code block; GitLab removes it from the note and
/// adds the timeline event.
pub fn note_body(summary: &PublishSummary, uploads: &[Upload]) -> String {
    let name = summary.title.as_deref().unwrap_or(&summary.runbook);
    let mut b = String::new();
    let _ = writeln!(
        b,
        "**runbook** `{}`{}: **{}**",
        md_code(&summary.runbook),
        summary
            .title
            .as_deref()
            .map(|t| format!(" ({})", md_inline(t)))
            .unwrap_or_default(),
        md_inline(&summary.result)
    );
    b.push('\n');
    let _ = writeln!(b, "| | |\n|---|---|");
    let _ = writeln!(b, "| Result | {} |", cell(&summary.result));
    if let Some(code) = summary.exit_code {
        let _ = writeln!(b, "| Exit code | {code} |");
    }
    if summary.dry_run {
        let _ = writeln!(b, "| Mode | dry run |");
    }
    let _ = writeln!(
        b,
        "| Operator | {} on {} |",
        cell(&summary.operator),
        cell(&summary.machine)
    );
    let _ = writeln!(b, "| Started | {} |", cell(&summary.started_at));
    if let Some(end) = &summary.finished_at {
        let _ = writeln!(b, "| Finished | {} |", cell(end));
    }
    let _ = writeln!(
        b,
        "| Steps ok | {} of {} |",
        summary.steps_ok, summary.steps_total
    );
    if let Some(f) = &summary.failed_step {
        let mut s = format!("`{}` (line {})", md_code(&f.name), f.line);
        if let Some(c) = f.exit_code {
            let _ = write!(s, ", exit code {c}");
        }
        if let Some(r) = &f.reason {
            let _ = write!(s, ": {}", cell(r));
        }
        let _ = writeln!(b, "| Failed step | {s} |");
    }
    let (charts, reports): (Vec<&Upload>, Vec<&Upload>) = uploads.iter().partition(|u| is_chart(u));
    if !reports.is_empty() {
        b.push_str("\nReports:\n\n");
        for u in reports {
            let _ = writeln!(b, "- {}", u.markdown);
        }
    }
    if !charts.is_empty() {
        // The copy links its charts beside it (`OUT.md.assets/STEP.svg`);
        // on the incident they are these uploads, shown inline.
        b.push_str("\nCharts:\n\n");
        for u in charts {
            let name = u.url.rsplit('/').next().unwrap_or("chart.svg");
            let alt: String = name
                .trim_end_matches(".svg")
                .chars()
                .map(|c| {
                    if c.is_alphanumeric() || "-_.".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let _ = writeln!(b, "![{alt}]({})\n", u.url.replace([' ', '(', ')'], "_"));
        }
    }
    b.push('\n');
    b.push_str(&timeline_line(name, summary));
    b.push('\n');
    b
}

/// `/timeline <comment> | <YYYY-MM-DD> <HH:MM>` (UTC). Without a parsable
/// time the date part is left out and GitLab uses the current time.
pub fn timeline_line(name: &str, summary: &PublishSummary) -> String {
    let mut text = format!("runbook {name}: {}", summary.result);
    if let Some(f) = &summary.failed_step {
        let _ = write!(text, " at step {}", f.name);
    }
    // `|` separates the date; a line break would end the quick action.
    let text: String = text
        .chars()
        .map(|c| if c == '|' || c.is_control() { ' ' } else { c })
        .collect();
    let text: String = text.trim().chars().take(TIMELINE_MAX).collect();
    let when = summary
        .finished_at
        .as_deref()
        .unwrap_or(&summary.started_at);
    match when.parse::<jiff::Timestamp>() {
        Ok(ts) => format!("/timeline {text} | {}", ts.strftime("%Y-%m-%d %H:%M")),
        Err(_) => format!("/timeline {text}"),
    }
}

/// A chart's SVG (uploaded with the reports, shown inline in the note).
fn is_chart(u: &Upload) -> bool {
    u.url.to_ascii_lowercase().ends_with(".svg")
}

fn md_code(s: &str) -> String {
    s.replace('`', "'")
}

fn md_inline(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn cell(s: &str) -> String {
    md_inline(s).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let c = PublishConfig {
            base_url: "https://gitlab.example.com/api/v4".into(),
            token: "glpat-secret".into(),
        };
        assert_eq!(
            format!("{c:?}"),
            "PublishConfig { base_url: \"https://gitlab.example.com/api/v4\", token: \"[redacted]\" }"
        );
    }

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("gitlab:group/sub/proj#12").unwrap(),
            GitLabTarget {
                project: "group%2Fsub%2Fproj".into(),
                issue_iid: 12
            }
        );
        assert_eq!(
            parse_target("gitlab:1234#7").unwrap(),
            GitLabTarget {
                project: "1234".into(),
                issue_iid: 7
            }
        );
        assert_eq!(
            parse_target("gitlab:group%2Fproj#3").unwrap().project,
            "group%2Fproj"
        );
        assert_eq!(
            parse_target("gitlab:my.group/my-proj_x#3")
                .unwrap()
                .to_string(),
            "gitlab:my.group/my-proj_x#3"
        );
        assert_eq!(
            parse_target("github:a/b#1").unwrap_err(),
            "unknown publish target `github:a/b#1`: expected gitlab:<project>#<issue>, e.g. gitlab:group/project#42"
        );
        assert_eq!(
            parse_target("gitlab:a/b").unwrap_err(),
            "publish target `gitlab:a/b` has no issue number: expected gitlab:<project>#<issue>, e.g. gitlab:group/project#42"
        );
        assert_eq!(
            parse_target("gitlab:#4").unwrap_err(),
            "publish target `gitlab:#4` has no project: expected gitlab:<project>#<issue>, e.g. gitlab:group/project#42"
        );
        assert_eq!(
            parse_target("gitlab:a/b#x1").unwrap_err(),
            "publish target `gitlab:a/b#x1`: issue number `x1` is not a positive integer"
        );
        assert_eq!(
            parse_target("gitlab:a/b#0").unwrap_err(),
            "publish target `gitlab:a/b#0`: issue number `0` is not a positive integer"
        );
    }

    fn summary() -> PublishSummary {
        PublishSummary {
            runbook: "runbooks/latency.md".into(),
            title: Some("P90 latency | spike".into()),
            result: "failed".into(),
            exit_code: Some(1),
            operator: "alice".into(),
            machine: "bastion".into(),
            started_at: "2026-11-21T12:00:05Z".into(),
            finished_at: Some("2026-11-21T12:03:59.5+00:00".into()),
            dry_run: false,
            steps_ok: 2,
            steps_total: 4,
            failed_step: Some(FailedStep {
                name: "restart".into(),
                line: 31,
                exit_code: Some(3),
                reason: Some("exit status 3".into()),
            }),
        }
    }

    #[test]
    fn timeline_quick_action_follows_gitlab_syntax() {
        let s = summary();
        assert_eq!(
            timeline_line("P90 latency | spike", &s),
            "/timeline runbook P90 latency   spike: failed at step restart | 2026-11-21 12:03"
        );
        let mut s2 = s.clone();
        s2.finished_at = None;
        s2.started_at = "not a time".into();
        assert_eq!(
            timeline_line("x", &s2),
            "/timeline runbook x: failed at step restart"
        );
    }

    #[test]
    fn note_lists_summary_and_links() {
        let up = Upload {
            markdown: "[report.html](/uploads/abc/report.html)".into(),
            url: "/uploads/abc/report.html".into(),
            full_path: None,
        };
        let body = note_body(&summary(), &[up]);
        assert_eq!(
            body,
            "**runbook** `runbooks/latency.md` (P90 latency | spike): **failed**\n\
             \n\
             | | |\n|---|---|\n\
             | Result | failed |\n\
             | Exit code | 1 |\n\
             | Operator | alice on bastion |\n\
             | Started | 2026-11-21T12:00:05Z |\n\
             | Finished | 2026-11-21T12:03:59.5+00:00 |\n\
             | Steps ok | 2 of 4 |\n\
             | Failed step | `restart` (line 31), exit code 3: exit status 3 |\n\
             \n\
             Reports:\n\
             \n\
             - [report.html](/uploads/abc/report.html)\n\
             \n\
             /timeline runbook P90 latency   spike: failed at step restart | 2026-11-21 12:03\n"
        );
    }
}
