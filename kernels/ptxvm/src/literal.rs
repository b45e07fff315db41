//! Numeric literals as PTX writes them: integers in decimal, hex (`0x`), octal (`0`) and binary
//! (`0b`) with an optional `U` suffix; floats as hex bit patterns (`0f3F800000` single,
//! `0d3FF0000000000000` double) or decimal.

/// An integer literal, as the 64-bit two's-complement pattern PTX gives it.
pub fn parse_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let body = body.strip_suffix('U').or_else(|| body.strip_suffix('u')).unwrap_or(body);
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()?
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        u64::from_str_radix(b, 2).ok()?
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit()) {
        u64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<u64>().ok()?
    };
    Some(if neg { -(v as i128) } else { v as i128 })
}

/// A floating-point literal as an f64 value (hex `0f` literals are exact f32 values).
pub fn parse_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let v = if let Some(h) = body.strip_prefix("0f").or_else(|| body.strip_prefix("0F")) {
        f64::from(f32::from_bits(u32::from_str_radix(h, 16).ok()?))
    } else if let Some(h) = body.strip_prefix("0d").or_else(|| body.strip_prefix("0D")) {
        f64::from_bits(u64::from_str_radix(h, 16).ok()?)
    } else if body.contains(['.', 'e', 'E']) && !body.starts_with("0x") {
        body.parse::<f64>().ok()?
    } else {
        parse_int(body)? as f64
    };
    Some(if neg { -v } else { v })
}

/// Whether a literal is written as an exact bit pattern (`0f…`/`0d…`), which must not be rounded.
pub fn float_bits(s: &str) -> Option<(u8, u64)> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let neg = s.starts_with('-');
    if let Some(h) = body.strip_prefix("0f").or_else(|| body.strip_prefix("0F")) {
        let b = u32::from_str_radix(h, 16).ok()?;
        return Some((32, u64::from(if neg { b ^ 0x8000_0000 } else { b })));
    }
    if let Some(h) = body.strip_prefix("0d").or_else(|| body.strip_prefix("0D")) {
        let b = u64::from_str_radix(h, 16).ok()?;
        return Some((64, if neg { b ^ (1 << 63) } else { b }));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_literals_in_every_ptx_base_parse() {
        assert_eq!(parse_int("0xffffffff"), Some(0xffff_ffff));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("017"), Some(15));
        assert_eq!(parse_int("0b101"), Some(5));
        assert_eq!(parse_int("42U"), Some(42));
    }

    #[test]
    fn hex_float_literals_are_exact_bit_patterns() {
        assert_eq!(parse_float("0f3F800000"), Some(1.0));
        assert_eq!(parse_float("0d4000000000000000"), Some(2.0));
        assert_eq!(float_bits("0f00000000"), Some((32, 0)));
        assert_eq!(parse_float("1.5e-1"), Some(0.15));
    }
}
