//! The seed incident runbook (`runbooks/p90-latency.md`) end to end through
//! the real binary, against the real components on loopback: Prometheus
//! (Debian's package) serving the latency fixture, moto's EC2 API seeded with
//! the fleet at 127.0.0.x, and sshd on 127.0.0.1 standing in for the instance.

use crate::common::{Scratch, block_of, repo};
use crate::support::moto::Moto;
use crate::support::prometheus::Prometheus;
use crate::support::sshd::Sshd;
use std::io::Write;

const QUERY: &str = "histogram_quantile(0.9, sum by (instance, le) (rate(http_request_duration_seconds_bucket{service=\"my_service\"}[5m])))";

#[test]
fn p90_latency_runbook_end_to_end() {
    if crate::support::require_program("jq", "apt-get install -y jq").is_none() {
        return;
    }
    let Some(sshd) = Sshd::start() else { return };
    // An hour of history (promtool backfill) before the recording rules
    // take over, so the amplitude and the one-hour chart have data.
    let Some(prom) = Prometheus::start_fixture_backfilled(
        &repo().join("fixtures/incident"),
        QUERY,
        &latency_history(now()),
    ) else {
        return;
    };
    let Some(moto) = Moto::start() else { return };

    // The fleet: three instances of my_service on loopback addresses, plus
    // an unrelated one; only 127.0.0.1 has sshd and is the slow one.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let noisy_id = rt.block_on(async {
        let subnet = moto.subnet("127.0.0.0").await;
        let a = moto
            .run_instance(&subnet, "127.0.0.1", &[("service", "my_service")], false)
            .await;
        moto.run_instance(&subnet, "127.0.0.4", &[("service", "my_service")], false)
            .await;
        moto.run_instance(&subnet, "127.0.0.5", &[("service", "my_service")], false)
            .await;
        moto.run_instance(&subnet, "127.0.0.9", &[("service", "billing")], false)
            .await;
        a.instance_id.clone()
    });
    assert!(noisy_id.starts_with("i-"));

    // The operator's SSH configuration for the fleet.
    let s = Scratch::new();
    let config = s.path("ssh_config");
    let mut f = std::fs::File::create(&config).unwrap();
    write!(
        f,
        "Host 127.0.0.1\n  Port {}\n  User {}\n{}",
        sshd.port,
        sshd.user,
        std::fs::read_to_string(&sshd.ssh_config).unwrap()
    )
    .unwrap();

    let crash = s.path("crash");
    std::fs::create_dir(&crash).unwrap();
    for f in ["core.4711", "core.4712", "service.log"] {
        std::fs::write(crash.join(f), "x").unwrap();
    }

    s.test()
        .args([
            "run",
            repo().join("runbooks/p90-latency.md").to_str().unwrap(),
            "--yes",
            "-p",
            &format!("prometheus_url={}", prom.url()),
            "-p",
            &format!("crash_dir={}", crash.display()),
            "--report-dir",
            "incident",
        ])
        .env("RUNBOOK_SSH_CONFIG", &config)
        .env("RUNBOOK_SSH_KNOWN_HOSTS", &sshd.known_hosts)
        .env("AWS_ENDPOINT_URL", moto.url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .run();

    let copy = s.read("incident/p90-latency.md");
    // The Prometheus answer.
    let levels = block_of(&copy, "levels");
    assert!(levels.contains("200"), "{levels}");
    assert!(levels.contains("127.0.0.1:9100"), "{levels}");
    // The pick: the slow instance.
    let pick = block_of(&copy, "pick");
    assert!(pick.contains("127.0.0.1\n"), "{pick}");
    // The EC2-resolved host, and the remote output from it.
    let identify = block_of(&copy, "identify");
    assert!(identify.contains("noisy ("), "{identify}");
    assert!(identify.contains("127.0.0.1"), "{identify}");
    assert!(identify.contains("load average"), "{identify}");
    let cores = block_of(&copy, "cores");
    assert!(cores.contains("core.4711"), "{cores}");
    // The gate decision and the fix.
    let cleanup = block_of(&copy, "cleanup");
    assert!(cleanup.contains("approved (--yes)"), "{cleanup}");
    assert!(!crash.join("core.4711").exists());
    assert!(!crash.join("core.4712").exists());
    assert!(crash.join("service.log").exists());
    let summary = block_of(&copy, "summary");
    assert!(summary.contains("Core files found:  2"), "{summary}");
    // The preconditions are in the record.
    let json: serde_json::Value =
        serde_json::from_str(&s.read("incident/p90-latency.json")).unwrap();
    let pre = json["preconditions"].as_array().unwrap();
    assert!(pre.iter().all(|p| p["ok"] == true), "{pre:?}");
    assert_eq!(pre.len(), 2);
    charts_of_the_incident(&s, &json);
}

/// The seed's own case: which instance's P90 swung the most over the hour
/// (a bar chart, largest first), and the hour itself (a line chart).
fn charts_of_the_incident(s: &Scratch, json: &serde_json::Value) {
    let step = |name: &str| {
        json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|st| st["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}"))
            .clone()
    };
    let amplitude = step("amplitude");
    let chart = &amplitude["chart"];
    assert_eq!(chart["kind"], "bar", "{chart}");
    assert_eq!(chart["source"], "prometheus-vector");
    assert_eq!(chart["svg"], "p90-latency.md.assets/amplitude.svg");
    let labels: Vec<&str> = chart["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "{instance=\"127.0.0.1:9100\"}",
            "{instance=\"127.0.0.4:9100\"}",
            "{instance=\"127.0.0.5:9100\"}"
        ]
    );
    let swing = chart["series"][0]["last"].as_f64().unwrap();
    assert!((0.7..0.95).contains(&swing), "{chart}");
    let hour = step("latency_hour");
    let chart = &hour["chart"];
    assert_eq!(chart["kind"], "line");
    assert_eq!(chart["unit"], "s");
    assert_eq!(chart["source"], "prometheus-matrix");
    assert_eq!(chart["series"].as_array().unwrap().len(), 3, "{chart}");
    assert!(
        chart["series"][0]["points"].as_u64().unwrap() >= 55,
        "{chart}"
    );
    // The copy links both SVGs, with the text table.
    let copy = s.read("incident/p90-latency.md");
    let block = block_of(&copy, "amplitude");
    assert!(
        block.contains("![Chart of amplitude](p90-latency.md.assets/amplitude.svg)"),
        "{block}"
    );
    assert!(
        block.contains("| `{instance=\"127.0.0.1:9100\"}` |"),
        "{block}"
    );
    let block = block_of(&copy, "latency_hour");
    assert!(
        block.contains("![Chart of latency_hour](p90-latency.md.assets/latency_hour.svg)"),
        "{block}"
    );
    for svg in ["amplitude", "latency_hour"] {
        let path = s.path(&format!("incident/p90-latency.md.assets/{svg}.svg"));
        let text = std::fs::read_to_string(&path).unwrap();
        roxmltree::Document::parse(&text).expect("well-formed SVG");
    }
    // The HTML report shows both charts inline, with the series.
    let html = s.read("incident/p90-latency.html");
    // `levels` is a Prometheus result too: it gets its chart without asking.
    assert_eq!(
        html.matches("<figure class=\"chart\">").count(),
        3,
        "{html}"
    );
    assert!(html.contains("<title id=\"chart-1-title\">levels — bar chart</title>"));
    assert!(html.contains("{instance=&quot;127.0.0.1:9100&quot;}"));
    assert!(html.contains("<title id=\"chart-3-title\">amplitude — bar chart</title>"));
    assert!(html.contains("<title id=\"chart-4-title\">latency_hour — line chart</title>"));
    // The copy still verifies and strips back to the runbook.
    s.test()
        .args(["verify", "incident/p90-latency.md"])
        .stdout_contains("ok")
        .run();
    s.test()
        .args(["strip", "incident/p90-latency.md"])
        .stdout(std::fs::read_to_string(repo().join("runbooks/p90-latency.md")).unwrap())
        .run();
    screenshot(&s.path("incident/p90-latency.html"));
}

/// Headless Chromium renders the report with the charts; with
/// `RUNBOOK_UPDATE_SCREENSHOT` set the picture goes to
/// docs/report-screenshot-chart.png (the README shows it).
fn screenshot(page: &std::path::Path) {
    let Some(browser) = crate::reports::chromium() else {
        eprintln!("skipping the screenshot: chromium not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("chart.png");
    // The report as the incident sees it, results only, cut down to the
    // cards that have a chart (the picture is for the README).
    let html = std::fs::read_to_string(page).unwrap();
    let only_charts = "<style>header.run, nav.index, main.doc > :not(.card), \
        .card:not(:has(figure.chart)), footer { display: none; } \
        .card pre.output { max-height: 96px; overflow: hidden; } \
        body { padding-top: 8px; }</style>\n</head>";
    let view = dir.path().join("charts.html");
    std::fs::write(
        &view,
        html.replacen("</head>", only_charts, 1).replacen(
            "id=\"hide-code\" class=\"toggle\">",
            "id=\"hide-code\" class=\"toggle\" checked>",
            1,
        ),
    )
    .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1000,1320")
        .arg(format!("file://{}", view.display()))
        .output()
        .expect("chromium runs");
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 40_000, "screenshot is only {} bytes", png.len());
    if std::env::var_os("RUNBOOK_UPDATE_SCREENSHOT").is_some() {
        let dest = repo().join("docs/report-screenshot-chart.png");
        std::fs::copy(&shot, dest).unwrap();
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An hour of `http_request_duration_seconds_bucket` history (OpenMetrics,
/// one sample every 15 s up to `join`) that meets the fixture's recording
/// rules (`k · time()` per bucket) at `join` without a counter reset. On
/// top of each rule's rate, extra requests per second: 127.0.0.1 was fast
/// (900 extra requests/s under 0.1 s) and degraded 25 minutes ago; 127.0.0.4
/// had a bump of slow requests 35 minutes ago; 127.0.0.5 wobbles a little.
fn latency_history(join: i64) -> String {
    const LE: [&str; 5] = ["0.05", "0.1", "0.5", "1", "+Inf"];
    let rules: [(&str, [f64; 5]); 3] = [
        ("127.0.0.1:9100", [10.0, 20.0, 30.0, 95.0, 100.0]),
        ("127.0.0.4:9100", [80.0, 95.0, 99.0, 100.0, 100.0]),
        ("127.0.0.5:9100", [70.0, 92.0, 98.0, 100.0, 100.0]),
    ];
    let join = join / 15 * 15;
    let extra = |inst: &str, bucket: usize, t: i64| -> f64 {
        let ago = (join - t) as f64 / 60.0;
        match inst {
            "127.0.0.1:9100" if bucket >= 1 => 900.0 / (1.0 + ((25.0 - ago) / 3.0).exp()),
            "127.0.0.4:9100" if bucket >= 2 => 60.0 * (-((ago - 35.0) / 6.0).powi(2) / 2.0).exp(),
            "127.0.0.5:9100" if bucket >= 2 => {
                5.0 * (1.0 + (2.0 * std::f64::consts::PI * t as f64 / 900.0).sin())
            }
            _ => 0.0,
        }
    };
    let times: Vec<i64> = (0..240).map(|k| join - 3600 + 15 * k).collect();
    let mut out = String::new();
    for (inst, ks) in rules {
        for (b, le) in LE.iter().enumerate() {
            // The counter is k·t minus the extra requests still to come
            // before `join`: its rate is k + extra, and it is k·join at `join`.
            let mut to_come = 0.0;
            let mut values = Vec::with_capacity(times.len());
            for t in times.iter().rev() {
                to_come += extra(inst, b, *t) * 15.0;
                values.push(ks[b] * *t as f64 - to_come);
            }
            values.reverse();
            for (t, v) in times.iter().zip(values) {
                out.push_str(&format!(
                    "http_request_duration_seconds_bucket{{service=\"my_service\",instance=\"{inst}\",le=\"{le}\"}} {v:.3} {t}\n"
                ));
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

#[test]
fn unknown_instance_fails_the_step_naming_the_host_and_filter() {
    let Some(moto) = Moto::start() else { return };
    let s = Scratch::new();
    s.write(
        "e.md",
        "---\nhosts:\n  web: { ec2: { filters: { \"tag:role\": web } } }\n---\n\n```bash {name=x host=web}\nhostname\n```\n",
    );
    s.test()
        .args(["run", "e.md", "-o", "out.md"])
        .env("AWS_ENDPOINT_URL", moto.url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .status(1)
        .run();
    let x = block_of(&s.read("out.md"), "x");
    assert!(
        x.contains("host `web`: no running EC2 instance matches filters tag:role=web"),
        "{x}"
    );
}
