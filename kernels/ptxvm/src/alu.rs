//! Dispatch of the per-lane pure operations ([`Alu`]) to their semantics modules.

use crate::inst::{Alu, FOp, IntOp, Reg, Space, Src};
use crate::memory::{LOCAL_WINDOW, SHARED_WINDOW};
use crate::round::Rnd;
use crate::ty::Ty;
use crate::{ops_cvt, ops_float, ops_int};

/// `d = alu(a, b, c, e)` for one lane.
#[inline(always)]
pub fn eval(alu: &Alu, a: u64, b: u64, c: u64, e: u64) -> u64 {
    match *alu {
        Alu::Mov => a,
        Alu::Int(op, ty) => ops_int::eval(op, ty, a, b, c, e),
        Alu::Float { op, ty, rnd, ftz, sat } => ops_float::eval(op, ty, rnd, ftz, sat, a, b, c),
        Alu::Cvt { dst, src, rnd, irnd, ftz, sat } => match dst {
            Ty::F16x2 | Ty::Bf16x2 => {
                let elem = if dst == Ty::F16x2 { Ty::F16 } else { Ty::Bf16 };
                let hi = ops_cvt::eval(elem, src, rnd, irnd, ftz, sat, a);
                let lo = ops_cvt::eval(elem, src, rnd, irnd, ftz, sat, b);
                (hi << 16) | lo
            }
            _ => ops_cvt::eval(dst, src, rnd, irnd, ftz, sat, a),
        },
        Alu::Selp(_) => {
            if c & 1 != 0 {
                a
            } else {
                b
            }
        }
        Alu::Cvta { to, space } => {
            let window = match space {
                Space::Shared => SHARED_WINDOW,
                Space::Local => LOCAL_WINDOW,
                _ => 0,
            };
            if to { a.wrapping_sub(window) } else { a.wrapping_add(window) }
        }
    }
}

#[inline(always)]
fn rd(regs: &[u64], s: Src, lane: usize) -> u64 {
    match s {
        Src::Reg(r) => regs[r as usize * 32 + lane],
        Src::Imm(v) => v,
    }
}

/// Runs `alu` for every lane of `exec`: `regs[d] = alu(s0..s3)`.
///
/// The operation is matched once per warp instruction, not once per lane: the hottest forms
/// (plain f32 fma/add/mul, s32→f32 conversion, bfe, 32/64-bit adds, shifts, wide multiplies)
/// get loops of their own, everything else goes through [`eval`].
#[inline]
pub fn run_lanes(alu: &Alu, regs: &mut [u64], d: Reg, s: [Src; 4], exec: u32) {
    let d = d as usize * 32;
    macro_rules! each {
        (|$a:ident, $b:ident, $c:ident, $e:ident| $body:expr) => {{
            let mut m = exec;
            while m != 0 {
                let lane = m.trailing_zeros() as usize;
                m &= m - 1;
                let $a = rd(regs, s[0], lane);
                let $b = rd(regs, s[1], lane);
                let $c = rd(regs, s[2], lane);
                let $e = rd(regs, s[3], lane);
                regs[d + lane] = $body;
            }
        }};
    }
    #[inline(always)]
    fn canon(x: f32) -> u64 {
        if x.is_nan() { 0x7fff_ffff } else { u64::from(x.to_bits()) }
    }
    let f = |v: u64| f32::from_bits(v as u32);
    match *alu {
        Alu::Mov => each!(|a, _b, _c, _e| a),
        Alu::Float { op: FOp::Fma, ty: Ty::F32, rnd: Rnd::Rn, ftz: false, sat: false } => {
            each!(|a, b, c, _e| canon(f(a).mul_add(f(b), f(c))))
        }
        Alu::Float { op: FOp::Add, ty: Ty::F32, rnd: Rnd::Rn, ftz: false, sat: false } => {
            each!(|a, b, _c, _e| canon(f(a) + f(b)))
        }
        Alu::Float { op: FOp::Mul, ty: Ty::F32, rnd: Rnd::Rn, ftz: false, sat: false } => {
            each!(|a, b, _c, _e| canon(f(a) * f(b)))
        }
        Alu::Cvt { dst: Ty::F32, src: Ty::S32, rnd: None | Some(Rnd::Rn), irnd: None, ftz: _, sat: false } => {
            // Every s32 → f32 result is normal or zero, so .ftz cannot change it.
            each!(|a, _b, _c, _e| u64::from((a as u32 as i32 as f32).to_bits()))
        }
        Alu::Int(IntOp::Bfe, Ty::S32) => each!(|a, b, c, _e| {
            let (pos, len) = ((b & 0xff) as u32, (c & 0xff) as u32);
            if pos + len <= 32 && len > 0 {
                (((a as u32 as i32) << (32 - pos - len)) >> (32 - len)) as u32 as u64
            } else {
                ops_int::eval(IntOp::Bfe, Ty::S32, a, b, c, 0)
            }
        }),
        Alu::Int(IntOp::Add, Ty::U32 | Ty::S32 | Ty::B32) => {
            each!(|a, b, _c, _e| u64::from((a as u32).wrapping_add(b as u32)))
        }
        Alu::Int(IntOp::Add, Ty::U64 | Ty::S64 | Ty::B64) => each!(|a, b, _c, _e| a.wrapping_add(b)),
        Alu::Int(IntOp::MulWide, Ty::U32) => each!(|a, b, _c, _e| u64::from(a as u32) * u64::from(b as u32)),
        Alu::Int(op, ty) => each!(|a, b, c, e| ops_int::eval(op, ty, a, b, c, e)),
        _ => each!(|a, b, c, e| eval(alu, a, b, c, e)),
    }
}
