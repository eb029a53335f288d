//! Issue 14 item 4: a run sharded over N processes standing in for GitLab
//! runners (`run --shard I/N`, all at once against one real sshd), then
//! `runbook merge` of their report directories: the same per-host results
//! as one unsharded run, one header with all shards, a copy that verifies.

use crate::common::{Scratch, bin};
use crate::support::sshd::Sshd;
use std::process::{Command, Stdio};

fn runbook(sshd: &Sshd, n: usize) -> String {
    let mut s = String::from("---\ntitle: Sharded fix\nhosts:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  web{i:02}: {{ ssh: \"{}@127.0.0.1:{}\" }}\n",
            sshd.user, sshd.port
        ));
    }
    let names: Vec<String> = (0..n).map(|i| format!("web{i:02}")).collect();
    s.push_str(&format!(
        "  fleet: {{ group: [{}] }}\n---\n\n# Fix\n\n",
        names.join(", ")
    ));
    s.push_str("```bash {name=announce}\necho \"announce-$((1+1))\"\n```\n\n");
    s.push_str("```bash {name=fix hosts=fleet}\necho \"fixed-$((40+2))\"\n```\n\n");
    s.push_str("```bash {name=tally each_shard}\necho \"tally-$((3*3))\"\n```\n");
    s
}

fn runbook_cmd(s: &Scratch, sshd: &Sshd, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .current_dir(s.dir.path())
        .env_remove("GITLAB_CI")
        .env("NO_COLOR", "1")
        .env("RUNBOOK_SSH_CONFIG", &sshd.ssh_config)
        .env("RUNBOOK_SSH_KNOWN_HOSTS", &sshd.known_hosts)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn json(s: &Scratch, path: &str) -> serde_json::Value {
    serde_json::from_str(&s.read(path)).unwrap()
}

/// (host, status, output) of every host of step `i`.
fn hosts(record: &serde_json::Value, i: usize) -> Vec<(String, String, String)> {
    record["steps"][i]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let out = h["output"]["head"].as_str().unwrap_or("");
            let line = out
                .lines()
                .find(|l| l.starts_with("fixed-") || l.starts_with("tally-"));
            (
                h["host"].as_str().unwrap().to_string(),
                h["status"].as_str().unwrap().to_string(),
                line.unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn four_shards_merged_equal_one_unsharded_run() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Scratch::new();
    s.write("fix.md", &runbook(&sshd, 10));
    // Four processes at once, as four runners would.
    let shards: Vec<_> = (1..=4)
        .map(|i| {
            let shard = format!("{i}/4");
            let dir = format!("shard-{i}");
            runbook_cmd(
                &s,
                &sshd,
                &[
                    "run",
                    "fix.md",
                    "--yes",
                    "--shard",
                    &shard,
                    "--report-dir",
                    &dir,
                ],
            )
            .spawn()
            .unwrap()
        })
        .collect();
    for child in shards {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Each shard has its slice: 10 hosts dealt round-robin over 4.
    let sizes: Vec<usize> = (1..=4)
        .map(|i| hosts(&json(&s, &format!("shard-{i}/fix.json")), 1).len())
        .collect();
    assert_eq!(sizes, [3, 3, 2, 2]);
    let second = json(&s, "shard-2/fix.json");
    assert_eq!(second["steps"][0]["status"], "skipped");
    assert_eq!(
        second["steps"][0]["reason"],
        "runs in shard 1/4 only (not a fan-out step)"
    );
    assert_eq!(second["shard"], serde_json::json!({"index": 2, "total": 4}));

    let merge = runbook_cmd(
        &s,
        &sshd,
        &[
            "merge",
            "shard-1",
            "shard-2",
            "shard-3",
            "shard-4",
            "--report-dir",
            "merged",
        ],
    )
    .output()
    .unwrap();
    assert!(
        merge.status.success(),
        "{}",
        String::from_utf8_lossy(&merge.stderr)
    );
    let merged = json(&s, "merged/fix.json");

    let one = runbook_cmd(
        &s,
        &sshd,
        &["run", "fix.md", "--yes", "--report-dir", "whole"],
    )
    .output()
    .unwrap();
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    let whole = json(&s, "whole/fix.json");

    assert_eq!(
        hosts(&merged, 1),
        hosts(&whole, 1),
        "per-host results of the fan-out"
    );
    assert_eq!(hosts(&merged, 1).len(), 10);
    assert_eq!(merged["result"], "ok");
    assert_eq!(
        merged["steps"][0]["status"], "ok",
        "announce ran in shard 1"
    );
    assert_eq!(
        merged["mode"],
        serde_json::json!([
            "--yes",
            "--shard 1/4",
            "--shard 2/4",
            "--shard 3/4",
            "--shard 4/4"
        ])
    );
    assert!(merged.get("shard").is_none());
    // The each_shard step: one section per shard.
    let tally: Vec<String> = hosts(&merged, 2)
        .into_iter()
        .map(|(h, _, o)| format!("{h}={o}"))
        .collect();
    assert_eq!(
        tally,
        [
            "shard 1/4=tally-9",
            "shard 2/4=tally-9",
            "shard 3/4=tally-9",
            "shard 4/4=tally-9"
        ]
    );
    // One copy that reads as one run's and verifies; the JSON carries its head.
    let copy = s.read("merged/fix.md");
    assert_eq!(copy.matches("fixed-42").count(), 10, "{copy}");
    assert_eq!(copy.matches("announce-2").count(), 1, "{copy}");
    let verify = runbook_cmd(
        &s,
        &sshd,
        &[
            "verify",
            "merged/fix.md",
            "--source",
            "fix.md",
            "--report",
            "merged/fix.json",
        ],
    )
    .output()
    .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let strip = runbook_cmd(&s, &sshd, &["strip", "merged/fix.md"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&strip.stdout), s.read("fix.md"));
}

#[test]
fn merge_refuses_what_is_not_the_shards_of_one_run() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Scratch::new();
    s.write("fix.md", &runbook(&sshd, 3));
    let run = |args: &[&str]| {
        let out = runbook_cmd(&s, &sshd, args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (i, dir) in [(1, "a"), (2, "b")] {
        let shard = format!("{i}/3");
        assert_eq!(
            run(&[
                "run",
                "fix.md",
                "--yes",
                "--shard",
                &shard,
                "--report-dir",
                dir
            ])
            .0,
            0
        );
    }
    assert_eq!(
        run(&["run", "fix.md", "--yes", "--report-dir", "plain"]).0,
        0
    );
    let cases: [(&[&str], &str); 3] = [
        (&["merge", "a", "b"], "error: missing shard 3/3\n"),
        (
            &["merge", "a", "a", "b"],
            "error: shard 1/3 is given twice\n",
        ),
        (
            &["merge", "a", "plain"],
            "error: plain: no shard's JSON report (run with --shard I/N --report-dir DIR --format json)\n",
        ),
    ];
    for (args, err) in cases {
        let (code, stderr) = run(args);
        assert_eq!((code, stderr.as_str()), (2, err), "{args:?}");
    }
    assert!(!s.path("merged").exists(), "a refused merge wrote nothing");
    // Another runbook's shard does not belong.
    s.write(
        "fix.md",
        &runbook(&sshd, 3).replace("Sharded fix", "Another"),
    );
    assert_eq!(
        run(&[
            "run",
            "fix.md",
            "--yes",
            "--shard",
            "3/3",
            "--report-dir",
            "c"
        ])
        .0,
        0
    );
    let (code, stderr) = run(&["merge", "a", "b", "c"]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: shard 3/3 ran another runbook (sha256 "),
        "{stderr}"
    );
}

#[test]
fn a_bad_shard_is_a_usage_error() {
    let s = Scratch::new();
    s.write("r.md", "```bash {name=a}\necho\n```\n");
    for bad in ["0/4", "5/4", "x", "2/0", "1/"] {
        s.test()
            .args(["run", "r.md", "--shard", bad])
            .status(2)
            .stderr_contains(format!(
                "invalid value '{bad}' for '--shard <I/N>': `{bad}`: expected I/N with 1 ≤ I ≤ N, e.g. 2/4"
            ))
            .run();
    }
}

#[test]
fn the_dry_run_of_a_shard_names_its_slice() {
    let s = Scratch::new();
    let mut text = String::from("---\nhosts:\n");
    for i in 0..5 {
        text.push_str(&format!("  web{i:02}: {{ ssh: \"root@127.0.0.1:9\" }}\n"));
    }
    text.push_str("  fleet: { group: [web00, web01, web02, web03, web04] }\n---\n\n```bash {name=fix hosts=fleet}\necho\n```\n");
    s.write("r.md", &text);
    let out = s
        .test()
        .args([
            "run",
            "r.md",
            "--dry-run",
            "--shard",
            "2/2",
            "--report-dir",
            "rep",
        ])
        .run();
    let j: serde_json::Value = serde_json::from_str(&out.read("rep/r.dry-run.json")).unwrap();
    assert_eq!(
        j["steps"][0]["reason"],
        "target fleet: 5 hosts (web00, web01, web02, web03, web04); shard 2/2: 2 of them (web01, web03)"
    );
}
