//! Issue 9 items 3–5: the engine runs a runbook from plain options, asks
//! gates through a `Prompter`, and everything it does leaves as events; the
//! record is the fold of those events. Report writing failing is its own
//! outcome, not "a step failed".

use crate::common::Scratch;
use crate::common::test::Test;
use runbook::engine::gate::{Answer, Asking, Decision, GateQuestion, Prompter};
use runbook::engine::{
    Engine, RunEvent, RunHeader, RunInputs, RunOptions, SharedRecord, Sink, Sinks,
};
use runbook::exec::process::{Interrupt, Interrupts};
use runbook::record::{RunResult, StepStatus};
use std::sync::{Arc, Mutex};

/// Answers every gate from a script, and keeps the questions it was asked.
struct Scripted {
    answers: Vec<Decision>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Prompter for Scripted {
    fn ask<'a>(
        &'a mut self,
        q: &'a GateQuestion<'a>,
        _: &'a mut Sinks,
        _: &'a mut Interrupts,
    ) -> Asking<'a> {
        self.asked.lock().unwrap().push(format!(
            "{} on {}: {} | {}",
            q.step,
            q.target,
            q.message,
            q.command.trim()
        ));
        let decision = self.answers.remove(0);
        Box::pin(async move {
            Some(Answer {
                decision,
                label: "scripted",
                edit: None,
            })
        })
    }
}

/// Keeps one line per event.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Sink for Log {
    fn event(&mut self, e: &RunEvent<'_>) {
        let line = match e {
            RunEvent::RunStarted { record } => format!("started {}", record.steps.len()),
            RunEvent::Preconditions { results } => format!("preconditions {}", results.len()),
            RunEvent::GateAsked { step } => format!("gate asked {}", step.name),
            RunEvent::GateAnswered { step } => format!(
                "gate answered {} {}",
                step.name,
                step.gate
                    .as_ref()
                    .map(|g| g.decision.as_str())
                    .unwrap_or("?")
            ),
            RunEvent::StepStarted { step } => format!("started {}", step.name),
            RunEvent::Output { step, bytes, .. } => {
                format!("output {} {:?}", step.name, String::from_utf8_lossy(bytes))
            }
            RunEvent::AttemptFinished { step, attempt } => {
                format!(
                    "attempt {} {} {}",
                    step.name,
                    attempt.attempt,
                    attempt.status.as_str()
                )
            }
            RunEvent::StepFinished { step, .. } => {
                format!("finished {} {}", step.name, step.status.as_str())
            }
            RunEvent::Message { text } => format!("message {text}"),
            RunEvent::RollbackStarted { rollback } => {
                format!("rollback started {}", rollback.undos.len())
            }
            RunEvent::RollbackFinished { rollback } => {
                format!("rollback finished {}", rollback.result.as_str())
            }
            RunEvent::RunFinished {
                result, exit_code, ..
            } => {
                format!("run finished {} {exit_code}", result.as_str())
            }
        };
        self.0.lock().unwrap().push(line);
    }
}

pub(crate) fn run(
    text: &str,
    answers: Vec<Decision>,
) -> (i32, Vec<String>, Vec<String>, runbook::record::RunRecord) {
    let s = Scratch::new();
    let doc = runbook::document::parse(s.path("r.md"), text.to_string()).expect("parse");
    let (_tx, interrupts) = tokio::sync::watch::channel(Interrupt::None);
    let record = SharedRecord::default();
    let log = Log::default();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let sinks = Sinks::new(vec![Box::new(record.clone()), Box::new(log.clone())]);
    let prompter = Box::new(Scripted {
        answers,
        asked: asked.clone(),
    });
    let inputs = RunInputs {
        doc,
        header: RunHeader {
            path: "r.md".into(),
            operator: "tester".into(),
            ..Default::default()
        },
        params: Default::default(),
        secrets: vec![("TOKEN".into(), "hunter2-secret".into())],
        restored: Default::default(),
        prompted: Vec::new(),
        alert: None,
    };
    let opts = RunOptions {
        forks: 1,
        logs_dir: s.path("logs"),
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (code, _) = rt.block_on(async {
        let engine = Engine::new(inputs, opts, sinks, prompter, interrupts).unwrap();
        engine.run().await
    });
    let events = log.0.lock().unwrap().clone();
    let asked = asked.lock().unwrap().clone();
    (code, events, asked, record.snapshot().expect("a record"))
}

#[test]
fn events_tell_the_whole_run_and_the_record_is_their_fold() {
    let text = "# T\n\n```bash {name=a}\necho one\n```\n\n```bash {name=b confirm=\"Go on?\"}\necho two\n```\n\n```bash {name=c}\necho three\n```\n";
    let (code, events, asked, record) = run(text, vec![Decision::Skip]);
    assert_eq!(code, 0, "{events:#?}");
    assert_eq!(
        events,
        [
            "started 3",
            "started a",
            "output a \"one\\n\"",
            "attempt a 1 ok",
            "finished a ok",
            "gate asked b",
            "gate answered b scripted",
            "finished b skipped",
            "started c",
            "output c \"three\\n\"",
            "attempt c 1 ok",
            "finished c ok",
            "run finished ok 0",
        ]
    );
    assert_eq!(asked, ["b on local: Go on? | echo two"]);
    let statuses: Vec<StepStatus> = record.steps.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [StepStatus::Ok, StepStatus::Skipped, StepStatus::Ok]
    );
    assert_eq!(record.result, RunResult::Ok);
    assert_eq!(record.exit_code, Some(0));
    assert_eq!(record.steps[1].gate.as_ref().unwrap().operator, "tester");
}

#[test]
fn an_abort_stops_the_run_and_later_steps_say_why_they_did_not_run() {
    let text =
        "# T\n\n```bash {name=a confirm}\necho one\n```\n\n```bash {name=b}\necho two\n```\n";
    let (code, events, _, record) = run(text, vec![Decision::Abort]);
    assert_eq!(code, 4, "{events:#?}");
    assert_eq!(record.result, RunResult::Aborted);
    assert_eq!(record.steps[0].status, StepStatus::Aborted);
    assert_eq!(record.steps[1].status, StepStatus::NotRun);
    assert_eq!(record.steps[1].reason.as_deref(), Some("not run"));
    assert_eq!(events.last().unwrap(), "run finished aborted 4");
}

#[test]
fn raw_output_reaches_sinks_and_secrets_are_redacted_by_the_record_path() {
    // Sinks get raw bytes (each redacts on its own path: capture, terminal);
    // what the record keeps is redacted.
    let text = "# T\n\n```bash {name=a}\necho \"$TOKEN\"\n```\n";
    let (code, _, _, record) = run(text, vec![]);
    assert_eq!(code, 0);
    let out = record.steps[0].output.as_ref().unwrap();
    assert!(!out.head.contains("hunter2-secret"), "{out:?}");
    assert!(out.head.contains("[REDACTED"), "{out:?}");
}

#[test]
fn a_report_that_cannot_be_written_is_its_own_exit_code() {
    // The step puts a directory where the JSON report goes: the run itself
    // succeeds, that report cannot be written (even as root).
    let run = Test::new()
        .file(
            "r.md",
            "# R\n\n```bash {name=a}\nmkdir -p reports/r.json\n```\n",
        )
        .args(["run", "r.md", "--report-dir", "reports"])
        .status(5)
        .stderr_contains("runbook ok")
        .run();
    assert!(
        run.stderr.contains("error: ") && run.stderr.contains("r.json"),
        "{}",
        run.stderr
    );
    // What could be written was: the copy says the step ran.
    assert!(run.read("reports/r.md").contains("step=a"));
}

#[test]
fn a_gate_says_how_many_hosts_the_step_will_run_on_and_which() {
    let text = "---\nhosts:\n  web00: { ssh: \"root@127.0.0.1:9\" }\n  web01: { ssh: \"root@127.0.0.1:9\" }\n  web02: { ssh: \"root@127.0.0.1:9\" }\n  fleet: { group: [web00, web01, web02] }\n---\n\n```bash {name=fix hosts=fleet confirm=\"Restart?\"}\nsystemctl restart app\n```\n";
    let (code, _, asked, _) = run(text, vec![Decision::Abort]);
    assert_eq!(code, 4);
    assert_eq!(
        asked,
        ["fix on fleet: 3 hosts (web00, web01, web02): Restart? | systemctl restart app"]
    );
}
