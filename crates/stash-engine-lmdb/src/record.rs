//! The bytes stored under one LMDB key: the encoded key and its versions.
//!
//! ```text
//! offset  size   field
//! 0       1      format byte: 0x01, or 0x02 for an entry that expires
//! 1       4      key length K, u32 little-endian
//! 5       K      encoded key
//! 5+K     4      version count N ≥ 1, u32 little-endian
//! 9+K     8      (format 0x02 only) expiry, microseconds since the Unix epoch, i64 little-endian
//! then N times, oldest first:
//!         8      written at, microseconds since the Unix epoch, i64 little-endian
//!         8      value length V, u64 little-endian
//!         V      encoded value
//! ```
//!
//! The record must end exactly after the last version; anything else is
//! reported as damage. A replacing write stores one version; an appending
//! write copies the record and adds one at the end.

use std::io::{self, Write};

/// The first byte of a record that never expires.
pub(crate) const FORMAT: u8 = 1;
/// The first byte of a record with an expiry time.
pub(crate) const FORMAT_EXPIRING: u8 = 2;

const HEADER: usize = 1 + 4;
const COUNT: usize = 4;
const EXPIRY: usize = 8;
const VERSION_HEADER: usize = 8 + 8;

/// Why a record does not parse.
pub(crate) type Damage = &'static str;

/// A parsed view of a record, borrowing its bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordView<'a> {
    /// The encoded key.
    pub key: &'a [u8],
    /// When the entry expires, if ever.
    pub expires: Option<i64>,
    count: u32,
    /// The version entries, back to back.
    versions: &'a [u8],
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Reads the header and the key; the versions are checked when walked.
pub(crate) fn parse(bytes: &[u8]) -> Result<RecordView<'_>, Damage> {
    let expiring = match bytes.first() {
        None => return Err("empty record"),
        Some(&FORMAT) => false,
        Some(&FORMAT_EXPIRING) => true,
        Some(_) => return Err("unknown record format (not written by this engine)"),
    };
    let key_len = u32_at(bytes, 1).ok_or("record truncated in its header")? as usize;
    let key_end = HEADER.checked_add(key_len).ok_or("key length out of range")?;
    let key = bytes.get(HEADER..key_end).ok_or("record truncated in its key")?;
    let count = u32_at(bytes, key_end).ok_or("record truncated before its version count")?;
    if count == 0 {
        return Err("record holds no version");
    }
    let mut rest = key_end + COUNT;
    let expires = if expiring {
        let at = u64_at(bytes, rest).ok_or("record truncated in its expiry")? as i64;
        rest += EXPIRY;
        Some(at)
    } else {
        None
    };
    Ok(RecordView { key, expires, count, versions: &bytes[rest..] })
}

impl<'a> RecordView<'a> {
    /// How many versions the record holds.
    #[cfg(test)]
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Every version, oldest first: `(micros, value)`.
    pub fn versions(&self) -> Versions<'a> {
        Versions { rest: self.versions, left: self.count }
    }

    /// The newest version; walks (and checks) every version header.
    pub fn newest(&self) -> Result<(i64, &'a [u8]), Damage> {
        let mut last = None;
        for version in self.versions() {
            last = Some(version?);
        }
        last.ok_or("record holds no version")
    }

    /// How many versions the record holds, and their value bytes in all (checks every header).
    pub fn totals(&self) -> Result<(u64, u64), Damage> {
        self.versions().try_fold((0, 0), |(n, bytes), v| Ok((n + 1, bytes + v?.1.len() as u64)))
    }

    /// The whole record with `(micros, value)` added as its newest version,
    /// expiring at `expires`.
    pub fn appended(&self, micros: i64, value: &[u8], expires: Option<i64>) -> Result<Vec<u8>, Damage> {
        // Walk first: a damaged record is reported, not extended.
        self.newest()?;
        let count = self.count.checked_add(1).ok_or("too many versions")?;
        let len = head_len(self.key, expires) + self.versions.len() + VERSION_HEADER + value.len();
        let mut out = Vec::with_capacity(len);
        write_head(&mut out, self.key, count, expires).map_err(|_| "cannot build record")?;
        out.extend_from_slice(self.versions);
        write_version(&mut out, micros, value).map_err(|_| "cannot build record")?;
        Ok(out)
    }
}

/// Iterates over the versions of a record, checking bounds as it goes.
#[derive(Debug, Clone)]
pub(crate) struct Versions<'a> {
    rest: &'a [u8],
    left: u32,
}

impl<'a> Iterator for Versions<'a> {
    type Item = Result<(i64, &'a [u8]), Damage>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            if self.rest.is_empty() {
                return None;
            }
            self.rest = &[];
            return Some(Err("trailing bytes after the last version"));
        }
        self.left -= 1;
        let parsed = (|| {
            let micros = u64_at(self.rest, 0).ok_or("record truncated in a version header")? as i64;
            let len = u64_at(self.rest, 8).ok_or("record truncated in a version header")?;
            let len = usize::try_from(len).map_err(|_| "version length out of range")?;
            let end = VERSION_HEADER.checked_add(len).ok_or("version length out of range")?;
            let value = self.rest.get(VERSION_HEADER..end).ok_or("record truncated in a value")?;
            self.rest = &self.rest[end..];
            Ok((micros, value))
        })();
        if parsed.is_err() {
            self.left = 0;
            self.rest = &[];
        }
        Some(parsed)
    }
}

fn head_len(key: &[u8], expires: Option<i64>) -> usize {
    HEADER + key.len() + COUNT + if expires.is_some() { EXPIRY } else { 0 }
}

/// The size of a record holding one version.
pub(crate) fn single_len(key: &[u8], value: &[u8], expires: Option<i64>) -> usize {
    head_len(key, expires) + VERSION_HEADER + value.len()
}

/// Writes a record holding one version (exactly [`single_len`] bytes).
pub(crate) fn write_single(
    out: &mut impl Write,
    key: &[u8],
    micros: i64,
    value: &[u8],
    expires: Option<i64>,
) -> io::Result<()> {
    write_head(out, key, 1, expires)?;
    write_version(out, micros, value)
}

fn write_head(out: &mut impl Write, key: &[u8], count: u32, expires: Option<i64>) -> io::Result<()> {
    let key_len = u32::try_from(key.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "key longer than 4 GiB"))?;
    out.write_all(&[if expires.is_some() { FORMAT_EXPIRING } else { FORMAT }])?;
    out.write_all(&key_len.to_le_bytes())?;
    out.write_all(key)?;
    out.write_all(&count.to_le_bytes())?;
    if let Some(at) = expires {
        out.write_all(&at.to_le_bytes())?;
    }
    Ok(())
}

fn write_version(out: &mut impl Write, micros: i64, value: &[u8]) -> io::Result<()> {
    out.write_all(&micros.to_le_bytes())?;
    out.write_all(&(value.len() as u64).to_le_bytes())?;
    out.write_all(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(key: &[u8], micros: i64, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_single(&mut out, key, micros, value, None).unwrap();
        assert_eq!(out.len(), single_len(key, value, None));
        out
    }

    #[test]
    fn expiry_round_trip() {
        let mut out = Vec::new();
        write_single(&mut out, b"k", 5, b"v", Some(99)).unwrap();
        assert_eq!(out.len(), single_len(b"k", b"v", Some(99)));
        let view = parse(&out).unwrap();
        assert_eq!((view.key, view.expires), (&b"k"[..], Some(99)));
        assert_eq!(view.newest().unwrap(), (5, &b"v"[..]));
        // An append may drop the expiry, and the versions survive it.
        let plain = view.appended(6, b"w", None).unwrap();
        let view = parse(&plain).unwrap();
        assert_eq!(view.expires, None);
        assert_eq!(view.totals().unwrap(), (2, 2));
        assert!(
            parse(&out[..out.len() - 11]).is_err()
                || parse(&out[..out.len() - 11]).unwrap().newest().is_err()
        );
    }

    #[test]
    fn single_round_trip() {
        let bytes = single(b"\"cat\"", 17, b"\"meow\"");
        let view = parse(&bytes).unwrap();
        assert_eq!(view.key, b"\"cat\"");
        assert_eq!(view.count(), 1);
        assert_eq!(view.newest().unwrap(), (17, &b"\"meow\""[..]));
    }

    #[test]
    fn append_keeps_order() {
        let mut bytes = single(b"k", 1, b"a");
        for (t, v) in [(2, &b"bb"[..]), (3, b""), (4, b"dddd")] {
            bytes = parse(&bytes).unwrap().appended(t, v, None).unwrap();
        }
        let view = parse(&bytes).unwrap();
        let all: Vec<_> = view.versions().collect::<Result<_, _>>().unwrap();
        assert_eq!(all, [(1, &b"a"[..]), (2, b"bb"), (3, b""), (4, b"dddd")]);
        assert_eq!(view.newest().unwrap(), (4, &b"dddd"[..]));
    }

    #[test]
    fn damage_is_reported_never_panics() {
        let good = parse(&single(b"key", 5, b"value")).unwrap().appended(6, b"more", Some(7)).unwrap();
        // Every truncation and every single-byte change parses or errors, never panics.
        for cut in 0..good.len() {
            let view = parse(&good[..cut]);
            assert!(view.is_err() || view.unwrap().newest().is_err(), "cut at {cut}");
        }
        for at in 0..good.len() {
            for byte in [0u8, 1, 0x7f, 0xff] {
                let mut bad = good.clone();
                bad[at] = byte;
                if let Ok(view) = parse(&bad) {
                    let _ = view.newest();
                    let _ = view.versions().count();
                }
            }
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(parse(&trailing).unwrap().newest(), Err("trailing bytes after the last version"));
        assert!(parse(b"").is_err());
        assert!(parse(b"garbage").is_err());
    }
}
