//! `blosc`: a single Blosc chunk, compressed with the settings of Python's
//! `blosc.compress(data)` (blosclz, clevel 9, byte shuffle, typesize 8).
//!
//! We bind c-blosc2 (2.15, vendored and built with cmake) through `blosc2-sys`, the
//! bindings crate underneath `blosc2-rs`. The `blosc2-rs` 0.4 safe wrappers are not
//! used because, for byte input, they are unsound: `compress_into_ctx` passes
//! `len * typesize` bytes as the source size (reading past the slice when typesize > 1),
//! `decompress_into*` trusts the header's size instead of the destination length,
//! and `CParams` cannot be built from raw fields without those functions.
//!
//! Format notes:
//! * c-blosc2 *reads* c-blosc1 chunks (format version 2, 16-byte header), so anything
//!   Python's `blosc` package wrote decodes here.
//! * c-blosc2 *writes* format version 5 chunks with a 32-byte extended header, which
//!   c-blosc1 (Python's `blosc` package) refuses, so data compressed here with `blosc`
//!   is not readable by Python hashstash.
//! * c-blosc2 also reads "special value" chunks: a 32-byte extended header whose Blosc2
//!   flags byte (offset 31) has a special type in bits 4-6, and no data. Its compressor
//!   writes one kind, ZERO, for all-zero input, so that one is read (the decode limit
//!   bounds what its header claims). The others (NAN, VALUE, and UNINIT, for which
//!   c-blosc2 writes nothing at all and reports success) come only from c-blosc2's
//!   array-chunk helpers, never from compressing a value, so they are refused as
//!   corrupt.
//!
//! Decoding writes into a zero-filled buffer, so even a chunk c-blosc2 only partly
//! writes could never expose uninitialised memory, and the header's decoded size is
//! checked against the limit before anything is allocated.

use crate::{Codec, CodecError};
use blosc2_sys as ffi;
use std::ffi::c_void;
use std::sync::Once;

const NAME: &str = "blosc";
/// Typesize Python's `blosc.compress` assumes for byte strings.
const TYPESIZE: i32 = 8;
/// Compression level of Python's `blosc.compress`.
const CLEVEL: u8 = 9;
const MIN_HEADER: usize = ffi::BLOSC_MIN_HEADER_LENGTH as usize;
const MAX_OVERHEAD: usize = ffi::BLOSC2_MAX_OVERHEAD as usize;
const MAX_BUFFER: usize = ffi::BLOSC2_MAX_BUFFERSIZE as usize;
/// Offset of the flags byte in every Blosc header.
const FLAGS: usize = ffi::BLOSC2_CHUNK_FLAGS as usize;
/// Both shuffle bits set in [`FLAGS`] mark a 32-byte Blosc2 extended header (c-blosc2's
/// `read_chunk_header`).
const EXTENDED_HEADER: u8 = (ffi::BLOSC_DOSHUFFLE | ffi::BLOSC_DOBITSHUFFLE) as u8;
const EXTENDED_LEN: usize = ffi::BLOSC_EXTENDED_HEADER_LENGTH as usize;
/// Offset of the Blosc2 flags byte in an extended header.
const BLOSC2_FLAGS: usize = ffi::BLOSC2_CHUNK_BLOSC2_FLAGS as usize;
/// The special-value type sits in bits 4-6 of [`BLOSC2_FLAGS`]; 0 means a normal chunk.
const SPECIAL_SHIFT: u32 = 4;
const SPECIAL_MASK: u8 = ffi::BLOSC2_SPECIAL_MASK as u8;
/// The one special type c-blosc2's compressor writes (for all-zero input).
const SPECIAL_ZERO: u8 = ffi::BLOSC2_SPECIAL_ZERO as u8;

/// Blosc chunk compression (c-blosc2 through `blosc2-sys`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Blosc;

/// `blosc2_init` is not itself thread-safe, so run it exactly once before any context.
fn init() {
    static INIT: Once = Once::new();
    // SAFETY: plain FFI call, serialised by `Once`.
    INIT.call_once(|| unsafe { ffi::blosc2_init() });
}

/// Owns a `blosc2_context` and frees it on drop. Contexts are per call, so nothing is shared
/// between threads and the global (mutex-guarded) blosc state is never used.
struct Context(*mut ffi::blosc2_context);

impl Context {
    fn compression() -> Result<Self, CodecError> {
        init();
        // SAFETY: returns a plain struct of defaults.
        let mut cparams = unsafe { ffi::blosc2_get_blosc2_cparams_defaults() };
        cparams.compcode = ffi::BLOSC_BLOSCLZ as u8;
        cparams.clevel = CLEVEL;
        cparams.typesize = TYPESIZE;
        cparams.nthreads = 1;
        cparams.filters = [0; ffi::BLOSC2_MAX_FILTERS as usize];
        cparams.filters[ffi::BLOSC2_MAX_FILTERS as usize - 1] = ffi::BLOSC_SHUFFLE as u8;
        // SAFETY: `cparams` is fully initialised and holds no pointers we set.
        let ctx = unsafe { ffi::blosc2_create_cctx(cparams) };
        Self::checked(ctx).ok_or_else(|| CodecError::compress(NAME, "cannot create a context"))
    }

    fn decompression() -> Result<Self, CodecError> {
        init();
        // SAFETY: returns a plain struct of defaults.
        let mut dparams = unsafe { ffi::blosc2_get_blosc2_dparams_defaults() };
        dparams.nthreads = 1;
        // SAFETY: `dparams` is fully initialised.
        let ctx = unsafe { ffi::blosc2_create_dctx(dparams) };
        Self::checked(ctx).ok_or_else(|| CodecError::corrupt(NAME, "cannot create a context"))
    }

    fn checked(ctx: *mut ffi::blosc2_context) -> Option<Self> {
        (!ctx.is_null()).then_some(Context(ctx))
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: the pointer came from blosc2_create_*ctx, is non-null and freed once.
        unsafe { ffi::blosc2_free_ctx(self.0) }
    }
}

impl Codec for Blosc {
    fn name(&self) -> &'static str {
        NAME
    }

    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        if input.len() > MAX_BUFFER {
            return Err(CodecError::compress(NAME, "input larger than a blosc chunk (2 GiB)"));
        }
        let ctx = Context::compression()?;
        let capacity = input.len() + MAX_OVERHEAD;
        out.reserve(capacity);
        let dest = out.spare_capacity_mut();
        // SAFETY: `ctx` is a live compression context; `input` is readable for its length
        // (< 2 GiB, checked above); `dest` is writable for `capacity` bytes (reserved above,
        // capacity < i32::MAX since MAX_BUFFER + MAX_OVERHEAD == i32::MAX). blosc only
        // writes to `dest`.
        let rc = unsafe {
            ffi::blosc2_compress_ctx(
                ctx.0,
                input.as_ptr().cast::<c_void>(),
                input.len() as i32,
                dest.as_mut_ptr().cast::<c_void>(),
                capacity as i32,
            )
        };
        if rc <= 0 {
            return Err(CodecError::compress(NAME, format!("blosc2 error code {rc}")));
        }
        let written = rc as usize;
        debug_assert!(written <= capacity);
        // SAFETY: blosc reported `written` (<= capacity) initialised bytes at the old end.
        unsafe { out.set_len(out.len() + written.min(capacity)) };
        Ok(())
    }

    fn decompress_limited(&self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), CodecError> {
        if input.len() < MIN_HEADER {
            return Err(CodecError::corrupt(NAME, "shorter than a blosc header"));
        }
        if input.len() > i32::MAX as usize {
            return Err(CodecError::corrupt(NAME, "larger than a blosc chunk"));
        }
        let special = special_type(input);
        if let Some(special) = special.filter(|&t| t != SPECIAL_ZERO) {
            return Err(CodecError::corrupt(
                NAME,
                format!("special-value chunk of type {special}: no compressor writes these for a value"),
            ));
        }
        let mut nbytes = 0usize;
        // SAFETY: reads the first 16 bytes, which exist (checked above). It checks that the
        // header's compressed size equals `input.len()` and that nbytes <= 2 GiB.
        let rc = unsafe {
            ffi::blosc1_cbuffer_validate(input.as_ptr().cast::<c_void>(), input.len(), &mut nbytes)
        };
        if rc < 0 {
            return Err(CodecError::corrupt(NAME, format!("invalid header (blosc2 error code {rc})")));
        }
        if nbytes == 0 {
            return Ok(());
        }
        // The header is stored bytes: a claim over the limit is refused unallocated.
        if nbytes > limit {
            return Err(CodecError::TooLarge { codec: NAME, limit });
        }
        let destsize = i32::try_from(nbytes)
            .map_err(|_| CodecError::corrupt(NAME, format!("header claims {nbytes} bytes")))?;
        let start = out.len();
        // Zero-filled, so nothing blosc leaves unwritten can expose old memory.
        out.reserve_exact(nbytes);
        out.resize(start + nbytes, 0);
        if special == Some(SPECIAL_ZERO) {
            // `nbytes` zeros, which `out` now holds. c-blosc2 2.15 itself fails
            // (error -11) on the ZERO chunk it writes for all-zero input whose
            // length is not a multiple of the typesize, so it is not asked.
            return Ok(());
        }
        let ctx = Context::decompression()?;
        let dest = &mut out[start..];
        // SAFETY: `ctx` is a live decompression context; `input` is readable for its length
        // (< 2 GiB); `dest` is writable for `destsize` == `dest.len()` bytes, and blosc
        // refuses to write more than `destsize`.
        let rc = unsafe {
            ffi::blosc2_decompress_ctx(
                ctx.0,
                input.as_ptr().cast::<c_void>(),
                input.len() as i32,
                dest.as_mut_ptr().cast::<c_void>(),
                destsize,
            )
        };
        let result = if rc < 0 {
            Err(CodecError::corrupt(NAME, format!("blosc2 error code {rc}")))
        } else if rc != destsize {
            Err(CodecError::corrupt(NAME, format!("header says {nbytes} bytes but the chunk holds {rc}")))
        } else {
            Ok(())
        };
        super::rollback(out, start, result)
    }
}

/// The special-value type of a chunk, when it is one (see the module docs): c-blosc2
/// reads it from an extended header only, exactly as checked here.
fn special_type(input: &[u8]) -> Option<u8> {
    let flags = *input.get(FLAGS)?;
    if flags & EXTENDED_HEADER != EXTENDED_HEADER {
        return None;
    }
    // An extended header shorter than 32 bytes is refused by c-blosc2 itself.
    let blosc2_flags = *input.get(BLOSC2_FLAGS).filter(|_| input.len() >= EXTENDED_LEN)?;
    let special = (blosc2_flags >> SPECIAL_SHIFT) & SPECIAL_MASK;
    (special != 0).then_some(special)
}
