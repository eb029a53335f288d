//! The remote half of an SSH step: the wrapper script that runs it in the
//! target's state directory, the per-step token, the end marker that
//! carries the exit status on stderr, and the output pipes. Split from
//! `ssh`, which owns the connections and the step's life cycle.

use crate::exec::kill::Kill;
use crate::exec::shell::quote;
use openssh::{Session, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// A random-enough token per step: it names the step's files in the state
/// directory and makes the end marker unguessable for the step's output.
pub(super) fn token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = format!(
        "{}:{}:{}:{:p}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed),
        &COUNTER
    );
    crate::text::sha256_hex(seed.as_bytes(), 8)
}

/// The remote side of one step. The step's shell is the process-group
/// leader (sshd starts every session with setsid, and the login shell
/// `exec`s bash), so `$$` is the group to signal.
///
/// The state directory is `${TMPDIR:-/tmp}/NAME`, NAME chosen here at
/// random: the first step on a target makes it (mode 0700; a symlink or a
/// directory of another user there is refused), so no session is spent on
/// `mktemp`. The last step on the target removes it when it succeeds (no
/// session is spent on `rm` at the end either); otherwise the pool does.
///
/// The script arrives on stdin and is stored in the state directory, then
/// stdin becomes /dev/null. The EXIT trap saves `export -p` and `pwd`, then
/// writes an end marker with the exit status to stderr; the marker is
/// stripped from the output and gives the exact status even when a
/// background process keeps the channel open.
const WRAPPER: &str = r#"__runbook_state="${TMPDIR:-/tmp}/$1" __runbook_token=$2 __runbook_last=$3
set --
if [ -L "$__runbook_state" ] || { [ -e "$__runbook_state" ] && [ ! -O "$__runbook_state" ]; }; then
  printf 'runbook: the remote state directory %s is not ours\n' "$__runbook_state" >&2
  exit 1
fi
[ -d "$__runbook_state" ] || mkdir -m 700 -- "$__runbook_state" || exit 1
printf '%s\n' "$$" > "$__runbook_state/pgid.$__runbook_token" || exit 1
cat > "$__runbook_state/step.$__runbook_token" || exit 1
exec </dev/null
__runbook_exit() {
  __runbook_rc=$?
  set +e
  trap - EXIT
  if [ "$__runbook_last" = 1 ] && [ "$__runbook_rc" = 0 ]; then
    rm -rf -- "$__runbook_state"
  else
    export -p > "$__runbook_state/env.new" && mv -f "$__runbook_state/env.new" "$__runbook_state/env"
    pwd > "$__runbook_state/cwd.new" && mv -f "$__runbook_state/cwd.new" "$__runbook_state/cwd"
    rm -f "$__runbook_state/step.$__runbook_token"
  fi
  printf '\036RUNBOOK-END-%s:%d\036' "$__runbook_token" "$__runbook_rc" >&2
  exit "$__runbook_rc"
}
trap __runbook_exit EXIT
if [ -f "$__runbook_state/env" ]; then . "$__runbook_state/env" 2>/dev/null; fi
if [ -f "$__runbook_state/cwd" ]; then cd -- "$(cat "$__runbook_state/cwd")" || true; fi
set -eo pipefail
. "$__runbook_state/step.$__runbook_token"
"#;

/// A state directory name nobody can predict: 128 bits from the kernel
/// (the hashed clock and counter only where /dev/urandom is unreadable).
pub(super) fn state_name() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    match random {
        Ok(()) => bytes
            .iter()
            .fold("runbook.".to_string(), |s, b| s + &format!("{b:02x}")),
        Err(_) => format!("runbook.{}{}", token(), token()),
    }
}

/// The state directory as a word for the remote shell.
pub(super) fn state_path(name: &str) -> String {
    format!("\"${{TMPDIR:-/tmp}}\"/{}", quote(name))
}

pub(super) struct RemoteStep {
    /// The state directory's name (see [`state_path`]).
    pub(super) state: String,
    pub(super) token: String,
    /// The last step on this target: it removes the state directory when
    /// it succeeds.
    pub(super) last: bool,
}

impl RemoteStep {
    pub(super) fn new(state: &str, last: bool) -> Self {
        RemoteStep {
            state: state.to_string(),
            token: token(),
            last,
        }
    }

    /// The command line for the remote login shell.
    pub(super) fn command(&self) -> String {
        format!(
            "exec bash --noprofile --norc -c {} runbook {} {} {}",
            quote(WRAPPER),
            quote(&self.state),
            quote(&self.token),
            if self.last { "1" } else { "0" }
        )
    }

    /// Signals the step's process group over the master connection, and
    /// says whether the signal reached it (see [`Delivery`]).
    pub(super) async fn signal(&self, session: &Session, kill: Kill) -> Delivery {
        let sig = kill.name();
        let pgid_file = format!(
            "{}/{}",
            state_path(&self.state),
            quote(&format!("pgid.{}", self.token))
        );
        let cmd = format!(
            "p=$(cat {pgid_file} 2>/dev/null) && [ -n \"$p\" ] || exit 3; kill -{sig} -- \"-$p\" 2>/dev/null; exit 0"
        );
        let status = tokio::time::timeout(
            Duration::from_secs(5),
            session
                .raw_command(cmd)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status(),
        )
        .await;
        match status {
            Ok(Ok(s)) if s.code() == Some(3) => Delivery::NotYet,
            Ok(Ok(s)) if s.success() => Delivery::Sent,
            _ => Delivery::Unknown,
        }
    }
}

/// What became of a signal to the remote step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Delivery {
    /// `kill` ran on the target (the group may have been gone already).
    Sent,
    /// The step has not recorded its process group yet: try again shortly.
    NotYet,
    /// The signal session failed or timed out (a loaded or lost
    /// connection): try again, less often; the escalation and give-up
    /// timers bound the wait.
    Unknown,
}

/// One output pipe of the remote step.
pub(super) struct Pipe<R> {
    pub(super) reader: R,
    pub(super) buf: Vec<u8>,
    pub(super) done: bool,
}

impl<R: AsyncRead + Unpin> Pipe<R> {
    pub(super) fn new(reader: R) -> Self {
        Pipe {
            reader,
            buf: vec![0; 32 * 1024],
            done: false,
        }
    }

    /// The next chunk, or `None` at the end (a read error ends it too: the
    /// exit status says what happened).
    pub(super) async fn read(&mut self) -> Option<&[u8]> {
        match self.reader.read(&mut self.buf).await {
            Ok(0) | Err(_) => {
                self.done = true;
                None
            }
            Ok(n) => Some(&self.buf[..n]),
        }
    }
}

/// Finds and removes the end marker `\x1eRUNBOOK-END-<token>:<rc>\x1e` in
/// the stderr stream, holding back bytes that might be its beginning.
pub(super) struct EndMarker {
    pub(super) prefix: Vec<u8>,
    pub(super) pending: Vec<u8>,
    pub(super) rc: Option<i32>,
}

impl EndMarker {
    pub(super) fn new(token: &str) -> Self {
        EndMarker {
            prefix: format!("\x1eRUNBOOK-END-{token}:").into_bytes(),
            pending: Vec::new(),
            rc: None,
        }
    }

    /// Feeds a chunk; returns the bytes that are certainly output.
    pub(super) fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::new();
        loop {
            if self.rc.is_some() {
                out.append(&mut self.pending);
                return out;
            }
            match find(&self.pending, &self.prefix) {
                Some(i) => {
                    let after = i + self.prefix.len();
                    let tail = &self.pending[after..];
                    match tail.iter().position(|&b| b == 0x1e) {
                        Some(j) => {
                            let rc = std::str::from_utf8(&tail[..j])
                                .ok()
                                .and_then(|s| s.parse::<i32>().ok());
                            match rc {
                                Some(rc) => {
                                    self.rc = Some(rc);
                                    out.extend_from_slice(&self.pending[..i]);
                                    self.pending.drain(..after + j + 1);
                                }
                                None => {
                                    out.extend_from_slice(&self.pending[..after]);
                                    self.pending.drain(..after);
                                }
                            }
                        }
                        None if tail.len() > 12 => {
                            out.extend_from_slice(&self.pending[..after]);
                            self.pending.drain(..after);
                        }
                        None => {
                            out.extend_from_slice(&self.pending[..i]);
                            self.pending.drain(..i);
                            return out;
                        }
                    }
                }
                None => {
                    let keep = (1..self.prefix.len())
                        .rev()
                        .find(|&k| {
                            k <= self.pending.len()
                                && self.pending[self.pending.len() - k..] == self.prefix[..k]
                        })
                        .unwrap_or(0);
                    let emit = self.pending.len() - keep;
                    out.extend_from_slice(&self.pending[..emit]);
                    self.pending.drain(..emit);
                    return out;
                }
            }
        }
    }

    /// The end of the stream: whatever was held back is output after all.
    pub(super) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(m: &mut EndMarker, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            out.extend(m.push(c));
        }
        out.extend(m.finish());
        out
    }

    #[test]
    fn marker_is_stripped_and_gives_the_status() {
        let mut m = EndMarker::new("abc");
        let out = feed(&mut m, &[b"err line\n\x1eRUNBOOK-END-abc:3\x1e"]);
        assert_eq!(out, b"err line\n");
        assert_eq!(m.rc, Some(3));
    }

    #[test]
    fn marker_split_across_chunks_byte_by_byte() {
        let text = b"x\x1eRUNBOOK-END-abc:42\x1elate";
        let mut m = EndMarker::new("abc");
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        let out = feed(&mut m, &chunks);
        assert_eq!(out, b"xlate");
        assert_eq!(m.rc, Some(42));
    }

    #[test]
    fn other_tokens_and_partial_markers_are_output() {
        let mut m = EndMarker::new("abc");
        let text: &[u8] = b"\x1eRUNBOOK-END-zzz:1\x1e and \x1eRUNBOOK-EN";
        let out = feed(&mut m, &[text]);
        assert_eq!(out, text);
        assert_eq!(m.rc, None);
        let mut m = EndMarker::new("abc");
        let text: &[u8] = b"\x1eRUNBOOK-END-abc:notanumber\x1e";
        assert_eq!(feed(&mut m, &[text]), text);
        assert_eq!(m.rc, None);
    }
}
