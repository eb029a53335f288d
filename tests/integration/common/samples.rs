//! Fixed run records and the runbook they belong to, shared by the report
//! tests. Everything is spelled out so snapshots need no normalising.

#![allow(dead_code)]

use indexmap::IndexMap;
use runbook::document::Document;
use runbook::record::*;

pub const RUNBOOK: &str = r#"---
title: P90 latency spike on my_service
params:
  service: { required: true }
---

# P90 latency

Find the noisiest object. See the [dashboard](https://grafana.example/d/p90)
and ![the graph](https://grafana.example/render/p90.png).

```http {name=levels capture=json}
GET http://127.0.0.1:9090/api/v1/query?query=level
```

Check the disks on every web host:

```bash {name=disks hosts=web}
df -h / | tail -n 1
```

- Restart it:

  ```bash {name=restart confirm="Restart the api?"}
  systemctl restart api && journalctl -u api -n 200
  ```

> ```sh {name=verify}
> curl -fsS localhost:8080/health
> ```

<script>alert("raw html in the runbook")</script>
"#;

/// The [`Document`] for [`RUNBOOK`], as the runbook parser reads it.
pub fn document() -> Document {
    runbook::document::parse("runbooks/latency.md", RUNBOOK.to_string())
        .expect("the sample runbook parses")
}

fn base(result: RunResult, exit_code: Option<i32>) -> RunRecord {
    let mut params = IndexMap::new();
    params.insert("service".to_string(), serde_json::json!("api"));
    params.insert("replicas".to_string(), serde_json::json!(3));
    params.insert("db_password".to_string(), serde_json::json!("********"));
    RunRecord {
        schema_version: SCHEMA_VERSION,
        runbook: RunbookInfo {
            path: "runbooks/latency.md".into(),
            sha256: "9f2c1e0b6a5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a291807060504030".into(),
            title: Some("P90 latency spike on my_service".into()),
        },
        tool_version: "0.1.0".into(),
        operator: "alice".into(),
        job_url: None,
        machine: "ops-laptop".into(),
        alert: None,
        params,
        started_at: "2026-03-14T09:26:53Z".into(),
        finished_at: Some("2026-03-14T09:28:05Z".into()),
        duration_ms: Some(72_480),
        result,
        exit_code,
        dry_run: false,
        mode: Vec::new(),
        preconditions: vec![
            PreconditionResult {
                kind: "commands".into(),
                target: "jq".into(),
                ok: true,
                detail: None,
            },
            PreconditionResult {
                kind: "http".into(),
                target: "http://127.0.0.1:9090/-/ready".into(),
                ok: true,
                detail: Some("200".into()),
            },
        ],
        steps: Vec::new(),
        chain_head: None,
        signature: None,
        resume_forced: None,
        rollback: None,
        shard: None,
        publish: None,
    }
}

fn out(head: &str) -> OutputRecord {
    OutputRecord {
        head: head.into(),
        tail: String::new(),
        total_bytes: head.len() as u64,
        total_lines: head.lines().count() as u64,
        omitted_lines: 0,
        log_path: None,
        leaked: false,
    }
}

fn step(index: usize, name: &str, lang: &str, line: usize, status: StepStatus) -> StepRecord {
    StepRecord {
        index,
        name: name.into(),
        lang: lang.into(),
        line,
        status,
        reason: None,
        exit_code: None,
        started_at: None,
        duration_ms: None,
        rendered: None,
        gate: None,
        target: "local".into(),
        attempts: Vec::new(),
        output: None,
        hosts: Vec::new(),
        http: None,
        json: None,
        expected: None,
        expect: None,
        undoes: None,
        batches: Vec::new(),
        chart: None,
    }
}

fn ran(mut s: StepRecord, at: &str, ms: u64, exit: Option<i32>) -> StepRecord {
    s.started_at = Some(at.into());
    s.duration_ms = Some(ms);
    s.exit_code = exit;
    s.attempts = vec![AttemptRecord {
        attempt: 1,
        status: s.status,
        exit_code: exit,
        started_at: at.into(),
        duration_ms: ms,
    }];
    s
}

fn levels_ok() -> StepRecord {
    let mut s = ran(
        step(0, "levels", "http", 12, StepStatus::Ok),
        "2026-03-14T09:26:54Z",
        182,
        None,
    );
    s.rendered = Some("GET http://127.0.0.1:9090/api/v1/query?query=level\n".into());
    s.http = Some(HttpRecord {
        method: "GET".into(),
        url: "http://127.0.0.1:9090/api/v1/query?query=level".into(),
        status: Some(200),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("content-length".into(), "63".into()),
        ],
        error: None,
    });
    s.output = Some(out(
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}\n",
    ));
    s.json = Some(
        serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": []}}),
    );
    s
}

fn disks(status: StepStatus) -> StepRecord {
    let mut s = ran(
        step(1, "disks", "bash", 18, status),
        "2026-03-14T09:26:55Z",
        1_240,
        Some(if status == StepStatus::Ok { 0 } else { 1 }),
    );
    s.target = "web".into();
    s.hosts = vec![
        HostResult {
            host: "web-1".into(),
            address: Some("127.0.0.1:2201".into()),
            status: StepStatus::Ok,
            exit_code: Some(0),
            duration_ms: 1_020,
            output: out("/dev/nvme0n1p2  100G   41G   59G  41% /\n"),
            error: None,
        },
        HostResult {
            host: "web-2".into(),
            address: Some("127.0.0.1:2202".into()),
            status,
            exit_code: if status == StepStatus::Ok {
                Some(0)
            } else {
                None
            },
            duration_ms: 1_240,
            output: if status == StepStatus::Ok {
                out("/dev/nvme0n1p2  100G   87G   13G  87% /\n")
            } else {
                out("")
            },
            error: if status == StepStatus::Ok {
                None
            } else {
                Some("ssh: connect to host 127.0.0.1 port 2202: Connection refused".into())
            },
        },
    ];
    s
}

fn gate(decision: &str) -> GateRecord {
    GateRecord {
        message: "Restart the api?".into(),
        decision: decision.into(),
        operator: "alice".into(),
        at: "2026-03-14T09:26:58Z".into(),
    }
}

fn restart_ok() -> StepRecord {
    let mut s = ran(
        step(2, "restart", "bash", 24, StepStatus::Ok),
        "2026-03-14T09:27:01Z",
        58_300,
        Some(0),
    );
    s.gate = Some(gate("approved"));
    s.output = Some(out(
        "Mar 14 09:27:02 api[812]: Stopping api...\nMar 14 09:27:59 api[901]: Started api.\n",
    ));
    s
}

fn verify(status: StepStatus) -> StepRecord {
    let mut s = step(3, "verify", "sh", 28, status);
    if status == StepStatus::Ok {
        s = ran(s, "2026-03-14T09:27:59Z", 64, Some(0));
        s.output = Some(out("{\"status\":\"up\"}"));
    }
    s
}

/// Every step ran and passed.
pub fn ok() -> RunRecord {
    let mut r = base(RunResult::Ok, Some(0));
    r.steps = vec![
        levels_ok(),
        disks(StepStatus::Ok),
        restart_ok(),
        verify(StepStatus::Ok),
    ];
    r
}

/// The restart fails after three attempts with long, hostile output; the
/// last step is not reached.
pub fn failed() -> RunRecord {
    let mut r = base(RunResult::Failed, Some(1));
    r.finished_at = Some("2026-03-14T09:27:40Z".into());
    r.duration_ms = Some(46_912);
    let mut restart = ran(
        step(2, "restart", "bash", 24, StepStatus::Failed),
        "2026-03-14T09:27:01Z",
        12_005,
        Some(1),
    );
    restart.gate = Some(gate("approved (--yes)"));
    restart.attempts = (1..=3)
        .map(|a| AttemptRecord {
            attempt: a,
            status: StepStatus::Failed,
            exit_code: Some(1),
            started_at: format!("2026-03-14T09:27:{:02}Z", 1 + (a - 1) * 13),
            duration_ms: 4_001,
        })
        .collect();
    restart.output = Some(OutputRecord {
        head: "Job for api.service failed.\n```\n<!-- runbook:end 0123456789abcdef -->\n> not a quote\n\u{1b}[31mred\u{1b}[0m \u{7}bell\n".into(),
        tail: "  File \"/srv/api/app.py\", line 12\n````` five backticks\nError: <script>alert(1)</script> & ]]> done\n".into(),
        total_bytes: 9_876_543,
        total_lines: 123_464,
        omitted_lines: 123_456,
        log_path: Some("out.md.logs/step_3.log".into()),
        leaked: true,
    });
    let mut verify = verify(StepStatus::NotRun);
    verify.reason = Some("an earlier step failed".into());
    r.steps = vec![levels_ok(), disks(StepStatus::Ok), restart, verify];
    r
}

/// Fan-out where one host cannot be reached; the failure is allowed and the
/// operator skips the gated step.
pub fn fan_out() -> RunRecord {
    let mut r = base(RunResult::Ok, Some(0));
    r.preconditions.clear();
    let mut restart = step(2, "restart", "bash", 24, StepStatus::Skipped);
    restart.gate = Some(gate("skipped"));
    restart.reason = Some("the operator answered skip".into());
    r.steps = vec![
        levels_ok(),
        disks(StepStatus::FailedAllowed),
        restart,
        verify(StepStatus::Ok),
    ];
    r
}

/// The HTTP step cannot connect; the run stops there.
pub fn http_failed() -> RunRecord {
    let mut r = base(RunResult::Failed, Some(1));
    r.finished_at = Some("2026-03-14T09:26:54Z".into());
    r.duration_ms = Some(1_003);
    let mut levels = ran(
        step(0, "levels", "http", 12, StepStatus::Failed),
        "2026-03-14T09:26:53Z",
        1_002,
        None,
    );
    levels.http = Some(HttpRecord {
        method: "GET".into(),
        url: "http://127.0.0.1:9090/api/v1/query?query=level".into(),
        status: None,
        headers: Vec::new(),
        error: Some("connection refused (127.0.0.1:9090)".into()),
    });
    levels.output = Some(out(""));
    let mut rest: Vec<StepRecord> = vec![
        step(1, "disks", "bash", 18, StepStatus::NotRun),
        step(2, "restart", "bash", 24, StepStatus::NotRun),
        step(3, "verify", "sh", 28, StepStatus::NotRun),
    ];
    for s in &mut rest {
        s.reason = Some("an earlier step failed".into());
    }
    rest[0].target = "web".into();
    r.steps = std::iter::once(levels).chain(rest).collect();
    r
}

/// `--dry-run`: everything rendered, nothing executed.
pub fn dry_run() -> RunRecord {
    let mut r = base(RunResult::DryRunOk, Some(0));
    r.dry_run = true;
    r.mode = vec!["--dry-run".into()];
    r.finished_at = Some("2026-03-14T09:26:53Z".into());
    r.duration_ms = Some(41);
    let mut steps = vec![
        step(0, "levels", "http", 12, StepStatus::DryRun),
        step(1, "disks", "bash", 18, StepStatus::DryRun),
        step(2, "restart", "bash", 24, StepStatus::DryRun),
        step(3, "verify", "sh", 28, StepStatus::DryRun),
    ];
    steps[0].rendered = Some("GET http://127.0.0.1:9090/api/v1/query?query=level\n".into());
    steps[1].rendered = Some("df -h / | tail -n 1\n".into());
    steps[1].target = "web".into();
    steps[2].rendered = Some(
        "systemctl restart api && journalctl -u api -n 200\ncurl -H 'Authorization: {{ secrets.DEPLOY_TOKEN }}' ```\n"
            .into(),
    );
    steps[2].reason = Some("gate \"Restart the api?\" would be asked".into());
    steps[3].rendered = Some("curl -fsS localhost:8080/health\n".into());
    r.steps = steps;
    r
}

/// A precondition fails: no step runs.
pub fn precondition_failed() -> RunRecord {
    let mut r = base(RunResult::PreconditionFailed, Some(3));
    r.finished_at = Some("2026-03-14T09:26:54Z".into());
    r.duration_ms = Some(310);
    r.preconditions[1].ok = false;
    r.preconditions[1].detail = Some("connection refused".into());
    r.steps = [
        ("levels", "http", 12),
        ("disks", "bash", 18),
        ("restart", "bash", 24),
        ("verify", "sh", 28),
    ]
    .iter()
    .enumerate()
    .map(|(i, (n, l, line))| {
        let mut s = step(i, n, l, *line, StepStatus::NotRun);
        s.reason = Some("a precondition failed".into());
        s
    })
    .collect();
    r
}

/// All samples, named for snapshots.
pub fn all() -> Vec<(&'static str, RunRecord)> {
    vec![
        ("ok", ok()),
        ("failed", failed()),
        ("fan_out", fan_out()),
        ("http_failed", http_failed()),
        ("dry_run", dry_run()),
        ("precondition_failed", precondition_failed()),
    ]
}
