//! LoRA-style context adapters: the personal and collective low-rank adapters every DFMA
//! instance applies over its frozen quantized base.
//!
//! Conventions shared by every adapter op:
//! - an adapter of rank r over a `k → n` projection is `A` f32 `[r, k]` (the shrink) and `B` f32
//!   `[n, r]` (the expand), applied as `y += s·B·(A·x)` with a scale `s` (LoRA's α/r);
//! - activations are token rows: `x` `[tokens, k]`, `y` `[tokens, n]`;
//! - ops that add to `y` take the incoming `y` as an input and return the sum as a new output
//!   (`y_out`), so a kernel's result is checked against the reference without aliasing;
//! - the "no adapter" index of the batched ops is [`NO_ADAPTER`] (−1 as a two's-complement u32).
//!
//! The references accumulate in f64; kernels in f32.

pub mod backward;
pub mod bgmv;
pub mod expand;
pub mod fused;
pub mod sgmv;
pub mod shrink;
mod stacked;

pub use stacked::MAX_ADAPTERS;

use rand::Rng;
use rand::rngs::StdRng;

use crate::op::{OpError, expect_dtype};
use crate::tensor::{DType, Tensor};

/// Adapter index meaning "this token has no adapter": −1 stored as a u32.
pub const NO_ADAPTER: u32 = u32::MAX;

/// Largest rank the adapter ops accept (the ranks run 4..128).
pub const MAX_RANK: usize = 256;

/// Most tokens one launch of a token-batched adapter op takes.
pub const MAX_TOKENS: usize = 4096;

/// The `[rows, cols]` of the 2-D f32 tensor `t` named `name`.
pub(crate) fn f32_matrix(name: &str, t: &Tensor) -> Result<(usize, usize), OpError> {
    expect_dtype(name, t, DType::F32)?;
    match *t.shape.as_slice() {
        [rows, cols] => Ok((rows, cols)),
        ref s => Err(OpError::new(name, format!("shape {s:?} is not 2-D [rows, cols]"))),
    }
}

/// Token rows of an activation tensor `[tokens, width]` (or `[width]` for one token) whose
/// width must be `width`.
pub(crate) fn token_rows(name: &str, t: &Tensor, width: usize, width_name: &str) -> Result<usize, OpError> {
    expect_dtype(name, t, DType::F32)?;
    let (tokens, w) = match *t.shape.as_slice() {
        [w] => (1, w),
        [tokens, w] => (tokens, w),
        ref s => {
            return Err(OpError::new(name, format!("shape {s:?} is not [tokens, {width_name}] or [{width_name}]")));
        }
    };
    if w != width {
        return Err(OpError::new(name, format!("has width {w}, but {width_name} is {width}")));
    }
    Ok(tokens)
}

/// Checks that `rank` is within 1..=[`MAX_RANK`] (or 0 where `allow_zero`), naming `name`.
pub(crate) fn check_rank(name: &str, rank: usize, allow_zero: bool) -> Result<(), OpError> {
    let lo = usize::from(!allow_zero);
    if !(lo..=MAX_RANK).contains(&rank) {
        return Err(OpError::new(name, format!("rank {rank} is outside {lo}..={MAX_RANK}")));
    }
    Ok(())
}

/// Checks a token count against 1..=`max`, naming `name`.
pub(crate) fn check_tokens(name: &str, tokens: usize, max: usize) -> Result<(), OpError> {
    if !(1..=max).contains(&tokens) {
        return Err(OpError::new(name, format!("{tokens} tokens is outside 1..={max}")));
    }
    Ok(())
}

/// The f32 scalar(s) of a `[len]` tensor named `name`.
pub(crate) fn f32_vector<'a>(name: &str, t: &'a Tensor, len: usize) -> Result<&'a [f32], OpError> {
    expect_dtype(name, t, DType::F32)?;
    if t.shape != [len] {
        return Err(OpError::new(name, format!("shape {:?} is not [{len}]", t.shape)));
    }
    Ok(t.as_f32().expect("checked f32"))
}

/// Uniform values in (−1, 1)·`scale`: never zeros, both signs.
pub(crate) fn uniform(rng: &mut StdRng, len: usize, scale: f32) -> Vec<f32> {
    (0..len).map(|_| scale * rng.random_range(-1.0f32..1.0)).collect()
}

/// An adapter's random factors, scaled as trained adapters are (`A` ~ 1/√k so `A·x` is O(1),
/// `B` small so the adapter is a correction of the base, not a rewrite).
pub(crate) fn random_adapter(rng: &mut StdRng, rank: usize, k: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
    let a = uniform(rng, rank * k, 1.0 / (k as f32).sqrt());
    let b = uniform(rng, n * rank, 0.1);
    (a, b)
}

/// `out[t][i] = Σ_c m[i][c]·v[t][c]` in f64: `m` is `[rows, cols]`, `v` is `[tokens, cols]`.
pub(crate) fn matmul_t_f64(m: &[f32], v: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let tokens = v.len() / cols.max(1);
    let mut out = vec![0.0f64; tokens * rows];
    for t in 0..tokens {
        let vt = &v[t * cols..(t + 1) * cols];
        for i in 0..rows {
            let mi = &m[i * cols..(i + 1) * cols];
            out[t * rows + i] = mi.iter().zip(vt).map(|(&a, &b)| f64::from(a) * b).sum();
        }
    }
    out
}

/// f32 → f64, elementwise.
pub(crate) fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}
