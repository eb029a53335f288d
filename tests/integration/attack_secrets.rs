//! Attacks on secret handling (issue 8, items 1–7 and 26), through the real
//! binary: every artifact a run leaves (copy, logs, journal, JSON, JUnit,
//! HTML, terminal) is searched for every form of every secret, the argv of
//! every process is searched while a step runs, and the resume journal is
//! checked for what it keeps and gives back.

use crate::common::{Scratch, repo};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const KEY: &str = "K3y/w<i&th> \"all+the'bad\\chars-0123456789-abcdefghij";
const PEM: &str =
    "-----BEGIN TEST-----\nMIIpemLineOneAbc123\nMIIpemLineTwoXyz789\n-----END TEST-----";
const TOKEN: &str = "tok-9f8e7d6c5b4a";
const HT: &str = "<i>&\"zq7 wx";

fn attack(name: &str) -> String {
    let p = repo().join("tests/attack/secrets").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

use crate::common::walk;

/// The JSON string body as serde_json writes it.
fn json_inner(s: &str) -> String {
    let q = serde_json::to_string(s).unwrap();
    q[1..q.len() - 1].to_string()
}

/// As Go's encoding/json writes it (`<`, `>`, `&` as `\u00XX`).
fn go_json(s: &str) -> String {
    json_inner(s)
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// As PHP's json_encode writes it (`/` as `\/`).
fn php_json(s: &str) -> String {
    json_inner(s).replace('/', "\\/")
}

/// The query of a URL as an HTTP client sends it (WHATWG URL encoding:
/// space and `"` encoded, `+` kept).
fn url_echo(s: &str) -> String {
    let url = reqwest::Url::parse(&format!("http://h/p?key={s}")).unwrap();
    url.query().unwrap().trim_start_matches("key=").to_string()
}

/// The base64 characters that come from `value` alone when it is encoded
/// after `prefix`.
fn b64_inner(prefix: &str, value: &str) -> String {
    let blob = format!("{prefix}{value}");
    let enc = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&blob);
    let a = prefix.len();
    let start = (8 * a).div_ceil(6);
    let end = 8 * (a + value.len()) / 6;
    enc[start..end].to_string()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every secret form of `forms.md`, in every artifact of a run.
#[test]
fn every_secret_form_stays_out_of_every_artifact() {
    let s = Scratch::new();
    s.write("forms.md", &attack("forms.md"));
    s.write("key.txt", &format!("{KEY}\n"));
    s.write("pem.txt", &format!("{PEM}\n"));
    s.write("go.json", &format!("{{\"key\":\"{}\"}}\n", go_json(KEY)));
    s.write("php.json", &format!("{{\"key\":\"{}\"}}\n", php_json(KEY)));
    s.write(
        "url-echo.txt",
        &format!("GET /p?key={} HTTP/1.1\n", url_echo(KEY)),
    );
    let out = s
        .test()
        .args([
            "run",
            "forms.md",
            "--yes",
            "--report-dir",
            "rep",
            "-o",
            "rep/forms.md",
            "--max-output-lines",
            "4",
        ])
        .env("ATTACK_TOKEN", TOKEN)
        .env("ATTACK_HTML", HT)
        .run();
    let stderr = out.stderr.clone();
    let mut artifacts = vec![
        ("stdout".to_string(), out.stdout.clone()),
        ("stderr".to_string(), stderr.clone()),
    ];
    let files = walk(&s.path("rep"));
    for f in &files {
        artifacts.push((
            f.display().to_string(),
            String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned(),
        ));
    }
    let names: Vec<String> = artifacts.iter().map(|(n, _)| n.clone()).collect();
    for want in [
        "forms.md",
        "forms.json",
        "forms.junit.xml",
        "forms.html",
        "forms.md.state.jsonl",
        "leak.log",
    ] {
        assert!(names.iter().any(|n| n.ends_with(want)), "{want}: {names:?}");
    }
    let mut forms = vec![
        KEY.to_string(),
        json_inner(KEY),
        go_json(KEY),
        php_json(KEY),
        url_echo(KEY),
        STANDARD.encode(KEY),
        TOKEN.to_string(),
        HT.to_string(),
        // Any escaped form of HT (HTML, XML, Markdown) still holds this.
        "zq7 wx".to_string(),
        "MIIpemLineOneAbc123".to_string(),
        "MIIpemLineTwoXyz789".to_string(),
    ];
    for prefix in ["some-padding-before-the-value:", "x", ""] {
        forms.push(b64_inner(prefix, KEY));
    }
    for (name, text) in &artifacts {
        // Wrapped base64 is searched with the line breaks taken out.
        let joined = text.replace("\\n", "").replace(['\n', '\r'], "");
        for form in &forms {
            assert!(
                !text.contains(form.as_str()) && !joined.contains(form.as_str()),
                "{name} contains {form:?}:\n{text}"
            );
        }
    }
    let md = s.read("rep/forms.md");
    for r in ["[REDACTED:KEY]", "[REDACTED:TOKEN]", "[REDACTED:HT]"] {
        assert!(md.contains(r), "{r} missing from:\n{md}");
    }
    let log = s.read("rep/logs/leak.log");
    assert!(log.contains("[REDACTED:PEM]"), "{log}");
    assert!(stderr.contains("[REDACTED:PEM]"), "{stderr}");
    assert!(
        stderr.contains("target failed") && stderr.contains("on [REDACTED:TOKEN]@127.0.0.1:1"),
        "{stderr}"
    );
}

/// Item 1: the journal keeps what steps exported, redacted, mode 0600; not
/// the runner's environment; a `'` in a secret does not split it.
#[test]
fn journal_keeps_only_step_exports_redacted_and_private() {
    let s = Scratch::new();
    let secret = "it's-a-s3cret-with'quotes";
    s.write("sq.txt", &format!("{secret}\n"));
    s.write(
        "j.md",
        "---\nsecrets:\n  SQ: { file: sq.txt }\n---\n\n```bash {name=a}\nexport STEPVAR=from-a\nexport HOLDS=\"$SQ\"\n```\n",
    );
    s.test()
        .args(["run", "j.md", "-o", "out.md"])
        .env("GITLAB_TOKEN", "glpat-runner-only-0123")
        .env("AWS_SECRET_ACCESS_KEY", "aws-runner-only-4567")
        .run();
    let path = s.path("out.md.state.jsonl");
    let journal = s.read("out.md.state.jsonl");
    assert_eq!(mode(&path), 0o600, "journal mode");
    for leak in [
        "glpat-runner-only-0123",
        "aws-runner-only-4567",
        "s3cret-with",
        "PATH=",
        "HOME=",
    ] {
        assert!(
            !journal.contains(leak),
            "journal holds {leak:?}:\n{journal}"
        );
    }
    assert!(journal.contains("export STEPVAR='from-a'"), "{journal}");
    assert!(
        journal.contains("export HOLDS='[REDACTED:SQ]'"),
        "{journal}"
    );
}

/// Item 2: `--resume` gives back what steps exported; everything else comes
/// from the resuming run's environment, secrets included.
#[test]
fn resume_restores_step_exports_over_the_new_environment() {
    let s = Scratch::new();
    s.write("resume.md", &attack("resume.md"));
    let run = |foo: &str, resume: bool, status: i32| {
        let mut t = s.test().args(["run", "resume.md", "-o", "out.md"]);
        if resume {
            t = t.arg("--resume");
        }
        t.env("FOO", foo)
            .env("ATTACK_TOKEN", TOKEN)
            .env("EXPECT_TOKEN", TOKEN)
            .status(status)
            .run()
    };
    run("old", false, 1);
    s.write("go", "");
    let second = run("new", true, 0);
    let stderr = &second.stderr;
    let md = s.read("out.md");
    assert!(
        md.contains("FOO=new MINE=from-step-a COPY=unset"),
        "{md}\n{stderr}"
    );
    assert!(md.contains("token-is-real"), "{md}");
    assert!(md.contains("env-token-is-real"), "{md}");
    assert!(md.contains("py FOO=new"), "{md}");
    assert!(md.contains("py env token real"), "{md}");
    assert!(
        stderr.contains(
            "warning: --resume: COPY held a secret when it was saved and is not restored"
        ),
        "{stderr}"
    );
}

/// Item 3: no secret in the argv of any process while a step (or a
/// precondition) runs; a step too large for one argument goes through a
/// 0600 file in a 0700 directory.
#[test]
fn no_secret_in_any_command_line() {
    // A token of its own: the scan below looks at every process on the
    // machine, and other tests put their values on a command line on
    // purpose (an `env.` template in a check, a templated ssh user).
    const TOKEN: &str = "tok-argv-only-3c7e51a0";
    let s = Scratch::new();
    s.write("pat", TOKEN);
    // Counts the processes whose command line holds the secret; the
    // pattern comes from a file, so grep's own argv does not.
    let scan = "n=$( (grep -l -F -f pat /proc/[0-9]*/cmdline 2>/dev/null || true) | wc -l)";
    let pad = format!("# {}\n", "x".repeat(200)).repeat(600);
    s.write(
        "argv.md",
        &format!(
            "---\nsecrets:\n  TOKEN: {{ env: ATTACK_TOKEN }}\nrequires:\n  check:\n    - \"{scan}; : '{{{{ secrets.TOKEN }}}}'; test $n -eq 0\"\n---\n\n\
```bash {{name=small}}\n: '{{{{ secrets.TOKEN }}}}'\nsleep 0.2\n{scan}; echo \"argv hits: $n\"\n```\n\n\
```bash {{name=large}}\n{pad}: '{{{{ secrets.TOKEN }}}}'\n{scan}; echo \"large argv hits: $n\"\n\
echo \"file $(stat -c %a \"${{BASH_SOURCE[0]}}\") dir $(stat -c %a \"$(dirname \"${{BASH_SOURCE[0]}}\")\")\"\n```\n"
        ),
    );
    s.test()
        .args(["run", "argv.md", "-o", "out.md"])
        .env("ATTACK_TOKEN", TOKEN)
        .run();
    let md = s.read("out.md");
    assert!(md.contains("argv hits: 0"), "{md}");
    assert!(md.contains("large argv hits: 0"), "{md}");
    assert!(md.contains("file 600 dir 700"), "{md}");
}

/// Item 4: what reaches the terminal goes through the same redaction as
/// the reports (a CRLF multi-line secret, a templated host).
#[test]
fn terminal_gets_the_same_redaction_as_the_reports() {
    let s = Scratch::new();
    s.write("pem.txt", &format!("{PEM}\n"));
    s.write(
        "t.md",
        "---\nsecrets:\n  PEM: { file: pem.txt }\n  USERX: { env: ATTACK_USER }\n---\n\n\
```bash {name=crlf}\nprintf '%s' \"$PEM\" | sed 's/$/\\r/'; echo\n```\n\n\
```bash {name=c host=\"{{ secrets.USERX }}@127.0.0.1:1\" timeout=10s}\necho never\n```\n",
    );
    let out = s
        .test()
        .args(["run", "t.md", "-o", "out.md"])
        .env("ATTACK_USER", "svc-user-7x9q")
        .status(1)
        .run();
    let stderr = &out.stderr;
    for leak in [
        "MIIpemLineOneAbc123",
        "MIIpemLineTwoXyz789",
        "svc-user-7x9q",
    ] {
        assert!(!stderr.contains(leak), "terminal shows {leak}:\n{stderr}");
    }
    assert!(stderr.contains("[crlf] [REDACTED:PEM]"), "{stderr}");
    assert!(
        stderr.contains("✗ c failed") && stderr.contains("on [REDACTED:USERX]@127.0.0.1:1"),
        "{stderr}"
    );
}

/// Item 6: a secret that is an ordinary word leaves the runbook text and
/// the markers alone, `strip` gives the source back, and both `check` and
/// `run` warn about it.
#[test]
fn a_common_word_secret_leaves_the_source_and_markers_alone() {
    let s = Scratch::new();
    let source = attack("word.md");
    s.write("word.md", &source);
    let out = s
        .test()
        .args(["run", "word.md", "-o", "out.md"])
        .env("ATTACK_WORD", "end")
        .run();
    let stderr = &out.stderr;
    let warn_short =
        "warning: secret WORD is shorter than 6 characters: redacting it also hides ordinary text";
    let warn_text = "warning: secret WORD occurs in the runbook text (line 9): the annotated copy keeps the runbook as written";
    assert!(stderr.contains(warn_short), "{stderr}");
    assert!(stderr.contains(warn_text), "{stderr}");
    let md = s.read("out.md");
    assert!(md.contains("<!-- runbook:end "), "{md}");
    assert!(md.contains("This runbook says end at the end"), "{md}");
    assert!(md.contains("echo \"the end is near; $WORD\""), "{md}");
    // Step output is still redacted.
    assert!(
        md.contains("the [REDACTED:WORD] is near; [REDACTED:WORD]"),
        "{md}"
    );
    s.test().args(["strip", "out.md"]).stdout(source).run();

    let check = s
        .test()
        .args(["check", "word.md"])
        .env("ATTACK_WORD", "end")
        .run();
    let cerr = &check.stderr;
    assert!(
        cerr.contains("warning: secret WORD is shorter than 6 characters: redacting it also hides ordinary text"),
        "{cerr}"
    );
    assert!(
        cerr.contains("warning: secret WORD occurs in the runbook text (line 9): the annotated copy keeps the runbook as written"),
        "{cerr}"
    );
}

/// Item 7: `check --preconditions` redacts like `run`.
#[test]
fn check_preconditions_redacts_like_run() {
    let s = Scratch::new();
    s.write(
        "p.md",
        "---\nsecrets:\n  TOKEN: { env: ATTACK_TOKEN }\nrequires:\n  check:\n    - \"echo denied for {{ env.ATTACK_TOKEN }} >&2; false\"\n---\n\n```bash {name=a}\necho hi\n```\n",
    );
    let out = s
        .test()
        .args(["check", "--preconditions", "p.md"])
        .env("ATTACK_TOKEN", TOKEN)
        .status(3)
        .run();
    let text = format!("{}{}", &out.stdout, &out.stderr);
    assert!(!text.contains(TOKEN), "{text}");
    assert!(text.contains("denied for [REDACTED:TOKEN]"), "{text}");
}

/// Item 26: with a secret declared, the lines of stdout and stderr stay
/// whole on the terminal.
#[test]
fn stdout_and_stderr_lines_stay_whole_with_secrets_declared() {
    let s = Scratch::new();
    s.write(
        "mix.md",
        "---\nsecrets:\n  TOKEN: { env: ATTACK_TOKEN }\n---\n\n```bash {name=mix}\nfor i in $(seq 1 40); do\n  echo \"checking dependency $i\"\n  echo \"dependency unreachable $i\" >&2\ndone\n```\n",
    );
    let out = s
        .test()
        .args(["run", "mix.md", "-o", "out.md"])
        .env("ATTACK_TOKEN", "a-fairly-long-secret-value-0123456789")
        .run();
    let stderr = &out.stderr;
    let re =
        regex::Regex::new(r"^\[mix\] (checking dependency|dependency unreachable) \d+$").unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("[mix]")).collect();
    assert_eq!(lines.len(), 80, "{stderr}");
    for l in lines {
        assert!(re.is_match(l), "mixed line {l:?} in:\n{stderr}");
    }
}
