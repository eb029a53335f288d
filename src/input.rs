//! Reading the files a user names (runbooks, annotated copies, reports,
//! notebooks, params and secret files, keys) with a bound: `runbook
//! check /dev/zero`, a FIFO fed forever or a multi-gigabyte file must end
//! with an error naming the file, not take the machine's memory. Every
//! such read goes through here.

use std::io::{self, Read};
use std::path::Path;

/// The most any input may hold: far above any runbook or annotated copy
/// (a copy keeps a long step's output in its log file, not inline).
pub const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

/// The file's bytes, at most [`MAX_INPUT_BYTES`].
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    read_at_most(path.as_ref(), MAX_INPUT_BYTES)
}

/// The file's text, at most [`MAX_INPUT_BYTES`]; not UTF-8 is an
/// `InvalidData` error, as `std::fs::read_to_string` gives.
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

fn read_at_most(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than {} MiB", limit / (1024 * 1024)),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_stream_stops_at_the_limit() {
        let e = read_at_most(Path::new("/dev/zero"), 1024).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(e.to_string(), "larger than 0 MiB");
    }

    #[test]
    fn a_file_at_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![b'x'; 1024]).unwrap();
        assert_eq!(read_at_most(&p, 1024).unwrap().len(), 1024);
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_to_string(&p).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
