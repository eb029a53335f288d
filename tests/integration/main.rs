//! The integration tests: one binary, one module per area. Shared helpers
//! are `common` (the binary under test, scratch dirs, the `Test` builder,
//! sample records) and `support` (real sshd, Prometheus, Alertmanager, moto and
//! a D-Bus session with GNOME Keyring).

mod common;
mod support;

mod alert;
mod alert_live;
mod attack_files;
mod attack_hostile_input;
mod attack_injection;
mod attack_record;
mod attack_secrets;
mod attack_signals;
mod blast_radius;
mod canary;
mod charts;
mod check;
mod check_equals_run;
mod ci_templates;
mod cli;
mod completions;
mod document;
mod dry_run_plan;
#[cfg(feature = "ec2")]
mod ec2;
#[cfg(feature = "ec2")]
mod ec2_env;
mod engine;
mod exec;
mod fanout;
mod faults;
mod gates;
mod http;
#[cfg(feature = "ec2")]
mod incident;
mod ipynb;
#[cfg(feature = "keyring")]
mod keyring;
mod notebook_import;
mod pipeline;
mod preconditions;
mod publish;
mod publish_live;
mod realworld;
mod reports;
mod resume_trust;
mod rollback;
mod runme;
mod secrets;
mod seed_runbook;
mod shards;
mod signing;
mod ssh;
mod ssh_host_keys;
mod structure;
mod terminal_live;
mod transcripts;
mod verify;
