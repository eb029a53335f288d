//! Runbooks teams already have (issue 10): static-site and Runme front
//! matter, Go templates and GitHub Actions expressions in commands, the
//! languages Runme and editors write. Each fixture under
//! fixtures/realworld/ checks with warnings at most, lists and dry-runs;
//! the hostile cases check that nothing real was weakened.

use crate::common::{Test, repo};

const FIXTURES: &[&str] = &[
    "hugo-alert.md",
    "docusaurus.md",
    "go-templates.md",
    "runme-frontmatter.md",
];

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo().join("fixtures/realworld").join(name)).expect("fixture")
}

#[test]
fn realworld_fixtures_check_with_warnings_at_most_list_and_dry_run() {
    for name in FIXTURES {
        let text = fixture(name);
        let out = Test::new()
            .file(name, &text)
            .args(["check", name])
            .stderr_contains("0 errors")
            .run();
        out.test().args(["list", name]).run();
        out.test().args(["run", "--dry-run", name]).run();
    }
}

#[test]
fn realworld_fixtures_run_with_go_templates_and_actions_kept_literally() {
    let out = Test::new()
        .file("go-templates.md", &fixture("go-templates.md"))
        .args(["run", "--yes", "go-templates.md"])
        .stderr_contains(
            "[images] kubectl get pods -n kube-system --template={{range .items}}{{.metadata.name}}{{\"\\n\"}}{{end}}",
        )
        .stderr_contains("[containers] docker ps --format {{.ID}} {{.Names}}")
        .stderr_contains("[containers] docker inspect --format {{ json .State }} web")
        .stderr_contains("[containers] helm template . --set image.tag={{ .Values.image.tag }}")
        .stderr_contains("[workflow] - run: ./deploy.sh ${{ github.sha }}")
        .stderr_contains("[workflow]     TOKEN: ${{ secrets.DEPLOY_TOKEN }}")
        .stderr_contains("[explicit] docker ps --format {{.Status}}")
        .run();
    assert!(!out.stderr.contains("error"), "{}", out.story());
    Test::new()
        .file("docusaurus.md", &fixture("docusaurus.md"))
        .args(["run", "--yes", "docusaurus.md"])
        .stderr_contains("[count] 2")
        .stderr_contains("[ratio] 0.5")
        .run();
    Test::new()
        .file("rb/runme-frontmatter.md", &fixture("runme-frontmatter.md"))
        .args(["run", "--yes", "rb/runme-frontmatter.md"])
        .stderr_contains("[hello] hello from rb")
        .run();
}

#[test]
fn go_template_check_warning_shows_raw() {
    Test::new()
        .runbook("```bash {name=ps}\ndocker ps --format '{{.ID}}'\n```\n")
        .args(["check", "runbook.md"])
        .stderr(
            "warning: `{{.ID}}` is Go template syntax, not runbook's: it is kept literally (write `{% raw %}{{.ID}}{% endraw %}` to say so)\n --> runbook.md:2:21\n  |\n2 | docker ps --format '{{.ID}}'\n  |                     ^^^^^^^\n\n1 file checked: 0 errors, 1 warning\n",
        )
        .run();
}

#[test]
fn go_templates_render_as_written_in_every_shell_quoting_context() {
    let script = "```bash {name=q}\n\
echo {{.A}}\n\
echo \"{{ .B }}\"\n\
echo '{{range .c}}{{.d}}{{end}}'\n\
echo $'{{json .}}'\n\
echo \"$(echo '{{.E}}')\"\n\
echo `echo {{.F}}`\n\
cat <<EOF\n{{ .G }}\nEOF\n\
cat <<'Q'\n{{- range $k, $v := .H }}{{ $k }}{{ end }}\nQ\n\
echo x{{ params.v }}y \"{{ params.v }}\"\n\
```\n";
    let text = format!("---\nparams:\n  v: {{ default: \"a b\" }}\n---\n{script}");
    Test::new()
        .runbook(&text)
        .args(["run", "--yes", "runbook.md"])
        .stderr_contains("[q] {{.A}}\n")
        .stderr_contains("[q] {{ .B }}\n")
        .stderr_contains("[q] {{range .c}}{{.d}}{{end}}\n")
        .stderr_contains("[q] {{json .}}\n")
        .stderr_contains("[q] {{.E}}\n")
        .stderr_contains("[q] {{.F}}\n")
        .stderr_contains("[q] {{ .G }}\n")
        .stderr_contains("[q] {{- range $k, $v := .H }}{{ $k }}{{ end }}\n")
        // Runbook's own templates still render (and are quoted).
        .stderr_contains("[q] xa by a b\n")
        .run();
}

#[test]
fn a_valid_minijinja_expression_is_never_reinterpreted() {
    // `{{ x.y }}` looks Go-ish but is runbook's: rendered, and an unknown
    // variable stays an error in check and run alike.
    Test::new()
        .runbook("---\nparams:\n  x: { default: v }\n---\n```bash {name=a}\necho {{ params.x }} {{ params.x | upper }}\n```\n")
        .args(["run", "--yes", "runbook.md"])
        .stderr_contains("[a] v V\n")
        .run();
    for cmd in [
        &["check", "runbook.md"][..],
        &["run", "--yes", "runbook.md"][..],
    ] {
        let out = Test::new()
            .runbook("```bash {name=a}\necho {{ x.y }}\n```\n")
            .args(cmd)
            .status(2)
            .run();
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(all.contains("unknown variable `x`"), "{}", out.story());
    }
}

#[test]
fn github_actions_expressions_in_yaml_blocks_are_kept() {
    Test::new()
        .runbook("```bash {name=wf}\ncat <<'EOF'\njobs:\n  build:\n    if: ${{ github.event_name == 'push' }}\n    steps:\n      - run: echo ${{ matrix.os }}\nEOF\n```\n\n```python {name=py}\nprint('${{ env.X }}')\n```\n")
        .args(["run", "--yes", "runbook.md"])
        .stderr_contains("[wf]     if: ${{ github.event_name == 'push' }}\n")
        .stderr_contains("[wf]       - run: echo ${{ matrix.os }}\n")
        .stderr_contains("[py] ${{ env.X }}\n")
        .run();
}

#[test]
fn unknown_front_matter_key_and_body_template_error_are_reported_together() {
    let text = "---\ntitle: t\nweight: 3\nteam_channel: \"#ops\"\ntitel: x\n---\n```bash {name=a}\necho {{ params.nope }}\necho {{ oops }\n```\n";
    for cmd in [
        &["check", "runbook.md"][..],
        &["run", "--yes", "runbook.md"][..],
    ] {
        let out = Test::new().runbook(text).args(cmd).status(2).run();
        let all = format!("{}{}", out.stdout, out.stderr);
        for want in [
            "warning: front matter: `team_channel` is not a runbook key; it is ignored\n --> runbook.md:4:1",
            "error: front matter: unknown key `titel` (did you mean `title`?)\n --> runbook.md:5:1",
            "error: template syntax error",
        ] {
            assert!(all.contains(want), "missing {want:?}\n{}", out.story());
        }
        assert!(!all.contains("weight"), "{}", out.story());
    }
}

#[test]
fn a_huge_front_matter_of_unknown_keys_checks_quickly() {
    let mut text = String::from("---\ntitle: big\n");
    for i in 0..20_000 {
        text.push_str(&format!("custom_key_{i}: [{i}, {{a: b}}]\n"));
    }
    text.push_str("---\n```bash {name=a}\necho ok\n```\n");
    let started = std::time::Instant::now();
    Test::new()
        .runbook(&text)
        .args(["check", "runbook.md"])
        .stderr_contains("19980 more keys runbook does not know not shown")
        .stderr_contains("1 file checked: 0 errors, 21 warnings")
        .run();
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn run_shows_document_warnings_once_before_starting() {
    let out = Test::new()
        .runbook("---\nweight: 1\nhugo_extra: 2\n---\n- a step\n\n  ```bash {name=a}\n  echo hi\n\n- next\n")
        .args(["run", "--yes", "runbook.md"])
        .stderr_contains("[a] hi")
        .run();
    let warn = "warning: front matter: `hugo_extra` is not a runbook key; it is ignored";
    assert_eq!(out.stderr.matches(warn).count(), 1, "{}", out.story());
    let fence = "warning: unclosed code fence: the block runs to the end of its list item (line 9)\n --> runbook.md:7:3";
    assert_eq!(out.stderr.matches(fence).count(), 1, "{}", out.story());
}

#[test]
fn languages_that_run_and_blocks_that_do_not() {
    Test::new()
        .runbook("```js {name=js}\nconsole.log('js')\n```\n```javascript\nconsole.log('javascript')\n```\n```mjs\nimport os from 'node:os'; console.log('mjs', typeof os.cpus)\n```\n```py\nprint('py')\n```\n```shellscript\necho $BASH_VERSION | cut -c1\n```\n")
        .args(["run", "--yes", "runbook.md"])
        .stderr_contains("[js] js\n")
        .stderr_contains("[step_2] javascript\n")
        .stderr_contains("[step_3] mjs function\n")
        .stderr_contains("[step_4] py\n")
        .run();
    Test::new()
        .runbook("```json {name=cfg}\n{}\n```\n\n```yaml title=\"a.yaml\"\nx: 1\n```\n")
        .args(["check", "runbook.md"])
        .stderr_contains("warning: `json` blocks are not run: this block is prose, and its attributes are ignored")
        .stderr_contains("1 file checked: 0 errors, 1 warning")
        .run();
}

#[test]
fn a_missing_interpreter_is_a_check_warning_and_a_clear_run_error() {
    let text = "```ksh {name=k}\necho hi\n```\n";
    Test::new()
        .runbook(text)
        .env("PATH", "/nonexistent")
        .args(["check", "runbook.md"])
        .stderr_contains("warning: `ksh` is not found on PATH: step `k` will not run here")
        .run();
    Test::new()
        .runbook(text)
        .env("PATH", "/nonexistent")
        .args(["run", "--yes", "runbook.md"])
        .status(1)
        .stderr_contains("cannot run ksh: `ksh` is not installed (not found on PATH)")
        .run();
    Test::new()
        .runbook("```ts {name=t}\nconst n: number = 1\n```\n")
        .env("PATH", "/nonexistent")
        .args(["check", "runbook.md"])
        .stderr_contains("warning: no TypeScript interpreter on PATH (tsx, ts-node, deno, bun): step `t` will not run here")
        .run();
}

#[test]
fn all_comment_shell_steps_run_nothing() {
    Test::new()
        .runbook("```bash {name=c}\n# kubectl delete pod x\n\n# ask first\n```\n")
        .args(["check", "runbook.md"])
        .stderr_contains(
            "warning: step `c` runs nothing: every line of it is a comment\n --> runbook.md:1:1",
        )
        .run();
}

#[test]
fn check_dir_names_the_directories_it_skipped() {
    Test::new()
        .file("docs/a.md", "# a\n")
        .file("docs/.hidden/b.md", "```bash {name=x\n```\n")
        .file("docs/node_modules/c.md", "# c\n")
        .args(["check", "docs"])
        .stderr_contains("note: not checked (hidden, `target` or `node_modules` directories; name one to check it): docs/.hidden/, docs/node_modules/\n1 file checked")
        .run();
    // Named explicitly, a hidden directory is checked.
    Test::new()
        .file("docs/.hidden/b.md", "```bash {name=x\n```\n")
        .args(["check", "docs/.hidden"])
        .status(2)
        .run();
}
