//! Secret sources and redaction: every encoded form, every chunk split,
//! every base64 alignment, and the exact error texts.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use indexmap::IndexMap;
use runbook::document::SecretSpec;
use runbook::secrets::{Redactor, resolve, resolve_within};

const NAME: &str = "TOKEN";
const R: &str = "[REDACTED:TOKEN]";

fn redactor(value: &str) -> Redactor {
    Redactor::new(vec![(NAME.to_string(), value.to_string())])
}

/// Redacts `input` through a stream split at `split`.
fn stream_split(r: &Redactor, input: &[u8], split: usize) -> Vec<u8> {
    let mut s = r.stream();
    let mut out = s.push(&input[..split]);
    out.extend(s.push(&input[split..]));
    out.extend(s.finish());
    out
}

/// Asserts `input` redacts to `expected` whole, split at every position,
/// and byte by byte.
fn assert_redacts(r: &Redactor, input: &str, expected: &str) {
    assert_eq!(r.redact(input), expected, "whole: {input:?}");
    for split in 0..=input.len() {
        assert_eq!(
            String::from_utf8_lossy(&stream_split(r, input.as_bytes(), split)),
            expected,
            "split at {split}: {input:?}"
        );
    }
    let mut s = r.stream();
    let mut out = Vec::new();
    for b in input.as_bytes() {
        out.extend(s.push(std::slice::from_ref(b)));
    }
    out.extend(s.finish());
    assert_eq!(String::from_utf8_lossy(&out), expected, "byte by byte");
}

#[test]
fn raw_value_is_redacted_at_every_split() {
    let r = redactor("hunter2-password");
    assert_redacts(
        &r,
        "login hunter2-password ok, again:hunter2-password",
        &format!("login {R} ok, again:{R}"),
    );
    // Nothing to hide: unchanged.
    assert_redacts(&r, "hunter2-passwor d", "hunter2-passwor d");
}

#[test]
fn base64_whole_value_in_both_alphabets_padded_or_not() {
    // `???>>>` makes '+' and '/' (or '-' and '_') appear.
    let value = "s3cr???>>>~t";
    let r = redactor(value);
    for enc in [
        STANDARD.encode(value),
        STANDARD_NO_PAD.encode(value),
        URL_SAFE.encode(value),
        URL_SAFE_NO_PAD.encode(value),
    ] {
        let redacted = r.redact(&format!("Authorization: Basic {enc}\n"));
        assert!(
            redacted.starts_with(&format!("Authorization: Basic {R}")),
            "{enc} -> {redacted}"
        );
        // At most the one character holding padding bits may stay visible.
        let rest = redacted
            .trim_start_matches(&format!("Authorization: Basic {R}"))
            .trim_end_matches('\n')
            .trim_end_matches('=');
        assert!(rest.len() <= 1, "{enc} -> {redacted}");
    }
    assert!(STANDARD.encode(value).contains(['+', '/']));
}

#[test]
fn base64_inside_a_longer_blob_in_all_three_alignments() {
    let value = "correct-horse-battery";
    let r = redactor(value);
    let n = value.len();
    for prefix in ["", "u", "us", "use", "user", "user:"] {
        let a = prefix.len();
        let blob = format!("{prefix}{value}:trailing");
        for (enc, url) in [
            (STANDARD.encode(&blob), false),
            (URL_SAFE_NO_PAD.encode(&blob), true),
        ] {
            // The characters whose six bits all come from the secret.
            let start = (8 * a).div_ceil(6);
            let end = 8 * (a + n) / 6;
            let expected = format!("{}{R}{}", &enc[..start], &enc[end..]);
            assert_redacts(&r, &enc, &expected);
            // What is left visible cannot be decoded back to the secret.
            assert!(!expected.contains(&enc[start..end]), "url={url}");
        }
    }
}

#[test]
fn url_encoded_forms() {
    let value = "p@ss w/rd+x";
    let r = redactor(value);
    for form in [
        "p%40ss%20w%2Frd%2Bx",
        "p%40ss+w%2Frd%2Bx",
        "p%40ss%20w/rd%2Bx",
        "p%40ss%20w%2frd%2bx",
        "p%40ss+w%2frd%2bx",
    ] {
        assert_redacts(
            &r,
            &format!("GET /login?pw={form}&next=1"),
            &format!("GET /login?pw={R}&next=1"),
        );
    }
}

#[test]
fn json_escaped_forms() {
    let value = "pä\"ss\\wo\nrd";
    let r = redactor(value);
    let serde_form = serde_json::to_string(value).expect("json");
    assert_eq!(serde_form, "\"pä\\\"ss\\\\wo\\nrd\"");
    assert_redacts(
        &r,
        &format!("{{\"password\":{serde_form}}}"),
        &format!("{{\"password\":\"{R}\"}}"),
    );
    // Python's json.dumps escapes non-ASCII as \uXXXX.
    assert_redacts(
        &r,
        "{\"password\": \"p\\u00e4\\\"ss\\\\wo\\nrd\"}",
        &format!("{{\"password\": \"{R}\"}}"),
    );
    // And the raw value, newline included.
    assert_redacts(&r, &format!("<{value}>"), &format!("<{R}>"));
}

#[test]
fn every_form_survives_every_split_of_a_mixed_stream() {
    let value = "Tr0ub4dor&3 x";
    let r = redactor(value);
    let forms = [
        value.to_string(),
        STANDARD.encode(value),
        URL_SAFE_NO_PAD.encode(value),
        "Tr0ub4dor%263%20x".to_string(),
        "Tr0ub4dor%263+x".to_string(),
    ];
    let input = forms.join(" | ");
    // The padded base64 form is the longest match: its '=' goes too.
    let expected = vec![R; forms.len()].join(" | ");
    assert_eq!(r.redact(&input), expected);
    assert_redacts(&r, &input, &expected);
}

#[test]
fn longest_secret_wins_and_names_are_kept_apart() {
    let r = Redactor::new(vec![
        ("SHORT".into(), "abcd1234".into()),
        ("LONG".into(), "abcd1234efgh".into()),
    ]);
    assert_redacts(
        &r,
        "x abcd1234efgh y abcd1234 z",
        "x [REDACTED:LONG] y [REDACTED:SHORT] z",
    );
}

#[test]
fn non_utf8_output_is_handled_as_bytes() {
    let r = redactor("s3cret-value");
    let mut input = vec![0xff, 0xfe, b' '];
    input.extend_from_slice(b"s3cret-value");
    input.extend_from_slice(&[0x80, b'\n']);
    for split in 0..=input.len() {
        let mut expected = vec![0xff, 0xfe, b' '];
        expected.extend_from_slice(R.as_bytes());
        expected.extend_from_slice(&[0x80, b'\n']);
        assert_eq!(stream_split(&r, &input, split), expected, "split {split}");
    }
    assert_eq!(r.redact_bytes(&input).len(), 3 + R.len() + 2);
}

#[test]
fn short_and_empty_secrets() {
    let r = Redactor::new(vec![
        ("PIN".into(), "123".into()),
        ("EMPTY".into(), String::new()),
    ]);
    assert!(!r.is_empty());
    assert_eq!(
        r.warnings(),
        ["secret PIN is shorter than 4 bytes: only its exact value is redacted"]
    );
    // Raw only: "MTIz" is base64 of "123" and stays.
    assert_eq!(r.redact("pin=123 b64=MTIz"), "pin=[REDACTED:PIN] b64=MTIz");

    let r = Redactor::new(vec![("EMPTY".into(), String::new())]);
    assert!(r.is_empty());
    assert_redacts(&r, "nothing to hide", "nothing to hide");
    assert!(Redactor::empty().is_empty());
    // Debug never shows values, only how many forms are searched for
    // (raw, base64 in 3 alignments and wrapped at 64/76 columns, the
    // placeholder itself).
    let debug = format!("{:?}", redactor("topsecret"));
    assert!(debug.starts_with("Redactor { patterns: "), "{debug}");
    assert!(!debug.contains("topsecret") && !debug.contains("dG9wc2VjcmV0"));
}

#[test]
fn stream_never_emits_a_partial_secret() {
    let value = "abcdefghij";
    let r = redactor(value);
    let mut s = r.stream();
    let mut emitted = Vec::new();
    for chunk in ["xx abcde", "fgh", "ij yy"] {
        emitted.extend(s.push(chunk.as_bytes()));
        let text = String::from_utf8_lossy(&emitted).into_owned();
        // No prefix of the secret longer than 1 byte is ever out alone.
        assert!(!text.contains("ab"), "{text:?}");
    }
    emitted.extend(s.finish());
    assert_eq!(String::from_utf8_lossy(&emitted), format!("xx {R} yy"));
}

// ---------------------------------------------------------------- sources

fn spec(env: Option<&str>, file: Option<&str>, command: Option<&str>) -> SecretSpec {
    SecretSpec {
        env: env.map(str::to_string),
        file: file.map(str::to_string),
        command: command.map(str::to_string),
        ..SecretSpec::default()
    }
}

fn one(name: &str, s: SecretSpec) -> IndexMap<String, SecretSpec> {
    let mut m = IndexMap::new();
    m.insert(name.to_string(), s);
    m
}

#[tokio::test]
async fn env_file_and_command_sources() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f1 = dir.path().join("db");
    std::fs::write(&f1, "from-file\n").expect("write");
    let f2 = dir.path().join("two-newlines");
    std::fs::write(&f2, "kept\n\n").expect("write");
    let mut specs = IndexMap::new();
    specs.insert("HOME_DIR".to_string(), spec(Some("HOME"), None, None));
    specs.insert(
        "DB".to_string(),
        spec(None, Some(f1.to_str().expect("utf-8")), None),
    );
    specs.insert(
        "TWO".to_string(),
        spec(None, Some(f2.to_str().expect("utf-8")), None),
    );
    specs.insert(
        "CMD".to_string(),
        spec(None, None, Some("printf 'from-%s\\n' command")),
    );
    let got = resolve(&specs).await.expect("resolve");
    assert_eq!(
        got,
        vec![
            ("HOME_DIR".to_string(), std::env::var("HOME").expect("HOME")),
            ("DB".to_string(), "from-file".to_string()),
            ("TWO".to_string(), "kept\n".to_string()),
            ("CMD".to_string(), "from-command".to_string()),
        ]
    );
}

#[tokio::test]
async fn source_errors_name_the_secret_and_never_the_value() {
    let cases: Vec<(SecretSpec, &str)> = vec![
        (
            spec(None, None, None),
            "secret S: no source given (use one of env, file, command, keyring)",
        ),
        (
            spec(Some("A"), Some("/x"), None),
            "secret S: more than one source given (env, file); use exactly one",
        ),
        (
            spec(Some("A"), Some("/x"), Some("true")),
            "secret S: more than one source given (env, file, command); use exactly one",
        ),
        (
            spec(Some("RUNBOOK_TEST_SURELY_UNSET_VAR"), None, None),
            "secret S: environment variable RUNBOOK_TEST_SURELY_UNSET_VAR is not set",
        ),
        (
            spec(None, Some("/nonexistent/secret"), None),
            "secret S: cannot read /nonexistent/secret: No such file or directory (os error 2)",
        ),
        (
            spec(None, None, Some("echo the-value-leaked; exit 3")),
            "secret S: command `echo the-value-leaked; exit 3` exited with status 3",
        ),
        (
            spec(None, None, Some("kill -9 $$")),
            "secret S: command `kill -9 $$` was killed by signal 9",
        ),
    ];
    for (s, expected) in cases {
        let err = resolve(&one("S", s)).await.expect_err(expected);
        assert_eq!(err.to_string(), expected);
    }
}

#[tokio::test]
async fn resolved_secrets_feed_the_redactor() {
    let specs = one("CMD", spec(None, None, Some("echo 'tok-en value'")));
    let r = Redactor::new(resolve(&specs).await.expect("resolve"));
    assert_eq!(
        r.redact("Bearer tok-en value / dG9rLWVuIHZhbHVl / tok-en%20value"),
        "Bearer [REDACTED:CMD] / [REDACTED:CMD] / [REDACTED:CMD]"
    );
}

#[tokio::test]
async fn a_command_that_hangs_fails_after_the_timeout_and_is_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = dir.path().join("still-running");
    let cmd = format!("sleep 2 && touch {}", flag.display());
    let started = std::time::Instant::now();
    let err = resolve_within(
        &one("S", spec(None, None, Some(&cmd))),
        std::time::Duration::from_millis(300),
    )
    .await
    .expect_err("timeout");
    assert_eq!(
        err.to_string(),
        format!("secret S: command `{cmd}` did not finish within 300ms")
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(!flag.exists(), "the command kept running");
}
