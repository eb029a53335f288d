//! Running things: local processes, the shell kernel, SSH, HTTP, and the
//! EC2 inventory. Nothing in here knows about Markdown.

pub mod background;
pub mod capture;
#[cfg(feature = "ec2")]
pub mod ec2;
pub mod http;
pub mod inventory;
pub mod kill;
pub mod path;
pub mod process;
pub mod shell;
pub mod ssh;
pub mod ssh_master;
pub mod terminal;
pub mod tree;
pub mod watchdog;
