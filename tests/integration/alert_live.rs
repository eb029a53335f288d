//! Alerts in, end to end with the real daemons (issue 13 item 1): a real
//! Prometheus evaluates an always-firing rule (`vector(1)`) and sends it to
//! a real Alertmanager, whose webhook posts to a loopback receiver here; the
//! payload it received drives `runbook run --alert` without a FILE, the
//! runbook found from the alert's `runbook_url` under `--runbooks-dir`.

use crate::common::test::Test;
use crate::support::alertmanager::{Alertmanager, WebhookReceiver};
use crate::support::prometheus::Prometheus;
use std::time::Duration;

const RULES: &str = r#"groups:
  - name: runbook-test
    rules:
      - alert: DiskFull
        expr: vector(1)
        labels:
          severity: page
          instance: "web-1:9100; touch pwned"
        annotations:
          summary: "Disk almost full ({{ $value }} > 0)"
          runbook_url: "https://gitlab.example.com/sre/runbooks/-/blob/main/disk/full.md"
"#;

const RUNBOOK: &str = r#"---
title: Disk full
params:
  instance: {from_alert: labels.instance, required: true}
---

# Disk full

```bash {name=triage}
echo "triage {{ params.instance }} ({{ alert.labels.severity }}): {{ alert.annotations.summary }}"
```
"#;

#[test]
fn alertmanager_webhook_drives_a_run_of_the_linked_runbook() {
    let receiver = WebhookReceiver::start();
    let Some(am) = Alertmanager::start(&receiver.url()) else {
        return;
    };
    let config = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        config.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{}']\n\
             rule_files: [rules.yml]\n",
            am.port
        ),
    )
    .expect("write prometheus.yml");
    std::fs::write(config.path().join("rules.yml"), RULES).expect("write rules.yml");
    // Alerts that fire before Prometheus has discovered the Alertmanager
    // are sent again after the resend delay (1m by default): 1s here.
    let flags = ["--rules.alert.resend-delay=1s"];
    let Some(_prom) = Prometheus::start_fixture_with(config.path(), "vector(1)", &flags) else {
        return;
    };
    let payload = receiver.next(Duration::from_secs(90)).unwrap_or_else(|| {
        panic!(
            "no webhook from alertmanager within 90s; its log:\n{}",
            am.log()
        )
    });
    let json: serde_json::Value = serde_json::from_str(&payload).expect("the webhook is JSON");
    assert_eq!(json["version"], "4", "{payload}");
    assert_eq!(json["alerts"][0]["status"], "firing", "{payload}");

    let out = Test::new()
        .file("books/disk/full.md", RUNBOOK)
        .stdin(payload)
        .args([
            "run",
            "--alert",
            "-",
            "--runbooks-dir",
            "books",
            "--yes",
            "--report-dir",
            "r",
        ])
        .stderr_contains("runbook: books/disk/full.md (the alert's runbook_url)")
        .run();
    assert!(!out.path("pwned").exists(), "an alert label ran as code");
    let copy = out.read("r/full.md");
    assert!(
        copy.contains("triage web-1:9100; touch pwned (page): Disk almost full (1 > 0)"),
        "{copy}"
    );
    assert!(
        copy.contains("| Alert | `DiskFull` (firing) since "),
        "{copy}"
    );
    assert!(copy.contains(", fingerprint `"), "{copy}");
    assert!(copy.contains("`severity=page`"), "{copy}");
    let report: serde_json::Value =
        serde_json::from_str(&out.read("r/full.json")).expect("the JSON report");
    assert_eq!(report["alert"]["alertname"], "DiskFull");
    assert_eq!(
        report["alert"]["labels"]["instance"],
        "web-1:9100; touch pwned"
    );
    assert_eq!(report["params"]["instance"], "web-1:9100; touch pwned");
    assert!(
        report["alert"]["fingerprint"]
            .as_str()
            .is_some_and(|f| !f.is_empty())
    );
}
