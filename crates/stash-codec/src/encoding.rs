//! [`Encoding`]: a codec plus an optional base64 layer, as hashstash stores values.

use crate::{Codec, CodecError, DEFAULT_MAX_DECODED, codec};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::cell::Cell;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Name used in [`CodecError::Corrupt`] for bad base64.
const B64: &str = "base64";
/// Scratch buffers bigger than this are not kept around between calls.
const SCRATCH_KEEP: usize = 8 << 20;

thread_local! {
    // The intermediate (compressed, not yet base64) bytes. Reused per thread so that
    // `encode`/`decode` with b64 do not allocate once warmed up.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Run `f` with this thread's empty scratch buffer. Taking it out of the cell (rather
/// than borrowing) keeps this correct even if a codec were to re-enter.
fn with_scratch<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    let mut buf = SCRATCH.take();
    let result = f(&mut buf);
    if buf.capacity() <= SCRATCH_KEEP {
        buf.clear();
        SCRATCH.set(buf);
    }
    result
}

/// Append the standard-alphabet, padded base64 of `data` to `out`.
fn b64_encode_into(data: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let len = base64::encoded_len(data.len(), true)
        .ok_or_else(|| CodecError::compress(B64, "input too large to base64-encode"))?;
    let start = out.len();
    out.resize(start + len, 0);
    match STANDARD.encode_slice(data, &mut out[start..]) {
        Ok(written) => {
            out.truncate(start + written);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(CodecError::compress(B64, e))
        }
    }
}

/// Append the bytes encoded by the standard-alphabet, padded base64 `data` to `out`,
/// at most `limit` of them.
fn b64_decode_into(data: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), CodecError> {
    let estimate = base64::decoded_len_estimate(data.len());
    // Padded base64 decodes to at least `estimate - 2` bytes (at most two `=`), so more
    // than that over the limit is refused before allocating.
    if estimate.saturating_sub(2) > limit {
        return Err(CodecError::TooLarge { codec: B64, limit });
    }
    let start = out.len();
    out.reserve_exact(estimate);
    out.resize(start + estimate, 0);
    match STANDARD.decode_slice(data, &mut out[start..]) {
        Ok(written) if written <= limit => {
            out.truncate(start + written);
            Ok(())
        }
        Ok(_) => {
            out.truncate(start);
            Err(CodecError::TooLarge { codec: B64, limit })
        }
        Err(e) => {
            out.truncate(start);
            Err(CodecError::corrupt(B64, e))
        }
    }
}

/// A compressor plus a base64 flag: how hashstash turns serialized bytes into stored bytes.
///
/// Encoding compresses, then (if `b64`) base64-encodes with the standard alphabet and
/// padding; decoding undoes both, producing at most [`max_decoded`](Self::max_decoded)
/// bytes ([`DEFAULT_MAX_DECODED`], 1 GiB, unless set with
/// [`with_max_decoded`](Self::with_max_decoded)). Cheap to clone (the codec is shared).
///
/// ```
/// use stash_codec::Encoding;
///
/// let enc = Encoding::from_names("raw", true)?;
/// assert_eq!(enc.label(), "raw+b64");
/// assert_eq!(enc.encode_to_vec(b"\"cat\"")?, b"ImNhdCI=");
/// # Ok::<(), stash_codec::CodecError>(())
/// ```
#[derive(Clone)]
pub struct Encoding {
    codec: Arc<dyn Codec>,
    b64: bool,
    max_decoded: usize,
}

impl Encoding {
    /// Wrap `codec`, base64-encoding its output when `b64` is true. Decoding is limited
    /// to [`DEFAULT_MAX_DECODED`] bytes.
    pub fn new(codec: Arc<dyn Codec>, b64: bool) -> Self {
        Encoding { codec, b64, max_decoded: DEFAULT_MAX_DECODED }
    }

    /// The same encoding, with [`decode`](Self::decode) limited to `limit` bytes of
    /// output per call (the stash's maximum value size).
    #[must_use]
    pub fn with_max_decoded(self, limit: usize) -> Self {
        Encoding { max_decoded: limit, ..self }
    }

    /// The most bytes one [`decode`](Self::decode) may produce.
    pub fn max_decoded(&self) -> usize {
        self.max_decoded
    }

    /// Look the compressor up by name (see [`codec`](crate::codec())).
    pub fn from_names(compress: &str, b64: bool) -> Result<Self, CodecError> {
        Ok(Encoding::new(codec(compress)?, b64))
    }

    /// The encoding of `compression`, base64-encoded after it when `b64`.
    pub fn of(compression: crate::Compression, b64: bool) -> Result<Self, CodecError> {
        Ok(Encoding::new(compression.codec()?, b64))
    }

    /// Parse a [`label`](Self::label) such as `"lz4+b64"` or `"raw"`.
    pub fn from_label(label: &str) -> Result<Self, CodecError> {
        match label.strip_suffix("+b64") {
            Some(name) => Encoding::from_names(name, true),
            None => Encoding::from_names(label, false),
        }
    }

    /// The compressor.
    pub fn codec(&self) -> &Arc<dyn Codec> {
        &self.codec
    }

    /// Whether output is base64-encoded.
    pub fn b64(&self) -> bool {
        self.b64
    }

    /// The codec name, plus `+b64` when base64 is on (`"lz4+b64"`, `"raw"`): the path
    /// component hashstash uses for this encoding.
    pub fn label(&self) -> String {
        if self.b64 { format!("{}+b64", self.codec.name()) } else { self.codec.name().to_owned() }
    }

    /// Compress `data` (then base64 it if enabled), appending to `out`.
    ///
    /// On error `out` is left as it was.
    pub fn encode(&self, data: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        match (self.b64, self.codec.name()) {
            (false, _) => self.codec.compress(data, out),
            // Nothing to compress: base64 straight from the input.
            (true, "raw") => b64_encode_into(data, out),
            (true, _) => with_scratch(|compressed| {
                self.codec.compress(data, compressed)?;
                b64_encode_into(compressed, out)
            }),
        }
    }

    /// Undo [`encode`](Self::encode), appending the original bytes to `out`.
    ///
    /// Bad base64 or corrupt compressed data is [`CodecError::Corrupt`]; data that
    /// decodes to more than [`max_decoded`](Self::max_decoded) bytes is
    /// [`CodecError::TooLarge`], found while decoding (see the crate docs). On error
    /// `out` is left as it was.
    pub fn decode(&self, data: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let limit = self.max_decoded;
        match (self.b64, self.codec.name()) {
            (false, _) => self.codec.decompress_limited(data, out, limit),
            (true, "raw") => b64_decode_into(data, out, limit),
            // The base64 layer shrinks its input, so the compressed bytes are bounded by
            // `data`'s size; the decompressed output is what the limit is for.
            (true, _) => with_scratch(|compressed| {
                b64_decode_into(data, compressed, usize::MAX)?;
                self.codec.decompress_limited(compressed, out, limit)
            }),
        }
    }

    /// [`encode`](Self::encode) into a new `Vec`.
    pub fn encode_to_vec(&self, data: &[u8]) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        self.encode(data, &mut out)?;
        Ok(out)
    }

    /// [`decode`](Self::decode) into a new `Vec`.
    pub fn decode_to_vec(&self, data: &[u8]) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        self.decode(data, &mut out)?;
        Ok(out)
    }
}

impl fmt::Debug for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoding")
            .field("codec", &self.codec.name())
            .field("b64", &self.b64)
            .field("max_decoded", &self.max_decoded)
            .finish()
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.codec.name())?;
        if self.b64 {
            f.write_str("+b64")?;
        }
        Ok(())
    }
}

/// Two encodings are equal when they have the same codec name and base64 flag: they read
/// and write the same bytes (the decode limit is not compared).
impl PartialEq for Encoding {
    fn eq(&self, other: &Self) -> bool {
        self.b64 == other.b64 && self.codec.name() == other.codec.name()
    }
}

impl Eq for Encoding {}

impl FromStr for Encoding {
    type Err = CodecError;

    /// Same as [`Encoding::from_label`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Encoding::from_label(s)
    }
}

/// Compress `data` with the compressor named `compress`, then base64 it if `b64`.
///
/// The Python library's `encode(data, compress='lz4', b64=True)`.
pub fn encode(data: &[u8], compress: &str, b64: bool) -> Result<Vec<u8>, CodecError> {
    Encoding::from_names(compress, b64)?.encode_to_vec(data)
}

/// Undo [`encode`]: base64-decode if `b64`, then decompress with `compress`, producing
/// at most [`DEFAULT_MAX_DECODED`] bytes.
///
/// The Python library's `decode(data, compress='lz4', b64=True)`.
pub fn decode(data: &[u8], compress: &str, b64: bool) -> Result<Vec<u8>, CodecError> {
    Encoding::from_names(compress, b64)?.decode_to_vec(data)
}
