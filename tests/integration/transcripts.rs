//! Transcript blocks (`$ ` prompts with sample output) and `expect=`,
//! through the real binary: only the commands run, the sample is shown
//! beside the output, `expect=` turns it into an assertion whose diff (on
//! redacted text) reaches the copy, the HTML page, JUnit and JSON.

use crate::common::{Scratch, Test, block_of, repo};
use runbook::document::splice::strip;
use std::path::Path;

/// Runs `runbook.md` with every report; the exit code is `status`.
fn run(text: &str, status: i32) -> crate::common::test::Output {
    Test::new()
        .runbook(text)
        .args([
            "run",
            "runbook.md",
            "--yes",
            "-o",
            "out.md",
            "--report-dir",
            "rep",
        ])
        .status(status)
        .run()
}

fn check(text: &str, status: i32) -> crate::common::test::Output {
    Test::new()
        .runbook(text)
        .args(["check", "runbook.md"])
        .status(status)
        .run()
}

#[test]
fn a_transcript_runs_only_its_commands() {
    let s = Scratch::new();
    s.write("keep-me", "x");
    let keep = s.path("keep-me").display().to_string();
    let text = format!(
        "# T\n\n```bash {{name=t}}\n$ echo ran > ran.txt\nrm -rf {keep}\n$ cat ran.txt\nran\nrm -rf {keep}\n```\n"
    );
    let out = s
        .test()
        .runbook(&text)
        .args(["run", "runbook.md", "--yes", "-o", "out.md"])
        .run();
    assert!(s.path("keep-me").exists(), "a sample line ran");
    assert_eq!(s.read("ran.txt"), "ran\n");
    let block = block_of(&out.read("out.md"), "t");
    assert!(block.contains("✓ ok"), "{block}");
    assert!(block.contains("Expected (from the runbook):"), "{block}");
}

#[test]
fn continuation_lines_belong_to_their_command() {
    let out = run(
        "```bash {name=c}\n$ printf '%s\\n' one \\\n    two \\\n    > cont.txt\n$ cat cont.txt\none\ntwo\n```\n",
        0,
    );
    assert_eq!(out.read("cont.txt"), "one\ntwo\n");
}

#[test]
fn root_prompts_run_when_the_block_has_a_dollar_prompt() {
    let out = run(
        "```bash {name=r expect=exact}\n$ echo user\nuser\n# echo root > root.txt\n# cat root.txt\nroot\n```\n",
        0,
    );
    assert_eq!(out.read("root.txt"), "root\n");
}

#[test]
fn comments_in_a_plain_script_stay_comments() {
    let out = run(
        "```bash {name=p}\n# echo no > comment.txt\necho yes > plain.txt\n```\n",
        0,
    );
    assert!(!out.path("comment.txt").exists());
    assert_eq!(out.read("plain.txt"), "yes\n");
    let block = block_of(&out.read("out.md"), "p");
    assert!(!block.contains("Expected"), "{block}");
}

#[test]
fn without_expect_a_different_output_is_not_a_failure() {
    let out = run("```bash {name=s}\n$ echo actual\nsample\n```\n", 0);
    let block = block_of(&out.read("out.md"), "s");
    assert!(
        block.contains(
            "```text\nactual\n```\n\nExpected (from the runbook):\n\n```text\nsample\n```"
        ),
        "{block}"
    );
    assert!(!block.contains("expect="), "{block}");
    let json: serde_json::Value = serde_json::from_str(&out.read("rep/out.json")).unwrap();
    assert_eq!(json["steps"][0]["expected"], "sample\n");
    assert!(json["steps"][0].get("expect").is_none());
}

/// Each mode: a sample that matches, one that does not.
#[test]
fn expect_modes_pass_and_fail() {
    let cmd = r#"printf 'NAME   READY\napi-1  1/1   \nweb-2  0/1\n'"#;
    let json_cmd = r#"echo '{"status":{"ready":1,"replicas":2},"items":[{"n":"a"},{"n":"b"}]}'"#;
    let cases: &[(&str, &str, &str, bool)] = &[
        ("exact", cmd, "NAME   READY\napi-1  1/1\nweb-2  0/1\n", true),
        ("exact", cmd, "NAME   READY\napi-1  1/1\n", false),
        ("contains", cmd, "api-1\nweb-2  0/1\n", true),
        ("contains", cmd, "web-2\napi-1\n", false),
        ("regex", cmd, "^web-[0-9]+ +0/1$\n", true),
        ("regex", cmd, "^web-[0-9]+ +1/1$\n", false),
        (
            "json-subset",
            json_cmd,
            r#"{"items": [{"n": "b"}], "status": {"ready": 1}}"#,
            true,
        ),
        (
            "json-subset",
            json_cmd,
            r#"{"status": {"ready": 2}}"#,
            false,
        ),
    ];
    for (mode, cmd, sample, pass) in cases {
        let text = format!("```bash {{name=e expect={mode}}}\n$ {cmd}\n{sample}\n```\n");
        let out = run(&text, if *pass { 0 } else { 1 });
        let json: serde_json::Value = serde_json::from_str(&out.read("rep/out.json")).unwrap();
        let step = &json["steps"][0];
        assert_eq!(step["expect"]["mode"], *mode, "{text}");
        assert_eq!(step["expect"]["ok"], *pass, "{text}");
        if *pass {
            assert_eq!(step["status"], "ok", "{text}");
            assert!(step["expect"]["diff"].is_null(), "{text}");
        } else {
            assert_eq!(step["status"], "failed", "{text}");
            assert_eq!(
                step["reason"],
                format!("output does not match the runbook's sample (expect={mode})"),
                "{text}"
            );
            assert!(
                step["expect"]["diff"]
                    .as_str()
                    .unwrap()
                    .contains("+++ actual")
            );
        }
    }
}

#[test]
fn the_diff_is_in_the_copy_the_html_and_junit_and_the_json_fits_the_schema() {
    let out = run(
        "```bash {name=pods expect=contains}\n$ printf 'api 1/1\\nweb 0/1\\n'\napi 1/1\nweb 1/1\n```\n",
        1,
    );
    let block = block_of(&out.read("out.md"), "pods");
    assert!(
        block.contains("reason: output does not match the runbook's sample (expect=contains)"),
        "{block}"
    );
    assert!(
        block.contains("✗ expect=contains: the output does not match the runbook's sample\n\n```diff\n--- expected (from the runbook)\n+++ actual\n"),
        "{block}"
    );
    assert!(block.contains("\n-web 1/1\n+web 0/1\n"), "{block}");
    // The operator sees the diff as it happens.
    assert!(
        out.stderr.contains("step `pods`: output does not match the runbook's sample (expect=contains)\n--- expected (from the runbook)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("\n-web 1/1\n+web 0/1\n"),
        "{}",
        out.stderr
    );

    let html = out.read("rep/out.html");
    assert!(html.contains("<div class=\"compare\">"), "side by side");
    assert!(html.contains("Expected (from the runbook)"));
    assert!(html.contains("<pre class=\"output diff\">"));
    assert!(html.contains("<span class=\"del\">-web 1/1</span>"));
    assert!(html.contains("<span class=\"add\">+web 0/1</span>"));

    let junit = out.read("rep/out.junit.xml");
    let failure = junit
        .split("<failure ")
        .nth(1)
        .and_then(|f| f.split("</failure>").next())
        .unwrap_or_else(|| panic!("no failure in {junit}"));
    assert!(
        failure.contains("output does not match the runbook&apos;s sample (expect=contains)")
            || failure.contains("output does not match the runbook's sample (expect=contains)"),
        "{failure}"
    );
    assert!(
        failure.contains("--- expected (from the runbook)"),
        "{failure}"
    );
    assert!(failure.contains("\n-web 1/1\n+web 0/1"), "{failure}");

    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/report-schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let json: serde_json::Value = serde_json::from_str(&out.read("rep/out.json")).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(json["steps"][0]["expected"].is_string());
}

#[test]
fn a_secret_never_reaches_the_diff() {
    let secret = "hunter2-transcript";
    let text = "---\nsecrets:\n  token: { env: TX_TOKEN }\n---\n\n```bash {name=s expect=exact}\n$ echo \"token={{ secrets.token }}\"; echo status=down\ntoken=hunter2-transcript\nstatus=up\n```\n";
    let out = Test::new()
        .runbook(text)
        .env("TX_TOKEN", secret)
        .args([
            "run",
            "runbook.md",
            "--yes",
            "-o",
            "out.md",
            "--report-dir",
            "rep",
        ])
        .status(1)
        .run();
    let copy = out.read("out.md");
    let generated = &copy[copy.find("<!-- runbook:begin").unwrap()..];
    // The sample was redacted as the output was: the token line matches.
    let block = block_of(&copy, "s");
    assert!(
        block.contains(" token=[REDACTED:token]\n-status=up\n+status=down"),
        "{block}"
    );
    for file in ["rep/out.json", "rep/out.junit.xml"] {
        assert!(!out.read(file).contains(secret), "{file}");
    }
    // The HTML page shows the runbook as written (the author put the value
    // in the sample there); its result cards never show it.
    let html = out.read("rep/out.html");
    let cards: Vec<&str> = html
        .split("<section class=\"card")
        .skip(1)
        .map(|c| c.split("</section>").next().unwrap_or(c))
        .collect();
    assert_eq!(cards.len(), 1);
    assert!(cards[0].contains("token=[REDACTED:token]"), "{}", cards[0]);
    assert!(!cards[0].contains(secret), "{}", cards[0]);
    // The runbook's own text holds it (the author wrote it there); no
    // generated block does.
    assert!(!strip_blocks_only(generated).contains(secret), "{block}");
}

/// The generated blocks of a copy, without the source between them.
fn strip_blocks_only(copy: &str) -> String {
    let mut out = String::new();
    let mut rest = copy;
    while let Some(b) = rest.find("<!-- runbook:begin") {
        let after = &rest[b..];
        let e = after.find("<!-- runbook:end").unwrap_or(after.len());
        out.push_str(&after[..e]);
        rest = &after[e..];
        rest = rest.get(1..).unwrap_or("");
    }
    out
}

#[test]
fn stripping_the_copy_of_a_transcript_fixture_gives_the_source_back() {
    let fixture = repo().join("fixtures/realworld/transcript-kubectl.md");
    let source = std::fs::read_to_string(&fixture).unwrap();
    let s = Scratch::new();
    s.write("transcript-kubectl.md", &source);
    let out = s
        .test()
        .args(["run", "transcript-kubectl.md", "--yes", "-o", "out.md"])
        .run();
    let copy = out.read("out.md");
    assert_eq!(strip(&copy), source);
    for step in ["pods", "replicas", "rollout", "node"] {
        let block = block_of(&copy, step);
        assert!(block.contains("✓ ok"), "{block}");
        assert!(
            block.contains("the output matches the runbook's sample"),
            "{block}"
        );
    }
    // The sample's `rm -rf` is shown, never run.
    assert!(block_of(&copy, "logs").contains("rm -rf /var/lib/shop/cache"));
    s.test()
        .args(["strip", "out.md", "-o", "stripped.md"])
        .run();
    assert_eq!(s.read("stripped.md"), source);
    // A run of the copy replaces its blocks: strip still gives the source.
    s.test()
        .args(["run", "out.md", "--yes", "-o", "again.md"])
        .run();
    assert_eq!(strip(&s.read("again.md")), source);
}

#[test]
fn check_and_dry_run_see_the_commands_only() {
    let out = Test::new()
        .runbook("```bash {name=t}\n$ echo {{ 1 + 1 }}\n2\n```\n")
        .args(["run", "runbook.md", "--dry-run", "-o", "plan.md"])
        .status(0)
        .run();
    let block = block_of(&out.read("plan.md"), "t");
    assert!(
        block.contains("Rendered:\n\n```text\necho 2\n```"),
        "{block}"
    );
    assert!(!block.contains("$ echo"), "{block}");
}

#[test]
fn a_template_error_points_at_the_command_line() {
    let out = check(
        "# T\n\n```bash {name=t}\n$ echo ok\nok\n$ echo {{ params.nope }}\n```\n",
        2,
    );
    assert!(out.stderr.contains("runbook.md:6:"), "{}", out.stderr);
}

#[test]
fn check_warns_about_a_mixed_transcript() {
    let out = check("```bash {name=m}\nexport X=1\n$ echo $X\n```\n", 0);
    assert!(
        out.stderr
            .contains("warning: mixed transcript: step `m` has `$ ` prompt lines"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("runbook.md:3:1"), "{}", out.stderr);
    // A transcript is not mixed; nor is a script that only uses `$VAR`.
    // A `# ` line in a transcript runs: one that reads like a comment is
    // warned about (and `$ # …` is the way to write a comment).
    let prose = check(
        "```bash {name=r}\n# Check the pods\n$ echo hi\nhi\n$ # a comment\n```\n",
        0,
    );
    assert!(
        prose.stderr.contains("warning: `# ` in a transcript is a root prompt, so step `r` runs `Check the pods` as a command"),
        "{}",
        prose.stderr
    );
    assert!(prose.stderr.contains("1 warning"), "{}", prose.stderr);
    let clean = check(
        "```bash\n$ echo hi\nhi\n```\n\n```bash\necho $HOME\n```\n",
        0,
    );
    assert!(clean.stderr.contains("0 warnings"), "{}", clean.stderr);
}

#[test]
fn expect_without_a_usable_sample_is_refused_by_check_and_run() {
    let cases = [
        (
            "```bash {name=a expect=exact}\necho hi\n```\n",
            "`expect=exact` on step `a`: the block has no sample output to compare with",
        ),
        (
            "```bash {name=a expect=contains}\n$ echo hi\n```\n",
            "`expect=contains` on step `a`: the block has no sample output",
        ),
        (
            "```bash {name=a expect=regex}\n$ echo hi\n(unclosed\n```\n",
            "`expect=regex` on step `a`: the sample is not a valid regex",
        ),
        (
            "```bash {name=a expect=json-subset}\n$ echo hi\nhi\n```\n",
            "`expect=json-subset` on step `a`: the sample is not JSON",
        ),
        (
            "```bash {name=a expect=maybe}\n$ echo hi\nhi\n```\n",
            "invalid value `maybe` for `expect`: expected exact, contains, regex or json-subset",
        ),
    ];
    for (text, message) in cases {
        let c = check(text, 2);
        assert!(c.stderr.contains(message), "{text}\n{}", c.stderr);
        let s = Scratch::new();
        let marker = s.path("ran");
        let text = text.replace("echo hi", &format!("echo hi; touch {}", marker.display()));
        let r = s
            .test()
            .runbook(&text)
            .args(["run", "runbook.md", "--yes", "-o", "out.md"])
            .status(2)
            .run();
        assert!(r.stderr.contains(message), "{text}\n{}", r.stderr);
        assert!(!Path::new(&marker).exists());
    }
}

#[test]
fn a_step_that_did_not_run_shows_no_sample() {
    let out = run(
        "```bash {name=s when=\"false\" expect=exact}\n$ echo actual\nsample\n```\n",
        0,
    );
    let block = block_of(&out.read("out.md"), "s");
    assert!(block.contains("↷ skipped"), "{block}");
    assert!(!block.contains("Expected"), "{block}");
    assert!(!block.contains("expect="), "{block}");
}
