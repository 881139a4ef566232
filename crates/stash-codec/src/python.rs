//! Key bytes exactly as the Python library writes them.
//!
//! A key's digest is taken over its *encoded* (compressed) bytes, so a key
//! written by one language is found by the other only when both compress it to
//! the same bytes. `zlib`, `gzip` and `bz2` already are byte-identical (the same
//! C libraries CPython uses) and `raw` trivially is; `lz4` is not: `lz4_flex`,
//! which compresses values here, picks other matches than the LZ4 1.9.4 block
//! compressor bundled in Python's `lz4` package (a 13-byte key already differs),
//! and so does the C LZ4 1.10 (measured: they differ on a 42-byte key).
//!
//! [`Encoding::python_key`] therefore recompresses lz4 keys with [`lz4_block_194`],
//! a line-by-line port of LZ4 1.9.4's `LZ4_compress_generic` as Python's `lz4`
//! package runs it (acceleration 1, no dictionary, the 64-bit `byU32` hash table
//! for every input size), byte-identical to Python's output on 3000 inputs of 0 to
//! 300 KB (keys, text, binary), and checked again by the interop test.

use crate::{CodecError, Compression, Encoding};

/// Whether the compressor `compress` gives the Python library's key bytes in this
/// build (key digests are taken over compressed keys, so a key written by one side is
/// found by the other only if both compress it to the same bytes); `Err` says why not.
///
/// `raw`, `zlib`, `gzip` and `bz2` are byte-identical (zlib and bzip2 are the same C
/// libraries CPython uses); `lz4` keys are recompressed with a port of Python's LZ4
/// 1.9.4 ([`Encoding::python_key`]), which is byte-identical; `blosc` is not: this
/// build has c-blosc2, whose chunks Python's c-blosc 1 cannot read; `zstd` is not
/// offered by the Python library.
///
/// ```
/// use stash_codec::{Compression, python_key_compressor};
/// assert!(python_key_compressor(Compression::Zlib).is_ok());
/// assert!(python_key_compressor(Compression::Zstd).is_err());
/// ```
pub fn python_key_compressor(compress: Compression) -> Result<(), &'static str> {
    match compress {
        Compression::Raw | Compression::Zlib | Compression::Gzip | Compression::Bz2 | Compression::Lz4 => {
            Ok(())
        }
        Compression::Blosc => Err("this build compresses with c-blosc2, whose chunks Python's c-blosc 1 \
                                   cannot read, and its key bytes differ from Python's (keys would never be found)"),
        Compression::Zstd => Err("the Python library has no zstd compressor"),
    }
}

impl Encoding {
    /// Whether [`python_key`](Encoding::python_key) can differ from the encoded
    /// bytes (`lz4` only): engines with a Python layout then recompress keys.
    pub fn recompresses_python_keys(&self) -> bool {
        self.codec().name() == "lz4"
    }

    /// The bytes the Python library would store for the key whose encoded bytes
    /// (made by this encoding) are `encoded`: `Ok(None)` when they already are
    /// those bytes (every compressor but `lz4`), `Ok(Some(bytes))` for `lz4`.
    ///
    /// # Errors
    /// [`CodecError::Corrupt`] when `encoded` does not decode.
    pub fn python_key(&self, encoded: &[u8]) -> Result<Option<Vec<u8>>, CodecError> {
        if !self.recompresses_python_keys() {
            return Ok(None);
        }
        use base64::Engine as _;
        let plain = self.decode_to_vec(encoded)?;
        let size = u32::try_from(plain.len())
            .map_err(|_| CodecError::compress("lz4", "input larger than 4 GiB cannot be size-prefixed"))?;
        let mut compressed = size.to_le_bytes().to_vec();
        lz4_block_194(&plain, &mut compressed);
        if !self.b64() {
            return Ok(Some(compressed));
        }
        Ok(Some(base64::engine::general_purpose::STANDARD.encode(compressed).into_bytes()))
    }
}

const MINMATCH: usize = 4;
const MFLIMIT: usize = 12;
const LASTLITERALS: usize = 5;
const MIN_LENGTH: usize = MFLIMIT + 1;
const SKIP_TRIGGER: u32 = 6;
const ML_BITS: u32 = 4;
const ML_MASK: usize = (1 << ML_BITS) - 1;
const RUN_MASK: usize = (1 << (8 - ML_BITS)) - 1;
const HASHLOG: u32 = 12; // LZ4_MEMORY_USAGE 14
const DISTANCE_MAX: usize = 65535;

fn read32(src: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&src[at..at + 4]);
    u32::from_le_bytes(b)
}

/// `LZ4_hashPosition` of the 64-bit `byU32` table: a hash of the 5 bytes at `at`.
///
/// Python's `lz4.block.compress` uses this table for inputs of every size (C LZ4's
/// `LZ4_compress_default` would take the `byU16` table, hashing 4 bytes, below
/// 64 KiB: measured, Python's output is the `byU32` one on 3000 inputs of 0 to 300 KB).
fn hash(src: &[u8], at: usize) -> usize {
    // `LZ4_read_ARCH` reads 8 bytes; positions hashed are at most
    // `len - MFLIMIT + 1`, so 8 bytes are always there.
    let mut b = [0u8; 8];
    b.copy_from_slice(&src[at..at + 8]);
    let seq = u64::from_le_bytes(b);
    ((seq << 24).wrapping_mul(889_523_592_379) >> (64 - HASHLOG)) as usize
}

/// `LZ4_count`: how many bytes from `a` equal those from `b`, `a` stopping at `limit`.
fn count(src: &[u8], mut a: usize, mut b: usize, limit: usize) -> usize {
    let start = a;
    while a < limit && src[a] == src[b] {
        a += 1;
        b += 1;
    }
    a - start
}

fn push_length(out: &mut Vec<u8>, mut len: usize) {
    while len >= 255 {
        out.push(255);
        len -= 255;
    }
    out.push(len as u8);
}

/// Appends the LZ4 block Python's `lz4.block.compress` (LZ4 1.9.4) makes from `src`,
/// without the size prefix.
pub fn lz4_block_194(src: &[u8], out: &mut Vec<u8>) {
    let len = src.len();
    let mut anchor = 0;
    if len >= MIN_LENGTH {
        let mut table = vec![0u32; 1 << HASHLOG];
        let mflimit_plus_one = len - MFLIMIT + 1;
        let matchlimit = len - LASTLITERALS;
        let mut ip = 0;
        table[hash(src, ip)] = ip as u32;
        ip += 1;
        let mut forward_h = hash(src, ip);
        'main: loop {
            // Find a match.
            let mut mat;
            {
                let mut forward_ip = ip;
                let mut step = 1;
                let mut search_match_nb: u32 = 1 << SKIP_TRIGGER;
                loop {
                    let h = forward_h;
                    let current = forward_ip;
                    let match_index = table[h] as usize;
                    ip = forward_ip;
                    forward_ip += step;
                    step = (search_match_nb >> SKIP_TRIGGER) as usize;
                    search_match_nb += 1;
                    if forward_ip > mflimit_plus_one {
                        break 'main;
                    }
                    mat = match_index;
                    forward_h = hash(src, forward_ip);
                    table[h] = current as u32;
                    if match_index + DISTANCE_MAX < current {
                        continue;
                    }
                    if read32(src, mat) == read32(src, ip) {
                        break;
                    }
                }
            }
            // Catch up.
            while ip > anchor && mat > 0 && src[ip - 1] == src[mat - 1] {
                ip -= 1;
                mat -= 1;
            }
            // Encode literals.
            let lit_len = ip - anchor;
            let mut token_at = out.len();
            if lit_len >= RUN_MASK {
                out.push((RUN_MASK << ML_BITS) as u8);
                push_length(out, lit_len - RUN_MASK);
            } else {
                out.push((lit_len << ML_BITS) as u8);
            }
            out.extend_from_slice(&src[anchor..ip]);
            loop {
                // Encode the offset and the match length.
                out.extend_from_slice(&((ip - mat) as u16).to_le_bytes());
                let match_code = count(src, ip + MINMATCH, mat + MINMATCH, matchlimit);
                ip += match_code + MINMATCH;
                if match_code >= ML_MASK {
                    out[token_at] += ML_MASK as u8;
                    push_length(out, match_code - ML_MASK);
                } else {
                    out[token_at] += match_code as u8;
                }
                anchor = ip;
                if ip >= mflimit_plus_one {
                    break 'main;
                }
                // Fill the table.
                table[hash(src, ip - 2)] = (ip - 2) as u32;
                // Test the next position.
                let h = hash(src, ip);
                let current = ip;
                let match_index = table[h] as usize;
                table[h] = current as u32;
                let near = match_index + DISTANCE_MAX >= current;
                if near && read32(src, match_index) == read32(src, ip) {
                    mat = match_index;
                    token_at = out.len();
                    out.push(0);
                    continue;
                }
                break;
            }
            // Prepare the next loop.
            ip += 1;
            forward_h = hash(src, ip);
        }
    }
    // Last literals.
    let last_run = len - anchor;
    if last_run >= RUN_MASK {
        out.push((RUN_MASK << ML_BITS) as u8);
        push_length(out, last_run - RUN_MASK);
    } else {
        out.push((last_run << ML_BITS) as u8);
    }
    out.extend_from_slice(&src[anchor..]);
}

#[cfg(all(test, feature = "lz4"))]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn lz4_keys_match_python() {
        // `lz4.block.compress(json.dumps("ünïcødé 😀").encode())` in Python (lz4 4.4.5, LZ4 1.9.4):
        // lz4_flex and LZ4 1.10 both write other bytes for it.
        let plain = br#""\u00fcn\u00efc\u00f8d\u00e9 \ud83d\ude00""#;
        let enc = Encoding::from_names("lz4", false).unwrap();
        let python = enc.python_key(&enc.encode_to_vec(plain).unwrap()).unwrap().unwrap();
        assert_eq!(
            hex(&python),
            "2a000000f100225c75303066636e5c7530306566630e002138640e00f00039205c75643833645c756465303022"
        );
        assert_eq!(enc.decode_to_vec(&python).unwrap(), plain);
        let b64 = Encoding::from_names("lz4", true).unwrap();
        let key = b64.python_key(&b64.encode_to_vec(b"\"cat\"").unwrap()).unwrap().unwrap();
        assert_eq!(key, b"BQAAAFAiY2F0Ig==");
        assert_eq!(Encoding::from_names("raw", false).unwrap().python_key(b"\"x\"").unwrap(), None);
    }

    #[test]
    fn blocks_decode() {
        for n in [0usize, 1, 12, 13, 14, 100, 1000, 70_000, 200_000] {
            for data in [
                b"k".repeat(n),
                (0..n).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>(),
                (0..n).map(|i| (i % 97) as u8).collect(),
            ] {
                let mut block = Vec::new();
                lz4_block_194(&data, &mut block);
                assert_eq!(lz4_flex::block::decompress(&block, data.len()).unwrap(), data, "{n}");
            }
        }
    }
}
