//! runbook: a headless runbook executor.
//!
//! Data flows one way: `document` parses Markdown (and splices generated
//! blocks; it never runs anything) → `analyze` validates (the only
//! validator, for `check` and `run`) → `engine` runs and emits events →
//! sinks (the [`record::RunRecord`] builder, the resume journal, the
//! terminal) → `report` renders the record. `exec` runs processes, SSH and
//! HTTP and never sees Markdown; `cli` is the only module that knows clap.
//! `inventory_spec`, `duration` and `text` are the neutral ground that
//! `document`, `exec` and the rest share without depending on each other.

pub mod alert;
pub mod analyze;
pub mod chart;
pub mod cli;
pub mod console;
pub mod document;
pub mod duration;
pub mod engine;
pub mod error;
pub mod exec;
pub mod expect;
pub mod input;
pub mod inventory_spec;
pub mod merge;
pub mod notebook;
pub mod phase;
pub mod preconditions;
pub mod publish;
pub mod record;
pub mod report;
pub mod safe_fs;
pub mod scaffold;
pub mod secrets;
pub mod sign;
pub mod template;
pub mod text;

pub use cli::run_cli;
pub use error::{Error, Result};
