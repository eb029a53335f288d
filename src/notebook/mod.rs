//! Notebooks in: Jupyter notebooks (nbformat 4) turned into runbooks, for
//! teams whose runbooks lived in notebooks. The way out (the run as a
//! notebook) is a report, `report/ipynb.rs`; this is the way in. No clap
//! here: `cli/commands/import.rs` reads the flags and writes the file.

pub mod import;
