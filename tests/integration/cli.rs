//! End-to-end tests of `runbook run`, `strip` and `list` through the real
//! binary: the foundation's promises (issue 2).

use crate::common::{Scratch, Test, block_of, normalize, repo};

#[test]
fn bundled_example_runs_and_every_step_has_its_output() {
    let t = Test::new();
    let data = t.path("data");
    let param = format!("path={}", data.display());
    let src = repo().join("runbooks/disk-pressure.md");
    let r = t
        .args(["run", src.to_str().unwrap(), "--yes", "-p", &param])
        .args(["-o", "out.md"])
        .run();
    let out = r.read("out.md");
    let doc = std::fs::read_to_string(&src).unwrap();
    // Every step got a generated block, and each shows its output.
    assert_eq!(out.matches("<!-- runbook:begin ").count(), 7, "{out}"); // header + 6 steps
    assert!(out.contains("demo data in "), "{out}");
    assert!(out.contains("use%="), "{out}");
    assert!(out.contains("app.log.5.gz"), "{out}");
    assert!(out.contains("file(s) older than 7 days"), "{out}");
    assert!(out.contains("removing 4 file(s) from"), "{out}");
    assert!(out.contains("approved (--yes)"), "{out}");
    // The fix really ran: the old logs are gone, the new ones are kept.
    assert!(!data.join("app/logs/app.log.5.gz").exists());
    assert!(data.join("app/logs/app.log.1.gz").exists());
    // And the copy strips back to the source byte for byte.
    r.test()
        .file("out-copy.md", &out)
        .args(["strip", "out-copy.md"])
        .stdout(doc)
        .run();
}

#[test]
fn parameters_are_shell_quoted_and_never_execute() {
    let s = Scratch::new();
    let marker = s.path("pwned");
    s.write(
        "q.md",
        "---\nparams:\n  host: {}\n---\n\n```bash {name=echo}\necho {{ params.host }}\necho \"[{{ params.host }}]\"\necho `printf '%s' {{ params.host }}`\necho \"$(printf '%s' {{ params.host }})\"\n```\n",
    );
    for payload in [
        format!("$(touch {})", marker.display()),
        format!("`touch {}`", marker.display()),
        format!("x; touch {}", marker.display()),
        format!("'; touch {}; '", marker.display()),
        format!("a\ntouch {}", marker.display()),
        format!("`;touch {};`", marker.display()),
        format!("\";touch {};\"", marker.display()),
    ] {
        let param = format!("host={payload}");
        s.test()
            .args(["run", "q.md", "-p", &param, "-o", "out.md"])
            .run();
        assert!(!marker.exists(), "payload {payload:?} executed");
        let out = s.read("out.md");
        let first = payload.lines().next().unwrap();
        assert!(
            out.contains(first),
            "payload {payload:?} not echoed literally:\n{out}"
        );
    }
}

#[test]
fn raw_filter_opts_out_of_quoting() {
    let s = Scratch::new();
    s.write(
        "raw.md",
        "---\nparams:\n  expr: { default: '1 + 2' }\n---\n\n```bash {name=calc}\necho $(( {{ params.expr | raw }} ))\n```\n",
    );
    s.test().args(["run", "raw.md", "-o", "out.md"]).run();
    assert!(s.read("out.md").contains("\n3\n"), "{}", s.read("out.md"));
}

#[test]
fn exported_env_and_cwd_carry_over_between_steps() {
    let s = Scratch::new();
    s.write(
        "state.md",
        "```bash {name=set}\nexport FOO=from-step-one\ncd /tmp\n```\n\n```bash {name=get}\necho \"FOO=$FOO\"\necho \"PWD=$(pwd)\"\n```\n\n```python {name=py}\nimport os\nprint('py FOO=' + os.environ.get('FOO', 'missing'))\nprint('py cwd=' + os.getcwd())\n```\n",
    );
    s.test().args(["run", "state.md", "-o", "out.md"]).run();
    let out = s.read("out.md");
    assert!(out.contains("FOO=from-step-one"), "{out}");
    assert!(out.contains("PWD=/tmp"), "{out}");
    assert!(out.contains("py cwd=/tmp"), "{out}");
    assert!(out.contains("py FOO=from-step-one"), "{out}");
}

#[test]
fn gated_runbook_without_tty_or_yes_is_refused_before_any_step() {
    let s = Scratch::new();
    let marker = s.path("ran");
    s.write(
        "gated.md",
        &format!(
            "```bash {{name=first}}\ntouch {}\n```\n\n```bash {{name=fix confirm=\"Really?\"}}\necho fix\n```\n",
            marker.display()
        ),
    );
    s.test()
        .args(["run", "gated.md", "-o", "out.md"])
        .status(2)
        .stderr("error: gated.md has confirmation gates (first: step `fix` at line 5) and stdin is not a terminal; pass --yes to approve them, or run it from a terminal\n")
        .run();
    assert!(!marker.exists(), "a step ran before the refusal");
    assert!(!s.path("out.md").exists());
    // `confirm: all` and --step count as gates too.
    s.test()
        .file("all.md", "---\nconfirm: all\n---\n\n```bash\ntrue\n```\n")
        .args(["run", "all.md"])
        .status(2)
        .run();
    s.test()
        .file("plain.md", "```bash\ntrue\n```\n")
        .args(["run", "plain.md", "--step"])
        .status(2)
        .run();
    s.test().args(["run", "plain.md", "--step", "--yes"]).run();
}

#[test]
fn failing_step_stops_the_run_and_the_copy_records_it() {
    let s = Scratch::new();
    s.write(
        "fail.md",
        "```bash {name=one}\necho before\n```\n\n```bash {name=two}\necho partial\nfalse\necho never\n```\n\n```bash {name=three}\necho three\n```\n",
    );
    s.test()
        .args(["run", "fail.md", "-o", "out.md"])
        .status(1)
        .run();
    let out = s.read("out.md");
    assert!(block_of(&out, "one").contains("before"), "{out}");
    let two = block_of(&out, "two");
    assert!(two.contains("partial"), "{two}");
    assert!(
        !two.contains("never"),
        "set -e did not stop the block:\n{two}"
    );
    assert!(two.contains("failed"), "{two}");
    assert!(two.contains("exit 1"), "{two}");
    let three = block_of(&out, "three");
    assert!(three.contains("not run"), "{three}");
    // The copy still strips back to the source.
    assert_eq!(runbook::document::splice::strip(&out), s.read("fail.md"));
}

#[test]
fn allow_failure_lets_the_run_go_on() {
    let s = Scratch::new();
    s.write(
        "af.md",
        "```bash {name=one allow_failure}\nexit 3\n```\n\n```bash {name=two}\necho \"prev={{ steps.one.exit_code }} {{ steps.one.status }}\"\n```\n",
    );
    s.test().args(["run", "af.md", "-o", "out.md"]).run();
    let out = s.read("out.md");
    assert!(
        out.contains("prev=3 'failed (allowed)'") || out.contains("prev=3 failed"),
        "{out}"
    );
}

#[test]
fn later_steps_see_earlier_results() {
    let s = Scratch::new();
    s.write(
        "chain.md",
        "```bash {name=produce}\necho '{\"level\": 7, \"host\": \"db-2\"}'\n```\n\n```bash {name=j capture=json}\necho '{\"n\": [1, 2, 3]}'\n```\n\n```bash {name=consume}\necho \"got {{ steps.produce.stdout | trim }}\"\necho \"n1={{ steps.j.json.n[1] }} code={{ steps.produce.exit_code }}\"\n```\n",
    );
    s.test().args(["run", "chain.md", "-o", "out.md"]).run();
    let out = s.read("out.md");
    assert!(out.contains("n1=2 code=0"), "{out}");
    assert!(
        out.contains("got {\"level\": 7, \"host\": \"db-2\"}"),
        "{out}"
    );
}

#[test]
fn when_false_skips_with_reason() {
    let s = Scratch::new();
    s.write(
        "when.md",
        "---\nparams:\n  env: { default: dev, choices: [dev, prod] }\n---\n\n```bash {name=prod_only when=\"params.env == 'prod'\"}\necho prod\n```\n",
    );
    s.test().args(["run", "when.md", "-o", "out.md"]).run();
    let b = block_of(&s.read("out.md"), "prod_only");
    assert!(b.contains("skipped"), "{b}");
    assert!(b.contains("params.env == 'prod'"), "{b}");
    s.test()
        .args(["run", "when.md", "-p", "env=prod", "-o", "out.md"])
        .run();
    assert!(block_of(&s.read("out.md"), "prod_only").contains("prod"));
}

#[test]
fn fixtures_round_trip_and_rerun_is_idempotent() {
    let dir = repo().join("fixtures");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("md") {
            continue;
        }
        seen += 1;
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let s = Scratch::new();
        let source = std::fs::read(&path).unwrap();
        std::fs::write(s.path(&name), &source).unwrap();
        let first = s
            .test()
            .args(["run", &name, "--yes", "-o", "once.md"])
            .any_status()
            .run();
        assert!(
            first.code == 0 || first.code == 1,
            "{name}: exit {}\n{}",
            first.code,
            first.stderr
        );
        let once = std::fs::read(s.path("once.md")).unwrap();
        // strip(run(doc)) == doc, byte for byte.
        let stripped = s.test().args(["strip", "once.md"]).run();
        assert!(
            stripped.stdout.as_bytes() == source.as_slice(),
            "{name}: strip(run(doc)) differs from the source"
        );
        // Running on the annotated copy replaces the blocks: same as once.
        std::fs::write(s.path("again-src.md"), &once).unwrap();
        s.test()
            .args(["run", "again-src.md", "--yes", "-o", "twice.md"])
            .any_status()
            .run();
        let twice = s.read("twice.md");
        let once = String::from_utf8(once).unwrap();
        assert_eq!(
            normalize(&twice, s.dir.path()).replace("again-src.md", &name),
            normalize(&once, s.dir.path()),
            "{name}: running twice differs from running once"
        );
        insta::assert_snapshot!(
            format!("fixture_{}", name.trim_end_matches(".md")),
            normalize(&once, s.dir.path())
        );
    }
    assert!(seen >= 8, "expected the fixtures, found {seen}");
}

#[test]
fn list_shows_steps_params_and_gates() {
    let r = Test::new()
        .arg("list")
        .arg(repo().join("runbooks/disk-pressure.md"))
        .run();
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn undeclared_param_is_an_error_with_position() {
    Test::new()
        .file(
            "p.md",
            "---\ntitle: t\nparams:\n  host: { default: a }\n---\n\n```bash\necho {{ params.host }}\n```\n",
        )
        .args(["run", "p.md", "-p", "hots=b"])
        .status(2)
        .stderr("error: param `hots` is not declared (declared: host)\n --> p.md:3:1\n  |\n3 | params:\n  | ^^^^^^\n")
        .run();
}

#[test]
fn required_param_missing_is_an_error() {
    let s = Scratch::new();
    s.write(
        "r.md",
        "---\nparams:\n  service: { required: true, choices: [api, worker] }\n---\n\n```bash\necho {{ params.service }}\n```\n",
    );
    s.test()
        .args(["run", "r.md"])
        .status(2)
        .stderr("error: param `service` is required: pass it with -p service=VALUE\n --> r.md:3:3\n  |\n3 |   service: { required: true, choices: [api, worker] }\n  |   ^^^^^^^\n")
        .run();
    let r = s
        .test()
        .args(["run", "r.md", "-p", "service=db"])
        .status(2)
        .run();
    assert!(
        r.stderr.starts_with(
            "error: param `service` must be one of api, worker (got `db`)\n --> r.md:3:3\n"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn template_error_names_the_step_and_line() {
    let s = Scratch::new();
    s.write(
        "t.md",
        // `check` cannot see that a string has no `port`: the step fails
        // when it renders (what `check` can see, `run` refuses up front).
        "---\nparams:\n  svc: { default: api }\n---\n```bash {name=bad}\necho ok\necho {{ params.svc.port }}\n```\n",
    );
    s.test()
        .args(["run", "t.md", "-o", "out.md"])
        .status(1)
        .stderr_contains("template error in step `bad`")
        .stderr_contains("--> t.md:7:1")
        .run();
    assert!(block_of(&s.read("out.md"), "bad").contains("failed"));
}

#[test]
fn version_is_printed() {
    Test::new()
        .arg("--version")
        .stdout(format!("runbook {}\n", env!("CARGO_PKG_VERSION")))
        .run();
}

#[test]
fn garbage_input_never_panics() {
    let s = Scratch::new();
    let inputs = [
        "---\n",
        "---\n---\n",
        "---\n: : :\n---\n",
        "```bash {\n",
        "```bash {name=\"unterminated}\n```\n",
        "```bash {\"name\": 3, }\n```\n",
        "\u{feff}---\ntitle: x\n---\n",
        "```\n```bash\n",
        "> ```bash\n> echo hi",
        "- ```bash {name=a}\n  echo\n- ```bash {name=a}\n  echo\n",
        "\r\r\n```bash\r\recho\r```",
    ];
    for (i, text) in inputs.iter().enumerate() {
        let name = format!("g{i}.md");
        s.write(&name, text);
        for args in [
            vec!["list", name.as_str()],
            vec!["run", name.as_str(), "--yes", "-o", "o.md"],
            vec!["strip", name.as_str()],
        ] {
            let r = s.test().args(&args).any_status().run();
            assert!(
                [0, 1, 2].contains(&r.code),
                "{args:?} on {text:?}: exit {}\n{}",
                r.code,
                r.stderr
            );
            assert!(
                !r.stderr.contains("panicked"),
                "{args:?} on {text:?}: {}",
                r.stderr
            );
        }
    }
}

#[test]
fn invalid_front_matter_timeout_is_an_error() {
    Test::new()
        .file(
            "to.md",
            "---\ntitle: x\ntimeout: 1x\n---\n\n```bash\nsleep 0\n```\n",
        )
        .args(["run", "to.md"])
        .status(2)
        .stderr("error: front matter: invalid `timeout`: `1x` has an unknown unit `x` (use ms, s, m or h)\n --> to.md:3:1\n  |\n3 | timeout: 1x\n  | ^^^^^^^\n")
        .run();
}
