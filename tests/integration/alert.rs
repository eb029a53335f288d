//! Alerts in (issue 13 item 1): `runbook run --alert PAYLOAD` with an
//! Alertmanager webhook or a Prometheus /api/v1/alerts response. The alert
//! is data: its labels reach steps through the same quoting as any param,
//! params take its values only by `from_alert:` declaration, `-p` wins, the
//! record names the alert (never its annotations), and a runbook found from
//! `runbook_url` is never outside `--runbooks-dir`. The end-to-end test with
//! real Prometheus and Alertmanager daemons is in `alert_live`.

use crate::common::test::Test;

const RUNBOOK: &str = r#"---
title: Disk full
params:
  instance: {from_alert: labels.instance, required: true}
  severity: {from_alert: labels.severity, default: low}
  service: {default: api}
secrets:
  TOKEN: {env: ALERT_TEST_TOKEN}
---

# Disk full

```bash {name=show}
echo "instance={{ params.instance }} severity={{ params.severity }} service={{ params.service }}"
echo "alert={{ alert.labels.alertname }} status={{ alert.status }} since={{ alert.startsAt }}"
echo "summary={{ alert.annotations.summary }}"
```
"#;

const SECRET: &str = "tok-3c9f1a7e55d2";

/// An Alertmanager webhook payload (version 4) with these firing alerts'
/// label sets (JSON object text) and a shared annotation set.
pub fn webhook(labels: &[&str], annotations: &str) -> String {
    let alerts: Vec<String> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                r#"{{"status":"firing","labels":{l},"annotations":{annotations},
"startsAt":"2026-03-14T09:26:5{i}Z","endsAt":"0001-01-01T00:00:00Z",
"generatorURL":"http://prometheus:9090/graph?g0.expr=x","fingerprint":"fp{i}"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"version":"4","groupKey":"{{}}:{{alertname=\"DiskFull\"}}","status":"firing","receiver":"runbook",
"groupLabels":{{}},"commonLabels":{{}},"commonAnnotations":{{}},"externalURL":"http://am:9093",
"alerts":[{}]}}"#,
        alerts.join(",\n")
    )
}

fn test() -> Test {
    Test::new()
        .runbook(RUNBOOK)
        .env("ALERT_TEST_TOKEN", SECRET)
        .file(
            "alert.json",
            &webhook(
                &[r#"{"alertname":"DiskFull","instance":"web-1:9100","severity":"page"}"#],
                r#"{"summary":"disk 97% full"}"#,
            ),
        )
}

#[test]
fn the_alert_fills_declared_params_and_templates_and_the_copy_names_it() {
    let out = test()
        .args([
            "run",
            "runbook.md",
            "--alert",
            "alert.json",
            "--yes",
            "--report-dir",
            "r",
        ])
        .run();
    let copy = out.read("r/runbook.md");
    assert!(
        copy.contains("instance=web-1:9100 severity=page service=api"),
        "{copy}"
    );
    assert!(
        copy.contains("alert=DiskFull status=firing since=2026-03-14T09:26:50Z"),
        "{copy}"
    );
    assert!(copy.contains("summary=disk 97% full"), "{copy}");
    assert!(
        copy.contains(
            "| Alert | `DiskFull` (firing) since 2026-03-14T09:26:50Z, fingerprint `fp0`: `instance=web-1:9100`, `severity=page` |"
        ),
        "{copy}"
    );
    let json: serde_json::Value = serde_json::from_str(&out.read("r/runbook.json")).unwrap();
    assert_eq!(
        json["alert"],
        serde_json::json!({
            "alertname": "DiskFull",
            "status": "firing",
            "labels": {"alertname": "DiskFull", "instance": "web-1:9100", "severity": "page"},
            "starts_at": "2026-03-14T09:26:50Z",
            "fingerprint": "fp0"
        })
    );
    assert!(out.read("r/runbook.html").contains("<dt>Alert</dt>"));
    let schema_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn p_wins_over_the_alert_and_nothing_is_filled_by_name() {
    // `service` is a label too, but the param does not declare from_alert.
    let out = Test::new()
        .runbook(RUNBOOK)
        .env("ALERT_TEST_TOKEN", SECRET)
        .file(
            "alert.json",
            &webhook(
                &[r#"{"alertname":"DiskFull","instance":"web-1:9100","service":"db"}"#],
                r#"{"summary":"s"}"#,
            ),
        )
        .args([
            "run",
            "runbook.md",
            "--alert",
            "alert.json",
            "--yes",
            "-o",
            "out.md",
        ])
        .args(["-p", "instance=web-9:9100"])
        .run();
    let copy = out.read("out.md");
    assert!(
        copy.contains("instance=web-9:9100 severity=low service=api"),
        "{copy}"
    );
    assert!(
        copy.contains("`instance=web-9:9100`, `severity=low`, `service=api`"),
        "{copy}"
    );
}

#[test]
fn without_an_alert_a_from_alert_param_is_required_like_any_other() {
    Test::new()
        .runbook(RUNBOOK)
        .env("ALERT_TEST_TOKEN", SECRET)
        .args(["run", "runbook.md", "--yes", "-o", "out.md"])
        .status(2)
        .stderr_contains(
            "error: param `instance` is required (from_alert: labels.instance, and no --alert): pass it with -p instance=VALUE",
        )
        .run();
    test()
        .file(
            "alert.json",
            &webhook(&[r#"{"alertname":"DiskFull"}"#], "{}"),
        )
        .args(["run", "runbook.md", "--alert", "alert.json", "--yes", "-o", "out.md"])
        .status(2)
        .stderr_contains(
            "error: param `instance` is required: the alert has no `labels.instance`: pass it with -p instance=VALUE",
        )
        .run();
}

#[test]
fn label_values_are_data_never_code() {
    let hostile = r#"{"alertname":"DiskFull","instance":"$(touch pwned-sub); touch pwned-semi `touch pwned-tick` {{ secrets.TOKEN }} {% raw %}","severity":"'; touch pwned-quote; '"}"#;
    let out = test()
        .file(
            "alert.json",
            &webhook(&[hostile], r#"{"summary":"{{ env.HOME }}"}"#),
        )
        .args([
            "run",
            "runbook.md",
            "--alert",
            "alert.json",
            "--yes",
            "-o",
            "out.md",
        ])
        .run();
    for f in ["pwned-sub", "pwned-semi", "pwned-tick", "pwned-quote"] {
        assert!(
            !out.path(f).exists(),
            "{f} was created: an alert label ran as code"
        );
    }
    let copy = out.read("out.md");
    assert!(
        copy.contains("instance=$(touch pwned-sub); touch pwned-semi `touch pwned-tick` {{ secrets.TOKEN }} {% raw %} severity='; touch pwned-quote; '"),
        "{copy}"
    );
    // A template in a value is not rendered again.
    assert!(copy.contains("summary={{ env.HOME }}"), "{copy}");
    assert!(!copy.contains(SECRET));
}

#[test]
fn secrets_in_annotations_and_labels_never_reach_the_reports() {
    let labels = format!(r#"{{"alertname":"DiskFull","instance":"web-1","token":"{SECRET}"}}"#);
    let annotations = format!(r#"{{"summary":"login with {SECRET} please"}}"#);
    let out = test()
        .file("alert.json", &webhook(&[&labels], &annotations))
        .args([
            "run",
            "runbook.md",
            "--alert",
            "alert.json",
            "--yes",
            "--report-dir",
            "r",
        ])
        .run();
    for f in [
        "runbook.md",
        "runbook.json",
        "runbook.html",
        "runbook.junit.xml",
        "runbook.ipynb",
    ] {
        let text = out.read(&format!("r/{f}"));
        assert!(!text.contains(SECRET), "{f} holds the secret");
    }
    let copy = out.read("r/runbook.md");
    assert!(
        copy.contains("summary=login with [REDACTED:TOKEN] please"),
        "{copy}"
    );
    assert!(copy.contains("`token=[REDACTED:TOKEN]`"), "{copy}");
    // The record names the alert; it never copies the annotations.
    let json: serde_json::Value = serde_json::from_str(&out.read("r/runbook.json")).unwrap();
    assert_eq!(json["alert"]["labels"]["token"], "[REDACTED:TOKEN]");
    assert!(json["alert"].get("annotations").is_none(), "{json}");
}

#[test]
fn prometheus_alerts_api_response_from_stdin_with_a_matcher() {
    let body = r#"{"status":"success","data":{"alerts":[
{"labels":{"alertname":"DiskFull","instance":"web-1:9100"},"annotations":{"summary":"one"},"state":"firing","activeAt":"2026-03-14T09:00:00Z","value":"1e+00"},
{"labels":{"alertname":"DiskFull","instance":"web-2:9100"},"annotations":{"summary":"two"},"state":"firing","activeAt":"2026-03-14T09:01:00Z","value":"1e+00"}]}}"#;
    let out = test()
        .stdin(body)
        .args([
            "run",
            "runbook.md",
            "--alert",
            "-",
            "--alert-match",
            "instance=web-2:9100",
        ])
        .args(["--yes", "-o", "out.md"])
        .run();
    let copy = out.read("out.md");
    assert!(copy.contains("instance=web-2:9100 severity=low"), "{copy}");
    assert!(copy.contains("summary=two"), "{copy}");
}

#[test]
fn several_firing_alerts_take_the_first_with_a_note_or_refuse_an_ambiguous_match() {
    let two = webhook(
        &[
            r#"{"alertname":"DiskFull","instance":"web-1:9100"}"#,
            r#"{"alertname":"DiskFull","instance":"web-2:9100"}"#,
        ],
        r#"{"summary":"s"}"#,
    );
    test()
        .file("two.json", &two)
        .args(["run", "runbook.md", "--alert", "two.json", "--yes", "-o", "out.md"])
        .stderr_contains("note: two.json: 2 firing alerts; this run is about the first, DiskFull{instance=\"web-1:9100\"} (pick another with --alert-match LABEL=VALUE)")
        .run();
    test()
        .file("two.json", &two)
        .args(["run", "runbook.md", "--alert", "two.json", "--alert-match", "alertname=DiskFull"])
        .args(["--yes", "-o", "out.md"])
        .status(2)
        .stderr("error: two.json: 2 firing alerts match alertname=\"DiskFull\": DiskFull{instance=\"web-1:9100\"}; DiskFull{instance=\"web-2:9100\"}; add --alert-match LABEL=VALUE until one is left\n")
        .run();
}

#[test]
fn bad_payloads_are_refused_with_their_position_before_anything_runs() {
    let cases: &[(&str, &str)] = &[
        (
            "{\n  \"version\": \"4\",\n  \"alerts\": [\n    {\"status\": \"firing\" \"labels\": {}}\n  ]\n}\n",
            "error: bad.json:4:25: invalid alert payload: expected `,` or `}`\n",
        ),
        (
            r#"{"version":"4","alerts":[{"status":"resolved","labels":{"alertname":"DiskFull"}}]}"#,
            "error: bad.json: no firing alert (1 alert in the payload, none with status firing)\n",
        ),
        (
            r#"{"version":"4","alerts":[{"status":"firing","labels":["x"]}]}"#,
            "error: bad.json:1:53: invalid Alertmanager webhook payload: invalid type: sequence, expected a map\n",
        ),
        (
            r#"{"receiver":"x"}"#,
            "error: bad.json: not an alert payload: expected an Alertmanager webhook (version \"4\", with `alerts`) or a Prometheus /api/v1/alerts response (with `data.alerts`)\n",
        ),
    ];
    for (payload, expected) in cases {
        let out = test()
            .file("bad.json", payload)
            .args([
                "run",
                "runbook.md",
                "--alert",
                "bad.json",
                "--yes",
                "-o",
                "out.md",
            ])
            .status(2)
            .stderr(*expected)
            .run();
        assert!(!out.path("out.md").exists());
    }
}

#[test]
fn a_huge_payload_is_refused_without_being_read_whole() {
    let mut huge = String::from(r#"{"version":"4","alerts":[],"pad":""#);
    huge.push_str(&"x".repeat(9 * 1024 * 1024));
    huge.push_str("\"}");
    test()
        .stdin(huge)
        .args(["run", "runbook.md", "--alert", "-", "--yes", "-o", "out.md"])
        .status(2)
        .stderr("error: <stdin>: alert payload larger than 8 MiB: refused\n")
        .run();
    // /dev/zero never ends: the bound stops it.
    test()
        .args([
            "run",
            "runbook.md",
            "--alert",
            "/dev/zero",
            "--yes",
            "-o",
            "out.md",
        ])
        .status(2)
        .stderr("error: /dev/zero: alert payload larger than 8 MiB: refused\n")
        .run();
}

fn linked(url: &str) -> String {
    webhook(
        &[r#"{"alertname":"DiskFull","instance":"web-1:9100"}"#],
        &format!(r#"{{"summary":"s","runbook_url":"{url}"}}"#),
    )
}

#[test]
fn without_file_the_runbook_comes_from_runbook_url_inside_runbooks_dir() {
    for url in [
        "disk/full.md",
        "https://gitlab.example.com/sre/runbooks/-/blob/main/disk/full.md",
    ] {
        let out = test()
            .file("books/disk/full.md", RUNBOOK)
            .file("alert.json", &linked(url))
            .args([
                "run",
                "--alert",
                "alert.json",
                "--runbooks-dir",
                "books",
                "--yes",
                "-o",
                "out.md",
            ])
            .stderr_contains("runbook: books/disk/full.md (the alert's runbook_url)")
            .run();
        let copy = out.read("out.md");
        assert!(
            copy.contains("| Runbook | `books/disk/full.md` |"),
            "{copy}"
        );
        assert!(copy.contains("instance=web-1:9100"), "{copy}");
    }
}

#[test]
fn runbook_url_outside_runbooks_dir_is_refused() {
    let cases = [
        (
            "../evil.md",
            "error: runbook_url `../evil.md` refused: `..` would leave --runbooks-dir\n",
        ),
        (
            "/tmp/evil.md",
            "error: runbook_url `/tmp/evil.md` refused: an absolute path, outside --runbooks-dir books\n",
        ),
        (
            "https://evil.example.com/x/%2e%2e/evil.md",
            "error: runbook_url `https://evil.example.com/x/%2e%2e/evil.md` refused: `..` would leave --runbooks-dir\n",
        ),
        (
            "https://evil.example.com/payload.md",
            "error: runbook_url `https://evil.example.com/payload.md` matches no runbook under books: no suffix of its path names a file there, and a link to evil.example.com is not followed\n",
        ),
    ];
    for (url, expected) in cases {
        let out = test()
            .file("books/disk.md", RUNBOOK)
            .file("evil.md", "```bash {name=evil}\ntouch pwned\n```\n")
            .file("alert.json", &linked(url))
            .args([
                "run",
                "--alert",
                "alert.json",
                "--runbooks-dir",
                "books",
                "--yes",
                "-o",
                "out.md",
            ])
            .status(2)
            .stderr(expected)
            .run();
        assert!(!out.path("pwned").exists());
    }
    // A planted symlink that leads out of the directory.
    let t = test()
        .file("books/disk.md", RUNBOOK)
        .file("evil.md", "```bash {name=evil}\ntouch pwned\n```\n")
        .file("alert.json", &linked("link.md"));
    std::os::unix::fs::symlink(t.path("evil.md"), t.path("books/link.md")).unwrap();
    let out = t
        .args([
            "run",
            "--alert",
            "alert.json",
            "--runbooks-dir",
            "books",
            "--yes",
            "-o",
            "out.md",
        ])
        .status(2)
        .stderr_contains("error: runbook_url `link.md` refused: books/link.md leads to ")
        .stderr_contains("evil.md, outside --runbooks-dir books")
        .run();
    assert!(!out.path("pwned").exists());
    // No FILE and no --runbooks-dir; no runbook_url.
    test()
        .args(["run", "--alert", "alert.json", "--yes", "-o", "out.md"])
        .status(2)
        .stderr("error: --alert without a runbook FILE needs --runbooks-dir DIR: the alert's annotations.runbook_url is looked up there, and nowhere else\n")
        .run();
    test()
        .file("books/disk.md", RUNBOOK)
        .args(["run", "--alert", "alert.json", "--runbooks-dir", "books", "--yes"])
        .status(2)
        .stderr("error: the alert DiskFull{instance=\"web-1:9100\", severity=\"page\"} has no annotations.runbook_url: name the runbook (runbook run FILE --alert …)\n")
        .run();
}

#[test]
fn check_refuses_a_bad_from_alert_path_and_an_unknown_alert_field() {
    Test::new()
        .runbook(
            "---\nparams:\n  host: {from_alert: label.instance}\n---\n\n```bash {name=a}\necho {{ params.host }} {{ alert.lables.x }}\n```\n",
        )
        .args(["check", "runbook.md"])
        .status(2)
        .stderr_contains("error: param `host`: `from_alert: label.instance` is not a part of an alert: expected labels.NAME, annotations.NAME, status, startsAt, endsAt, generatorURL or fingerprint\n --> runbook.md:3:22\n")
        .stderr_contains("error: unknown alert field `lables`: an alert has labels, annotations, status, startsAt, endsAt, generatorURL, fingerprint\n --> runbook.md:7:27\n")
        .run();
}
