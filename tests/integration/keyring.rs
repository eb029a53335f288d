//! `keyring:` secrets (issue 13 item 6) against a real Secret Service: a
//! `gnome-keyring-daemon` on a `dbus-run-session` bus, items stored with
//! `secret-tool`. The step sees the value; every artifact holds only the
//! mask. With no bus, no Secret Service, no such item or a locked keyring
//! the run stops before any step with exit 2 and a message at the
//! `keyring:` line saying what to do; `check` refuses a malformed
//! `keyring:` with its position and `check --preconditions` reads the item
//! without printing it.

use crate::common::test::Test;
use crate::common::{Scratch, walk};
use crate::support::keyring::KeyringSession;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A value with characters that every encoding changes.
const VALUE: &str = "kr-S3cret/with+slash&amp \"quoted\" ü";

/// The runbook: the step compares a digest of each value (the runbook text
/// must not hold the value itself: the copy keeps the text as written).
fn runbook() -> String {
    format!(
        r#"---
title: Rotate the database password
secrets:
  DB_PASSWORD:
    keyring: runbook-test/deploy
    description: the deploy user's password
  API_TOKEN: {{keyring: {{service: "https://vault.example/v1", name: ops}}}}
---

# Rotate

```bash {{name=use}}
test "$(printf %s "$DB_PASSWORD" | sha256sum | cut -c1-16)" = {db} && echo "the step saw the password"
test "$(printf %s "{{{{ secrets.API_TOKEN }}}}" | sha256sum | cut -c1-16)" = {api} && echo "the step saw the token"
printf 'raw %s\n' "$DB_PASSWORD"
printf '%s' "$DB_PASSWORD" | base64
printf 'user:%s' "$DB_PASSWORD" | base64
python3 -c 'import json, os, urllib.parse; v = os.environ["DB_PASSWORD"]; print(json.dumps(v)); print(json.dumps(v, ensure_ascii=False)); print(urllib.parse.quote(v, safe=""))'
echo "token $API_TOKEN" >&2
```
"#,
        db = digest16(VALUE),
        api = digest16(API_VALUE),
    )
}

const API_VALUE: &str = "api-token-0123456789";

/// The first 16 hex digits of the SHA-256 of `s`.
fn digest16(s: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect::<String>()[..16].to_string()
}

/// The JSON string body as serde_json writes it.
fn json_inner(s: &str) -> String {
    let q = serde_json::to_string(s).expect("json");
    q[1..q.len() - 1].to_string()
}

#[test]
fn the_step_sees_the_keyring_value_and_every_artifact_only_the_mask() {
    let Some(kr) = KeyringSession::start() else {
        return;
    };
    kr.store("runbook-test", "deploy", VALUE);
    kr.store("https://vault.example/v1", "ops", API_VALUE);
    let s = Scratch::new();
    s.write("rotate.md", &runbook());
    let out = s
        .test()
        .args([
            "run",
            "rotate.md",
            "--yes",
            "--report-dir",
            "rep",
            "-o",
            "rep/rotate.md",
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", &kr.address)
        .context(kr.log())
        .run();
    let md = s.read("rep/rotate.md");
    assert!(md.contains("the step saw the password"), "{md}");
    assert!(md.contains("the step saw the token"), "{md}");
    assert!(md.contains("raw [REDACTED:DB_PASSWORD]"), "{md}");
    assert!(md.contains("token [REDACTED:API_TOKEN]"), "{md}");
    let json = s.read("rep/rotate.json");
    assert!(json.contains("[REDACTED:DB_PASSWORD]"), "{json}");
    let mut artifacts = vec![
        ("stdout".to_string(), out.stdout.clone()),
        ("stderr".to_string(), out.stderr.clone()),
    ];
    for f in walk(&s.path("rep")) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).expect("read")).into_owned();
        artifacts.push((f.display().to_string(), text));
    }
    assert!(artifacts.len() >= 6, "{:?}", artifacts.iter().map(|a| &a.0));
    let forms = [
        VALUE.to_string(),
        STANDARD.encode(VALUE),
        json_inner(VALUE),
        serde_json::to_string(VALUE).expect("json"),
        "kr-S3cret%2Fwith%2Bslash%26amp%20%22quoted%22%20%C3%BC".to_string(),
        // The part of `user:VALUE`'s base64 that comes from the value.
        "a3ItUzNjcmV0L3dpdGgrc2xhc2gmYW1wICJxdW90ZWQiIMO8"[..8].to_string(),
        API_VALUE.to_string(),
        "kr-S3cret".to_string(),
    ];
    for (name, text) in &artifacts {
        let joined = text.replace("\\n", "").replace(['\n', '\r'], "");
        for form in &forms {
            assert!(
                !text.contains(form.as_str()) && !joined.contains(form.as_str()),
                "{name} contains {form:?}:\n{text}"
            );
        }
    }
}

/// The run's refusal, before any step: exit 2, the message at the
/// `keyring:` line, nothing run.
fn refused(t: Test, expected: &str) {
    let out = t
        .args(["run", "rb.md", "--yes", "-o", "out.md"])
        .status(2)
        .stderr(format!("{expected}\n"))
        .run();
    assert!(!out.path("marker").exists(), "a step ran");
    assert!(!out.path("out.md").exists(), "a copy was written");
}

const NEEDS_ITEM: &str = "---\nsecrets:\n  DB_PASSWORD: { keyring: runbook-test/deploy }\n---\n\n```bash {name=prepare}\ntouch marker\n```\n";

fn at_line_3(message: &str) -> String {
    format!(
        "\
error: secret DB_PASSWORD: cannot read keyring item service runbook-test username deploy: {message}
 --> rb.md:3:18
  |
3 |   DB_PASSWORD: {{ keyring: runbook-test/deploy }}
  |                  ^^^^^^^"
    )
}

const NO_BUS_TODO: &str = "run it in the desktop session that holds the keyring (or under `dbus-run-session` with `gnome-keyring-daemon --unlock`), or give the secret through `env:`, `file:` or `command:`";

#[test]
fn no_session_bus_is_refused_before_any_step() {
    let runtime = tempfile::tempdir().expect("temp dir");
    refused(
        Test::new()
            .file("rb.md", NEEDS_ITEM)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env("XDG_RUNTIME_DIR", runtime.path()),
        &at_line_3(&format!(
            "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set); {NO_BUS_TODO}"
        )),
    );
}

#[test]
fn a_bus_address_that_leads_nowhere_is_refused_before_any_step() {
    refused(
        Test::new().file("rb.md", NEEDS_ITEM).env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/runbook-test-bus",
        ),
        &at_line_3(&format!(
            "no D-Bus session bus (cannot connect to unix:path=/nonexistent/runbook-test-bus: No such file or directory (os error 2)); {NO_BUS_TODO}"
        )),
    );
}

#[test]
fn a_bus_without_a_secret_service_is_refused_before_any_step() {
    let Some(bus) = KeyringSession::bare() else {
        return;
    };
    refused(
        Test::new()
            .file("rb.md", NEEDS_ITEM)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address),
        &at_line_3(
            "no Secret Service on the D-Bus session bus (nothing provides org.freedesktop.secrets); start one (`gnome-keyring-daemon --start --components=secrets`, or KeePassXC with its Secret Service integration) and unlock it",
        ),
    );
}

#[test]
fn a_missing_item_is_refused_before_any_step() {
    let Some(kr) = KeyringSession::start() else {
        return;
    };
    // Same service, another user: not a match.
    kr.store("runbook-test", "someone-else", "not-this-one");
    refused(
        Test::new()
            .file("rb.md", NEEDS_ITEM)
            .env("DBUS_SESSION_BUS_ADDRESS", &kr.address)
            .context(kr.log()),
        &at_line_3(
            "no such item; store it with `secret-tool store --label=DB_PASSWORD service runbook-test username deploy`",
        ),
    );
}

#[test]
fn two_matching_items_are_refused_before_any_step() {
    let Some(kr) = KeyringSession::start() else {
        return;
    };
    kr.store("runbook-test", "deploy", "first-value-123");
    // Another attribute makes a second item with the same service and user.
    let second = std::process::Command::new("sh")
        .args([
            "-c",
            "printf second-value-456 | secret-tool store --label=other service runbook-test username deploy extra x",
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", &kr.address)
        .status()
        .expect("secret-tool");
    assert!(second.success());
    refused(
        Test::new()
            .file("rb.md", NEEDS_ITEM)
            .env("DBUS_SESSION_BUS_ADDRESS", &kr.address),
        &at_line_3(
            "2 items match; keep only one; `secret-tool search --all service runbook-test username deploy` lists them",
        ),
    );
}

#[test]
fn a_locked_keyring_is_refused_before_any_step() {
    let Some(kr) = KeyringSession::start() else {
        return;
    };
    kr.store("runbook-test", "deploy", VALUE);
    kr.lock();
    // No display: the daemon's unlock prompt cannot be shown, so the
    // unlock is dismissed at once.
    let started = std::time::Instant::now();
    refused(
        Test::new()
            .file("rb.md", NEEDS_ITEM)
            .env("DBUS_SESSION_BUS_ADDRESS", &kr.address)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .context(kr.log()),
        &at_line_3(
            "the item is locked (unlocking it was dismissed); unlock the keyring (log in to the desktop session, or `gnome-keyring-daemon --unlock` with its password on stdin) and run again",
        ),
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn check_preconditions_reads_the_item_without_printing_it() {
    let Some(kr) = KeyringSession::start() else {
        return;
    };
    kr.store("runbook-test", "deploy", "kr-plain-value-0123456789");
    let rb = "---\nsecrets:\n  DB_PASSWORD: { keyring: runbook-test/deploy }\n  OTHER: { keyring: runbook-test/nobody }\nrequires:\n  check:\n    - \"echo got {{ secrets.DB_PASSWORD }} >&2; false\"\n---\n\n```bash {name=a}\necho hi\n```\n";
    let out = Test::new()
        .file("rb.md", rb)
        .args(["check", "--preconditions", "rb.md"])
        .env("DBUS_SESSION_BUS_ADDRESS", &kr.address)
        .status(2)
        .run();
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(!text.contains("kr-plain-value"), "{text}");
    assert!(text.contains("got [REDACTED:DB_PASSWORD]"), "{text}");
    assert!(
        text.contains(
            "error: secret OTHER: cannot read keyring item service runbook-test username nobody: no such item; store it with `secret-tool store --label=OTHER service runbook-test username nobody`\n --> rb.md:4:12"
        ),
        "{text}"
    );
    // Without --preconditions the keyring is not touched: clean.
    Test::new()
        .file("rb.md", rb)
        .args(["check", "rb.md"])
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .run();
}

/// A malformed `keyring:` is refused by `check` and by `run` alike, with
/// its position, before the keyring is asked anything.
fn malformed(front: &str, expected: &str) {
    let text =
        format!("---\nsecrets:\n{front}---\n\n```bash {{name=prepare}}\ntouch marker\n```\n");
    let s = Test::new()
        .file("rb.md", &text)
        .args(["check", "rb.md"])
        .status(2)
        .stderr(format!(
            "{expected}\n\n1 file checked: 1 error, 0 warnings\n"
        ))
        .run();
    s.test()
        .args(["run", "rb.md", "--yes"])
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .status(2)
        .stderr(format!("{expected}\n"))
        .run();
    assert!(!s.path("marker").exists(), "a step ran");
}

#[test]
fn keyring_without_a_slash() {
    malformed(
        "  DB: { keyring: just-a-service }\n",
        "\
error: secret `DB`: `keyring: just-a-service` has no `/`: write `service/name` (split at the first `/`), or `{service: …, name: …}`
 --> rb.md:3:18
  |
3 |   DB: { keyring: just-a-service }
  |                  ^^^^^^^^^^^^^^",
    );
}

#[test]
fn keyring_with_an_empty_service_or_name() {
    malformed(
        "  DB:\n    keyring: \"/deploy\"\n",
        "\
error: secret `DB`: `keyring:` has an empty service: write `service/name`
 --> rb.md:4:15
  |
4 |     keyring: \"/deploy\"
  |               ^^^^^^^",
    );
    malformed(
        "  DB: { keyring: runbook-test/ }\n",
        "\
error: secret `DB`: `keyring:` has an empty name: write `service/name`
 --> rb.md:3:18
  |
3 |   DB: { keyring: runbook-test/ }
  |                  ^^^^^^^^^^^^^",
    );
    malformed(
        "  DB: { keyring: { service: runbook-test } }\n",
        "\
error: secret `DB`: `keyring:` has an empty name: write `service/name`
 --> rb.md:3:9
  |
3 |   DB: { keyring: { service: runbook-test } }
  |         ^^^^^^^",
    );
}

#[test]
fn keyring_of_the_wrong_shape() {
    malformed(
        "  DB: { keyring: [runbook-test, deploy] }\n",
        "\
error: front matter: invalid type: sequence, expected `service/name` or a map with `service` and `name`
 --> rb.md:3:9
  |
3 |   DB: { keyring: [runbook-test, deploy] }
  |         ^^^^^^^",
    );
    malformed(
        "  DB: { keyring: { service: runbook-test, user: deploy } }\n",
        "\
error: front matter: unknown key `user` in `keyring:` (expected `service` and `name`)
 --> rb.md:3:18
  |
3 |   DB: { keyring: { service: runbook-test, user: deploy } }
  |                  ^",
    );
}

#[test]
fn keyring_and_another_source() {
    malformed(
        "  DB: { env: DB, keyring: runbook-test/deploy }\n",
        "\
error: secret `DB` has more than one source (`env`, `keyring`): give exactly one
 --> rb.md:3:3
  |
3 |   DB: { env: DB, keyring: runbook-test/deploy }
  |   ^^",
    );
}
