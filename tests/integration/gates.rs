//! Confirmation gates answered through a real pseudo-terminal, as an
//! operator would: yes, skip, abort, and the record of each decision.

use crate::common::pty::PtyRun;
use crate::common::{Scratch, block_of};

const GATED: &str = "\
```bash {name=prepare}
echo prepared
```

```bash {name=fix confirm=\"Restart the service?\"}
echo fixed
```

```bash {name=after}
echo after
```
";

#[test]
fn operator_approves_a_gate_on_a_tty() {
    let s = Scratch::new();
    s.write("g.md", GATED);
    let mut run = PtyRun::spawn(&s, &["run", "g.md", "-o", "out.md"]);
    run.wait_for("Restart the service?", 1);
    run.wait_for("[y]es / [s]kip / [a]bort", 1);
    // What will run is shown before the question.
    run.wait_for("── gate: step `fix` (line 5) on local", 1);
    run.wait_for("│ echo fixed", 1);
    run.answer("y\n");
    let (code, screen) = run.wait();
    assert_eq!(code, 0, "{screen}");
    let out = s.read("out.md");
    let fix = block_of(&out, "fix");
    assert!(fix.contains("approved"), "{fix}");
    assert!(fix.contains("alice"), "{fix}");
    assert!(fix.contains("fixed"), "{fix}");
    assert!(block_of(&out, "after").contains("after"));
}

#[test]
fn operator_skips_a_gate_and_the_run_goes_on() {
    let s = Scratch::new();
    s.write("g.md", GATED);
    let mut run = PtyRun::spawn(&s, &["run", "g.md", "-o", "out.md"]);
    run.wait_for("[y]es / [s]kip / [a]bort", 1);
    run.answer("what\n");
    run.wait_for("please answer y, s", 1);
    run.answer("s\n");
    let (code, screen) = run.wait();
    assert_eq!(code, 0, "{screen}");
    let out = s.read("out.md");
    let fix = block_of(&out, "fix");
    assert!(fix.contains("skipped"), "{fix}");
    assert!(!fix.contains("\nfixed"), "{fix}");
    assert!(block_of(&out, "after").contains("after"));
}

#[test]
fn operator_aborts_at_a_gate_exit_4() {
    let s = Scratch::new();
    s.write("g.md", GATED);
    let mut run = PtyRun::spawn(&s, &["run", "g.md", "-o", "out.md"]);
    run.wait_for("[y]es / [s]kip / [a]bort", 1);
    run.answer("a\n");
    let (code, screen) = run.wait();
    assert_eq!(code, 4, "{screen}");
    let out = s.read("out.md");
    assert!(block_of(&out, "fix").contains("aborted"));
    assert!(block_of(&out, "after").contains("not run"));
}

#[test]
fn step_mode_gates_every_step() {
    let s = Scratch::new();
    s.write(
        "p.md",
        "```bash {name=a}\necho a\n```\n\n```bash {name=b}\necho b\n```\n",
    );
    let mut run = PtyRun::spawn(&s, &["run", "p.md", "--step", "-o", "out.md"]);
    run.wait_for("[y]es / [s]kip / [a]bort", 1);
    run.answer("y\n");
    run.wait_for("[y]es / [s]kip / [a]bort", 2);
    run.answer("s\n");
    let (code, screen) = run.wait();
    assert_eq!(code, 0, "{screen}");
    let out = s.read("out.md");
    assert!(block_of(&out, "a").contains("approved"));
    assert!(block_of(&out, "b").contains("skipped"));
}
