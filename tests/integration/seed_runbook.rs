//! The seed incident runbook (runbooks/p90-latency.md) against its fixture:
//! the front matter is valid, and its steps, rendered the way the runner
//! renders them (minijinja; shell steps with every value shell-quoted),
//! do the right thing against the real fixture Prometheus and a real crash
//! directory. The SSH and EC2 parts run in the lead's end-to-end test; here
//! the host steps' scripts run locally with bash.

use crate::support::prometheus::Prometheus;
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use runbook::document::FrontMatter;
use runbook::exec::http::{parse_request, response_text, send};
use runbook::exec::process::Interrupt;
use runbook::inventory_spec::OneOrMany;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const RUNBOOK: &str = include_str!("../../runbooks/p90-latency.md");

fn front_matter() -> FrontMatter {
    let yaml = RUNBOOK
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .map(|(yaml, _)| yaml)
        .expect("front matter");
    serde_saphyr::from_str(yaml).expect("valid front matter")
}

/// The code of the step named `name`, as the runbook parser finds it.
fn block(name: &str) -> String {
    let doc = runbook::document::parse("runbooks/p90-latency.md", RUNBOOK.to_string())
        .expect("the seed runbook parses");
    doc.step(name)
        .unwrap_or_else(|| panic!("no step named {name}"))
        .code
        .clone()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Shell steps: every interpolated value is shell-quoted (also `tojson`
/// output, which minijinja marks safe).
fn shell_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_formatter(|out, _state, value| {
        let text = match value.as_str() {
            Some(s) => s.to_string(),
            None => value.to_string(),
        };
        out.write_str(&shell_quote(&text))
            .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
    });
    env
}

fn plain_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env
}

fn params(fm: &FrontMatter, overrides: &[(&str, serde_json::Value)]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, spec) in &fm.params {
        map.insert(k.clone(), spec.default.clone().unwrap_or_default());
    }
    for (k, v) in overrides {
        map.insert(k.to_string(), v.clone());
    }
    serde_json::Value::Object(map)
}

/// Runs a rendered shell step as the runner does: bash with `set -eo pipefail`.
fn bash(script: &str) -> (i32, String, String) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -eo pipefail\n{script}"))
        .output()
        .expect("run bash");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn front_matter_is_valid() {
    let fm = front_matter();
    assert_eq!(fm.title.as_deref(), Some("P90 latency spike on my_service"));
    assert_eq!(
        fm.params.keys().collect::<Vec<_>>(),
        [
            "prometheus_url",
            "latency_query",
            "threshold_seconds",
            "crash_dir"
        ]
    );
    assert_eq!(fm.requires.commands, ["jq"]);
    assert_eq!(fm.requires.http, ["{{ params.prometheus_url }}/-/ready"]);
    let noisy = fm.hosts["noisy"]
        .ec2
        .as_ref()
        .expect("noisy is an ec2 entry");
    assert!(matches!(
        &noisy.filters["private-ip-address"],
        OneOrMany::One(v) if v == "{{ steps.pick.stdout | trim }}"
    ));
    let fleet = fm.hosts["fleet"]
        .ec2
        .as_ref()
        .expect("fleet is an ec2 entry");
    assert!(matches!(&fleet.filters["tag:service"], OneOrMany::One(v) if v == "my_service"));
}

#[tokio::test(flavor = "multi_thread")]
async fn steps_find_the_noisy_instance_and_clean_its_cores() {
    if crate::support::require_program("jq", "apt-get install -y jq").is_none() {
        return;
    }
    let fm = front_matter();
    let query = params(&fm, &[])["latency_query"]
        .as_str()
        .expect("query")
        .to_string();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/incident");
    let Some(prom) = Prometheus::start_fixture(&fixture, &query) else {
        return;
    };
    let crash = tempfile::tempdir().unwrap();
    for f in ["core.4711", "core.4712", "service.log"] {
        std::fs::write(crash.path().join(f), "x").unwrap();
    }
    let crash_dir = crash.path().display().to_string();
    let params = params(
        &fm,
        &[
            ("prometheus_url", prom.url().into()),
            ("crash_dir", crash_dir.clone().into()),
        ],
    );

    // 1. levels: the http step, until rate() sees all three instances.
    let text = plain_env()
        .render_str(&block("levels"), context! { params => Serde(&params) })
        .unwrap();
    let req = parse_request(&text).unwrap();
    assert!(
        req.url.starts_with(&format!(
            "{}/api/v1/query?query=histogram_quantile%280.9%2C",
            prom.url()
        )),
        "{}",
        req.url
    );
    let mut levels = serde_json::Value::Null;
    for _ in 0..50 {
        let (_tx, rx) = tokio::sync::watch::channel(Interrupt::None);
        let resp = send(&req, Some(Duration::from_secs(10)), rx).await;
        assert_eq!(resp.status, Some(200), "{}", response_text(&resp));
        levels = serde_json::from_slice(&resp.body).unwrap();
        let finite = levels["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["value"][1] != "NaN")
            .count();
        if finite == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // 2. pick: the noisiest instance's address on stdout, the table on stderr.
    let shell = shell_env();
    let steps = context! { levels => context! { json => Value::from(Serde(&levels)) } };
    let script = shell
        .render_str(
            &block("pick"),
            context! { params => Serde(&params), steps => &steps },
        )
        .unwrap();
    let (code, stdout, stderr) = bash(&script);
    assert_eq!((code, stdout.as_str()), (0, "127.0.0.1\n"), "{stderr}");
    assert!(
        stderr.starts_with("P90 latency by instance (seconds):\n0.96"),
        "{stderr}"
    );
    assert!(stderr.contains("\t127.0.0.1:9100\n"), "{stderr}");

    // The EC2 filter of the `noisy` host entry renders to that address.
    let filter = match &fm.hosts["noisy"].ec2.as_ref().unwrap().filters["private-ip-address"] {
        OneOrMany::One(v) => v.clone(),
        OneOrMany::Many(_) => panic!("one value"),
    };
    let steps = context! { pick => context! { stdout => &stdout } };
    assert_eq!(
        plain_env()
            .render_str(&filter, context! { steps => &steps })
            .unwrap(),
        "127.0.0.1"
    );

    // With a threshold nobody reaches, pick fails and says why.
    let mut high = params.clone();
    high["threshold_seconds"] = 5.into();
    let steps = context! { levels => context! { json => Value::from(Serde(&levels)) } };
    let script = shell
        .render_str(
            &block("pick"),
            context! { params => Serde(&high), steps => &steps },
        )
        .unwrap();
    let (code, stdout, stderr) = bash(&script);
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert!(stderr.ends_with("No instance has a P90 of 5s or more: the spike is over, or it is fleet-wide (check the database and the load balancer instead).\n"), "{stderr}");

    // 3. cores: a JSON array of the core files (the listing goes to stderr).
    let script = shell
        .render_str(&block("cores"), context! { params => Serde(&params) })
        .unwrap();
    let (code, stdout, stderr) = bash(&script);
    assert_eq!(code, 0, "{stderr}");
    let mut cores: Vec<String> = serde_json::from_str(&stdout).unwrap();
    cores.sort();
    assert_eq!(
        cores,
        [
            format!("{crash_dir}/core.4711"),
            format!("{crash_dir}/core.4712")
        ]
    );
    assert!(stderr.contains("service.log"), "{stderr}");

    // 4. cleanup runs only when there are core files, and deletes only them.
    let when = r#"steps.cores.json | length > 0"#;
    assert!(RUNBOOK.contains(&format!("when=\"{when}\"")));
    let expr = plain_env();
    let expr = expr.compile_expression(when).unwrap();
    let found = context! { cores => context! { json => Value::from(Serde(&cores)) } };
    assert!(expr.eval(context! { steps => &found }).unwrap().is_true());
    let none = context! { cores => context! { json => Value::from(Serde(Vec::<String>::new())) } };
    assert!(!expr.eval(context! { steps => &none }).unwrap().is_true());
    let script = shell
        .render_str(&block("cleanup"), context! { params => Serde(&params) })
        .unwrap();
    let (code, stdout, stderr) = bash(&script);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("{crash_dir}/core.4711\n")),
        "{stdout}"
    );
    let mut left: Vec<String> = std::fs::read_dir(crash.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["service.log"]);

    // 5. summary.
    let steps = context! {
        pick => context! { stdout => "127.0.0.1\n" },
        cores => context! { json => Value::from(Serde(&cores)) },
        cleanup => context! { status => "ok" },
    };
    let script = shell
        .render_str(
            &block("summary"),
            context! { params => Serde(&params), steps => &steps },
        )
        .unwrap();
    let (code, stdout, _) = bash(&script);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "Noisiest instance: 127.0.0.1\nCore files found:  2\nCleanup:           ok\n"
    );
}
