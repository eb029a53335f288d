//! SSH steps and fan-out through the real binary against a real sshd on
//! 127.0.0.1 (issue 5): 50 inventory entries with `--forks 10`, an
//! unreachable host failing on its own, and a remote timeout that leaves no
//! process behind.

use crate::common::{Scratch, Test, block_of};
use crate::support::sshd::Sshd;
use std::time::{Duration, Instant};

fn inventory(sshd: &Sshd, n: usize) -> String {
    let mut s = String::from("hosts:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  web{i:02}: {{ ssh: \"{}@127.0.0.1:{}\" }}\n",
            sshd.user, sshd.port
        ));
    }
    s
}

fn test(s: &Scratch, sshd: &Sshd) -> Test {
    s.test()
        .env("RUNBOOK_SSH_CONFIG", &sshd.ssh_config)
        .env("RUNBOOK_SSH_KNOWN_HOSTS", &sshd.known_hosts)
}

#[test]
fn fan_out_to_50_hosts_with_bounded_forks() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Scratch::new();
    s.write(
        "fan.md",
        &format!(
            "---\n{}  all_web: {{ group: [{}] }}\n---\n\n```bash {{name=hello hosts=all_web}}\necho \"hello from $(whoami) on $SSH_CONNECTION\"\n```\n",
            inventory(&sshd, 50),
            (0..50).map(|i| format!("web{i:02}")).collect::<Vec<_>>().join(", ")
        ),
    );
    test(&s, &sshd)
        .args(["run", "fan.md", "--forks", "10", "--report-dir", "rep"])
        .run();
    let json: serde_json::Value = serde_json::from_str(&s.read("rep/fan.json")).unwrap();
    let hosts = json["steps"][0]["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 50);
    for (i, h) in hosts.iter().enumerate() {
        assert_eq!(h["host"], format!("web{i:02}"));
        assert_eq!(h["status"], "ok");
        // The login shell sshd starts may print on stderr before the step
        // runs (root's ~/.bashrc running `pyenv init` races with itself
        // across 50 concurrent sessions on CI machines): the step's own line
        // must be there, whatever the user's shell start-up added.
        let head = h["output"]["head"].as_str().unwrap();
        assert_eq!(
            head.lines()
                .filter(|l| l.starts_with("hello from "))
                .count(),
            1,
            "{h}"
        );
    }
    let md = s.read("rep/fan.md");
    let block = block_of(&md, "hello");
    assert_eq!(block.matches("hello from ").count(), 50, "{block}");
    assert_eq!(sshd.accepted_logins(), 50);
}

#[test]
fn unreachable_host_fails_alone_within_the_connect_timeout() {
    let Some(sshd) = Sshd::start() else { return };
    let closed = crate::support::free_port();
    let s = Scratch::new();
    s.write(
        "u.md",
        &format!(
            "---\nhosts:\n  good: {{ ssh: \"{u}@127.0.0.1:{p}\" }}\n  gone: {{ ssh: \"{u}@127.0.0.1:{closed}\", connect_timeout: 3s }}\n  both: {{ group: [good, gone] }}\n---\n\n```bash {{name=ping hosts=both}}\necho pong\n```\n",
            u = sshd.user,
            p = sshd.port
        ),
    );
    let t0 = Instant::now();
    test(&s, &sshd)
        .args(["run", "u.md", "--report-dir", "rep"])
        .status(1)
        .run();
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t0.elapsed()
    );
    let json: serde_json::Value = serde_json::from_str(&s.read("rep/u.json")).unwrap();
    let hosts = json["steps"][0]["hosts"].as_array().unwrap();
    assert_eq!(hosts[0]["status"], "ok");
    assert_eq!(hosts[1]["status"], "failed");
    let err = hosts[1]["error"].as_str().unwrap();
    assert!(
        err.starts_with(&format!("gone ({}@127.0.0.1:{closed}):", sshd.user)),
        "{err}"
    );
}

#[test]
fn remote_timeout_leaves_no_remote_process() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Scratch::new();
    s.write(
        "t.md",
        &format!(
            "---\nhosts:\n  box: {{ ssh: \"{}@127.0.0.1:{}\" }}\n---\n\n```bash {{name=set host=box}}\nexport WHO=remote-env\ncd /tmp\n```\n\n```bash {{name=see host=box}}\necho \"$WHO in $(pwd)\"\n```\n\n```bash {{name=hang host=box timeout=2s}}\nsleep 617\n```\n",
            sshd.user, sshd.port
        ),
    );
    let t0 = Instant::now();
    test(&s, &sshd)
        .args(["run", "t.md", "-o", "out.md"])
        .status(1)
        .run();
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t0.elapsed()
    );
    let md = s.read("out.md");
    assert!(block_of(&md, "see").contains("remote-env in /tmp"), "{md}");
    assert!(block_of(&md, "hang").contains("timed out"), "{md}");
    std::thread::sleep(Duration::from_millis(300));
    let left = std::process::Command::new("pgrep")
        .args(["-f", "sleep 617"])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "a remote sleep survived");
}

#[test]
fn precondition_hosts_are_resolved_through_the_inventory() {
    let Some(sshd) = Sshd::start() else { return };
    let closed = crate::support::free_port();
    let s = Scratch::new();
    s.write(
        "p.md",
        &format!(
            "---\nrequires:\n  hosts: [box, dead]\nhosts:\n  box: {{ ssh: \"{u}@127.0.0.1:{p}\" }}\n  dead: {{ ssh: \"{u}@127.0.0.1:{closed}\" }}\n---\n\n```bash {{name=a}}\necho never\n```\n",
            u = sshd.user,
            p = sshd.port
        ),
    );
    test(&s, &sshd)
        .args(["run", "p.md", "--report-dir", "rep"])
        .status(3)
        .run();
    let json: serde_json::Value = serde_json::from_str(&s.read("rep/p.json")).unwrap();
    let pre = json["preconditions"].as_array().unwrap();
    assert_eq!(pre[0]["target"], "box");
    assert_eq!(pre[0]["ok"], true);
    assert_eq!(
        pre[0]["detail"],
        format!("127.0.0.1:{} accepts connections", sshd.port)
    );
    assert_eq!(pre[1]["target"], "dead");
    assert_eq!(pre[1]["ok"], false);
    assert_eq!(
        pre[1]["detail"],
        format!("127.0.0.1:{closed}: connection refused")
    );
}

#[test]
fn host_attribute_is_a_template() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Scratch::new();
    s.write(
        "h.md",
        "---\nparams:\n  target: { required: true }\n---\n\n```bash {name=where host=\"{{ params.target }}\"}\necho \"on $(hostname)\"\n```\n",
    );
    let target = format!("target={}@127.0.0.1:{}", sshd.user, sshd.port);
    test(&s, &sshd)
        .args(["run", "h.md", "-p", &target, "-o", "out.md"])
        .run();
    let block = block_of(&s.read("out.md"), "where");
    assert!(block.contains("on "), "{block}");
    assert!(
        block.contains(&format!("127.0.0.1:{}", sshd.port)),
        "{block}"
    );
}

#[test]
fn secrets_reach_remote_steps_and_never_the_report() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Scratch::new();
    s.write(
        "sec.md",
        &format!(
            "---\nsecrets:\n  API_TOKEN: {{ env: REMOTE_TEST_TOKEN }}\nhosts:\n  box: {{ ssh: \"{}@127.0.0.1:{}\" }}\n---\n\n```bash {{name=use host=box}}\n[ \"$API_TOKEN\" = \"tok-remote-5e5e\" ] && echo \"token matches\"\necho \"leak: $API_TOKEN\"\n```\n",
            sshd.user, sshd.port
        ),
    );
    let out = test(&s, &sshd)
        .args(["run", "sec.md", "-o", "out.md"])
        .env("REMOTE_TEST_TOKEN", "tok-remote-5e5e")
        .run();
    let stderr = &out.stderr;
    assert!(!stderr.contains("tok-remote-5e5e"));
    let md = s.read("out.md");
    let block = block_of(&md, "use");
    assert!(block.contains("token matches"), "{block}");
    assert!(block.contains("leak: [REDACTED:API_TOKEN]"), "{block}");
    // The value is written in the runbook's own text (the comparison), which
    // the copy keeps as written (with a warning); no generated byte has it.
    assert!(!block.contains("tok-remote-5e5e"), "{block}");
    assert_eq!(
        md.matches("tok-remote-5e5e").count(),
        s.read("sec.md").matches("tok-remote-5e5e").count()
    );
    assert!(
        stderr.contains("secret API_TOKEN occurs in the runbook text (line 9)"),
        "{stderr}"
    );
}
