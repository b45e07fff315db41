//! Dispatch of the per-lane pure operations ([`Alu`]) to their semantics modules.

use crate::inst::{Alu, Space};
use crate::memory::{LOCAL_WINDOW, SHARED_WINDOW};
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
