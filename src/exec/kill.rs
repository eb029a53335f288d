//! How a step is stopped, wherever it runs: SIGTERM first, SIGKILL when
//! the grace period is over (or at once on a second Ctrl-C). Local
//! processes ([`super::process`]) and remote steps ([`super::ssh`]) follow
//! the same escalation with the same grace period, so a step behaves the
//! same on the operator's machine and on a server.

use super::process::Interrupt;
use std::time::Duration;
use tokio::time::Instant;

/// Time between SIGTERM and SIGKILL: the one grace period of the crate
/// (steps, SSH steps, and everything the runner stops).
pub const KILL_GRACE: Duration = Duration::from_secs(3);

/// Which signal a stop sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kill {
    /// SIGTERM: the step may clean up.
    Term,
    /// SIGKILL.
    Kill,
}

impl Kill {
    /// The signal itself, for local processes.
    pub fn signal(self) -> nix::sys::signal::Signal {
        match self {
            Kill::Term => nix::sys::signal::Signal::SIGTERM,
            Kill::Kill => nix::sys::signal::Signal::SIGKILL,
        }
    }

    /// Its name for `kill -NAME`, for remote processes.
    pub fn name(self) -> &'static str {
        match self {
            Kill::Term => "TERM",
            Kill::Kill => "KILL",
        }
    }
}

/// What an operator's interrupt asks for: nothing, SIGTERM (the first
/// Ctrl-C) or SIGKILL (the second).
pub fn requested(level: Interrupt) -> Option<Kill> {
    match level {
        Interrupt::None => None,
        Interrupt::Graceful => Some(Kill::Term),
        Interrupt::Immediate => Some(Kill::Kill),
    }
}

/// Where a stop stands: what was sent last and when the next move is due.
#[derive(Clone, Copy, Debug)]
pub struct Escalation {
    grace: Duration,
    sent: Option<Kill>,
    deadline: Option<Instant>,
}

impl Escalation {
    pub fn new(grace: Duration) -> Self {
        Escalation {
            grace,
            sent: None,
            deadline: None,
        }
    }

    /// Moves up to `kill` when that is a step up (nothing → SIGTERM,
    /// nothing or SIGTERM → SIGKILL) and says whether it did: the caller
    /// then sends the signal. Each step up starts a grace period: after
    /// SIGTERM, until SIGKILL is due ([`Self::kill_due`]); after SIGKILL,
    /// until it is no use waiting any longer ([`Self::give_up_at`]).
    pub fn raise(&mut self, kill: Kill) -> bool {
        let up = matches!(
            (self.sent, kill),
            (None, _) | (Some(Kill::Term), Kill::Kill)
        );
        if up {
            self.sent = Some(kill);
            self.deadline = Some(Instant::now() + self.grace);
        }
        up
    }

    /// The last signal sent, if any.
    pub fn sent(&self) -> Option<Kill> {
        self.sent
    }

    /// Whether SIGKILL was sent.
    pub fn killed(&self) -> bool {
        self.sent == Some(Kill::Kill)
    }

    /// When SIGKILL follows the SIGTERM that was sent.
    pub fn kill_due(&self) -> Option<Instant> {
        self.deadline.filter(|_| self.sent == Some(Kill::Term))
    }

    /// How long to wait for the step to go after SIGKILL.
    pub fn give_up_at(&self) -> Option<Instant> {
        self.deadline.filter(|_| self.killed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalation_only_goes_up() {
        let mut e = Escalation::new(KILL_GRACE);
        assert_eq!((e.sent(), e.kill_due(), e.give_up_at()), (None, None, None));
        assert!(e.raise(Kill::Term));
        assert!(e.kill_due().is_some() && e.give_up_at().is_none());
        assert!(!e.raise(Kill::Term));
        assert!(e.raise(Kill::Kill));
        assert!(e.killed() && e.kill_due().is_none() && e.give_up_at().is_some());
        assert!(!e.raise(Kill::Kill) && !e.raise(Kill::Term));
        assert_eq!(e.sent(), Some(Kill::Kill));

        let mut at_once = Escalation::new(KILL_GRACE);
        assert!(at_once.raise(Kill::Kill));
        assert!(at_once.killed());
    }

    #[test]
    fn interrupts_map_to_signals() {
        assert_eq!(requested(Interrupt::None), None);
        assert_eq!(requested(Interrupt::Graceful), Some(Kill::Term));
        assert_eq!(requested(Interrupt::Immediate), Some(Kill::Kill));
        assert_eq!(Kill::Term.name(), "TERM");
        assert_eq!(Kill::Kill.signal(), nix::sys::signal::Signal::SIGKILL);
    }
}
