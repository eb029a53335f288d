//! `run --publish` as the run goes, against the loopback GitLab of
//! `support::gitlab` (REST v4 and GraphQL shapes): the exact sequence of
//! requests (start, phases, label moves, gate, failure, the internal note,
//! the uploads and the final note), an internal step's output in no public
//! request, GitLab failing or unreachable without changing the run's exit
//! code (recorded, retried at the end), a rejected token, and `check` on
//! phase names.

use crate::common::walk;
use crate::support::gitlab::{Mode, Server, TOKEN, command, multipart_file, run_binary, start};
use std::path::Path;

/// An internal step's output: must appear in the internal note only.
const MARKER: &str = "INTERNAL-7f3a9c";

const INCIDENT: &str = "---
title: Restart api
phases:
  mitigated: \"CWF::Incident::Mitigated\"
---

# Triage <!-- runbook: phase=active -->

```bash {name=diag internal}
printf 'diag: %s-%s\\n' INTERNAL 7f3a9c
```

```bash {name=restart confirm=\"Restart the api?\" phase=mitigated}
echo restarting
```

## Verify
<!-- runbook: phase=resolved -->

```bash {name=verify}
echo checking
exit 3
```
";

fn args(server_api: &str, file: &str) -> Vec<String> {
    [
        "run",
        file,
        "--yes",
        "--report-dir",
        "reports",
        "--publish",
        "gitlab:sre/incidents#42",
        "--gitlab-url",
        server_api,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `run FILE --publish …` of `text` written as `file` in a new directory,
/// against a loopback GitLab in `mode`.
async fn publish_run(
    mode: Mode,
    file: &str,
    text: &str,
) -> (Server, tempfile::TempDir, std::process::Output) {
    let server = start(mode).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(file), text).expect("write");
    let out = run_binary(dir.path().to_path_buf(), args(&server.api(), file), TOKEN).await;
    (server, dir, out)
}

fn lines(server: &Server) -> Vec<String> {
    server.seen().iter().map(|s| s.line()).collect()
}

fn host() -> String {
    hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn record(dir: &Path, stem: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(format!("reports/{stem}.json"))).expect("json");
    serde_json::from_str(&text).expect("parse")
}

/// `(kind, status, attempts)` of each publish event of the record.
fn events(rec: &serde_json::Value) -> Vec<(String, String, u64)> {
    rec["publish"]["events"]
        .as_array()
        .expect("publish events")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or("").to_string(),
                e["status"].as_str().unwrap_or("").to_string(),
                e["attempts"].as_u64().unwrap_or(99),
            )
        })
        .collect()
}

fn validate(json: &serde_json::Value) {
    let schema_path = crate::common::repo().join("docs/report-schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).expect("schema"))
            .expect("schema json");
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator.iter_errors(json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// The token in no file the run wrote, nor its output.
fn assert_token_nowhere(dir: &Path, out: &std::process::Output, token: &str) {
    for f in walk(dir) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(token),
            "token in {}",
            f.display()
        );
    }
    assert!(!String::from_utf8_lossy(&out.stdout).contains(token));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(token));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_incident_follows_the_run_in_order() {
    let (server, dir, out) = publish_run(Mode::GitLab, "incident.md", INCIDENT).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The runbook's own result: `verify` exits 3.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("were not sent"), "{stderr}");
    assert_eq!(
        lines(&server),
        [
            "GET issue".to_string(),
            format!("timeline: runbook “Restart api” started by alice on {}", host()),
            "timeline: phase active: the run reached “Triage” (line 7)".into(),
            "labels +incident::active -CWF::Incident::Mitigated,incident::resolved,incident::closed".into(),
            "internal note: **runbook** output of internal step `diag` (line 9, ok):".into(),
            "timeline: gate before step `restart`: approved (--yes) by alice".into(),
            "timeline: phase mitigated: step `restart` succeeded (line 13)".into(),
            "labels +CWF::Incident::Mitigated -incident::active,incident::resolved,incident::closed".into(),
            "timeline: phase resolved: the run reached “Verify” (line 17)".into(),
            "labels +incident::resolved -incident::active,CWF::Incident::Mitigated,incident::closed".into(),
            "timeline: step `verify` failed (exit code 3) at line 20".into(),
            "upload incident.md".into(),
            "upload incident.html".into(),
            "note: **runbook** `incident.md` (Restart api): **failed**".into(),
        ]
    );
    assert_eq!(server.labels(), ["incident", "incident::resolved"]);

    // The internal step's output: in the internal note, and in no other
    // request body at all (timeline, labels, uploads, the public note).
    let seen = server.seen();
    let with_marker: Vec<String> = seen
        .iter()
        .filter(|s| String::from_utf8_lossy(&s.body).contains(MARKER))
        .map(|s| s.line())
        .collect();
    assert_eq!(
        with_marker,
        ["internal note: **runbook** output of internal step `diag` (line 9, ok):"]
    );
    let internal = seen
        .iter()
        .find(|s| s.line().starts_with("internal note"))
        .expect("internal note");
    assert_eq!(internal.json()["internal"], true);
    assert_eq!(
        internal.json()["body"],
        "**runbook** output of internal step `diag` (line 9, ok):\n\n```text\ndiag: INTERNAL-7f3a9c\n```\n"
    );
    for s in seen.iter().filter(|s| s.line().starts_with("upload")) {
        let (name, content) =
            multipart_file(s.content_type.as_deref(), &s.body).expect("multipart");
        let text = String::from_utf8_lossy(&content);
        assert!(
            text.contains(
                "(output withheld: internal step; it is in an internal note on the incident)"
            ),
            "{name}: {text}"
        );
        assert!(text.contains("restarting"), "{name}");
    }
    // GraphQL: the token as a bearer, the values in variables only.
    let gql = seen
        .iter()
        .find(|s| s.path == "/api/graphql")
        .expect("graphql");
    assert_eq!(
        gql.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let input = &gql.json()["variables"]["input"];
    assert_eq!(input["incidentId"], "gid://gitlab/Issue/9001");
    let at = input["occurredAt"].as_str().expect("occurredAt");
    assert!(at.parse::<jiff::Timestamp>().is_ok(), "{at}");

    // The local record keeps everything, and says what was sent.
    let rec = record(dir.path(), "incident");
    validate(&rec);
    assert_eq!(rec["publish"]["target"], "gitlab:sre/incidents#42");
    let sent = |k: &str| (k.to_string(), "sent".to_string(), 1);
    assert_eq!(
        events(&rec),
        [
            sent("run_started"),
            sent("phase"),
            sent("label"),
            sent("internal_note"),
            sent("gate"),
            sent("phase"),
            sent("label"),
            sent("phase"),
            sent("label"),
            sent("failure"),
        ]
    );
    assert_eq!(
        rec["publish"]["events"][3]["text"],
        "output of internal step `diag`"
    );
    // The end: the JSON report is written again with the final upload,
    // and still carries the copy's chain head.
    assert_eq!(
        rec["publish"]["final_upload"],
        serde_json::json!({"status": "sent", "files": ["incident.md", "incident.html"], "note_id": 302})
    );
    let verified = std::process::Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args([
            "verify",
            "reports/incident.md",
            "--report",
            "reports/incident.json",
        ])
        .current_dir(dir.path())
        .output()
        .expect("verify");
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    let copy = std::fs::read_to_string(dir.path().join("reports/incident.md")).expect("copy");
    assert!(copy.contains(MARKER));
    assert_token_nowhere(dir.path(), &out, TOKEN);
    // Only in headers: never in a body (a note, an event, an upload).
    assert!(
        seen.iter()
            .all(|s| !String::from_utf8_lossy(&s.body).contains(TOKEN))
    );

    // `runbook publish DIR` later: the same withholding, from the copy.
    let before = server.seen().len();
    let out = run_binary(
        dir.path().to_path_buf(),
        vec![
            "publish".into(),
            "reports".into(),
            "--to".into(),
            "gitlab:sre/incidents#42".into(),
            "--gitlab-url".into(),
            server.api(),
        ],
        TOKEN,
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let later = &server.seen()[before..];
    let mut got: Vec<String> = later.iter().map(|s| s.line()).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "note: **runbook** `incident.md` (Restart api): **failed**",
            "upload incident.html",
            "upload incident.md",
        ]
    );
    assert_eq!(later.len(), 3);
    assert!(
        later
            .iter()
            .all(|s| !String::from_utf8_lossy(&s.body).contains(MARKER))
    );
}

/// The step prints the token it inherits: masked like a secret.
const SHORT: &str = "# Fix <!-- runbook: phase=mitigated -->\n\n```bash {name=fix}\necho fixed\necho \"token: $GITLAB_TOKEN\"\n```\n";

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_failing_the_first_requests_is_retried_and_changes_nothing() {
    let (server, dir, out) = publish_run(Mode::FailFirst(3), "fix.md", SHORT).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("were not sent"), "{stderr}");
    assert_eq!(
        lines(&server),
        [
            // While the run goes: GitLab answers 503 three times.
            "GET issue".to_string(),
            "GET issue".into(),
            "labels +incident::mitigated -incident::active,incident::resolved,incident::closed"
                .into(),
            // At the end, retried in order.
            "GET issue".into(),
            format!("timeline: runbook “fix.md” started by alice on {}", host()),
            "timeline: phase mitigated: the run reached “Fix” (line 1)".into(),
            "labels +incident::mitigated -incident::active,incident::resolved,incident::closed"
                .into(),
            "upload fix.md".into(),
            "upload fix.html".into(),
            "note: **runbook** `fix.md`: **ok**".into(),
        ]
    );
    let rec = record(dir.path(), "fix");
    validate(&rec);
    let sent2 = |k: &str| (k.to_string(), "sent".to_string(), 2);
    assert_eq!(
        events(&rec),
        [sent2("run_started"), sent2("phase"), sent2("label")]
    );
    assert_eq!(server.labels(), ["incident", "incident::mitigated"]);
    assert_token_nowhere(dir.path(), &out, TOKEN);
    assert!(
        server
            .seen()
            .iter()
            .all(|s| !String::from_utf8_lossy(&s.body).contains(TOKEN))
    );
    let copy = std::fs::read_to_string(dir.path().join("reports/fix.md")).expect("copy");
    assert!(copy.contains("token: "), "{copy}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_gitlab_never_fails_the_run_and_is_recorded() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("incident.md"), INCIDENT).expect("write");
    let started = std::time::Instant::now();
    let api = format!("http://127.0.0.1:{port}/api/v4");
    let out = run_binary(dir.path().to_path_buf(), args(&api, "incident.md"), TOKEN).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The runbook's own exit code, not a publish error.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(
        stderr.contains(
            "warning: 8 of 10 updates to gitlab:sre/incidents#42 were not sent (the record's publish section lists them):\n  run_started “runbook “Restart api” started by alice on"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: publishing to gitlab:sre/incidents#42 failed: cannot reach GitLab"),
        "{stderr}"
    );
    // The internal output is not in the warning either (the operator's
    // own terminal shows it as the step runs).
    let warning = stderr.split("warning: ").nth(1).unwrap_or("");
    assert!(!warning.contains(MARKER), "{warning}");
    let rec = record(dir.path(), "incident");
    validate(&rec);
    let evs = events(&rec);
    assert_eq!(evs.len(), 10);
    // Every event tried 1 + 3 times; label moves a later one replaced are
    // not retried.
    for (kind, status, attempts) in &evs {
        if kind == "label" && status == "superseded" {
            assert_eq!(*attempts, 1);
        } else {
            assert_eq!((status.as_str(), *attempts), ("failed", 4), "{kind}");
        }
    }
    assert_eq!(
        evs.iter().filter(|e| e.1 == "superseded").count(),
        2,
        "{evs:?}"
    );
    assert_eq!(rec["publish"]["final_upload"]["status"], "failed");
    assert!(
        rec["publish"]["final_upload"]["error"]
            .as_str()
            .expect("final error")
            .starts_with("cannot reach GitLab at "),
        "{}",
        rec["publish"]["final_upload"]
    );
    let err = rec["publish"]["events"][0]["error"]
        .as_str()
        .expect("error");
    assert!(err.starts_with(&format!("cannot reach GitLab at http://127.0.0.1:{port}/api/v4/projects/sre%2Fincidents/issues/42: ")), "{err}");
    assert!(
        std::fs::read_to_string(dir.path().join("reports/incident.md"))
            .expect("copy")
            .contains("restarting")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_token_stops_the_live_updates_and_keeps_the_result() {
    let server = start(Mode::Unauthorized).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("incident.md"), INCIDENT).expect("write");
    let out = run_binary(
        dir.path().to_path_buf(),
        args(&server.api(), "incident.md"),
        "glpat-wrong-token-5555",
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // One live request, then nothing until the final upload, refused too.
    assert_eq!(lines(&server), ["GET issue", "upload incident.md"]);
    assert!(stderr.contains("error: publishing to gitlab:sre/incidents#42 failed: GitLab rejected the token (401 Unauthorized): check GITLAB_TOKEN has the api scope; the CI job token cannot post notes"), "{stderr}");
    let rec = record(dir.path(), "incident");
    let evs = rec["publish"]["events"].as_array().expect("events");
    assert_eq!(evs.len(), 10);
    assert_eq!(
        evs[0]["error"],
        "GitLab rejected the token (401 Unauthorized): check GITLAB_TOKEN has the api scope; the CI job token cannot post notes"
    );
    assert_eq!(evs[0]["attempts"], 1);
    for e in &evs[1..] {
        assert_eq!(e["status"], "failed");
        assert_eq!(e["attempts"], 0);
        assert!(
            e["error"]
                .as_str()
                .unwrap_or("")
                .starts_with("not sent: GitLab rejected the token (401 Unauthorized)")
        );
    }
    assert_token_nowhere(dir.path(), &out, "glpat-wrong-token-5555");
}

#[tokio::test(flavor = "multi_thread")]
async fn graphql_errors_are_recorded_not_retried_and_change_nothing() {
    let (server, dir, out) = publish_run(Mode::NotIncident, "fix.md", SHORT).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let refused = "GitLab's GraphQL API refused the timeline event: The resource that you are attempting to access does not exist or you don't have permission to perform this action";
    assert!(
        stderr.contains(&format!(
            "warning: 2 of 3 updates to gitlab:sre/incidents#42 were not sent (the record's publish section lists them):\n  run_started “runbook “fix.md” started by alice on {}”: {refused}\n",
            host()
        )),
        "{stderr}"
    );
    // Each timeline event tried once (not retried), the label moved, the
    // reports attached.
    assert_eq!(
        lines(&server),
        [
            "GET issue".to_string(),
            format!("timeline: runbook “fix.md” started by alice on {}", host()),
            "timeline: phase mitigated: the run reached “Fix” (line 1)".into(),
            "labels +incident::mitigated -incident::active,incident::resolved,incident::closed"
                .into(),
            "upload fix.md".into(),
            "upload fix.html".into(),
            "note: **runbook** `fix.md`: **ok**".into(),
        ]
    );
    let rec = record(dir.path(), "fix");
    assert_eq!(
        events(&rec),
        [
            ("run_started".into(), "failed".into(), 1),
            ("phase".into(), "failed".into(), 1),
            ("label".into(), "sent".into(), 1),
        ]
    );
    assert_eq!(rec["publish"]["events"][0]["error"], refused);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_sends_no_live_update() {
    let server = start(Mode::GitLab).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("incident.md"), INCIDENT).expect("write");
    let mut a = args(&server.api(), "incident.md");
    a.push("--dry-run".into());
    let out = run_binary(dir.path().to_path_buf(), a, TOKEN).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        lines(&server)
            .iter()
            .all(|l| l.starts_with("upload") || l.starts_with("note:")),
        "{:?}",
        lines(&server)
    );
}

#[test]
fn check_refuses_unknown_phases_and_warns_when_they_go_backwards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "---\nphases:\n  mitigatd: x\n---\n# Fix <!-- runbook: phase=resolved -->\n\n```bash {name=a phase=mitigate}\necho\n```\n\n# Back\n<!-- runbook: phase=active -->\n";
    std::fs::write(dir.path().join("rb.md"), text).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(["check", "rb.md"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let heads: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error") || l.starts_with("warning") || l.contains("-->"))
        .collect();
    assert_eq!(
        heads,
        [
            "error: front matter: `phases`: unknown phase `mitigatd` (did you mean `mitigated`?): phases are active, mitigated, resolved, closed",
            " --> rb.md:3:3",
            "error: unknown phase `mitigate` (did you mean `mitigated`?): phases are active, mitigated, resolved, closed",
            " --> rb.md:7:23",
            "warning: phase `active` after `resolved` (line 5): the incident's phase goes backwards",
            "  --> rb.md:12:21",
            "12 | <!-- runbook: phase=active -->",
        ],
        "{stderr}"
    );
    // `run` refuses the same way, before anything runs.
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(["run", "rb.md", "--yes"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("unknown phase `mitigate`"));
}

/// A runbook that ends with the incident closed, and one that fails first.
const CLOSING: &str = "# Fix <!-- runbook: phase=mitigated -->\n\n```bash {name=fix}\necho fixed\n```\n\n## Close\n<!-- runbook: phase=closed -->\n\n```bash {name=wrap}\necho done\n```\n";

#[tokio::test(flavor = "multi_thread")]
async fn reaching_closed_closes_the_incident_and_a_failure_before_it_does_not() {
    let (server, dir, out) = publish_run(Mode::GitLab, "fix.md", CLOSING).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let moves: Vec<String> = lines(&server)
        .into_iter()
        .filter(|l| l.starts_with("labels "))
        .collect();
    assert_eq!(
        moves,
        [
            "labels +incident::mitigated -incident::active,incident::resolved,incident::closed",
            "labels +incident::closed -incident::active,incident::mitigated,incident::resolved state_event=close",
        ]
    );
    assert!(server.closed());
    assert_eq!(server.labels(), ["incident", "incident::closed"]);
    let rec = record(dir.path(), "fix");
    validate(&rec);
    let texts: Vec<String> = rec["publish"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "label")
        .map(|e| e["text"].as_str().unwrap_or("?").to_string())
        .collect();
    assert_eq!(
        texts,
        [
            "incident::mitigated",
            "incident::closed (closes the incident)"
        ]
    );

    // The step before the closing heading fails: the incident stays open.
    let failing = CLOSING.replace("echo fixed", "exit 4");
    let (server, dir, out) = publish_run(Mode::GitLab, "fix.md", &failing).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(!server.closed());
    assert!(
        lines(&server).iter().all(|l| !l.contains("state_event")),
        "{:?}",
        lines(&server)
    );

    // Fixed, then resumed: the incident hears of a resume, not a new run,
    // and is closed at the end.
    std::fs::write(dir.path().join("fix.md"), CLOSING).expect("write");
    let server = start(Mode::GitLab).await;
    let mut resume = args(&server.api(), "fix.md");
    resume.push("--resume".into());
    let out = run_binary(dir.path().to_path_buf(), resume, TOKEN).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let timeline: Vec<String> = lines(&server)
        .into_iter()
        .filter(|l| l.starts_with("timeline: runbook"))
        .collect();
    assert_eq!(
        timeline,
        [format!(
            "timeline: runbook “fix.md” resumed by alice on {}",
            host()
        )]
    );
    assert!(server.closed());
}

/// Reads `child`'s stderr on a thread; the text so far, shared.
fn collect_stderr(child: &mut std::process::Child) -> std::sync::Arc<std::sync::Mutex<String>> {
    use std::io::Read;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut err = child.stderr.take().expect("stderr");
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("lock")
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    seen
}

/// Waits up to 20 s for `text` in what `seen` holds.
fn wait_for(seen: &std::sync::Mutex<String>, text: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !seen.lock().expect("lock").contains(text) {
        assert!(
            std::time::Instant::now() < deadline,
            "no {text:?} in {}",
            seen.lock().expect("lock")
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_gitlab_is_waited_for_only_until_ctrl_c_and_the_record_is_written() {
    let server = start(Mode::Hang).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("fix.md"), SHORT).expect("write");
    let mut child = command(dir.path(), &args(&server.api(), "fix.md"), TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn runbook");
    let seen = collect_stderr(&mut child);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let interrupt = || nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    // The steps are over; the live updates hang: it says so, and Ctrl-C
    // stops the wait.
    wait_for(
        &seen,
        "waiting for GitLab to take the run's updates (Ctrl-C stops waiting; the record is written either way)\n",
    );
    interrupt();
    // The record is written; the final upload hangs too, and stops the same way.
    wait_for(
        &seen,
        "publishing to gitlab:sre/incidents#42 (Ctrl-C stops waiting; the record is written either way)\n",
    );
    assert!(dir.path().join("reports/fix.md").exists());
    interrupt();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("still waiting: {}", seen.lock().expect("lock"));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    let stderr = seen.lock().expect("lock").clone();
    // The run's own result stands: publishing never fails the run.
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "error: publishing to gitlab:sre/incidents#42 failed: stopped by the operator (Ctrl-C)\n"
        ),
        "{stderr}"
    );
    let rec = record(dir.path(), "fix");
    validate(&rec);
    let errors: Vec<&str> = rec["publish"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["error"].as_str().unwrap_or("sent"))
        .collect();
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .all(|e| *e == "not sent: the operator stopped waiting for GitLab (Ctrl-C)"),
        "{errors:?}"
    );
    assert_eq!(
        rec["publish"]["final_upload"],
        serde_json::json!({"status": "failed", "files": [], "error": "stopped by the operator (Ctrl-C)"})
    );
    let copy = std::fs::read_to_string(dir.path().join("reports/fix.md")).expect("copy");
    assert!(copy.contains("fixed"), "{copy}");
}
