//! The record stored under each digest: the encoded key, its expiry and its versions.
//!
//! ```text
//! u8        format tag: 1 (no expiry) or 2 (with an expiry)
//! i64 LE    tag 2 only: expires at, microseconds since the Unix epoch
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
//! The expiry sits at a fixed offset so `len` can check it from the first
//! nine bytes; a permanent entry keeps the tag-1 layout of earlier versions,
//! which this build still reads and writes.

use std::fmt;

/// The first byte of a record without an expiry.
const TAG: u8 = 1;
/// The first byte of a record with an expiry.
const TAG_EXPIRING: u8 = 2;
const KEY_HEADER: usize = 1 + 4;
const EXPIRY: usize = 8;
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
    /// When the entry expires, if ever.
    pub expires_at: Option<i64>,
    /// The versions, newest first, still encoded.
    versions: &'a [u8],
}

impl<'a> View<'a> {
    /// Parses the header and key; versions are parsed on demand.
    pub fn parse(bytes: &'a [u8]) -> Result<View<'a>, Damaged> {
        let (expires_at, rest) = split_expiry(bytes)?;
        let (len, rest) = split_u32(rest).ok_or(Damaged("the record is truncated in its key length"))?;
        if rest.len() < len {
            return Err(Damaged("the record is truncated in its key"));
        }
        let (key, versions) = rest.split_at(len);
        if versions.is_empty() {
            return Err(Damaged("the record holds no version"));
        }
        Ok(View { key, expires_at, versions })
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

    /// Whether the entry is live at `now` (not expired).
    pub fn live(&self, now: i64) -> bool {
        !stash_engine_api::clock::is_expired(self.expires_at, now)
    }

    /// How many versions there are and their values' total length, without
    /// copying a value.
    pub fn sizes(&self) -> Result<(u64, u64), Damaged> {
        let (mut count, mut bytes) = (0u64, 0u64);
        let mut rest = self.versions;
        while !rest.is_empty() {
            let (_, value, tail) = split_version(rest)?;
            count += 1;
            bytes += value.len() as u64;
            rest = tail;
        }
        Ok((count, bytes))
    }

    /// The encoded versions, to copy behind a new one.
    fn versions_bytes(&self) -> &'a [u8] {
        self.versions
    }
}

/// Splits off the format tag and, for tag 2, the expiry.
fn split_expiry(bytes: &[u8]) -> Result<(Option<i64>, &[u8]), Damaged> {
    match bytes.split_first() {
        None => Err(Damaged("the record is empty")),
        Some((&TAG, rest)) => Ok((None, rest)),
        Some((&TAG_EXPIRING, rest)) => {
            let (at, rest) =
                rest.split_first_chunk::<EXPIRY>().ok_or(Damaged("the record is truncated in its expiry"))?;
            Ok((Some(i64::from_le_bytes(*at)), rest))
        }
        Some(_) => Err(Damaged("unknown record format tag")),
    }
}

/// The expiry of a stored record from its first bytes only, without parsing
/// the rest: `Ok(None)` for a permanent entry.
pub(crate) fn expiry(bytes: &[u8]) -> Result<Option<i64>, Damaged> {
    split_expiry(bytes).map(|(at, _)| at)
}

/// Whether a stored record carries an expiry (whatever its state): what the
/// count of expiring entries counts.
pub(crate) fn has_expiry(bytes: &[u8]) -> bool {
    bytes.first() == Some(&TAG_EXPIRING)
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

/// A record holding one version, expiring at `expires_at`.
pub(crate) fn single(
    key: &[u8],
    expires_at: Option<i64>,
    micros: i64,
    value: &[u8],
) -> Result<Vec<u8>, TooLong> {
    with_older(key, expires_at, micros, value, &[])
}

/// A record holding a new version in front of the versions of `old`, now
/// expiring at `expires_at`.
pub(crate) fn appended(
    old: &View<'_>,
    expires_at: Option<i64>,
    micros: i64,
    value: &[u8],
) -> Result<Vec<u8>, TooLong> {
    with_older(old.key, expires_at, micros, value, old.versions_bytes())
}

fn with_older(
    key: &[u8],
    expires_at: Option<i64>,
    micros: i64,
    value: &[u8],
    older: &[u8],
) -> Result<Vec<u8>, TooLong> {
    let key_len = len32(key.len())?;
    let value_len = len32(value.len())?;
    let expiry_len = if expires_at.is_some() { EXPIRY } else { 0 };
    let mut out =
        Vec::with_capacity(KEY_HEADER + expiry_len + key.len() + VERSION_HEADER + value.len() + older.len());
    match expires_at {
        None => out.push(TAG),
        Some(at) => {
            out.push(TAG_EXPIRING);
            out.extend_from_slice(&at.to_le_bytes());
        }
    }
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
        let rec = single(b"key", None, 17, b"value").unwrap();
        assert_eq!(rec.len(), KEY_HEADER + 3 + VERSION_HEADER + 5);
        let view = View::parse(&rec).unwrap();
        assert_eq!(view.key, b"key");
        assert_eq!(view.expires_at, None);
        assert_eq!(rec[0], 1, "a permanent entry keeps the tag-1 layout");
        assert_eq!(view.newest().unwrap(), (17, &b"value"[..]));
        assert_eq!(view.versions().unwrap(), vec![(17, &b"value"[..])]);
    }

    #[test]
    fn appends_go_in_front() {
        let one = single(b"k", None, 1, b"a").unwrap();
        let two = appended(&View::parse(&one).unwrap(), Some(50), 2, b"").unwrap();
        let three = appended(&View::parse(&two).unwrap(), None, 3, b"ccc").unwrap();
        assert_eq!(View::parse(&two).unwrap().expires_at, Some(50));
        let view = View::parse(&three).unwrap();
        assert_eq!(view.key, b"k");
        assert_eq!(view.newest().unwrap(), (3, &b"ccc"[..]));
        assert_eq!(view.versions().unwrap(), vec![(3, &b"ccc"[..]), (2, &b""[..]), (1, &b"a"[..])]);
        assert_eq!(view.expires_at, None, "the newest write decides the expiry");
        assert_eq!(view.sizes().unwrap(), (3, 4));
    }

    #[test]
    fn an_expiring_record_has_tag_2_and_its_expiry_up_front() {
        let rec = single(b"key", Some(-5), 17, b"value").unwrap();
        assert_eq!(rec.len(), KEY_HEADER + EXPIRY + 3 + VERSION_HEADER + 5);
        assert_eq!(rec[0], 2);
        assert_eq!(&rec[1..9], &(-5i64).to_le_bytes());
        assert_eq!(&rec[9..13], &3u32.to_le_bytes());
        assert!(has_expiry(&rec));
        assert_eq!(expiry(&rec), Ok(Some(-5)));
        let view = View::parse(&rec).unwrap();
        assert_eq!((view.key, view.expires_at), (&b"key"[..], Some(-5)));
        assert_eq!(view.newest().unwrap(), (17, &b"value"[..]));
        assert!(!view.live(-5) && view.live(-6));
        let appended = appended(&view, Some(99), 18, b"v2").unwrap();
        let view = View::parse(&appended).unwrap();
        assert_eq!(view.expires_at, Some(99));
        assert_eq!(view.versions().unwrap(), vec![(18, &b"v2"[..]), (17, &b"value"[..])]);
    }

    #[test]
    fn a_tag_1_record_of_the_first_format_still_parses() {
        // Written byte by byte as the first format did: tag 1, key, one version.
        let mut old = vec![1, 2, 0, 0, 0, b'k', b'y'];
        old.extend_from_slice(&7i64.to_le_bytes());
        old.extend_from_slice(&1u32.to_le_bytes());
        old.push(b'v');
        let view = View::parse(&old).unwrap();
        assert_eq!((view.key, view.expires_at), (&b"ky"[..], None));
        assert_eq!(view.versions().unwrap(), vec![(7, &b"v"[..])]);
        assert!(!has_expiry(&old));
        assert_eq!(expiry(&old), Ok(None));
        assert!(view.live(i64::MAX));
    }

    #[test]
    fn every_truncation_is_damaged_never_a_panic() {
        for expires_at in [None, Some(1234)] {
            let one = single(b"key", expires_at, 1, b"a").unwrap();
            let rec = appended(&View::parse(&one).unwrap(), expires_at, 2, b"bb").unwrap();
            // Cutting right after the newest version leaves a valid one-version record.
            let header = KEY_HEADER + if expires_at.is_some() { EXPIRY } else { 0 };
            let newest_only = header + 3 + VERSION_HEADER + 2;
            for cut in (0..rec.len()).filter(|&c| c != newest_only) {
                let bytes = &rec[..cut];
                let whole = View::parse(bytes).and_then(|v| v.versions().map(|_| ()));
                assert!(whole.is_err(), "cut at {cut} parsed");
                assert!(View::parse(bytes).and_then(|v| v.sizes()).is_err(), "cut at {cut} sized");
            }
        }
        assert!(expiry(&[2, 1, 2, 3]).is_err());
        assert!(View::parse(&[9, 0, 0, 0, 0, 1]).is_err());
        assert!(View::parse(&[1, 255, 255, 255, 255]).is_err());
    }
}
