//! Correct rounding into f32, f16 and bf16 in all four IEEE modes, from an exact value given as
//! an unevaluated f64 pair `s + e` (|e| ≤ ulp(s)/2, e.g. from [`two_sum`]). Round-to-nearest goes
//! through the host's conversions (correctly rounded); ties that `s` alone hides and the directed
//! modes are settled from the sign of `e`. This is what makes `add.rz.f32`, `fma.rm.f16`, `cvt.rp`
//! bit-exact without a soft-float library.

/// IEEE rounding mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rnd {
    /// To nearest, ties to even (`.rn`, the default).
    Rn,
    /// Toward zero (`.rz`).
    Rz,
    /// Toward −∞ (`.rm`).
    Rm,
    /// Toward +∞ (`.rp`).
    Rp,
}

/// A binary floating format narrower than f64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fmt {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16.
    Bf16,
}

impl Fmt {
    fn nearest(self, s: f64) -> u64 {
        match self {
            Fmt::F32 => u64::from((s as f32).to_bits()),
            Fmt::F16 => u64::from(half::f16::from_f64(s).to_bits()),
            Fmt::Bf16 => u64::from(half::bf16::from_f64(s).to_bits()),
        }
    }

    fn to_f64(self, b: u64) -> f64 {
        match self {
            Fmt::F32 => f64::from(f32::from_bits(b as u32)),
            Fmt::F16 => half::f16::from_bits(b as u16).to_f64(),
            Fmt::Bf16 => half::bf16::from_bits(b as u16).to_f64(),
        }
    }

    fn sign_bit(self) -> u64 {
        match self {
            Fmt::F32 => 1 << 31,
            Fmt::F16 | Fmt::Bf16 => 1 << 15,
        }
    }

    /// The canonical NaN NVIDIA GPUs produce.
    pub fn canonical_nan(self) -> u64 {
        match self {
            Fmt::F32 => 0x7fff_ffff,
            Fmt::F16 => 0x7fff,
            Fmt::Bf16 => 0x7fff,
        }
    }

    /// The next representable value toward +∞ (`up`) or −∞.
    fn step(self, b: u64, up: bool) -> u64 {
        let sign = b & self.sign_bit() != 0;
        let mag = b & !self.sign_bit();
        if mag == 0 {
            // ±0 → ±smallest subnormal.
            return if up { 1 } else { self.sign_bit() | 1 };
        }
        // Moving away from zero increments the magnitude bits; toward zero decrements them.
        if up != sign { b + 1 } else { b - 1 }
    }
}

/// `s + e = a + b` exactly (Knuth's TwoSum).
#[inline]
pub fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

/// Rounds the exact value `s + e` into `fmt` with `mode`; NaN becomes the canonical NaN.
pub fn round_pair(fmt: Fmt, s: f64, e: f64, mode: Rnd) -> u64 {
    if s.is_nan() {
        return fmt.canonical_nan();
    }
    let r = fmt.nearest(s);
    if !s.is_finite() {
        return r;
    }
    let rv = fmt.to_f64(r);
    let diff = s - rv;
    // Sign of (exact − r).
    let sigma = if diff != 0.0 {
        diff.signum()
    } else if e != 0.0 {
        e.signum()
    } else {
        return r;
    };
    let (lo, hi) = if sigma > 0.0 { (r, fmt.step(r, true)) } else { (fmt.step(r, false), r) };
    match mode {
        Rnd::Rm => lo,
        Rnd::Rp => hi,
        // Toward zero: the bracket end of smaller magnitude.
        Rnd::Rz => {
            if s > 0.0 {
                lo
            } else {
                hi
            }
        }
        Rnd::Rn => {
            // r is nearest to s; only a tie in s that e breaks can change the answer.
            let (lv, hv) = (fmt.to_f64(lo), fmt.to_f64(hi));
            if hv.is_finite() && lv.is_finite() && s - lv == hv - s && e != 0.0 {
                if e > 0.0 { hi } else { lo }
            } else {
                r
            }
        }
    }
}

/// Rounds an f64 into `fmt` with `mode` (a conversion: one rounding).
pub fn round_f64(fmt: Fmt, x: f64, mode: Rnd) -> u64 {
    round_pair(fmt, x, 0.0, mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directed_modes_bracket_a_value_between_two_f32s() {
        let x = 1.0 + f64::from(f32::EPSILON) / 3.0;
        assert_eq!(round_f64(Fmt::F32, x, Rnd::Rn), 1.0f32.to_bits().into());
        assert_eq!(round_f64(Fmt::F32, x, Rnd::Rz), 1.0f32.to_bits().into());
        assert_eq!(round_f64(Fmt::F32, x, Rnd::Rm), 1.0f32.to_bits().into());
        assert_eq!(round_f64(Fmt::F32, x, Rnd::Rp), (1.0f32.to_bits() + 1).into());
        assert_eq!(round_f64(Fmt::F32, -x, Rnd::Rz), (-1.0f32).to_bits().into());
        assert_eq!(round_f64(Fmt::F32, -x, Rnd::Rm), ((-1.0f32).to_bits() + 1).into());
    }

    #[test]
    fn a_tie_in_the_high_part_is_broken_by_the_low_part() {
        // 1 + 2^-24 is exactly halfway between 1 and 1 + 2^-23; a tiny positive e pushes it up.
        let s = 1.0 + 2f64.powi(-24);
        assert_eq!(round_pair(Fmt::F32, s, 0.0, Rnd::Rn), 1.0f32.to_bits().into());
        assert_eq!(round_pair(Fmt::F32, s, 1e-30, Rnd::Rn), (1.0f32.to_bits() + 1).into());
        assert_eq!(round_pair(Fmt::F32, s, -1e-30, Rnd::Rn), 1.0f32.to_bits().into());
    }

    #[test]
    fn overflow_toward_zero_gives_the_largest_finite_value() {
        assert_eq!(round_f64(Fmt::F16, 1e6, Rnd::Rz), 0x7bff);
        assert_eq!(round_f64(Fmt::F16, 1e6, Rnd::Rn), 0x7c00);
        assert_eq!(round_f64(Fmt::F16, -1e6, Rnd::Rz), 0xfbff);
        assert_eq!(round_f64(Fmt::Bf16, 1.0 + 1.0 / 256.0, Rnd::Rp), 0x3f81);
    }
}
