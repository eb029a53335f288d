//! The bodies of the commands other than `run`, one file each.

pub mod check;
pub mod check_report;
pub mod completions;
pub mod import;
pub mod init;
pub mod list;
pub mod man;
pub mod merge;
pub mod publish;
pub mod strip;
pub mod verify;
