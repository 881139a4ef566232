//! Key digests: where an entry lives.

use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;

use md5::Digest as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// The algorithm that turns encoded key bytes into a slot.
///
/// `Blake3` (the default) is fast and keeps 128 bits of BLAKE3; `Md5` is what
/// the Python library uses, for stashes shared with it. Either way a lookup
/// compares the stored key bytes, so a collision never returns another key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DigestAlgo {
    /// BLAKE3, truncated to 128 bits.
    #[default]
    Blake3,
    /// MD5, as the Python hashstash library does.
    Md5,
}

impl DigestAlgo {
    /// The digest of `bytes`.
    pub fn digest(self, bytes: &[u8]) -> Digest {
        let mut out = [0u8; 16];
        match self {
            DigestAlgo::Blake3 => {
                let full = blake3::hash(bytes);
                out.copy_from_slice(&full.as_bytes()[..16]);
            }
            DigestAlgo::Md5 => out.copy_from_slice(&md5::Md5::digest(bytes)),
        }
        Digest(out)
    }

    /// The lowercase name (`"blake3"`, `"md5"`).
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgo::Blake3 => "blake3",
            DigestAlgo::Md5 => "md5",
        }
    }
}

impl FromStr for DigestAlgo {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "blake3" => Ok(DigestAlgo::Blake3),
            "md5" => Ok(DigestAlgo::Md5),
            other => Err(Error::new(
                ErrorKind::Config,
                format!("unknown digest `{other}`: expected `blake3` or `md5`"),
            )),
        }
    }
}

impl fmt::Display for DigestAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A 128-bit key digest: the slot of an entry in an engine.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 16]);

impl Digest {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Lowercase hex, 32 characters.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(32);
        self.write_hex(&mut s);
        s
    }

    /// Appends lowercase hex to `out` without allocating.
    pub fn write_hex(&self, out: &mut String) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in self.0 {
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }

    /// Parses 32 hex characters.
    pub fn from_hex(hex: &str) -> Option<Digest> {
        let bytes = hex.as_bytes();
        if bytes.len() != 32 {
            return None;
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        let mut out = [0u8; 16];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Digest(out))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A hasher for maps keyed by [`Digest`]: the digest is already uniformly
/// random, so its first eight bytes are the hash.
#[derive(Default, Clone, Copy)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Digest hashes as one 16-byte write; anything else folds in byte-wise.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
}

/// `BuildHasher` for `HashMap<Digest, _>`.
pub type BuildDigestHasher = BuildHasherDefault<DigestHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_python_for_cat() {
        // md5 of the raw encoded key `"cat"` as the Python library computes it.
        let d = DigestAlgo::Md5.digest(b"\"cat\"");
        assert_eq!(d.to_hex(), "5868e298eaa67371d8c10cfe937a2e1a");
    }

    #[test]
    fn hex_round_trips() {
        let d = DigestAlgo::Blake3.digest(b"key");
        assert_eq!(Digest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(Digest::from_hex("zz"), None);
        assert_eq!(Digest::from_hex(&"g".repeat(32)), None);
    }

    #[test]
    fn algo_names_parse() {
        assert_eq!("md5".parse::<DigestAlgo>().unwrap(), DigestAlgo::Md5);
        assert!("sha1".parse::<DigestAlgo>().unwrap_err().to_string().contains("sha1"));
    }
}
