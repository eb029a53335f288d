//! Shell completion of `run --from`/`--only`/`--tag` through the real
//! shells: the script `runbook completions SHELL` prints is loaded into bash,
//! zsh and fish, and the values offered are the runbook's step names and
//! tags — asked of the binary, which only parses the runbook.

use crate::common::{Scratch, bin};
use std::process::Command;

const RUNBOOK: &str = "# Restart

```bash {name=drain tag=web}
touch ran-drain
```

```bash {name=restart_app tag=web}
echo restart
```

```bash {name=\"lint:nix\" tag=ci}
echo lint
```

```bash {name=verify}
echo verify
```

```bash {name=\"check disk\"}
df -h
```
";

fn scratch() -> Scratch {
    let s = Scratch::new();
    s.write("restart.md", RUNBOOK);
    s.write(
        "out.md",
        "# not the runbook\n\n```bash {name=decoy}\necho no\n```\n",
    );
    s
}

fn script(s: &Scratch, shell: &str) -> std::path::PathBuf {
    let out = Command::new(bin())
        .args(["completions", shell])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = s.path(&format!("complete.{shell}"));
    std::fs::write(&p, out.stdout).expect("write script");
    p
}

fn shell(name: &str) -> Command {
    let path = ["/usr/bin", "/bin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).exists());
    let path = path.unwrap_or_else(|| panic!("{name} is not installed (ci/test.sh installs it)"));
    Command::new(path)
}

/// Bash: the words typed so far, the last one being completed.
fn bash_complete(s: &Scratch, words: &[&str]) -> (Vec<String>, String) {
    let script = script(s, "bash");
    let bin = bin();
    let mut quoted = vec![format!("'{}'", bin.display())];
    quoted.extend(
        words
            .iter()
            .map(|w| format!("'{}'", w.replace('\'', "'\\''"))),
    );
    let cword = words.len();
    let cur = quoted.last().unwrap().clone();
    let prev = quoted[cword - 1].clone();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\n_runbook '{}' {cur} {prev}\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        bin.display(),
    );
    let out = shell("bash")
        .arg("--norc")
        .arg("-c")
        .arg(program)
        .current_dir(s.dir.path())
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    (
        stdout
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bash_completes_from_with_the_runbooks_step_names() {
    let s = scratch();
    let (got, err) = bash_complete(&s, &["run", "restart.md", "--from", ""]);
    assert_eq!(
        got,
        ["drain", "restart_app", "lint:nix", "verify", "check\\ disk"],
        "{err}"
    );
    assert_eq!(err, "");
    let (got, _) = bash_complete(&s, &["run", "restart.md", "--only", "re"]);
    assert_eq!(got, ["restart_app"]);
    let (got, _) = bash_complete(&s, &["run", "restart.md", "--tag", ""]);
    assert_eq!(got, ["web", "ci"]);
}

#[test]
fn bash_skips_option_values_to_find_the_runbook() {
    let s = scratch();
    // `-o out.md` names a markdown file that is not the runbook; `-p` and
    // `--format` take values too; `--yes` does not.
    let words = [
        "run",
        "-o",
        "out.md",
        "-p",
        "x=1",
        "--yes",
        "--format",
        "json",
        "restart.md",
        "--from",
        "",
    ];
    let (got, err) = bash_complete(&s, &words);
    assert_eq!(
        got,
        ["drain", "restart_app", "lint:nix", "verify", "check\\ disk"],
        "{err}"
    );
}

#[test]
fn completion_parses_the_runbook_and_runs_nothing() {
    let s = scratch();
    let hostile = "$(touch pwned).md";
    s.write(hostile, RUNBOOK);
    let (got, err) = bash_complete(&s, &["run", hostile, "--from", "d"]);
    assert_eq!(got, ["drain"], "{err}");
    assert!(!s.path("pwned").exists(), "a file name was evaluated");
    assert!(!s.path("ran-drain").exists(), "completion ran a step");
}

#[test]
fn a_missing_or_broken_runbook_offers_nothing_and_prints_nothing() {
    let s = scratch();
    s.write(
        "broken.md",
        "---\nparams: [\n---\n```bash {name=a}\necho\n```\n",
    );
    for file in ["missing.md", "broken.md"] {
        let (got, err) = bash_complete(&s, &["run", file, "--from", ""]);
        assert!(got.is_empty(), "{file}: {got:?}");
        assert_eq!(err, "", "{file}");
    }
    let (got, _) = bash_complete(&s, &["run", "--from", ""]);
    assert!(got.is_empty(), "no runbook yet: {got:?}");
}

#[test]
fn zsh_offers_the_step_names_through_compadd() {
    let s = scratch();
    let script = script(&s, "zsh");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(
        text.contains(":STEP:_runbook_step_values names'"),
        "spec not patched"
    );
    // compadd only exists inside a completion widget; stand in for it and
    // give the helper the words zsh would.
    let program = format!(
        "autoload -U compinit && compinit -u -D\nsource '{}'\n\
         compadd() {{ [[ $1 == -a ]] && print -rl -- \"${{(@P)2}}\"; }}\n\
         words=('{}' run -o out.md restart.md --only '')\nCURRENT=7\n_runbook_step_values names\n",
        script.display(),
        bin().display()
    );
    let out = shell("zsh")
        .arg("-f")
        .arg("-c")
        .arg(program)
        .current_dir(s.dir.path())
        .output()
        .expect("zsh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "drain\nrestart_app\nlint:nix\nverify\ncheck disk\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn fish_completes_from_with_the_runbooks_step_names() {
    let s = scratch();
    let script = script(&s, "fish");
    let dir = bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let ask = |line: &str| {
        let program = format!("source '{}'; complete -C '{line}'", script.display());
        let out = shell("fish")
            .args(["--no-config", "-c", &program])
            .env("PATH", &path)
            .env("HOME", s.dir.path())
            .current_dir(s.dir.path())
            .output()
            .expect("fish");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "");
        // fish sorts the candidates and appends the option's description.
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let names: Vec<String> = stdout
            .lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect();
        names
    };
    let names = ask("runbook run restart.md --from ");
    assert_eq!(
        names,
        ["check disk", "drain", "lint:nix", "restart_app", "verify"]
    );
    assert_eq!(
        ask("runbook run -o out.md restart.md --tag "),
        ["ci", "web"]
    );
    assert_eq!(ask("runbook run restart.md --only re"), ["restart_app"]);
}

#[test]
fn list_names_and_tags_for_tools() {
    let s = scratch();
    let list = |f: &str| s.test().args(["list", "restart.md", "--format", f]);
    list("names")
        .stdout("drain\nrestart_app\nlint:nix\nverify\ncheck disk\n")
        .run();
    list("tags").stdout("web\nci\n").run();
}
