//! Floats as Python's `repr` writes them (the key form) and as compact JSON (the value form).

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
///
/// `ryu` gives the shortest digits (the same digits Python's `repr` picks); they are
/// re-laid out here by Python's rules without any allocation.
pub(crate) fn write_repr(out: &mut Vec<u8>, x: f64) {
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(x).as_bytes();
    // ryu writes plain decimals (`0.001`, `1234.5`, `1e15` as `1000000000000000.0`) for
    // decimal exponents -5..=15, Python for -4..=15: everything but `0.0000ddd` and
    // the scientific forms is already Python's layout.
    // An exponent is among the last five bytes (`e-324`).
    let has_exp = s.iter().rev().take(5).any(|&b| b == b'e');
    let plain = !has_exp && !s.starts_with(b"0.0000") && !s.starts_with(b"-0.0000");
    if plain {
        out.extend_from_slice(s);
        return;
    }
    let (neg, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    // Significant digits `d1 d2 ...` and `point` such that |x| = 0.d1d2... * 10^point.
    let mut digits = [0u8; 24];
    let mut nd = 0usize;
    let mut point: i32 = 0;
    let mut seen_point = false;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'0' if nd == 0 && seen_point => point -= 1,
            b'0' if nd == 0 => {}
            c @ b'0'..=b'9' => {
                if nd < digits.len() {
                    digits[nd] = c;
                    nd += 1;
                }
                if !seen_point {
                    point += 1;
                }
            }
            b'.' => seen_point = true,
            b'e' | b'E' => {
                let (eneg, mut j) = match s.get(i + 1) {
                    Some(b'-') => (true, i + 2),
                    Some(b'+') => (false, i + 2),
                    _ => (false, i + 1),
                };
                let mut e: i32 = 0;
                while let Some(&d) = s.get(j) {
                    e = e * 10 + i32::from(d - b'0');
                    j += 1;
                }
                point += if eneg { -e } else { e };
                break;
            }
            _ => {}
        }
        i += 1;
    }
    while nd > 1 && digits[nd - 1] == b'0' {
        nd -= 1;
    }
    if neg {
        out.push(b'-');
    }
    if nd == 0 {
        out.extend_from_slice(b"0.0");
        return;
    }
    let digits = &digits[..nd];
    let exp = point - 1;
    if !(-4..16).contains(&exp) {
        out.push(digits[0]);
        if nd > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let a = exp.unsigned_abs();
        if a >= 100 {
            out.push(b'0' + (a / 100) as u8);
        }
        out.push(b'0' + (a / 10 % 10) as u8);
        out.push(b'0' + (a % 10) as u8);
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if nd <= int_len {
            out.extend_from_slice(digits);
            out.extend(std::iter::repeat_n(b'0', int_len - nd));
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
            (2.6797475478129063e14, "267974754781290.62"),
            (1234.5, "1234.5"),
        ] {
            assert_eq!(repr(x), s, "{x}");
        }
    }

    /// The previous implementation (through `{:e}`), kept as the reference.
    fn repr_via_fmt(x: f64) -> String {
        let s = format!("{x:e}");
        let (neg, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.as_str()),
        };
        let (mantissa, exp) = s.split_once('e').unwrap();
        let exp: i32 = exp.parse().unwrap();
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let mut out = String::new();
        if neg {
            out.push('-');
        }
        if !(-4..16).contains(&exp) {
            out.push_str(&digits[..1]);
            if digits.len() > 1 {
                out.push('.');
                out.push_str(&digits[1..]);
            }
            out.push_str(&format!("e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs()));
        } else if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.push_str(&"0".repeat(int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.push_str(&"0".repeat((-exp - 1) as usize));
            out.push_str(&digits);
        }
        out
    }

    #[test]
    fn ryu_layout_matches_fmt_layout() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut ties = 0;
        let mut check = |x: f64| {
            if x.is_finite() {
                let (new, old) = (repr(x), repr_via_fmt(x));
                // `{:e}` rounds exact ties of the last digit up, Python (and ryu) to even:
                // 267974754781290.625 -> Python `267974754781290.62`.
                if new != old {
                    assert_eq!(new.len(), old.len(), "{x:e}");
                    assert_eq!(new.parse::<f64>().unwrap(), x, "{new}");
                    ties += 1;
                }
            }
        };
        for _ in 0..50_000 {
            let bits = next();
            check(f64::from_bits(bits));
            // uniform in [0, 1), and decimals of every magnitude
            check((bits >> 11) as f64 / (1u64 << 53) as f64);
            let e = (bits % 40) as i32 - 20;
            check((bits >> 40) as f64 * 10f64.powi(e));
        }
        for e in -324..=308 {
            check(10f64.powi(e));
            check(-1.5 * 10f64.powi(e));
        }
        for x in [0.0, -0.0, f64::MIN_POSITIVE, f64::MAX, f64::MIN, 1e-5, 1e16 - 2.0, 1e-4, 0.1 + 0.2] {
            check(x);
        }
        assert!(ties < 100, "{ties}");
    }
}
