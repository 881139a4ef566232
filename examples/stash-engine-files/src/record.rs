//! The bytes of one entry file, every length checked against what is there.
//!
//! ```text
//! "HSF1"  key_len:u32  key  expires_at:i64 (i64::MIN: never)  count:u32
//!         count × ( written_at:i64  len:u32  value )
//! ```
//! All numbers little-endian. A length or count that the bytes cannot hold is
//! an error, never an allocation.

/// The file's first bytes.
const MAGIC: &[u8; 4] = b"HSF1";
/// Room for the headers of a file beside its key and values (20 bytes, and 12 per
/// version: over 5,000 versions).
pub const HEADERS: u64 = 64 << 10;
const NEVER: i64 = i64::MIN;

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The encoded key.
    pub key: Vec<u8>,
    /// When the entry expires (microseconds since the epoch).
    pub expires_at: Option<i64>,
    /// Every kept version, oldest first: (written at, value).
    pub versions: Vec<(i64, Vec<u8>)>,
}

impl Entry {
    /// The file's bytes; `Err` when a key, a value or the version count does not fit
    /// its 32-bit length field (a file that would lie about its lengths is never written).
    pub fn to_bytes(&self) -> Result<Vec<u8>, &'static str> {
        let size = self.key.len() + self.versions.iter().map(|(_, v)| v.len() + 12).sum::<usize>() + 20;
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(MAGIC);
        put_len(&mut out, self.key.len())?;
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&self.expires_at.unwrap_or(NEVER).to_le_bytes());
        put_len(&mut out, self.versions.len())?;
        for (at, value) in &self.versions {
            out.extend_from_slice(&at.to_le_bytes());
            put_len(&mut out, value.len())?;
            out.extend_from_slice(value);
        }
        Ok(out)
    }

    /// Parses a file; `Err` says what is wrong with it.
    ///
    /// ```
    /// use stash_engine_files::record::Entry;
    /// let e = Entry { key: b"k".to_vec(), expires_at: None, versions: vec![(7, b"v".to_vec())] };
    /// assert_eq!(Entry::parse(&e.to_bytes()?), Ok(e.clone()));
    /// let mut lying = e.to_bytes()?;
    /// lying[4] = 0xff; // a key length far past the end
    /// assert!(Entry::parse(&lying).is_err());
    /// # Ok::<(), &'static str>(())
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<Entry, &'static str> {
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return Err("not an entry file (bad magic)");
        }
        let key_len = r.len()?;
        let key = r.take(key_len)?.to_vec();
        let expires_at = Some(r.i64()?).filter(|&at| at != NEVER);
        let count = r.len()?;
        // Each version takes at least 12 bytes: a count the rest cannot hold is a lie.
        if count == 0 || count > r.0.len() / 12 {
            return Err("the version count does not fit the file");
        }
        let mut versions = Vec::with_capacity(count);
        for _ in 0..count {
            let at = r.i64()?;
            let len = r.len()?;
            versions.push((at, r.take(len)?.to_vec()));
        }
        if !r.0.is_empty() {
            return Err("bytes after the last version");
        }
        Ok(Entry { key, expires_at, versions })
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) -> Result<(), &'static str> {
    let len = u32::try_from(len).map_err(|_| "a length does not fit in 32 bits")?;
    out.extend_from_slice(&len.to_le_bytes());
    Ok(())
}

/// Takes fields off the front of the bytes, refusing to read past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if n > self.0.len() {
            return Err("a length runs past the end of the file");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn len(&mut self) -> Result<usize, &'static str> {
        let bytes: [u8; 4] = self.take(4)?.try_into().map_err(|_| "short length")?;
        usize::try_from(u32::from_le_bytes(bytes)).map_err(|_| "length too large")
    }

    fn i64(&mut self) -> Result<i64, &'static str> {
        let bytes: [u8; 8] = self.take(8)?.try_into().map_err(|_| "short number")?;
        Ok(i64::from_le_bytes(bytes))
    }
}
