//! Preconditions: every kind passing and failing, with the exact details,
//! against real things (files, processes, a real Prometheus, TCP listeners
//! on 127.0.0.1).

use crate::support::prometheus::Prometheus;
use runbook::document::Requires;
use runbook::exec::path::find_on_path;
use runbook::preconditions::{HostProbe, Options, ProbeFuture, TcpProbe, evaluate, evaluate_with};
use runbook::record::PreconditionResult;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

fn no_render(s: &str) -> Result<String, String> {
    Ok(s.to_string())
}

fn r(kind: &str, target: &str, ok: bool, detail: Option<&str>) -> PreconditionResult {
    PreconditionResult {
        kind: kind.into(),
        target: target.into(),
        ok,
        detail: detail.map(str::to_string),
    }
}

fn simplify(v: &[PreconditionResult]) -> Vec<(String, String, bool, Option<String>)> {
    v.iter()
        .map(|p| (p.kind.clone(), p.target.clone(), p.ok, p.detail.clone()))
        .collect()
}

fn assert_results(got: &[PreconditionResult], want: &[PreconditionResult]) {
    assert_eq!(simplify(got), simplify(want));
}

#[tokio::test]
async fn commands_on_path_and_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("mytool");
    std::fs::write(&tool, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plain = dir.path().join("notes.txt");
    std::fs::write(&plain, "x").unwrap();
    let tool = tool.display().to_string();
    let plain = plain.display().to_string();
    let missing = dir.path().join("gone").display().to_string();

    let req = Requires {
        commands: vec![
            "sh".into(),
            "runbook-no-such-command-7f3a".into(),
            tool.clone(),
            plain.clone(),
            missing.clone(),
        ],
        ..Default::default()
    };
    let got = evaluate(&req, &no_render, &TcpProbe::default()).await;
    let sh = find_on_path("sh").expect("sh is on PATH");
    assert_eq!(sh.file_name().and_then(|n| n.to_str()), Some("sh"));
    assert_results(
        &got,
        &[
            r("commands", "sh", true, Some(&sh.display().to_string())),
            r(
                "commands",
                "runbook-no-such-command-7f3a",
                false,
                Some("not found on PATH"),
            ),
            r("commands", &tool, true, Some(&tool)),
            r("commands", &plain, false, Some("not an executable file")),
            r("commands", &missing, false, Some("does not exist")),
        ],
    );
}

#[tokio::test]
async fn env_vars() {
    let req = Requires {
        env: vec!["PATH".into(), "RUNBOOK_TEST_SURELY_UNSET_2b9c".into()],
        ..Default::default()
    };
    let got = evaluate(&req, &no_render, &TcpProbe::default()).await;
    assert_results(
        &got,
        &[
            r("env", "PATH", true, Some("set")),
            r(
                "env",
                "RUNBOOK_TEST_SURELY_UNSET_2b9c",
                false,
                Some("not set"),
            ),
        ],
    );
}

/// Runs in a child process of this test binary, with the variable set to
/// the empty string (setting it here would race with other tests).
#[tokio::test]
#[ignore = "run by env_var_set_but_empty in a child process"]
async fn env_var_set_but_empty_child() {
    let req = Requires {
        env: vec!["RUNBOOK_TEST_EMPTY".into()],
        ..Default::default()
    };
    let got = evaluate(&req, &no_render, &TcpProbe::default()).await;
    assert_results(
        &got,
        &[r("env", "RUNBOOK_TEST_EMPTY", false, Some("set but empty"))],
    );
}

#[test]
fn env_var_set_but_empty() {
    // The test's full name in the binary (`preconditions::…`, without the crate).
    let module = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, m)| m);
    let child = format!("{module}::env_var_set_but_empty_child");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", child.as_str(), "--ignored"])
        .env("RUNBOOK_TEST_EMPTY", "")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[tokio::test]
async fn files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("core.123");
    std::fs::write(&file, "x").unwrap();
    let file = file.display().to_string();
    let d = dir.path().display().to_string();
    let missing = dir.path().join("nope").display().to_string();
    let req = Requires {
        files: vec![file.clone(), d.clone(), missing.clone()],
        ..Default::default()
    };
    let got = evaluate(&req, &no_render, &TcpProbe::default()).await;
    assert_results(
        &got,
        &[
            r("files", &file, true, Some("file exists")),
            r("files", &d, true, Some("directory exists")),
            r("files", &missing, false, Some("does not exist")),
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn http_endpoints_rendered_from_templates() {
    let Some(prom) = Prometheus::start() else {
        return;
    };
    let refused = crate::support::free_port();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();

    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let ctx = minijinja::context! { params => minijinja::context! {
        prometheus_url => prom.url(),
    }};
    let render =
        |s: &str| -> Result<String, String> { env.render_str(s, &ctx).map_err(|e| e.to_string()) };

    let req = Requires {
        http: vec![
            "{{ params.prometheus_url }}/-/ready".into(),
            // Prometheus answers `/` with a redirect to the UI: still up.
            "{{ params.prometheus_url }}/".into(),
            "{{ params.prometheus_url }}/no-such-page".into(),
            format!("http://127.0.0.1:{refused}/-/ready"),
            format!("http://127.0.0.1:{silent_port}/-/ready"),
            "{{ params.missing }}/-/ready".into(),
            "not a url".into(),
        ],
        ..Default::default()
    };
    let opts = Options {
        http_timeout: Duration::from_secs(3),
        ..Default::default()
    };
    let got = evaluate_with(&req, &render, &TcpProbe::default(), &opts).await;
    let url = prom.url();
    let template_error = render("{{ params.missing }}").unwrap_err();
    assert_results(
        &got,
        &[
            r("http", &format!("{url}/-/ready"), true, Some("HTTP 200 OK")),
            r("http", &format!("{url}/"), true, Some("HTTP 302 Found")),
            r(
                "http",
                &format!("{url}/no-such-page"),
                false,
                Some("HTTP 404 Not Found (expected 2xx or 3xx)"),
            ),
            r(
                "http",
                &format!("http://127.0.0.1:{refused}/-/ready"),
                false,
                Some("connection refused"),
            ),
            r(
                "http",
                &format!("http://127.0.0.1:{silent_port}/-/ready"),
                false,
                Some("no answer within 3s"),
            ),
            r(
                "http",
                "{{ params.missing }}/-/ready",
                false,
                Some(&format!("template error: {template_error}")),
            ),
            r(
                "http",
                "not a url",
                false,
                Some("invalid URL: relative URL without a base"),
            ),
        ],
    );
    drop(silent);
}

#[tokio::test]
async fn hosts_by_tcp_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let refused = crate::support::free_port();
    let req = Requires {
        hosts: vec![
            format!("root@127.0.0.1:{port}"),
            format!("127.0.0.1:{refused}"),
        ],
        ..Default::default()
    };
    let got = evaluate(&req, &no_render, &TcpProbe::default()).await;
    assert_results(
        &got,
        &[
            r(
                "hosts",
                &format!("root@127.0.0.1:{port}"),
                true,
                Some(&format!("127.0.0.1:{port} accepts connections")),
            ),
            r(
                "hosts",
                &format!("127.0.0.1:{refused}"),
                false,
                Some(&format!("127.0.0.1:{refused}: connection refused")),
            ),
        ],
    );
}

/// The runner plugs in its own probe (SSH); the evaluation uses it as given.
struct Inventory;

impl HostProbe for Inventory {
    fn probe<'a>(&'a self, host: &'a str) -> ProbeFuture<'a> {
        Box::pin(async move {
            match host {
                "db1" => Ok("ssh root@127.0.0.1:22: ok".to_string()),
                other => Err(format!("`{other}` is not in the inventory")),
            }
        })
    }
}

#[tokio::test]
async fn hosts_through_a_custom_probe() {
    let req = Requires {
        hosts: vec!["db1".into(), "web9".into()],
        ..Default::default()
    };
    let got = evaluate(&req, &no_render, &Inventory).await;
    assert_results(
        &got,
        &[
            r("hosts", "db1", true, Some("ssh root@127.0.0.1:22: ok")),
            r(
                "hosts",
                "web9",
                false,
                Some("`web9` is not in the inventory"),
            ),
        ],
    );
}

#[tokio::test]
async fn check_commands() {
    let req = Requires {
        check: vec![
            "echo hello; echo second line".into(),
            "true".into(),
            "echo some output; echo 'disk almost full' >&2; exit 3".into(),
            "exit 2".into(),
            "\n  echo '' ; echo '  indented first line  '".into(),
            "kill -9 $$".into(),
            "runbook-no-such-command-7f3a".into(),
        ],
        ..Default::default()
    };
    let got = evaluate(&req, &no_render, &TcpProbe::default()).await;
    let not_found = {
        // Run as the checker runs it: the command comes from the
        // environment (never the command line, where `ps` shows secrets).
        let out = std::process::Command::new("sh")
            .args([
                "-c",
                "__rb_c=$__RB_CHECK; unset __RB_CHECK; eval \"$__rb_c\"",
            ])
            .env("__RB_CHECK", "runbook-no-such-command-7f3a")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    };
    assert_results(
        &got,
        &[
            r("check", "echo hello; echo second line", true, Some("hello")),
            r("check", "true", true, None),
            r(
                "check",
                "echo some output; echo 'disk almost full' >&2; exit 3",
                false,
                Some("exit 3: disk almost full"),
            ),
            r("check", "exit 2", false, Some("exit 2")),
            r(
                "check",
                "\n  echo '' ; echo '  indented first line  '",
                true,
                Some("indented first line"),
            ),
            r("check", "kill -9 $$", false, Some("killed by signal 9")),
            r(
                "check",
                "runbook-no-such-command-7f3a",
                false,
                Some(&format!("exit 127: {not_found}")),
            ),
        ],
    );
}

#[tokio::test]
async fn check_timeout_kills_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("survived");
    let cmd = format!("(sleep 2; touch {}) & sleep 10", marker.display());
    let req = Requires {
        check: vec![cmd.clone()],
        ..Default::default()
    };
    let opts = Options {
        check_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let started = Instant::now();
    let got = evaluate_with(&req, &no_render, &TcpProbe::default(), &opts).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_results(
        &got,
        &[r("check", &cmd, false, Some("timed out after 500ms"))],
    );
    // The background child was in the group and was killed with it.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(!marker.exists());
}

#[tokio::test]
async fn check_does_not_hang_on_a_background_process_holding_the_pipe() {
    let req = Requires {
        check: vec!["sleep 30 & echo started".into()],
        ..Default::default()
    };
    let started = Instant::now();
    let got = evaluate(&req, &no_render, &TcpProbe::default()).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_results(
        &got,
        &[r("check", "sleep 30 & echo started", true, Some("started"))],
    );
}

#[tokio::test]
async fn every_precondition_is_evaluated_in_order() {
    let req = Requires {
        commands: vec!["runbook-no-such-command-7f3a".into(), "sh".into()],
        env: vec!["RUNBOOK_TEST_SURELY_UNSET_2b9c".into()],
        files: vec!["/".into()],
        http: vec![],
        hosts: vec![format!("127.0.0.1:{}", crate::support::free_port())],
        check: vec!["exit 1".into(), "echo fine".into()],
    };
    let got = evaluate(&req, &no_render, &TcpProbe::default()).await;
    let summary: Vec<(&str, bool)> = got.iter().map(|p| (p.kind.as_str(), p.ok)).collect();
    assert_eq!(
        summary,
        vec![
            ("commands", false),
            ("commands", true),
            ("env", false),
            ("files", true),
            ("hosts", false),
            ("check", false),
            ("check", true),
        ]
    );
}

#[tokio::test]
async fn slow_checks_run_concurrently() {
    let req = Requires {
        check: vec![
            "sleep 1; echo a".into(),
            "sleep 1; echo b".into(),
            "sleep 1; echo c".into(),
        ],
        ..Default::default()
    };
    let started = Instant::now();
    let got = evaluate(&req, &no_render, &TcpProbe::default()).await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_results(
        &got,
        &[
            r("check", "sleep 1; echo a", true, Some("a")),
            r("check", "sleep 1; echo b", true, Some("b")),
            r("check", "sleep 1; echo c", true, Some("c")),
        ],
    );
}

/// The runner may spawn the evaluation: its future must be `Send`.
#[tokio::test]
async fn evaluation_can_be_spawned() {
    let handle = tokio::spawn(async {
        let req = Requires {
            env: vec!["PATH".into()],
            ..Default::default()
        };
        evaluate(&req, &no_render, &TcpProbe::default()).await
    });
    let got = handle.await.unwrap();
    assert_results(&got, &[r("env", "PATH", true, Some("set"))]);
}
