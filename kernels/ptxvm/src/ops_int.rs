//! Integer semantics, bit-exact to the PTX ISA: wrap-around arithmetic at the type's width,
//! `.hi`/`.wide` products, saturating add/sub, shifts that clamp their amount, bfe/bfi/prmt/lop3,
//! dp4a/dp2a. Division by zero gives what NVIDIA hardware gives (all ones for the quotient, the
//! dividend for the remainder) rather than trapping.

use crate::inst::IntOp;
use crate::ty::Ty;

#[inline]
fn sx(v: u64, bits: u32) -> i64 {
    if bits == 64 { v as i64 } else { ((v << (64 - bits)) as i64) >> (64 - bits) }
}

#[inline]
fn mask(bits: u32) -> u64 {
    if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 }
}

/// Evaluates `op` on `ty` for one lane.
#[inline]
pub fn eval(op: IntOp, ty: Ty, a: u64, b: u64, c: u64, d: u64) -> u64 {
    let bits = ty.bits();
    let m = mask(bits);
    let signed = ty.signed();
    let (a, b, c) = (a & m, b & m, c);
    match op {
        IntOp::Add => a.wrapping_add(b) & m,
        IntOp::Sub => a.wrapping_sub(b) & m,
        IntOp::AddSat => (sx(a, 32).saturating_add(sx(b, 32)).clamp(i32::MIN as i64, i32::MAX as i64) as u64) & m,
        IntOp::SubSat => (sx(a, 32).saturating_sub(sx(b, 32)).clamp(i32::MIN as i64, i32::MAX as i64) as u64) & m,
        IntOp::MulLo => a.wrapping_mul(b) & m,
        IntOp::MulHi => mul_full(a, b, bits, signed).1,
        IntOp::MulWide => {
            let (lo, hi) = mul_full(a, b, bits, signed);
            if bits == 64 { lo } else { (lo | (hi << bits)) & mask(2 * bits) }
        }
        IntOp::MadLo => a.wrapping_mul(b).wrapping_add(c) & m,
        IntOp::MadHi => mul_full(a, b, bits, signed).1.wrapping_add(c) & m,
        IntOp::MadWide => {
            let (lo, hi) = mul_full(a, b, bits, signed);
            ((lo | (hi << bits)).wrapping_add(c)) & mask(2 * bits)
        }
        IntOp::Mul24Lo => {
            let (a24, b24) =
                if signed { (sx(a, 24), sx(b, 24)) } else { ((a & 0xff_ffff) as i64, (b & 0xff_ffff) as i64) };
            (a24.wrapping_mul(b24) as u64) & m
        }
        IntOp::Div => {
            if b == 0 {
                m
            } else if signed {
                (sx(a, bits).wrapping_div(sx(b, bits)) as u64) & m
            } else {
                a / b
            }
        }
        IntOp::Rem => {
            if b == 0 {
                a
            } else if signed {
                (sx(a, bits).wrapping_rem(sx(b, bits)) as u64) & m
            } else {
                a % b
            }
        }
        IntOp::Min => {
            if signed {
                (sx(a, bits).min(sx(b, bits)) as u64) & m
            } else {
                a.min(b)
            }
        }
        IntOp::Max => {
            if signed {
                (sx(a, bits).max(sx(b, bits)) as u64) & m
            } else {
                a.max(b)
            }
        }
        IntOp::Abs => (sx(a, bits).wrapping_abs() as u64) & m,
        IntOp::Neg => a.wrapping_neg() & m,
        IntOp::Not => !a & m,
        IntOp::And => a & b,
        IntOp::Or => a | b,
        IntOp::Xor => a ^ b,
        IntOp::CNot => u64::from(a == 0),
        IntOp::Shl => {
            let s = b & 0xffff_ffff;
            if s >= u64::from(bits) { 0 } else { (a << s) & m }
        }
        IntOp::Shr => {
            let s = (b & 0xffff_ffff).min(u64::from(bits) - 1 + u64::from(!signed));
            if signed {
                ((sx(a, bits) >> s.min(63)) as u64) & m
            } else if s >= u64::from(bits) {
                0
            } else {
                a >> s
            }
        }
        IntOp::Popc => u64::from(a.count_ones()),
        IntOp::Clz => u64::from(a.leading_zeros() - (64 - bits)),
        IntOp::Brev => a.reverse_bits() >> (64 - bits),
        IntOp::Bfind => {
            let v = if signed && sx(a, bits) < 0 { !a & m } else { a };
            if v == 0 { 0xffff_ffff } else { u64::from(63 - v.leading_zeros()) }
        }
        IntOp::Bfe => {
            let (pos, len) = ((b & 0xff) as u32, (c & 0xff) as u32);
            let msb = bits - 1;
            let sbit = if signed && len != 0 { (a >> (pos + len - 1).min(msb)) & 1 } else { 0 };
            let avail = if pos > msb { 0 } else { len.min(bits - pos) };
            let v = if avail == 0 { 0 } else { (a >> pos) & mask(avail) };
            if sbit == 1 { (v | !mask(avail)) & m } else { v }
        }
        IntOp::Bfi => {
            // bfi d, a (insert), b (base), c (pos), d (len)
            let pos = (c & 0xff) as u32;
            let len = (d & 0xff) as u32;
            if len == 0 || pos >= bits {
                b
            } else {
                let fm = mask(len.min(bits - pos)) << pos;
                ((b & !fm) | ((a << pos) & fm)) & m
            }
        }
        IntOp::Prmt(mode) => prmt(a as u32, b as u32, c as u32, mode),
        IntOp::Lop3 => {
            let lut = d as u8;
            let mut r = 0u64;
            for i in 0..8 {
                if lut >> i & 1 == 1 {
                    let sa = if i & 4 != 0 { a } else { !a };
                    let sb = if i & 2 != 0 { b } else { !b };
                    let sc = if i & 1 != 0 { c } else { !c };
                    r |= sa & sb & sc;
                }
            }
            r & m
        }
        IntOp::Dp4a(sa, sb) => {
            let mut acc = c as u32;
            for i in 0..4 {
                let x = byte(a as u32, i, sa);
                let y = byte(b as u32, i, sb);
                acc = acc.wrapping_add((x.wrapping_mul(y)) as u32);
            }
            u64::from(acc)
        }
        IntOp::Dp2a(hi, sa, sb) => {
            let mut acc = c as u32;
            for i in 0..2 {
                let x = half(a as u32, i, sa);
                let y = byte(b as u32, i + if hi { 2 } else { 0 }, sb);
                acc = acc.wrapping_add((x.wrapping_mul(y)) as u32);
            }
            u64::from(acc)
        }
    }
}

fn byte(v: u32, i: u32, signed: bool) -> i64 {
    let x = (v >> (8 * i)) & 0xff;
    if signed { i64::from(x as u8 as i8) } else { i64::from(x) }
}

fn half(v: u32, i: u32, signed: bool) -> i64 {
    let x = (v >> (16 * i)) & 0xffff;
    if signed { i64::from(x as u16 as i16) } else { i64::from(x) }
}

/// The full 2·bits product as (low bits, high bits).
fn mul_full(a: u64, b: u64, bits: u32, signed: bool) -> (u64, u64) {
    let p: u128 = if signed {
        (i128::from(sx(a, bits)) * i128::from(sx(b, bits))) as u128
    } else {
        u128::from(a) * u128::from(b)
    };
    let m = mask(bits);
    ((p as u64) & m, ((p >> bits) as u64) & m)
}

/// `prmt.b32`: picks bytes of {b, a} (a = bytes 0..3, b = 4..7) by the selector c.
fn prmt(a: u32, b: u32, c: u32, mode: u8) -> u64 {
    // Modes: f4e byte k = s+k; b4e byte k = s-k; rc8 all s; ecl/ecr clamp; rc16 halves.
    let src = u64::from(a) | (u64::from(b) << 32);
    let get = |i: u32| ((src >> (8 * (i & 7))) & 0xff) as u32;
    let out: [u32; 4] = match mode {
        0 => {
            let mut o = [0; 4];
            for (k, slot) in o.iter_mut().enumerate() {
                let sel = (c >> (4 * k)) & 0xf;
                let v = get(sel & 7);
                // bit 3 of a selector replicates the byte's sign bit.
                *slot = if sel & 8 != 0 { if v & 0x80 != 0 { 0xff } else { 0 } } else { v };
            }
            o
        }
        _ => {
            let s = c & 3;
            match mode {
                1 => [get(s), get(s + 1), get(s + 2), get(s + 3)],
                2 => [get(s), get(s.wrapping_sub(1) & 7), get(s.wrapping_sub(2) & 7), get(s.wrapping_sub(3) & 7)],
                3 => [get(s); 4],
                // ecl: byte k = max(k, s); ecr: byte k = min(k, s).
                4 => [get(s), get(s.max(1)), get(s.max(2)), get(3)],
                5 => [get(0), get(s.min(1)), get(s.min(2)), get(s)],
                _ => {
                    let lo = (c & 1) * 2;
                    [get(lo), get(lo + 1), get(lo), get(lo + 1)]
                }
            }
        }
    };
    u64::from(out[0] | (out[1] << 8) | (out[2] << 16) | (out[3] << 24))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bfe_sign_extends_the_extracted_field_for_signed_types() {
        assert_eq!(eval(IntOp::Bfe, Ty::S32, 0x0000_80ff, 8, 8, 0), 0xffff_ff80);
        assert_eq!(eval(IntOp::Bfe, Ty::U32, 0x0000_80ff, 8, 8, 0), 0x80);
        assert_eq!(eval(IntOp::Bfe, Ty::S32, 0x7f00_0000, 24, 8, 0), 0x7f);
    }

    #[test]
    fn wide_and_high_products_keep_every_bit() {
        assert_eq!(eval(IntOp::MulWide, Ty::U32, 0xffff_ffff, 0xffff_ffff, 0, 0), 0xffff_fffe_0000_0001);
        assert_eq!(eval(IntOp::MulWide, Ty::S32, 0xffff_ffff, 2, 0, 0), (-2i64) as u64);
        assert_eq!(eval(IntOp::MulHi, Ty::S32, 0x8000_0000, 2, 0, 0), 0xffff_ffff);
        assert_eq!(eval(IntOp::MadLo, Ty::U32, 7, 6, 0x1_0000_0001, 0), 43);
    }

    #[test]
    fn shifts_past_the_width_clamp_and_signed_shifts_fill_with_the_sign() {
        assert_eq!(eval(IntOp::Shl, Ty::B32, 1, 32, 0, 0), 0);
        assert_eq!(eval(IntOp::Shr, Ty::S32, 0x8000_0000, 40, 0, 0), 0xffff_ffff);
        assert_eq!(eval(IntOp::Shr, Ty::U32, 0x8000_0000, 31, 0, 0), 1);
    }

    #[test]
    fn dp4a_sums_four_signed_byte_products_into_the_accumulator() {
        let a = u32::from_le_bytes([1, 0xff, 3, 0x80]) as u64; // 1, -1, 3, -128
        let b = u32::from_le_bytes([2, 2, 0xfe, 1]) as u64; // 2, 2, -2, 1
        assert_eq!(eval(IntOp::Dp4a(true, true), Ty::S32, a, b, 10, 0) as u32 as i32, 10 + 2 - 2 - 6 - 128);
        assert_eq!(eval(IntOp::Dp4a(false, false), Ty::U32, a, b, 0, 0), 2 + 510 + 3 * 254 + 128);
        let a2 = (0xffffu64 << 16) | 3; // halves 3, -1
        assert_eq!(eval(IntOp::Dp2a(true, true, true), Ty::S32, a2, b, 0, 0) as u32 as i32, 3 * -2 + -1);
    }

    #[test]
    fn prmt_default_mode_selects_and_sign_replicates_bytes() {
        assert_eq!(eval(IntOp::Prmt(0), Ty::B32, 0x4433_2211, 0x8877_6655, 0x0000_7654, 0), 0x8877_6655);
        assert_eq!(eval(IntOp::Prmt(0), Ty::B32, 0x4433_2211, 0x8877_6655, 0x0000_000f, 0), 0x1111_11ff);
        assert_eq!(eval(IntOp::Lop3, Ty::B32, 0xf0, 0xcc, 0xaa, 0x96), 0xf0 ^ 0xcc ^ 0xaa);
    }

    #[test]
    fn division_by_zero_gives_the_hardware_answer() {
        assert_eq!(eval(IntOp::Div, Ty::U32, 5, 0, 0, 0), 0xffff_ffff);
        assert_eq!(eval(IntOp::Rem, Ty::U32, 5, 0, 0, 0), 5);
        assert_eq!(eval(IntOp::Div, Ty::S32, (-7i32) as u32 as u64, 2, 0, 0), (-3i32) as u32 as u64);
    }
}
