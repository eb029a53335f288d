//! `runbook verify` through the real binary: an untouched annotated copy
//! verifies, and each kind of tampering fails naming the step, the line and
//! the reason (docs/annotated-copy.md, "Hash chain").

use crate::common::{Scratch, block_of};
use runbook::text::sha256_hex;

const RUNBOOK: &str = "---\ntitle: Chain demo\n---\n# Demo\n\n\
```bash {name=one}\necho one\n```\n\nSome prose.\n\n\
```bash {name=two}\necho two\n```\n\n\
- in a list:\n\n  ```bash {name=three}\n  echo three\n  ```\n";

/// A scratch directory with `runbook.md` run into `copy.md` (and
/// `rep/copy.json`).
fn ran() -> Scratch {
    let s = Scratch::new();
    s.write("runbook.md", RUNBOOK);
    s.test()
        .args(["run", "runbook.md", "--yes", "-q", "-o", "copy.md"])
        .args(["--report-dir", "rep", "--format", "json"])
        .run();
    s
}

/// 1-based line of the first occurrence of `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in:\n{text}"));
    text[..at].matches('\n').count() + 1
}

/// `verify tampered.md` fails (exit 1) at `step`, `line`, for `reason`.
fn fails(s: &Scratch, tampered: &str, step: &str, line: usize, reason: &str) {
    s.write("tampered.md", tampered);
    s.test()
        .args(["verify", "tampered.md"])
        .status(1)
        .stdout_contains(format!("tampered.md line {line}, step {step}: {reason}: "))
        .context(tampered.to_string())
        .run();
    let out = s
        .test()
        .args(["verify", "tampered.md", "--format", "json"])
        .status(1)
        .run();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["ok"], false);
    assert_eq!(v["failure"]["step"], step);
    assert_eq!(v["failure"]["line"], line);
    assert_eq!(v["failure"]["reason"], reason.replace(' ', "_"));
}

#[test]
fn untouched_copy_verifies_with_its_source_and_report() {
    let s = ran();
    let copy = s.read("copy.md");
    assert_eq!(copy.matches(" chain=").count(), 4, "{copy}");
    let out = s
        .test()
        .args(["verify", "copy.md", "--source", "runbook.md"])
        .args(["--report", "rep/copy.json"])
        .stdout_contains("verified: copy.md: 3 steps, ok, operator ")
        .run();
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    let out = s
        .test()
        .args(["verify", "copy.md", "--format", "json"])
        .run();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let report: serde_json::Value = serde_json::from_str(&s.read("rep/copy.json")).expect("report");
    assert_eq!(v["ok"], true);
    assert_eq!(v["steps"], 3);
    assert_eq!(v["result"], "ok");
    assert_eq!(v["dry_run"], false);
    assert!(v["failure"].is_null());
    assert_eq!(v["chain_head"], report["chain_head"]);
    assert!(copy.contains(&format!(
        "header chain={} -->",
        v["chain_head"].as_str().unwrap()
    )));
}

/// The chain as docs/annotated-copy.md defines it, re-implemented here from
/// the text of the copy alone.
#[test]
fn chain_matches_the_documented_format() {
    let s = ran();
    let copy = s.read("copy.md");
    let link = |prev: &str, src: &str, body: &str| {
        let msg = format!("{prev}\n{}\n{src}{}\n{body}", src.len(), body.len());
        sha256_hex(msg.as_bytes(), usize::MAX)
    };
    let lines: Vec<&str> = copy.split_inclusive('\n').collect();
    let mut prev = "0".repeat(64);
    let mut fence_start = 0;
    let mut header = None;
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_start_matches([' ', '>']);
        if l.starts_with("```bash") {
            fence_start = i;
        }
        if let Some(rest) = l.strip_prefix("<!-- runbook:begin ") {
            let parts: Vec<&str> = rest.trim_end_matches(" -->\n").split(' ').collect();
            let end = (i + 1..lines.len())
                .find(|&j| lines[j].contains(&format!("<!-- runbook:end {} -->", parts[0])))
                .expect("end marker");
            let body: String = lines[i + 1..end].concat();
            let chain = parts[2].strip_prefix("chain=").expect("chained");
            if parts[1] == "header" {
                header = Some((body, chain.to_string()));
            } else {
                let src: String = lines[fence_start..i].concat();
                assert_eq!(link(&prev, &src, &body), chain, "{}", parts[1]);
                prev = chain.to_string();
            }
            i = end;
        }
        i += 1;
    }
    let (body, head) = header.expect("header");
    assert_eq!(link(&prev, "", &body), head);
}

#[test]
fn an_edited_output_byte_fails_at_its_block() {
    let s = ran();
    let copy = s.read("copy.md");
    let tampered = copy.replacen("\ntwo\n", "\ntwO\n", 1);
    let line = line_of(&tampered, " step=two ");
    fails(&s, &tampered, "two", line, "output edited");
}

#[test]
fn swapped_blocks_fail_as_reordered() {
    let s = ran();
    let copy = s.read("copy.md");
    let full = |step: &str| {
        let b = block_of(&copy, step);
        let start = copy.find(&b).unwrap();
        let start = copy[..start].rfind('\n').unwrap() + 1;
        let end = copy[start..].find("<!-- runbook:end").unwrap() + start;
        let end = copy[end..].find('\n').unwrap() + end + 1;
        copy[start..end].to_string()
    };
    let (one, two) = (full("one"), full("two"));
    let tampered = copy
        .replace(&one, "@ONE@")
        .replace(&two, &one)
        .replace("@ONE@", &two);
    let line = line_of(&tampered, " step=two ");
    fails(&s, &tampered, "one", line, "reordered");
}

#[test]
fn a_deleted_block_fails_at_its_step() {
    let s = ran();
    let copy = s.read("copy.md");
    let b = block_of(&copy, "two");
    let start = copy[..copy.find(&b).unwrap()].rfind('\n').unwrap() + 1;
    let end = copy[start..].find("<!-- runbook:end").unwrap() + start;
    let end = copy[end..].find('\n').unwrap() + end + 1;
    let tampered = format!("{}{}", &copy[..start], &copy[end..]);
    let line = line_of(&tampered, "```bash {name=two}");
    fails(&s, &tampered, "two", line, "block removed");
}

#[test]
fn an_edited_step_source_fails_at_its_fence() {
    let s = ran();
    let copy = s.read("copy.md");
    let tampered = copy.replacen("echo two\n", "echo TWO\n", 1);
    let line = line_of(&tampered, "```bash {name=two}");
    fails(&s, &tampered, "two", line, "source changed");
}

#[test]
fn a_truncated_copy_fails() {
    let s = ran();
    let copy = s.read("copy.md");
    // Cut inside step two's block: its end marker is gone.
    let cut = copy.find("\ntwo\n").unwrap() + 5;
    let line = line_of(&copy, " step=two ");
    fails(&s, &copy[..cut], "two", line, "truncated");
    // Cut after step two's block: step three and its block are gone.
    let cut = copy.find("- in a list:").unwrap();
    let tampered = &copy[..cut];
    let lines = tampered.lines().count();
    fails(&s, tampered, "header", lines, "truncated");
    // Cut inside step three's fence: its block is gone.
    let cut = copy.find("  echo three\n").unwrap() + 13;
    let tampered = &copy[..cut];
    let line = line_of(tampered, "```bash {name=three}");
    fails(&s, tampered, "three", line, "truncated");
}

#[test]
fn an_edited_header_fails_at_the_header() {
    let s = ran();
    let copy = s.read("copy.md");
    let line = line_of(&copy, " header chain=");
    let result = copy.replacen("| ✓ ok (exit 0) |", "| ✗ failed (exit 1) |", 1);
    assert_ne!(result, copy);
    fails(&s, &result, "header", line, "header edited");
    let operator = regex::Regex::new(r"\| Operator \| [^|\n]+ \|")
        .unwrap()
        .replace(&copy, "| Operator | mallory |")
        .into_owned();
    assert_ne!(operator, copy);
    fails(&s, &operator, "header", line, "header edited");
}

#[test]
fn strip_round_trips_and_a_rerun_starts_a_new_chain() {
    let s = ran();
    s.test().args(["strip", "copy.md"]).stdout(RUNBOOK).run();
    s.test()
        .args(["run", "copy.md", "--yes", "-q", "-o", "again.md"])
        .run();
    let again = s.read("again.md");
    assert_eq!(again.matches("<!-- runbook:begin ").count(), 4, "{again}");
    s.test()
        .args(["verify", "again.md", "--source", "runbook.md"])
        .stdout_contains("verified: again.md: 3 steps, ok")
        .run();
    let head = |t: &str| runbook::document::chain::head(t).expect("head");
    assert_ne!(head(&again), head(&s.read("copy.md")));
}

#[test]
fn source_and_report_mismatches_fail() {
    let s = ran();
    s.write("other.md", &RUNBOOK.replace("Some prose.", "Other prose."));
    s.test()
        .args(["verify", "copy.md", "--source", "other.md"])
        .status(1)
        .stdout_contains("line 10: source mismatch: ")
        .run();
    let report = s.read("rep/copy.json");
    let head = runbook::document::chain::head(&s.read("copy.md")).unwrap();
    s.write("bad.json", &report.replace(&head, &"f".repeat(64)));
    s.test()
        .args(["verify", "copy.md", "--report", "bad.json"])
        .status(1)
        .stdout_contains("report mismatch")
        .run();
    // Prose edited in the copy: the header's sha256 no longer matches.
    let copy = s.read("copy.md");
    let line = line_of(&copy, " header chain=");
    fails(
        &s,
        &copy.replace("Some prose.", "Other prose."),
        "header",
        line,
        "source changed",
    );
}

#[test]
fn a_dry_run_copy_verifies_as_a_dry_run() {
    let s = Scratch::new();
    s.write("runbook.md", RUNBOOK);
    s.test()
        .args(["run", "runbook.md", "--dry-run", "-q", "-o", "dry.md"])
        .run();
    s.test()
        .args(["verify", "dry.md"])
        .stdout_contains("verified: dry.md: 3 steps, dry run ok, operator ")
        .run();
    let out = s
        .test()
        .args(["verify", "dry.md", "--format", "json"])
        .run();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["dry_run"], true);
}

#[test]
fn a_secret_never_enters_the_chain_in_clear() {
    let s = Scratch::new();
    s.write(
        "runbook.md",
        "---\nsecrets:\n  TOKEN: { env: CHAIN_TOKEN }\n---\n\n```bash {name=leak}\necho \"token is $TOKEN\"\n```\n",
    );
    s.test()
        .args(["run", "runbook.md", "--yes", "-q", "-o", "copy.md"])
        .env("CHAIN_TOKEN", "s3cr3t-chain-value")
        .run();
    let copy = s.read("copy.md");
    assert!(!copy.contains("s3cr3t-chain-value"), "{copy}");
    assert!(block_of(&copy, "leak").contains("token is "), "{copy}");
    // The chain verifies over what the copy holds: the redacted bytes.
    s.test()
        .args(["verify", "copy.md"])
        .stdout_contains("verified: copy.md: 1 step, ok")
        .run();
}

/// Every report of a run carries the copy's chain head, and `verify
/// --report` (repeatable) reads it back from each format, told apart by
/// content.
#[test]
fn every_report_carries_the_chain_head_and_verifies() {
    let s = Scratch::new();
    s.write("runbook.md", RUNBOOK);
    s.test()
        .args(["run", "runbook.md", "--yes", "-q", "-o", "copy.md"])
        .args(["--report-dir", "rep"])
        .run();
    let head = runbook::document::chain::head(&s.read("copy.md")).expect("head");
    let reports = [
        ("rep/copy.json", "JSON report"),
        ("rep/copy.html", "HTML report"),
        ("rep/copy.junit.xml", "JUnit report"),
        ("rep/copy.ipynb", "notebook"),
    ];
    let html = s.read("rep/copy.html");
    assert!(
        html.contains(&format!(
            "<meta name=\"runbook-chain-head\" content=\"{head}\">"
        )),
        "{html}"
    );
    assert!(
        html.contains(&format!("<dt>Chain head</dt><dd>{head}</dd>")),
        "visible"
    );
    let junit = s.read("rep/copy.junit.xml");
    assert!(
        junit.contains(&format!(
            "<property name=\"runbook.chain_head\" value=\"{head}\"/>"
        )),
        "{junit}"
    );
    let nb: serde_json::Value = serde_json::from_str(&s.read("rep/copy.ipynb")).expect("nb");
    assert_eq!(nb["metadata"]["runbook"]["chain_head"], head.as_str());
    let mut t = s.test().args(["verify", "copy.md"]);
    for (r, _) in reports {
        t = t.args(["--report", r]);
    }
    t.stdout_contains("verified: copy.md: 3 steps, ok").run();
    // Each report with another head fails, naming the file and both heads.
    let other = "f".repeat(64);
    for (r, kind) in reports {
        let name = format!("bad-{}", r.trim_start_matches("rep/"));
        s.write(&name, &s.read(r).replace(&head, &other));
        s.test()
            .args(["verify", "copy.md", "--report", "rep/copy.json", "--report", &name])
            .status(1)
            .stdout(format!(
                "verify failed: copy.md line 1, step header: report mismatch: {name} ({kind}) carries chain head {other}, the copy {head}\n"
            ))
            .run();
    }
    // Something that is not a report of runbook's.
    s.write("notes.txt", &format!("chain head {head}\n"));
    s.test()
        .args(["verify", "copy.md", "--report", "notes.txt"])
        .status(1)
        .stdout(format!(
            "verify failed: copy.md line 1, step header: report mismatch: notes.txt (not a report of runbook's (JSON, HTML, JUnit or notebook)) carries chain head (none), the copy {head}\n"
        ))
        .run();
}
