//! Local processes: spawned in their own process group, stopped on timeout
//! or interrupt. (The process helper owns this module; only the interrupt
//! types the HTTP step needs are defined here.)

/// What the operator asked for: nothing yet, a graceful stop (first Ctrl-C)
/// or an immediate one (second Ctrl-C).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    None,
    Graceful,
    Immediate,
}

/// Every running step watches this channel.
pub type Interrupts = tokio::sync::watch::Receiver<Interrupt>;
