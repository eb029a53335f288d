//! (in progress) Placeholder: the shared process types from the exec
//! contract, copied here so the SSH executor compiles on its own branch.
//! The process helper's file replaces this one.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    None,
    Graceful,
    Immediate,
}

pub type Interrupts = tokio::sync::watch::Receiver<Interrupt>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Termination {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    Interrupted,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessOutcome {
    pub termination: Termination,
    pub leaked: bool,
    pub duration: Duration,
}
