//! Publishing to a GitLab incident against a local HTTP server (127.0.0.1)
//! that answers with the shapes of GitLab's REST API v4
//! (`support::gitlab`): it checks the `PRIVATE-TOKEN` header, parses the
//! multipart upload, answers with a realistic upload JSON and records the
//! note body. The live updates of `run --publish` are in `publish_live`.

use crate::support::gitlab::{Mode, Seen, Server, TOKEN, multipart_file, run_binary, start};
use runbook::publish::{
    FailedStep, GitLabTarget, PublishConfig, PublishSummary, parse_target, publish,
};
use std::path::PathBuf;

fn summary() -> PublishSummary {
    PublishSummary {
        runbook: "runbooks/latency.md".into(),
        title: Some("P90 latency".into()),
        result: "failed".into(),
        exit_code: Some(1),
        operator: "alice".into(),
        machine: "bastion".into(),
        started_at: "2026-11-21T12:00:05Z".into(),
        finished_at: Some("2026-11-21T12:03:59Z".into()),
        dry_run: false,
        steps_ok: 1,
        steps_total: 3,
        failed_step: Some(FailedStep {
            name: "restart".into(),
            line: 31,
            exit_code: Some(3),
            reason: None,
        }),
    }
}

fn reports(dir: &tempfile::TempDir) -> Vec<PathBuf> {
    let html = dir.path().join("report.html");
    let md = dir.path().join("latency.run.md");
    std::fs::write(&html, "<!doctype html><title>run</title><p>failed</p>").expect("write");
    std::fs::write(&md, "# P90 latency\n\n```bash\nuptime\n```\n").expect("write");
    vec![html, md]
}

fn target() -> GitLabTarget {
    parse_target("gitlab:sre/incidents#42").expect("target")
}

#[tokio::test]
async fn uploads_each_report_and_posts_one_note_with_links_and_timeline() {
    let server = start(Mode::GitLab).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let files = reports(&dir);
    let cfg = PublishConfig {
        base_url: format!("http://{}/api/v4/", server.addr),
        token: TOKEN.into(),
    };
    let out = publish(&cfg, &target(), &summary(), &files)
        .await
        .expect("publish");

    let seen = server.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    for s in &seen {
        assert_eq!(s.method, "POST");
        assert_eq!(s.token.as_deref(), Some(TOKEN));
    }
    let uploads: Vec<_> = seen
        .iter()
        .filter(|s| s.path.ends_with("/uploads"))
        .collect();
    assert_eq!(uploads.len(), 2);
    let (name, content) =
        multipart_file(uploads[0].content_type.as_deref(), &uploads[0].body).expect("multipart");
    assert_eq!(name, "report.html");
    assert_eq!(
        content,
        b"<!doctype html><title>run</title><p>failed</p>".to_vec()
    );
    let (name, _) =
        multipart_file(uploads[1].content_type.as_deref(), &uploads[1].body).expect("multipart");
    assert_eq!(name, "latency.run.md");

    let notes: Vec<_> = seen
        .iter()
        .filter(|s| s.path.ends_with("/issues/42/notes"))
        .collect();
    assert_eq!(notes.len(), 1);
    let note: serde_json::Value = serde_json::from_slice(&notes[0].body).expect("json");
    let body = note["body"].as_str().expect("body");
    assert_eq!(body, out.body);
    assert_eq!(out.uploads.len(), 2);
    for u in &out.uploads {
        assert!(body.contains(&format!("- {}\n", u.markdown)), "{body}");
        assert!(
            u.full_path
                .as_deref()
                .unwrap_or("")
                .starts_with("/-/project/1/uploads/")
        );
    }
    assert!(body.contains("[report.html](/uploads/"));
    assert!(body.contains("[latency.run.md](/uploads/"));
    assert!(body.contains("| Failed step | `restart` (line 31), exit code 3 |"));
    assert!(body.contains("| Operator | alice on bastion |"));
    let last = body.lines().last().expect("line");
    assert_eq!(
        last,
        "/timeline runbook P90 latency: failed at step restart | 2026-11-21 12:03"
    );
    assert_eq!(out.note_id, Some(302));
    assert_eq!(
        out.to_string(),
        "published to gitlab:sre/incidents#42: note 302, 2 reports uploaded"
    );
}

#[tokio::test]
async fn a_numeric_project_id_is_sent_as_is() {
    let server = start(Mode::GitLab).await;
    let cfg = PublishConfig {
        base_url: format!("http://{}/api/v4", server.addr),
        token: TOKEN.into(),
    };
    let t = parse_target("gitlab:1234#42").expect("target");
    let err = publish(&cfg, &t, &summary(), &[]).await.unwrap_err();
    // Our server only knows the path form: GitLab's 404 names the project.
    assert_eq!(
        err.to_string(),
        format!(
            "GitLab issue 1234#42 not found (404 Not Found) at http://{}/api/v4",
            server.addr
        )
    );
    let seen = server.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/api/v4/projects/1234/issues/42/notes");
}

#[tokio::test]
async fn rejected_token_says_what_to_check() {
    let server = start(Mode::Unauthorized).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = PublishConfig {
        base_url: format!("http://{}/api/v4", server.addr),
        token: "wrong".into(),
    };
    let err = publish(&cfg, &target(), &summary(), &reports(&dir))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "GitLab rejected the token (401 Unauthorized): check GITLAB_TOKEN has the api scope; the CI job token cannot post notes"
    );
    // Stopped at the first upload: nothing else was attempted.
    assert_eq!(server.seen.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn missing_issue_and_project_are_named() {
    let server = start(Mode::NoIssue).await;
    let cfg = PublishConfig {
        base_url: format!("http://{}/api/v4", server.addr),
        token: TOKEN.into(),
    };
    let err = publish(&cfg, &target(), &summary(), &[]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "GitLab issue sre/incidents#42 not found (404 Not Found) at http://{}/api/v4",
            server.addr
        )
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let other = parse_target("gitlab:sre/other#42").expect("target");
    let err = publish(&cfg, &other, &summary(), &reports(&dir))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "GitLab project `sre/other` not found (404 Not Found) at http://{}/api/v4",
            server.addr
        )
    );
}

#[tokio::test]
async fn other_statuses_carry_gitlab_s_message() {
    let server = start(Mode::Broken).await;
    let cfg = PublishConfig {
        base_url: format!("http://{}/api/v4", server.addr),
        token: TOKEN.into(),
    };
    let err = publish(&cfg, &target(), &summary(), &[]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "GitLab answered 500 Internal Server Error to POST http://{}/api/v4/projects/sre%2Fincidents/issues/42/notes: 500 Internal Server Error",
            server.addr
        )
    );
}

#[tokio::test]
async fn closed_port_is_a_network_error_naming_the_url() {
    // Bind then drop to get a port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = PublishConfig {
        base_url: format!("http://127.0.0.1:{port}/api/v4"),
        token: TOKEN.into(),
    };
    let err = publish(&cfg, &target(), &summary(), &reports(&dir))
        .await
        .unwrap_err()
        .to_string();
    let prefix = format!(
        "cannot reach GitLab at http://127.0.0.1:{port}/api/v4/projects/sre%2Fincidents/uploads: "
    );
    assert!(err.starts_with(&prefix), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
}

#[tokio::test]
async fn unreadable_report_is_named() {
    let server = start(Mode::GitLab).await;
    let cfg = PublishConfig {
        base_url: format!("http://{}/api/v4", server.addr),
        token: TOKEN.into(),
    };
    let missing = PathBuf::from("/nonexistent/report.html");
    let err = publish(&cfg, &target(), &summary(), &[missing])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read report /nonexistent/report.html: No such file or directory (os error 2)"
    );
    assert!(server.seen.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn non_http_base_url_is_refused() {
    let cfg = PublishConfig {
        base_url: "gitlab.example.com/api/v4".into(),
        token: TOKEN.into(),
    };
    let err = publish(&cfg, &target(), &summary(), &[]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "GitLab URL `gitlab.example.com/api/v4` is not an http(s) URL"
    );
}

/// `runbook run restart.md --report-dir reports --publish … --gitlab-url …`
fn run_with_publish(server: &Server) -> Vec<String> {
    [
        "run",
        "restart.md",
        "--report-dir",
        "reports",
        "--publish",
        "gitlab:sre/incidents#42",
        "--gitlab-url",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("http://{}/api/v4", server.addr)])
    .collect()
}

const RUNBOOK: &str = "---\ntitle: Restart api\n---\n\n```bash {name=check}\necho healthy\n```\n\n```bash {name=restart}\necho restarting\nexit 3\n```\n";

#[tokio::test(flavor = "multi_thread")]
async fn run_with_publish_uploads_the_reports_and_posts_the_note() {
    let server = start(Mode::GitLab).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("restart.md"), RUNBOOK).expect("write");
    let out = run_binary(dir.path().to_path_buf(), run_with_publish(&server), TOKEN).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The run's own result decides the exit code: the step failed.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("published to gitlab:sre/incidents#42: note 302, 2 reports uploaded"),
        "{stderr}"
    );
    let seen = server.seen.lock().expect("lock").clone();
    let uploads: Vec<_> = seen
        .iter()
        .filter(|s| s.path.ends_with("/uploads"))
        .collect();
    assert_eq!(uploads.len(), 2, "{seen:#?}");
    let names: Vec<String> = uploads
        .iter()
        .map(|u| {
            multipart_file(u.content_type.as_deref(), &u.body)
                .expect("multipart")
                .0
        })
        .collect();
    assert!(names.contains(&"restart.md".to_string()), "{names:?}");
    assert!(names.contains(&"restart.html".to_string()), "{names:?}");
    // REST with PRIVATE-TOKEN, GraphQL (the live timeline) with a bearer.
    let bearer = format!("Bearer {TOKEN}");
    assert!(seen.iter().all(|s| s.token.as_deref() == Some(TOKEN)
        || s.authorization.as_deref() == Some(bearer.as_str())));
    let notes: Vec<_> = seen.iter().filter(|s| s.path.ends_with("/notes")).collect();
    assert_eq!(notes.len(), 1);
    let note: serde_json::Value = serde_json::from_slice(&notes[0].body).expect("json");
    let body = note["body"].as_str().expect("body");
    assert!(body.contains("[restart.md](/uploads/"), "{body}");
    assert!(body.contains("[restart.html](/uploads/"), "{body}");
    assert!(body.lines().any(|l| l.starts_with("/timeline ")), "{body}");
    assert!(body.contains("`restart`"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_token_keeps_the_run_result_and_the_local_report() {
    let server = start(Mode::Unauthorized).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("restart.md"), RUNBOOK).expect("write");
    let out = run_binary(
        dir.path().to_path_buf(),
        run_with_publish(&server),
        "wrong-token",
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: publishing to gitlab:sre/incidents#42 failed: GitLab rejected the token (401 Unauthorized)"), "{stderr}");
    let copy =
        std::fs::read_to_string(dir.path().join("reports/restart.md")).expect("report on disk");
    assert!(copy.contains("restarting"));
    assert!(dir.path().join("reports/restart.html").exists());
}

const CHART_RUNBOOK: &str = "---\ntitle: Latency\n---\n\n```bash {name=lat chart=line chart_unit=s}\nprintf 'a 1796454000 0.1\\na 1796454060 0.4\\nb 1796454000 0.2\\nb 1796454060 0.3\\n'\n```\n";

/// The names and bodies of the uploads the server saw, in order.
fn uploaded(seen: &[Seen]) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    seen.iter()
        .filter(|s| s.path.ends_with("/uploads"))
        .map(|u| {
            let (name, content) =
                multipart_file(u.content_type.as_deref(), &u.body).expect("multipart");
            (name, content, u.body.clone())
        })
        .collect()
}

/// The note's chart section: each SVG, uploaded, shown inline by its
/// upload URL (the copy's relative `OUT.md.assets/` link does not work on
/// the incident).
fn assert_chart_in_note(seen: &[Seen], svg_on_disk: &str) {
    let ups = uploaded(seen);
    let svg = ups
        .iter()
        .find(|(n, ..)| n == "lat.svg")
        .unwrap_or_else(|| {
            panic!(
                "no SVG upload: {:?}",
                ups.iter().map(|u| &u.0).collect::<Vec<_>>()
            )
        });
    assert_eq!(String::from_utf8_lossy(&svg.1), svg_on_disk);
    assert!(
        String::from_utf8_lossy(&svg.2).contains("Content-Type: image/svg+xml"),
        "the part is sent as SVG"
    );
    let notes: Vec<_> = seen.iter().filter(|s| s.path.ends_with("/notes")).collect();
    assert_eq!(notes.len(), 1);
    let note: serde_json::Value = serde_json::from_slice(&notes[0].body).expect("json");
    let body = note["body"].as_str().expect("body");
    let secret = format!("{:032x}", svg.2.len() * 7919);
    assert!(
        body.contains(&format!("\nCharts:\n\n![lat](/uploads/{secret}/lat.svg)\n")),
        "{body}"
    );
    assert!(
        !body.contains("- [lat.svg]"),
        "a chart is not listed as a report: {body}"
    );
    assert!(!body.contains(".md.assets/"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_with_publish_uploads_the_charts_and_shows_them_in_the_note() {
    let server = start(Mode::GitLab).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("lat.md"), CHART_RUNBOOK).expect("write");
    let mut args = run_with_publish(&server);
    args[1] = "lat.md".into();
    let out = run_binary(dir.path().to_path_buf(), args, TOKEN).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "published to gitlab:sre/incidents#42: note 302, 2 reports uploaded, 1 chart"
        ),
        "{stderr}"
    );
    let seen = server.seen.lock().expect("lock").clone();
    let names: Vec<String> = uploaded(&seen).into_iter().map(|u| u.0).collect();
    assert_eq!(names, ["lat.md", "lat.svg", "lat.html"]);
    let svg = std::fs::read_to_string(dir.path().join("reports/lat.md.assets/lat.svg")).unwrap();
    assert_chart_in_note(&seen, &svg);
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_command_uploads_the_charts_of_a_report_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("lat.md"), CHART_RUNBOOK).expect("write");
    let run: Vec<String> = ["run", "lat.md", "-q", "--report-dir", "reports"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = run_binary(dir.path().to_path_buf(), run, TOKEN).await;
    assert_eq!(out.status.code(), Some(0));
    // A symlink planted among the charts is not followed (nor uploaded).
    std::fs::write(dir.path().join("private.txt"), "not for the incident").unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("private.txt"),
        dir.path().join("reports/lat.md.assets/zz.svg"),
    )
    .unwrap();
    let server = start(Mode::GitLab).await;
    let args = vec![
        "publish".to_string(),
        "reports".into(),
        "--to".into(),
        "gitlab:sre/incidents#42".into(),
        "--gitlab-url".into(),
        format!("http://{}/api/v4", server.addr),
    ];
    let out = run_binary(dir.path().to_path_buf(), args, TOKEN).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let seen = server.seen.lock().expect("lock").clone();
    let names: Vec<String> = uploaded(&seen).into_iter().map(|u| u.0).collect();
    assert_eq!(names, ["lat.html", "lat.md", "lat.svg"]);
    assert!(
        !seen
            .iter()
            .any(|s| String::from_utf8_lossy(&s.body).contains("not for the incident"))
    );
    let svg = std::fs::read_to_string(dir.path().join("reports/lat.md.assets/lat.svg")).unwrap();
    assert_chart_in_note(&seen, &svg);
}
