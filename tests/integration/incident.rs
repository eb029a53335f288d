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
    let Some(prom) = Prometheus::start_fixture(&repo().join("fixtures/incident"), QUERY) else {
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
