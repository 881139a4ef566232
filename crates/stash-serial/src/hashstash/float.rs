//! Floats as Python's `repr` writes them (the key form) and as compact JSON (the value form).

use std::io::Write as _;

/// The tag Python hashstash uses for a non-finite float, or `None` when `x` is finite.
pub(crate) fn non_finite_tag(x: f64) -> Option<&'static str> {
    if x.is_nan() {
        Some("nan")
    } else if x == f64::INFINITY {
        Some("inf")
    } else if x == f64::NEG_INFINITY {
        Some("-inf")
    } else {
        None
    }
}

/// Append a finite float in Python `repr` form: shortest round-trip digits, scientific
/// notation iff the decimal exponent is `< -4` or `>= 16` (`1e+16`, `1e-05`, `2.0`).
pub(crate) fn write_repr(out: &mut Vec<u8>, x: f64) {
    // `{:e}` gives the shortest round-trip digits as `d[.ddd]e<exp>`.
    let mut buf = [0u8; 40];
    let len = {
        let mut cur = &mut buf[..];
        // 40 bytes always suffice for `{:e}` of an f64 (at most 17 digits + sign + exponent).
        if write!(cur, "{x:e}").is_err() {
            out.extend_from_slice(ryu::Buffer::new().format_finite(x).as_bytes());
            return;
        }
        40 - cur.len()
    };
    let s = &buf[..len];
    let (neg, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let epos = s.iter().position(|&b| b == b'e').unwrap_or(s.len());
    let mantissa = &s[..epos];
    let exp: i32 =
        std::str::from_utf8(s.get(epos + 1..).unwrap_or(b"0")).ok().and_then(|e| e.parse().ok()).unwrap_or(0);
    let mut digits = [0u8; 24];
    let mut nd = 0;
    for &b in mantissa {
        if b.is_ascii_digit() && nd < digits.len() {
            digits[nd] = b;
            nd += 1;
        }
    }
    let digits = &digits[..nd.max(1)];
    if neg {
        out.push(b'-');
    }
    if !(-4..16).contains(&exp) {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(itoa::Buffer::new().format(a).as_bytes());
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.extend_from_slice(digits);
            out.extend(std::iter::repeat_n(b'0', int_len - digits.len()));
            out.extend_from_slice(b".0");
        } else {
            out.extend_from_slice(&digits[..int_len]);
            out.push(b'.');
            out.extend_from_slice(&digits[int_len..]);
        }
    } else {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-exp - 1) as usize));
        out.extend_from_slice(digits);
    }
}

/// Append a finite float in a compact round-trippable JSON form (always with `.` or `e`).
pub(crate) fn write_compact(out: &mut Vec<u8>, x: f64) {
    out.extend_from_slice(ryu::Buffer::new().format_finite(x).as_bytes());
}

#[cfg(test)]
mod tests {
    fn repr(x: f64) -> String {
        let mut v = Vec::new();
        super::write_repr(&mut v, x);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn python_repr() {
        for (x, s) in [
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (2.0, "2.0"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e22, "1e+22"),
            (-123.456, "-123.456"),
            (1234.5, "1234.5"),
        ] {
            assert_eq!(repr(x), s, "{x}");
        }
    }
}
