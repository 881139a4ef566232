//! The Eisel-Lemire fast path for decimal-to-double conversion (as in Rust's own
//! `core::num::dec2flt`), restricted to the decimal exponents whose 128-bit powers of
//! five are computed exactly at compile time: `w * 10^q` for `q` in `-27..=55`, which
//! covers the floats JSON writers print (ryu, Python's repr, orjson). Outside that range,
//! or in the rare undecidable case, [`compute`] gives `None` and the caller falls back
//! to Rust's complete parser.

const MIN_Q: i64 = -27;
const MAX_Q: i64 = 55;

/// `5^q` normalized into `[2^127, 2^128)` (rounded up for `q < 0`), as `(lo, hi)` words.
static POW5: [(u64, u64); (MAX_Q - MIN_Q + 1) as usize] = table();

const fn table() -> [(u64, u64); (MAX_Q - MIN_Q + 1) as usize] {
    let mut t = [(0u64, 0u64); (MAX_Q - MIN_Q + 1) as usize];
    let mut i = 0;
    while i < t.len() {
        let q = MIN_Q + i as i64;
        let v: u128 = if q >= 0 {
            // 5^55 < 2^128: exact.
            let mut p: u128 = 1;
            let mut k = 0;
            while k < q {
                p *= 5;
                k += 1;
            }
            p << p.leading_zeros()
        } else {
            // floor(2^(z + 127) / 5^-q) + 1 with 2^(z-1) < 5^-q < 2^z (5^27 < 2^64),
            // by long division in base 2^64.
            let mut d: u64 = 1;
            let mut k = 0;
            while k < -q {
                d *= 5;
                k += 1;
            }
            let z = 64 - d.leading_zeros();
            let d = d as u128;
            let top: u128 = 1u128 << (z + 127 - 128);
            let r = top % d;
            let q1 = (r << 64) / d;
            let r = (r << 64) % d;
            let q0 = (r << 64) / d;
            ((q1 << 64) | q0) + 1
        };
        t[i] = (v as u64, (v >> 64) as u64);
        i += 1;
    }
    t
}

const MANTISSA_BITS: i32 = 52;
const MINIMUM_EXPONENT: i32 = -1023;
const MIN_EXPONENT_ROUND_TO_EVEN: i64 = -4;
const MAX_EXPONENT_ROUND_TO_EVEN: i64 = 23;
const INFINITE_POWER: i32 = 0x7FF;

/// The double nearest to `w * 10^q` (ties to even), when this fast path can decide it.
pub(crate) fn compute(w: u64, q: i64) -> Option<f64> {
    if w == 0 {
        return Some(0.0);
    }
    if !(MIN_Q..=MAX_Q).contains(&q) {
        return None;
    }
    let lz = w.leading_zeros();
    let w = w << lz;
    let (lo, hi) = product_approx(q, w, MANTISSA_BITS as usize + 3);
    // `lo == u64::MAX` could only be undecidable outside -27..=55, which is never here.
    let upperbit = (hi >> 63) as i32;
    let shift = upperbit + 64 - MANTISSA_BITS - 3;
    let mut mantissa = hi >> shift;
    let mut power2 = power(q as i32) + upperbit - lz as i32 - MINIMUM_EXPONENT;
    if power2 <= 0 {
        if -power2 + 1 >= 64 {
            return Some(0.0);
        }
        // Subnormal.
        mantissa >>= -power2 + 1;
        mantissa += mantissa & 1;
        mantissa >>= 1;
        power2 = i32::from(mantissa >= (1u64 << MANTISSA_BITS));
        return Some(f64::from_bits(mantissa | ((power2 as u64) << MANTISSA_BITS)));
    }
    // Exactly halfway between two doubles: round to even.
    if lo <= 1
        && (MIN_EXPONENT_ROUND_TO_EVEN..=MAX_EXPONENT_ROUND_TO_EVEN).contains(&q)
        && mantissa & 3 == 1
        && (mantissa << shift) == hi
    {
        mantissa &= !1u64;
    }
    mantissa += mantissa & 1;
    mantissa >>= 1;
    if mantissa >= (2u64 << MANTISSA_BITS) {
        mantissa = 1u64 << MANTISSA_BITS;
        power2 += 1;
    }
    mantissa &= !(1u64 << MANTISSA_BITS);
    if power2 >= INFINITE_POWER {
        return Some(f64::INFINITY);
    }
    Some(f64::from_bits(mantissa | ((power2 as u64) << MANTISSA_BITS)))
}

/// `floor(log2(10^q)) + 63`, approximately (exact over the supported range).
fn power(q: i32) -> i32 {
    (q.wrapping_mul(152_170 + 65536) >> 16) + 63
}

fn full_multiplication(a: u64, b: u64) -> (u64, u64) {
    let r = u128::from(a) * u128::from(b);
    (r as u64, (r >> 64) as u64)
}

/// The high 128 bits of `w * 5^q`, to `precision` bits.
fn product_approx(q: i64, w: u64, precision: usize) -> (u64, u64) {
    let mask = u64::MAX >> precision;
    let (lo5, hi5) = POW5[(q - MIN_Q) as usize];
    let (mut first_lo, mut first_hi) = full_multiplication(w, hi5);
    if first_hi & mask == mask {
        let (_, second_hi) = full_multiplication(w, lo5);
        first_lo = first_lo.wrapping_add(second_hi);
        if second_hi > first_lo {
            first_hi += 1;
        }
    }
    (first_lo, first_hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(w: u64, q: i64) {
        let text = format!("{w}e{q}");
        let want: f64 = text.parse().unwrap();
        if let Some(got) = compute(w, q) {
            assert_eq!(got.to_bits(), want.to_bits(), "{text}");
        }
    }

    #[test]
    fn table_matches_known_entries() {
        // As fast_float's table generator computes them (q = -27, 0, 1, 55).
        assert_eq!(POW5[0], (0x775ea264cf55347e, 0x9e74d1b791e07e48));
        assert_eq!(POW5[27], (0x0, 0x8000000000000000));
        assert_eq!(POW5[28], (0x0, 0xa000000000000000));
        assert_eq!(POW5[82], (0xfff4b4e3f741cf6d, 0xd0cf4b50cfe20765));
    }

    #[test]
    fn agrees_with_std() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for q in MIN_Q..=MAX_Q {
            for w in
                [1, 2, 3, 5, 7, 9, 10, 99, 12345, 1 << 53, (1 << 53) + 1, u64::MAX, 9_999_999_999_999_999_999]
            {
                check(w, q);
            }
        }
        for _ in 0..300_000 {
            let r = next();
            let digits = (r % 19) as u32 + 1;
            let w = next() % 10u64.pow(digits);
            let q = MIN_Q + (next() % (MAX_Q - MIN_Q + 1) as u64) as i64;
            check(w, q);
            check(w, -(((r >> 32) % 20) as i64));
        }
        // halfway cases: ties to even
        for x in [9007199254740993u64, 9007199254740995, 18014398509481986, 18014398509481990] {
            check(x, 0);
            check(x * 10, -1);
        }
    }
}
