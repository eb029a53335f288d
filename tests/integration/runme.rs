//! Runme's cell options, honoured rather than ignored: `excludeFromRunAll`
//! (with `--only`/`--from`), `background`, `tag`/`category` (`--tag`), Go's
//! boolean spellings, `""` as absent, any step name, relative `cwd` from
//! the runbook's directory, unknown attributes as warnings. Every test goes
//! through the real binary.

use super::common::pty::PtyRun;
use super::common::{Scratch, Test, repo};
use std::path::Path;
use std::time::{Duration, Instant};

/// An `excludeFromRunAll` step that would delete a directory, between two
/// ordinary steps.
const EXCLUDED: &str = "```bash {\"name\":\"hello\"}\necho hello\n```\n\n```bash {\"name\":\"wipe\",\"excludeFromRunAll\":\"true\"}\nrm -rf keep\n```\n\n```sh {\"name\":\"bye\",\"excludeFromRunAll\":\"False\"}\necho bye\n```\n";

fn keep_dir(t: &Test) {
    std::fs::create_dir_all(t.path("keep")).unwrap();
    std::fs::write(t.path("keep/file"), "x").unwrap();
}

#[test]
fn excluded_step_never_runs_in_a_whole_run() {
    let t = Test::new().runbook(EXCLUDED);
    keep_dir(&t);
    let r = t
        .args(["run", "runbook.md", "--yes", "-o", "out.md"])
        .stderr_contains("↷ wipe skipped: excludeFromRunAll: runs only when named")
        .run();
    assert!(r.path("keep/file").exists(), "the excluded step ran");
    let out = r.read("out.md");
    assert!(
        out.contains(
            "reason: excludeFromRunAll: runs only when named (--only NAME or --from NAME)"
        ),
        "{out}"
    );
    assert!(out.contains("hello") && out.contains("bye"), "{out}");
    // The dry run and the list say so too.
    r.test()
        .args(["run", "runbook.md", "--dry-run", "-o", "dry.md"])
        .stderr_contains("wipe skipped: excludeFromRunAll")
        .run();
    r.test()
        .args(["list", "runbook.md"])
        .stdout_contains("wipe   bash   line 5    local  [excludeFromRunAll: runs only when named]")
        .run();
    let json = r
        .test()
        .args(["list", "runbook.md", "--format", "json"])
        .run();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["steps"][1]["name"], "wipe");
    assert_eq!(v["steps"][1]["exclude_from_run_all"], true);
    assert_eq!(v["steps"][2]["exclude_from_run_all"], false);
    assert!(r.path("keep/file").exists());
}

#[test]
fn excluded_step_runs_when_named() {
    let t = Test::new().runbook(EXCLUDED);
    keep_dir(&t);
    let r = t
        .args([
            "run",
            "runbook.md",
            "--yes",
            "--only",
            "wipe",
            "-o",
            "out.md",
        ])
        .stderr_contains("hello skipped: not selected (--only)")
        .run();
    assert!(!r.path("keep").exists(), "--only wipe did not run it");
    keep_dir(&r.test());
    let r = r
        .test()
        .args([
            "run",
            "runbook.md",
            "--yes",
            "--from",
            "wipe",
            "-o",
            "out2.md",
        ])
        .run();
    assert!(!r.path("keep").exists(), "--from wipe did not run it");
    assert!(r.read("out2.md").contains("bye"));
}

#[test]
fn only_and_tag_name_what_the_runbook_has() {
    Test::new()
        .runbook(EXCLUDED)
        .args([
            "run",
            "runbook.md",
            "--yes",
            "--only",
            "wipe",
            "--only",
            "nope",
        ])
        .status(2)
        .stderr("error: --only: no step named `nope` (steps: hello, wipe, bye)\n")
        .run();
    Test::new()
        .runbook(EXCLUDED)
        .args(["run", "runbook.md", "--yes", "--tag", "db"])
        .status(2)
        .stderr("error: --tag: no step has tag `db` (no step has a `tag` or `category`)\n")
        .run();
}

#[test]
fn tag_and_category_select_steps() {
    let rb = "```bash {\"name\":\"a\",\"tag\":\"db,slow\"}\necho step-a\n```\n\n```bash {\"name\":\"b\",\"category\":\"web\"}\necho step-b\n```\n\n```bash {name=c}\necho step-c\n```\n\n```bash {\"name\":\"d\",\"tag\":\"web\",\"excludeFromRunAll\":true}\ntouch d-ran\n```\n";
    let r = Test::new()
        .runbook(rb)
        .args(["run", "runbook.md", "--yes", "--tag", "web", "-o", "out.md"])
        .stderr_contains("[b] step-b")
        .stderr_contains("a skipped: not selected (--tag)")
        .stderr_contains("c skipped: not selected (--tag)")
        .run();
    // A tag does not name an excluded step: it still needs `--only d`.
    assert!(!r.path("d-ran").exists());
    assert!(!r.stderr.contains("step-a") && !r.stderr.contains("step-c"));
    r.test()
        .args([
            "run",
            "runbook.md",
            "--yes",
            "--tag",
            "db",
            "--only",
            "d",
            "-o",
            "o2.md",
        ])
        .stderr_contains("[a] step-a")
        .run();
    assert!(r.path("d-ran").exists());
    r.test()
        .args(["run", "runbook.md", "--tag", "nope"])
        .status(2)
        .stderr("error: --tag: no step has tag `nope` (tags: db, slow, web)\n")
        .run();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (a little) for a process to be gone.
fn gone(pid: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            // A zombie is gone for our purpose (nothing runs).
            Ok(s)
                if s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z')) =>
            {
                return true;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    false
}

fn pid_in(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

#[test]
fn background_server_serves_the_next_step_and_is_stopped() {
    let port = free_port();
    let rb = format!(
        "```bash {{\"name\":\"server\",\"background\":\"1\"}}\necho $$ > shell.pid\npython3 -m http.server {port} --bind 127.0.0.1 &\necho $! > server.pid\nwait\n```\n\n```bash {{name=client}}\nfor i in $(seq 100); do\n  if curl -fsS -o /dev/null http://127.0.0.1:{port}/; then echo served; exit 0; fi\n  sleep 0.1\ndone\nexit 1\n```\n"
    );
    let t0 = Instant::now();
    let r = Test::new()
        .runbook(&rb)
        .args(["run", "runbook.md", "--yes", "-o", "out.md"])
        .stderr_contains("[client] served")
        .stderr_contains("background step `server` stopped with SIGTERM at the end of the run")
        .run();
    assert!(t0.elapsed() < Duration::from_secs(20));
    let out = r.read("out.md");
    assert!(
        out.contains("reason: ran in the background; stopped with SIGTERM at the end of the run"),
        "{out}"
    );
    // The server's own log line is in the copy.
    assert!(out.contains("\"GET / HTTP/1.1\" 200"), "{out}");
    for f in ["shell.pid", "server.pid"] {
        let pid = pid_in(&r.path(f));
        assert!(gone(&pid), "{f} {pid} survived the run");
    }
}

#[test]
fn background_step_that_ignores_sigterm_is_killed() {
    let rb = "```bash {\"name\":\"stubborn\",\"background\":true}\ntrap '' TERM\necho $$ > bg.pid\nwhile true; do sleep 0.2; done\n```\n\n```bash {name=next}\necho next ran\n```\n";
    let r = Test::new()
        .runbook(rb)
        .args(["run", "runbook.md", "--yes", "-o", "out.md"])
        .stderr_contains("[next] next ran")
        .stderr_contains("did not stop on SIGTERM: killed with SIGKILL at the end of the run")
        .run();
    assert!(gone(&pid_in(&r.path("bg.pid"))));
    assert!(
        r.read("out.md")
            .contains("ran in the background; did not stop on SIGTERM")
    );
}

#[test]
fn background_step_that_ends_on_its_own_says_so() {
    let rb = "```bash {\"name\":\"quick\",\"background\":\"t\"}\necho from the background\nexit 3\n```\n\n```bash {name=next}\nsleep 0.5\n```\n";
    let r = Test::new()
        .runbook(rb)
        .args(["run", "runbook.md", "--yes", "-o", "out.md"])
        .run();
    let out = r.read("out.md");
    assert!(
        out.contains("ran in the background; exited on its own with 3"),
        "{out}"
    );
    assert!(out.contains("from the background"), "{out}");
}

#[test]
fn any_name_reaches_templates_and_cannot_escape_the_logs_dir() {
    let rb = "---\nmax_output_lines: 2\n---\n```bash {\"name\":\"lint:nix\"}\nseq 10\n```\n\n```bash {\"name\":\"../../escape\"}\nseq 10\n```\n\n```bash {\"name\":\"build:qcow2:image\"}\necho 'last={{ steps[\"lint:nix\"].stdout | trim | split(\"\\n\") | last }}'\n```\n";
    let r = Test::new()
        .runbook(rb)
        .args(["run", "runbook.md", "--yes", "-o", "out/out.md"])
        .stderr_contains("[build:qcow2:image] last=10")
        .run();
    let logs: Vec<String> = std::fs::read_dir(r.path("out/out.md.logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(
        logs.iter().all(|l| !l.contains('/') && !l.starts_with('.')),
        "{logs:?}"
    );
    assert!(!r.path("escape.log").exists() && !r.path("../escape.log").exists());
    r.test()
        .args([
            "run",
            "runbook.md",
            "--yes",
            "--only",
            "lint:nix",
            "-o",
            "o2.md",
        ])
        .stderr_contains("[lint:nix] 1")
        .run();
}

#[test]
fn relative_cwd_is_taken_from_the_runbook_directory() {
    let rb = "```bash {name=first}\ncd /\n```\n\n```bash {\"name\":\"here\",\"cwd\":\"sub\"}\npwd\n```\n\n```bash {\"name\":\"unset\",\"cwd\":\"\",\"interactive\":\"0\"}\npwd\n```\n";
    let t = Test::new()
        .file("docs/runbook.md", rb)
        .file("docs/sub/x", "");
    let sub = t.path("docs/sub").canonicalize().unwrap();
    let r = t
        .args(["run", "docs/runbook.md", "--yes", "-o", "out.md"])
        .stderr_contains(format!("[here] {}", sub.display()))
        .stderr_contains("[unset] /\n")
        .run();
    drop(r);
}

#[test]
fn unknown_attributes_warn_and_near_misses_fail() {
    Test::new()
        .runbook("```bash {\"name\":\"a\",\"frobnicate\":\"x\",\"closeTerminalOnSuccess\":\"false\",\"mimetype\":\"text/plain\",\"terminalRows\":\"20\"}\necho a\n```\n")
        .args(["check", "runbook.md"])
        .stderr_contains("warning: unknown attribute `frobnicate` is ignored")
        .stderr_contains("1 file checked: 0 errors, 1 warning")
        .run();
    Test::new()
        .runbook(
            "```bash {\"name\":\"a\",\"backgruond\":\"true\",\"tiemout\":\"3s\"}\necho a\n```\n",
        )
        .args(["check", "runbook.md"])
        .status(2)
        .stderr_contains("error: unknown attribute `tiemout` (did you mean `timeout`?)")
        .run();
}

#[test]
fn runme_fixtures_list_check_and_run() {
    let dir = repo().join("fixtures/runme");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md") && !p.ends_with("README.md"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let r = Test::new().arg("list").arg(f).run();
        // Every named block is listed.
        for name in text.split("\"name\":\"").skip(1) {
            let name = &name[..name.find('"').unwrap()];
            assert!(
                r.stdout.contains(name),
                "{}: {name} not listed\n{}",
                f.display(),
                r.stdout
            );
        }
        let r = Test::new().arg("check").arg(f).run();
        assert!(r.stderr.contains(" 0 errors"), "{}", r.stderr);
        // They run as they are; what is excluded from a whole run is skipped.
        let r = Test::new()
            .env("PORT", free_port().to_string())
            .arg("run")
            .arg(f)
            .args(["--yes", "-o", "out.md"])
            .run();
        let excluded = text.matches("\"excludeFromRunAll\":\"true\"").count()
            + text.matches("\"excludeFromRunAll\":\"TRUE\"").count()
            + text.matches("\"excludeFromRunAll\":\"1\"").count();
        assert_eq!(
            r.stderr.matches("skipped: excludeFromRunAll").count(),
            excluded,
            "{}",
            r.stderr
        );
    }
}

const ASKS: &str = "```bash {\"name\":\"ask\",\"interactive\":\"True\"}\nread -r -p 'your name? ' name || name=nobody\necho \"hello $name\" > answer.txt\nread -r again </dev/tty || again=none\necho \"again $again\" >> answer.txt\n```\n\n```bash {name=after}\necho after\n```\n";

#[test]
fn interactive_step_gets_the_terminal() {
    let s = Scratch::new();
    s.write("t.md", ASKS);
    let mut run = PtyRun::spawn_controlling(&s, &["run", "t.md", "--yes", "-o", "out.md"]);
    run.wait_for("your name? ", 1);
    run.answer("alice\n");
    std::thread::sleep(Duration::from_millis(200));
    run.answer("bob\n");
    let (code, screen, _) = run.wait_within(Duration::from_secs(15));
    assert_eq!(code, 0, "{screen}");
    assert_eq!(s.read("answer.txt"), "hello alice\nagain bob\n");
    let out = s.read("out.md");
    assert!(
        out.contains("interactive: ran on the terminal; its output was not captured"),
        "{out}"
    );
    assert!(screen.contains("after"), "{screen}");
}

#[test]
fn interactive_step_without_a_terminal_runs_with_no_input() {
    let r = Test::new()
        .runbook(ASKS)
        .args(["run", "runbook.md", "--yes", "-o", "out.md"])
        .run();
    assert_eq!(r.read("answer.txt"), "hello nobody\nagain none\n");
}

const PROMPTS: &str = "```bash {name=first}\ntouch first-ran\n```\n\n```bash {\"name\":\"setup\",\"promptEnv\":\"yes\"}\nexport REGION=\"eu-west-1\"\nexport API_TOKEN=[Enter your token]\nexport WHO=[Who are you]\necho \"$REGION $API_TOKEN $WHO\" > values.txt\necho \"token=$API_TOKEN who=$WHO\"\n```\n\n```bash {\"name\":\"raw\",\"promptEnv\":\"no\"}\nexport OTHER=[kept]\necho \"other=$OTHER\"\n```\n\n```bash {name=plain}\nexport MY_KEY=as-written\necho \"plain=$MY_KEY\"\n```\n";

#[test]
fn prompt_without_a_value_refuses_the_run_before_anything_runs() {
    let r = Test::new()
        .runbook(PROMPTS)
        .env_remove("API_TOKEN")
        .env_remove("WHO")
        .args(["run", "runbook.md", "--yes", "-o", "out.md"])
        .status(2)
        .stderr("error: step `setup` (line 7) asks for API_TOKEN (`export API_TOKEN=[Enter your token]`) and there is no terminal to ask on: pass -p API_TOKEN=VALUE or set API_TOKEN in the environment\n")
        .run();
    assert!(!r.path("first-ran").exists());
}

#[test]
fn prompts_take_p_then_the_environment_then_the_default() {
    let r = Test::new()
        .runbook(PROMPTS)
        .env("API_TOKEN", "tok-from-env-123")
        .env("REGION", "us-east-2")
        .args([
            "run",
            "runbook.md",
            "--yes",
            "-p",
            "WHO=bob",
            "-o",
            "out.md",
        ])
        .stderr_contains("[setup] token=[REDACTED:API_TOKEN] who=bob")
        .stderr_contains("[raw] other=[kept]")
        .stderr_contains("[plain] plain=as-written")
        .run();
    assert_eq!(r.read("values.txt"), "us-east-2 tok-from-env-123 bob\n");
    let out = r.read("out.md");
    assert!(
        out.contains("`export WHO=bob`") && out.contains("`export REGION=us-east-2`"),
        "{out}"
    );
    assert!(!out.contains("tok-from-env-123"), "{out}");
    // Without the environment's REGION, the default.
    let r = r
        .test()
        .env_remove("REGION")
        .env("API_TOKEN", "t")
        .args(["run", "runbook.md", "--yes", "-p", "WHO=x", "-o", "o2.md"])
        .run();
    assert_eq!(r.read("values.txt"), "eu-west-1 t x\n");
}

#[test]
fn prompts_ask_on_a_terminal_with_secret_names_unechoed() {
    let s = Scratch::new();
    s.write("t.md", PROMPTS);
    let mut run = PtyRun::spawn_controlling(&s, &["run", "t.md", "--yes", "-o", "out.md"]);
    run.wait_for("REGION [eu-west-1]: ", 1);
    run.answer("\n");
    run.wait_for("API_TOKEN (Enter your token): ", 1);
    run.answer("typed-secret-42\n");
    run.wait_for("WHO (Who are you): ", 1);
    run.answer("carol\n");
    let (code, screen, _) = run.wait_within(Duration::from_secs(15));
    assert_eq!(code, 0, "{screen}");
    assert_eq!(s.read("values.txt"), "eu-west-1 typed-secret-42 carol\n");
    assert!(!screen.contains("typed-secret-42"), "{screen}");
    assert!(screen.contains("carol"), "{screen}");
    assert!(!s.read("out.md").contains("typed-secret-42"));
}

#[test]
fn background_step_is_stopped_when_the_run_is_interrupted() {
    let s = Scratch::new();
    s.write(
        "t.md",
        "```bash {\"name\":\"bg\",\"background\":\"true\"}\necho $$ > bg.pid\nwhile true; do sleep 0.2; done\n```\n\n```bash {name=long}\nsleep 30\n```\n",
    );
    let mut child = std::process::Command::new(super::common::bin())
        .args(["run", "t.md", "--yes", "-o", "out.md"])
        .current_dir(s.dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.path("bg.pid").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        gone(&pid_in(&s.path("bg.pid"))),
        "the background step survived Ctrl-C"
    );
    let out = s.read("out.md");
    assert!(
        out.contains("ran in the background; stopped with SIGTERM"),
        "{out}"
    );
}

#[test]
fn resume_starts_the_background_step_again() {
    let port = free_port();
    let rb = format!(
        "```bash {{\"name\":\"server\",\"background\":\"true\"}}\nexec python3 -m http.server {port} --bind 127.0.0.1\n```\n\n```bash {{name=client}}\ntest -e fixed\nfor i in $(seq 100); do\n  curl -fsS -o /dev/null http://127.0.0.1:{port}/ && echo served && exit 0\n  sleep 0.1\ndone\nexit 1\n```\n"
    );
    let r = Test::new()
        .runbook(&rb)
        .args(["run", "runbook.md", "--yes", "-o", "out.md"])
        .status(1)
        .run();
    std::fs::write(r.path("fixed"), "").unwrap();
    r.test()
        .args(["run", "runbook.md", "--yes", "-o", "out.md", "--resume"])
        .stderr_contains("step `server` runs in the background")
        .stderr_contains("[client] served")
        .run();
}

#[test]
fn ctrl_c_at_a_prompt_ends_the_run_before_anything_runs() {
    let s = Scratch::new();
    s.write("t.md", PROMPTS);
    let mut run = PtyRun::spawn_controlling(&s, &["run", "t.md", "--yes", "-o", "out.md"]);
    run.wait_for("REGION [eu-west-1]: ", 1);
    run.answer("\n");
    run.wait_for("API_TOKEN (Enter your token): ", 1);
    std::thread::sleep(Duration::from_millis(200));
    run.answer("\x03");
    let (code, screen, took) = run.wait_within(Duration::from_secs(5));
    assert!(code == 130 || code == -1, "exit {code}\n{screen}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(!s.path("first-ran").exists(), "{screen}");
}
