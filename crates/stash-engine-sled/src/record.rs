//! The record stored under each digest: the encoded key and its versions.
//!
//! ```text
//! u8        format tag, 1
//! u32 LE    key length K
//! K bytes   encoded key
//! then one or more versions, NEWEST FIRST:
//!   i64 LE  written at, microseconds since the Unix epoch
//!   u32 LE  value length V
//!   V bytes encoded value
//! ```
//!
//! Newest first makes `get` read one version header whatever the number of
//! versions; an append copies the old versions behind the new one (sled
//! values are immutable, so an append rewrites the record in any layout).

use std::fmt;

/// The first byte of every record.
const TAG: u8 = 1;
const KEY_HEADER: usize = 1 + 4;
const VERSION_HEADER: usize = 8 + 4;

/// Why a record does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Damaged(&'static str);

impl fmt::Display for Damaged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A value or key too long for the record's 32-bit lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLong(pub usize);

fn len32(n: usize) -> Result<[u8; 4], TooLong> {
    u32::try_from(n).map(u32::to_le_bytes).map_err(|_| TooLong(n))
}

/// A parsed record, borrowing the stored bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    /// The encoded key.
    pub key: &'a [u8],
    /// The versions, newest first, still encoded.
    versions: &'a [u8],
}

impl<'a> View<'a> {
    /// Parses the header and key; versions are parsed on demand.
    pub fn parse(bytes: &'a [u8]) -> Result<View<'a>, Damaged> {
        let (&tag, rest) = bytes.split_first().ok_or(Damaged("the record is empty"))?;
        if tag != TAG {
            return Err(Damaged("unknown record format tag"));
        }
        let (len, rest) = split_u32(rest).ok_or(Damaged("the record is truncated in its key length"))?;
        if rest.len() < len {
            return Err(Damaged("the record is truncated in its key"));
        }
        let (key, versions) = rest.split_at(len);
        if versions.is_empty() {
            return Err(Damaged("the record holds no version"));
        }
        Ok(View { key, versions })
    }

    /// The newest version: `(micros, value)`.
    pub fn newest(&self) -> Result<(i64, &'a [u8]), Damaged> {
        split_version(self.versions).map(|(micros, value, _)| (micros, value))
    }

    /// Every version, newest first.
    pub fn versions(&self) -> Result<Vec<(i64, &'a [u8])>, Damaged> {
        let mut out = Vec::new();
        let mut rest = self.versions;
        while !rest.is_empty() {
            let (micros, value, tail) = split_version(rest)?;
            out.push((micros, value));
            rest = tail;
        }
        Ok(out)
    }

    /// The encoded versions, to copy behind a new one.
    fn versions_bytes(&self) -> &'a [u8] {
        self.versions
    }
}

fn split_u32(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*head) as usize, rest))
}

fn split_version(bytes: &[u8]) -> Result<(i64, &[u8], &[u8]), Damaged> {
    let (micros, rest) =
        bytes.split_first_chunk::<8>().ok_or(Damaged("the record is truncated in a version"))?;
    let (len, rest) = split_u32(rest).ok_or(Damaged("the record is truncated in a version length"))?;
    if rest.len() < len {
        return Err(Damaged("the record is truncated in a value"));
    }
    let (value, tail) = rest.split_at(len);
    Ok((i64::from_le_bytes(*micros), value, tail))
}

/// A record holding one version.
pub(crate) fn single(key: &[u8], micros: i64, value: &[u8]) -> Result<Vec<u8>, TooLong> {
    with_older(key, micros, value, &[])
}

/// A record holding a new version in front of the versions of `old`.
pub(crate) fn appended(old: &View<'_>, micros: i64, value: &[u8]) -> Result<Vec<u8>, TooLong> {
    with_older(old.key, micros, value, old.versions_bytes())
}

fn with_older(key: &[u8], micros: i64, value: &[u8], older: &[u8]) -> Result<Vec<u8>, TooLong> {
    let key_len = len32(key.len())?;
    let value_len = len32(value.len())?;
    let mut out = Vec::with_capacity(KEY_HEADER + key.len() + VERSION_HEADER + value.len() + older.len());
    out.push(TAG);
    out.extend_from_slice(&key_len);
    out.extend_from_slice(key);
    out.extend_from_slice(&micros.to_le_bytes());
    out.extend_from_slice(&value_len);
    out.extend_from_slice(value);
    out.extend_from_slice(older);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_round_trips() {
        let rec = single(b"key", 17, b"value").unwrap();
        assert_eq!(rec.len(), KEY_HEADER + 3 + VERSION_HEADER + 5);
        let view = View::parse(&rec).unwrap();
        assert_eq!(view.key, b"key");
        assert_eq!(view.newest().unwrap(), (17, &b"value"[..]));
        assert_eq!(view.versions().unwrap(), vec![(17, &b"value"[..])]);
    }

    #[test]
    fn appends_go_in_front() {
        let one = single(b"k", 1, b"a").unwrap();
        let two = appended(&View::parse(&one).unwrap(), 2, b"").unwrap();
        let three = appended(&View::parse(&two).unwrap(), 3, b"ccc").unwrap();
        let view = View::parse(&three).unwrap();
        assert_eq!(view.key, b"k");
        assert_eq!(view.newest().unwrap(), (3, &b"ccc"[..]));
        assert_eq!(view.versions().unwrap(), vec![(3, &b"ccc"[..]), (2, &b""[..]), (1, &b"a"[..])]);
    }

    #[test]
    fn every_truncation_is_damaged_never_a_panic() {
        let one = single(b"key", 1, b"a").unwrap();
        let rec = appended(&View::parse(&one).unwrap(), 2, b"bb").unwrap();
        // Cutting right after the newest version leaves a valid one-version record.
        let newest_only = KEY_HEADER + 3 + VERSION_HEADER + 2;
        for cut in (0..rec.len()).filter(|&c| c != newest_only) {
            let bytes = &rec[..cut];
            let whole = View::parse(bytes).and_then(|v| v.versions().map(|_| ()));
            assert!(whole.is_err(), "cut at {cut} parsed");
        }
        assert!(View::parse(&[9, 0, 0, 0, 0, 1]).is_err());
        assert!(View::parse(&[1, 255, 255, 255, 255]).is_err());
    }
}
