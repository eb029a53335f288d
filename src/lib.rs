//! runbook: a headless runbook executor.
//!
//! `document` parses Markdown runbooks and splices generated blocks; it
//! never runs anything. `exec` runs processes, shells, SSH and HTTP steps
//! and never sees Markdown. `run` drives a run and fills in the
//! [`record::RunRecord`]; `report` renders that record and nothing else.
//! `inventory_spec`, `duration` and `text` are the neutral ground that
//! `document`, `exec` and the rest share without depending on each other.

pub mod analyze;
pub mod check;
pub mod cli;
pub mod console;
pub mod document;
pub mod duration;
pub mod error;
pub mod exec;
pub mod inventory_spec;
pub mod outputs;
pub mod preconditions;
pub mod publish;
pub mod record;
pub mod report;
pub mod run;
pub mod safe_fs;
pub mod scaffold;
pub mod secrets;
pub mod template;
pub mod text;

pub use cli::run_cli;
pub use error::{Error, Result};
