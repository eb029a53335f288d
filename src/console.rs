//! The operator's side of the process: stdout, stderr and the answer typed
//! at a gate.
//!
//! `print!`/`eprint!` panic when the stream is gone: `runbook list | head
//! -1` closes stdout, a dropped SSH session hangs up the terminal. A tool
//! that must finish writing its audit record cannot afford that, so all
//! output goes through here: on stdout a closed pipe (`EPIPE`) just ends
//! the output quietly (the command keeps its own exit code), other errors
//! (a full disk) are returned; stderr is best effort.
//!
//! Reading a gate's answer blocks, so it runs on a blocking thread; a
//! thread stuck in `read(2)` would keep the process alive after Ctrl-C.
//! [`read_answer`] polls stdin with a short timeout instead and gives up as
//! soon as its future is dropped, reading byte by byte so it never takes
//! more than the answer's line from the terminal.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Writes `text` to stdout. A reader that went away is not an error.
pub fn out(text: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(text).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// Writes `text` to stderr, ignoring every error.
pub fn err(text: &str) {
    let mut stderr = io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

/// How often the reader checks whether it was abandoned.
const POLL: Duration = Duration::from_millis(50);

/// Sets the flag when dropped: the reader thread sees it and returns.
struct Cancel(Arc<AtomicBool>);

impl Drop for Cancel {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// One line from stdin (without its end), `None` at end of input or on an
/// error. Dropping the future abandons the read within [`POLL`].
pub async fn read_answer() -> Option<String> {
    let cancelled = Arc::new(AtomicBool::new(false));
    let _cancel = Cancel(cancelled.clone());
    tokio::task::spawn_blocking(move || read_line(&cancelled))
        .await
        .ok()
        .flatten()
}

fn read_line(cancelled: &AtomicBool) -> Option<String> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let stdin = io::stdin();
    let fd = stdin.as_fd();
    let mut line = Vec::new();
    let timeout = PollTimeout::try_from(POLL).unwrap_or(PollTimeout::ZERO);
    while !cancelled.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => return None,
        }
        let mut byte = [0u8; 1];
        match nix::unistd::read(fd, &mut byte) {
            Ok(0) if line.is_empty() => return None,
            Ok(0) => return Some(String::from_utf8_lossy(&line).into_owned()),
            Ok(_) if byte[0] == b'\n' => {
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            Ok(_) => line.push(byte[0]),
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
            Err(_) => return None,
        }
    }
    None
}
