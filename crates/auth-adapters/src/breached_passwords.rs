//! [`BreachedPasswords`] over a file of SHA-1 hashes as Have I Been Pwned publishes it: one `HASH`
//! or `HASH:COUNT` a line, hex in either case, sorted by hash, LF or CRLF line ends.
//!
//! The file is tens of gigabytes in its full form, so it is never loaded: each lookup is a binary
//! search over byte offsets, reading a few hundred bytes per step (about 35 reads for a billion
//! lines), on the blocking pool.

use std::cmp::Ordering;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use auth_domain::ports::BreachedPasswords;
use auth_domain::{InfrastructureError, Password};
use sha1::{Digest, Sha1};

/// Hex digits of a SHA-1.
const HASH_LENGTH: usize = 40;
/// More than any line of the format (a hash, a colon and a count, a CRLF).
const READ_WINDOW: usize = 256;

/// A sorted file of breached-password hashes.
#[derive(Debug, Clone)]
pub struct BreachedPasswordFile {
    path: PathBuf,
}

impl BreachedPasswordFile {
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        File::open(path)?;
        Ok(Self { path: path.to_owned() })
    }
}

#[async_trait]
impl BreachedPasswords for BreachedPasswordFile {
    async fn contains(&self, password: &Password) -> Result<bool, InfrastructureError> {
        let digest = Sha1::digest(password.expose().as_bytes());
        let target: Vec<u8> = digest.iter().flat_map(|byte| format!("{byte:02X}").into_bytes()).collect();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let file = File::open(&path)?;
            let length = file.metadata()?.len();
            search(&file, length, &target)
        })
        .await
        .map_err(InfrastructureError::unexpected)?
        .map_err(InfrastructureError::unavailable)
    }
}

/// The line that starts at or after `offset` (a line starts at 0 or after a `\n`): its start, the
/// start of the next line, and its hash in upper case; `None` when no line starts there.
fn line_at_or_after(file: &File, offset: u64, length: u64) -> std::io::Result<Option<(u64, u64, Vec<u8>)>> {
    let mut start = offset;
    if start > 0 {
        // Back up one byte to learn whether `offset` itself begins a line.
        let mut window = vec![0; READ_WINDOW];
        let read = file.read_at(&mut window, start - 1)?;
        match window[..read].iter().position(|byte| *byte == b'\n') {
            Some(newline) => start = start - 1 + newline as u64 + 1,
            None => return Ok(None),
        }
    }
    if start >= length {
        return Ok(None);
    }
    let mut window = vec![0; READ_WINDOW];
    let read = file.read_at(&mut window, start)?;
    let line_length = window[..read].iter().position(|byte| *byte == b'\n').unwrap_or(read);
    let line = &window[..line_length];
    let hash: Vec<u8> = line.iter().take(HASH_LENGTH).map(u8::to_ascii_uppercase).collect();
    Ok(Some((start, start + line_length as u64 + 1, hash)))
}

/// Binary search for `target` (40 upper-case hex digits) among the lines of a sorted file.
fn search(file: &File, length: u64, target: &[u8]) -> std::io::Result<bool> {
    // Invariant: `low` is a line start, and a matching line, if any, starts in [low, high).
    let (mut low, mut high) = (0, length);
    while low < high {
        let middle = low + (high - low) / 2;
        match line_at_or_after(file, middle, length)? {
            Some((start, next, hash)) if start < high => match hash.as_slice().cmp(target) {
                Ordering::Equal => return Ok(true),
                Ordering::Less => low = next,
                Ordering::Greater => high = middle,
            },
            // No line starts in [middle, high): the match, if any, starts before `middle`.
            _ => high = middle,
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn sha1_hex(text: &str) -> String {
        Sha1::digest(text.as_bytes()).iter().map(|byte| format!("{byte:02X}")).collect()
    }

    /// A sorted list of the hashes of `passwords` plus filler, written with the given style.
    fn list(passwords: &[&str], filler: usize, lowercase: bool, crlf: bool) -> (tempfile::NamedTempFile, Vec<String>) {
        let mut hashes: Vec<String> = passwords.iter().map(|password| sha1_hex(password)).collect();
        hashes.extend((0..filler).map(|n| sha1_hex(&format!("filler-{n}"))));
        hashes.sort();
        let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
        for (n, hash) in hashes.iter().enumerate() {
            let hash = if lowercase { hash.to_lowercase() } else { hash.clone() };
            let count = if n % 2 == 0 { format!(":{}", n * 7 + 1) } else { String::new() };
            write!(file, "{hash}{count}{}", if crlf { "\r\n" } else { "\n" }).expect("written");
        }
        (file, hashes)
    }

    async fn contains(file: &tempfile::NamedTempFile, password: &str) -> bool {
        BreachedPasswordFile::open(file.path())
            .expect("opens")
            .contains(&Password::new(password))
            .await
            .expect("looks up")
    }

    #[tokio::test]
    async fn every_listed_password_is_found_and_no_other() {
        for (lowercase, crlf) in [(false, false), (true, true), (false, true), (true, false)] {
            let (file, hashes) = list(&["password123", "correct horse battery staple"], 500, lowercase, crlf);
            assert!(contains(&file, "password123").await);
            assert!(contains(&file, "correct horse battery staple").await);
            assert!(!contains(&file, "violet-otter-sings-at-dawn").await);
            // The first and last lines are the edges binary searches get wrong.
            let first = std::fs::File::open(file.path()).expect("opens");
            let length = first.metadata().expect("metadata").len();
            assert!(search(&first, length, hashes[0].as_bytes()).expect("searches"));
            assert!(search(&first, length, hashes[hashes.len() - 1].as_bytes()).expect("searches"));
            assert!(!search(&first, length, "0000000000000000000000000000000000000000".as_bytes()).expect("searches"));
            assert!(!search(&first, length, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF".as_bytes()).expect("searches"));
        }
    }

    #[tokio::test]
    async fn an_empty_list_or_a_one_line_list_works() {
        let (empty, _) = list(&[], 0, false, false);
        assert!(!contains(&empty, "anything").await);
        let (single, _) = list(&["only"], 0, false, false);
        assert!(contains(&single, "only").await);
        assert!(!contains(&single, "other").await);
    }
}
