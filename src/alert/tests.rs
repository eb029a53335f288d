use super::resolve::runbook_for;
use super::*;

const WEBHOOK: &str = r#"{
  "version": "4", "status": "firing", "receiver": "runbook",
  "alerts": [
    {"status": "resolved", "labels": {"alertname": "Old", "instance": "a"}, "annotations": {},
     "startsAt": "2026-03-14T09:00:00Z", "endsAt": "2026-03-14T09:10:00Z", "generatorURL": "", "fingerprint": "f0"},
    {"status": "firing", "labels": {"alertname": "DiskFull", "instance": "web-1:9100"},
     "annotations": {"summary": "disk", "runbook_url": "disk.md"},
     "startsAt": "2026-03-14T09:26:53Z", "endsAt": "0001-01-01T00:00:00Z",
     "generatorURL": "http://prom/graph", "fingerprint": "ab12"},
    {"status": "firing", "labels": {"alertname": "DiskFull", "instance": "web-2:9100"},
     "annotations": {}, "startsAt": "2026-03-14T09:27:00Z"}
  ]
}"#;

const PROMETHEUS: &str = r#"{"status":"success","data":{"alerts":[
  {"labels":{"alertname":"Up","job":"x"},"annotations":{"summary":"s"},"state":"pending","activeAt":"2026-03-14T09:00:00Z","value":"1e+00"},
  {"labels":{"alertname":"Up","job":"y"},"annotations":{},"state":"firing","activeAt":"2026-03-14T09:01:00Z","value":"1e+00"}]}}"#;

fn m(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

#[test]
fn the_first_firing_alert_of_a_webhook_with_a_note_about_the_others() {
    let alerts = parse("p.json", WEBHOOK).unwrap();
    let (a, note) = choose("p.json", &alerts, &[]).unwrap();
    assert_eq!(a.labels["instance"], "web-1:9100");
    assert_eq!(a.ends_at, None);
    assert_eq!(a.fingerprint.as_deref(), Some("ab12"));
    assert_eq!(
        note.unwrap(),
        "p.json: 2 firing alerts; this run is about the first, DiskFull{instance=\"web-1:9100\"} (pick another with --alert-match LABEL=VALUE)"
    );
    let (a, note) = choose("p.json", &alerts, &[m("instance", "web-2:9100")]).unwrap();
    assert_eq!(a.starts_at.as_deref(), Some("2026-03-14T09:27:00Z"));
    assert_eq!(note, None);
}

#[test]
fn several_or_no_matches_are_refused() {
    let alerts = parse("p.json", WEBHOOK).unwrap();
    assert_eq!(
        choose("p.json", &alerts, &[m("alertname", "DiskFull")]).unwrap_err(),
        "p.json: 2 firing alerts match alertname=\"DiskFull\": DiskFull{instance=\"web-1:9100\"}; DiskFull{instance=\"web-2:9100\"}; add --alert-match LABEL=VALUE until one is left"
    );
    assert_eq!(
        choose("p.json", &alerts, &[m("instance", "a")]).unwrap_err(),
        "p.json: no firing alert matches instance=\"a\"; firing: DiskFull{instance=\"web-1:9100\"}; DiskFull{instance=\"web-2:9100\"}"
    );
    let resolved = &alerts[..1];
    assert_eq!(
        choose("p.json", resolved, &[]).unwrap_err(),
        "p.json: no firing alert (1 alert in the payload, none with status firing)"
    );
}

#[test]
fn prometheus_alerts_api_shape() {
    let alerts = parse("-", PROMETHEUS).unwrap();
    let (a, _) = choose("-", &alerts, &[]).unwrap();
    assert_eq!(a.labels["job"], "y");
    assert_eq!(a.starts_at.as_deref(), Some("2026-03-14T09:01:00Z"));
    assert_eq!(a.status, "firing");
}

#[test]
fn malformed_payloads_name_line_and_column() {
    assert_eq!(
        parse(
            "p.json",
            "{\n  \"alerts\": [\n    {\"status\": \"firing\",}\n  ]\n}"
        )
        .unwrap_err(),
        "p.json:3:25: invalid alert payload: trailing comma"
    );
    assert_eq!(
        parse(
            "p.json",
            "{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":{\"a\":1}}]}"
        )
        .unwrap_err(),
        "p.json:1:59: invalid Alertmanager webhook payload: invalid type: integer `1`, expected a string"
    );
    assert_eq!(
        parse("p.json", "{\"version\":\"3\",\"alerts\":[]}").unwrap_err(),
        "p.json: unsupported Alertmanager webhook version \"3\": runbook reads version \"4\""
    );
    assert!(
        parse("p.json", "[]")
            .unwrap_err()
            .contains("not an alert payload")
    );
}

#[test]
fn from_alert_paths() {
    assert_eq!(
        AlertPath::parse("labels.instance"),
        Ok(AlertPath::Label("instance".into()))
    );
    assert_eq!(AlertPath::parse("startsAt"), Ok(AlertPath::StartsAt));
    assert!(AlertPath::parse("labels.").is_err());
    assert!(AlertPath::parse("labels.a.b").is_err());
    assert!(AlertPath::parse("labels.{{x}}").is_err());
    assert_eq!(
        AlertPath::parse("instance").unwrap_err(),
        format!("`from_alert: instance` is not a part of an alert: expected {PATH_FORMS}")
    );
}

fn alert_with_url(url: &str) -> Alert {
    let mut a = parse("p", WEBHOOK).unwrap().remove(1);
    a.annotations.insert("runbook_url".into(), url.into());
    a
}

#[test]
fn runbook_url_resolves_only_inside_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let books = dir.path().join("books");
    std::fs::create_dir_all(books.join("disk")).unwrap();
    std::fs::write(books.join("disk/full.md"), "x").unwrap();
    std::fs::write(dir.path().join("outside.md"), "x").unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside.md"), books.join("link.md")).unwrap();
    let ok = |u: &str| runbook_for(&alert_with_url(u), &books);
    assert_eq!(ok("disk/full.md").unwrap(), books.join("disk/full.md"));
    assert_eq!(
        ok("./disk/full.md#step").unwrap(),
        books.join("disk/full.md")
    );
    assert_eq!(
        ok("https://git.example.com/sre/runbooks/-/blob/main/disk/full.md?ref=x").unwrap(),
        books.join("disk/full.md")
    );
    assert_eq!(
        ok("https://git.example.com/x/disk%2Ffull.md").unwrap(),
        books.join("disk/full.md")
    );
    for (url, why) in [
        ("../outside.md", "`..` would leave --runbooks-dir"),
        ("/etc/passwd", "an absolute path"),
        (
            "https://evil.example.com/a/%2e%2e/outside.md",
            "`..` would leave",
        ),
        ("link.md", "outside --runbooks-dir"),
        (
            "https://evil.example.com/x/link.md",
            "outside --runbooks-dir",
        ),
        (
            "https://evil.example.com/steal.md",
            "a link to evil.example.com is not followed",
        ),
        (
            "file:///etc/steal.md",
            "no suffix of its path names a file there, and the URL is not opened",
        ),
        ("nope.md", "no such runbook"),
        ("disk", "no such runbook"),
    ] {
        let e = ok(url).unwrap_err();
        assert!(e.contains(why), "{url}: {e}");
    }
    let mut none = alert_with_url("x");
    none.annotations.shift_remove("runbook_url");
    assert!(
        runbook_for(&none, &books)
            .unwrap_err()
            .contains("has no annotations.runbook_url")
    );
}
