//! Doubles as the C tool prints them (`printf("%.17g")` with glibc), and as its reader accepts them.

use std::io::Write;

/// Appends `v` formatted exactly like glibc's `%.17g`.
pub fn write_g17(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(if v.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v < 0.0 { b"-inf" } else { b"inf" });
        return;
    }
    if v == 0.0 {
        out.extend_from_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    // 17 significant digits, correctly rounded: [-]d.dddddddddddddddde[-]X. Both of %g's
    // notations show these same digits, so the fixed form is built from them.
    let neg = v.is_sign_negative();
    let (digits, exp) = sig17_exact(v.abs()).unwrap_or_else(|| sig17_fmt(v.abs()));
    if neg {
        out.push(b'-');
    }
    if (-4..17).contains(&exp) {
        if exp >= 0 {
            let k = exp as usize + 1;
            out.extend_from_slice(&digits[..k]);
            push_fraction(out, &digits[k..]);
        } else {
            // 0.000ddd: at most three zeros before the digits.
            let zeros = (-exp - 1) as usize;
            let mut frac = [b'0'; 20];
            frac[zeros..zeros + 17].copy_from_slice(&digits);
            out.push(b'0');
            push_fraction(out, &frac[..zeros + 17]);
        }
    } else {
        out.push(digits[0]);
        push_fraction(out, &digits[1..]);
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    }
}

/// The 17 significant digits of a finite `v > 0` and its decimal exponent, through Rust's
/// exact formatting (`{:.16e}`, correctly rounded, ties to even as glibc).
fn sig17_fmt(v: f64) -> ([u8; 17], i32) {
    let mut tmp = [0u8; 32];
    let len = {
        let mut cur = &mut tmp[..];
        write!(cur, "{v:.16e}").expect("a double's {:e} form fits in 32 bytes");
        32 - cur.len()
    };
    let sci = &tmp[..len];
    let e_at = sci
        .iter()
        .position(|&c| c == b'e')
        .expect("exponent in {:e} output");
    let exp: i32 = std::str::from_utf8(&sci[e_at + 1..])
        .ok()
        .and_then(|x| x.parse().ok())
        .expect("integer exponent");
    let mut digits = [0u8; 17];
    digits[0] = sci[0];
    digits[1..].copy_from_slice(&sci[2..e_at]);
    (digits, exp)
}

/// 10^0 to 10^22.
const POW10: [u128; 23] = {
    let mut t = [1u128; 23];
    let mut i = 1;
    while i < 23 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// [`sig17_fmt`] in integer arithmetic, for the doubles most data holds: `v = m * 2^e` from
/// 1e-6 up to 1e17, where `m * 10^k` (k = 16 - the exponent) fits in 128 bits and is divided by
/// `2^-e` with its remainder deciding the rounding. `None` outside that range. The formatter's
/// machinery around its digit generation was a tenth of as-encode's CPU on records with a
/// double bin.
fn sig17_exact(v: f64) -> Option<([u8; 17], i32)> {
    const LOW: u64 = 10u64.pow(16);
    const HIGH: u64 = LOW * 10; // 10^17
    let bits = v.to_bits();
    let biased = (bits >> 52) as i32;
    if biased == 0 || !(1e-6..1e17).contains(&v) {
        return None; // subnormal, or outside the range
    }
    let m = (bits & ((1 << 52) - 1)) | (1 << 52);
    let e = biased - 1075;
    // log10(v) from its binary exponent (v in [2^(e+52), 2^(e+53))): the exponent or one less.
    let mut x = (((e + 52) as f64) * std::f64::consts::LOG10_2).floor() as i32;
    loop {
        let k = 16 - x;
        if !(0..=22).contains(&k) {
            return None;
        }
        let p = m as u128 * POW10[k as usize];
        let (q, rounded) = if e >= 0 {
            (p << e, p << e)
        } else {
            let s = (-e) as u32;
            let q = p >> s;
            let r = p & ((1u128 << s) - 1);
            let half = 1u128 << (s - 1);
            let up = r > half || (r == half && q & 1 == 1);
            (q, q + up as u128)
        };
        if q >= HIGH as u128 {
            x += 1;
            continue;
        }
        if q < LOW as u128 {
            x -= 1;
            continue;
        }
        let (d, x) = match rounded == HIGH as u128 {
            true => (LOW, x + 1),
            false => (rounded as u64, x),
        };
        let mut buf = itoa::Buffer::new();
        let mut digits = [0u8; 17];
        digits.copy_from_slice(buf.format(d).as_bytes());
        return Some((digits, x));
    }
}

/// Appends `.frac` without trailing zeros, or nothing when no digit is left.
fn push_fraction(out: &mut Vec<u8>, frac: &[u8]) {
    let keep = frac.iter().rposition(|&c| c != b'0').map_or(0, |i| i + 1);
    if keep > 0 {
        out.push(b'.');
        out.extend_from_slice(&frac[..keep]);
    }
}

/// Parses a double token as the C reader does: decimal or exponent notation, or `nan`/`inf`/
/// `infinity` in any case with an optional sign. A `-nan` keeps its sign bit.
pub fn parse_double(tok: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(tok).ok()?;
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let word = |w: &str| body.eq_ignore_ascii_case(w);
    let v = if word("nan") {
        f64::NAN
    } else if word("inf") || word("infinity") {
        f64::INFINITY
    } else {
        // Only digits, one '.', and an exponent: reject forms Rust accepts but C does not.
        let ok = !body.is_empty()
            && body
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
            && body
                .bytes()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == b'.');
        if !ok {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(v: f64) -> String {
        let mut o = Vec::new();
        write_g17(&mut o, v);
        String::from_utf8(o).unwrap()
    }

    /// The table of docs/asb-format.md#doubles, plus the values asbackup wrote from a real server.
    #[test]
    fn matches_glibc_table() {
        let table: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (100.0, "100"),
            (0.1, "0.10000000000000001"),
            (1.2345, "1.2344999999999999"),
            (123.456, "123.456"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (1e-20, "9.9999999999999995e-21"),
            (1e20, "1e+20"),
            (5e-324, "4.9406564584124654e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (std::f64::consts::PI, "3.1415926535897931"),
            (99.5, "99.5"),
            (-1.5, "-1.5"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (f64::NAN, "nan"),
            (-f64::NAN, "-nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (v, want) in table {
            assert_eq!(g(*v), *want, "formatting {v:e}");
        }
    }

    /// The integer path against the formatter's, where it applies: random bit patterns, decimal
    /// fractions as data holds them, powers of ten and their neighbours, and exact ties (k/2^18
    /// in [0.5, 1) has 18 significant digits ending in 5: rounded to even, as glibc and Rust do).
    #[test]
    fn integer_digits_match_the_formatter() {
        let mut values = Vec::new();
        let mut x: u64 = 0x2545f4914f6cdd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200_000 {
            values.push(f64::from_bits(next()));
            let exp = (next() % 24) as i32 - 7;
            values.push(
                (next() % 100_000_000) as f64 / 10f64.powi(exp.max(0)) * 10f64.powi(-exp.min(0)),
            );
            values.push((next() >> 11) as f64 * 2f64.powi((next() % 80) as i32 - 76));
        }
        for k in (1 << 17)..(1 << 18) {
            values.push(k as f64 / (1 << 18) as f64);
        }
        for p in -8..19 {
            let t = 10f64.powi(p);
            values.extend([
                t,
                t.next_up(),
                t.next_down(),
                9.5 * t,
                9.9999999999999995 * t,
            ]);
        }
        values.extend([
            1e-6,
            1e17,
            2f64.powi(53),
            2f64.powi(56),
            123456789012345680.0,
        ]);
        let mut exact = 0;
        for v in values.into_iter().filter(|v| v.is_finite() && *v != 0.0) {
            let v = v.abs();
            if let Some(got) = sig17_exact(v) {
                exact += 1;
                assert_eq!(got, sig17_fmt(v), "{v:e}");
            }
        }
        assert!(exact > 400_000, "the integer path took only {exact} values");
    }

    #[test]
    fn parse_accepts_c_forms_and_round_trips() {
        for (s, v) in [
            ("1e+17", 1e17),
            ("-0", -0.0),
            ("0.10000000000000001", 0.1),
            ("INF", f64::INFINITY),
        ] {
            assert_eq!(
                parse_double(s.as_bytes()).unwrap().to_bits(),
                f64::to_bits(v),
                "{s}"
            );
        }
        assert!(parse_double(b"-nan").unwrap().is_sign_negative());
        assert!(parse_double(b"nan").unwrap().is_sign_positive());
        for bad in ["", "-", "abc", "1x", "0x10", " 1", "nan1"] {
            assert!(
                parse_double(bad.as_bytes()).is_none(),
                "{bad:?} must be rejected"
            );
        }
    }

    #[test]
    fn g17_round_trips_every_bit_pattern_it_prints() {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..20000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            if v.is_nan() {
                continue;
            }
            let s = g(v);
            assert_eq!(
                parse_double(s.as_bytes()).unwrap().to_bits(),
                v.to_bits(),
                "{s}"
            );
        }
    }
}
