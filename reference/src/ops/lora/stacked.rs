//! What `bgmv` and `sgmv` share: a stack of same-shaped adapters, tokens that each pick one
//! (or none), and the plain reference of applying them.

use rand::Rng;
use rand::rngs::StdRng;

use super::{MAX_TOKENS, NO_ADAPTER, check_rank, check_tokens, f32_vector, token_rows, uniform};
use crate::op::{OpError, expect_dtype};
use crate::tensor::{DType, Tensor};

/// Most adapters one stack may hold.
pub const MAX_ADAPTERS: usize = 1024;

/// Shapes of a stack of adapters applied to a batch of tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StackShape {
    pub tokens: usize,
    pub k: usize,
    pub n: usize,
    pub rank: usize,
    pub adapters: usize,
}

/// Checks `x [T, k]`, `a [na, r, k]`, `b [na, n, r]`, `scales [na]`, `y [T, n]`.
pub(crate) fn check(x: &Tensor, a: &Tensor, b: &Tensor, scales: &Tensor, y: &Tensor) -> Result<StackShape, OpError> {
    expect_dtype("a", a, DType::F32)?;
    let &[adapters, rank, k] = a.shape.as_slice() else {
        return Err(OpError::new("a", format!("shape {:?} is not 3-D [adapters, rank, k]", a.shape)));
    };
    if !(1..=MAX_ADAPTERS).contains(&adapters) {
        return Err(OpError::new("a", format!("{adapters} adapters is outside 1..={MAX_ADAPTERS}")));
    }
    check_rank("a", rank, false)?;
    if k == 0 {
        return Err(OpError::new("a", "has no columns (k = 0)"));
    }
    expect_dtype("b", b, DType::F32)?;
    let &[b_adapters, n, b_rank] = b.shape.as_slice() else {
        return Err(OpError::new("b", format!("shape {:?} is not 3-D [adapters, n, rank]", b.shape)));
    };
    if b_adapters != adapters {
        return Err(OpError::new("b", format!("stacks {b_adapters} adapters but a stacks {adapters}")));
    }
    if b_rank != rank {
        return Err(OpError::new("b", format!("rank {b_rank} does not match a's rank {rank}")));
    }
    if n == 0 {
        return Err(OpError::new("b", "has no rows (n = 0)"));
    }
    let tokens = token_rows("x", x, k, "k")?;
    check_tokens("x", tokens, MAX_TOKENS)?;
    let y_tokens = token_rows("y", y, n, "n")?;
    if y_tokens != tokens {
        return Err(OpError::new("y", format!("has {y_tokens} tokens but x has {tokens}")));
    }
    f32_vector("scales", scales, adapters)?;
    Ok(StackShape { tokens, k, n, rank, adapters })
}

/// Checks that `index` names an adapter of the stack or [`NO_ADAPTER`]; `what` says where it is.
pub(crate) fn check_index(name: &str, what: &str, index: u32, adapters: usize) -> Result<(), OpError> {
    if index != NO_ADAPTER && index as usize >= adapters {
        return Err(OpError::new(
            name,
            format!("{what} has adapter index {index}, outside 0..{adapters} (or -1 for none)"),
        ));
    }
    Ok(())
}

/// `y_out = y + s_i·B_i·(A_i·x)` token by token, f64 accumulation, where `adapter_of(t)` is
/// token t's adapter index (or [`NO_ADAPTER`]).
pub(crate) fn apply(s: StackShape, inputs: [&[f32]; 4], y: &[f32], adapter_of: impl Fn(usize) -> u32) -> Vec<f32> {
    let [x, a, b, scales] = inputs;
    let StackShape { k, n, rank, .. } = s;
    let mut out = y.to_vec();
    for t in 0..s.tokens {
        let i = adapter_of(t);
        if i == NO_ADAPTER {
            continue;
        }
        let i = i as usize;
        let xt = &x[t * k..(t + 1) * k];
        let ai = &a[i * rank * k..(i + 1) * rank * k];
        let bi = &b[i * n * rank..(i + 1) * n * rank];
        let h: Vec<f64> = ai
            .chunks_exact(k)
            .map(|row| row.iter().zip(xt).map(|(&p, &q)| f64::from(p) * f64::from(q)).sum())
            .collect();
        let scale = f64::from(scales[i]);
        for (o, row) in bi.chunks_exact(rank).enumerate() {
            let d: f64 = row.iter().zip(&h).map(|(&p, &q)| f64::from(p) * q).sum();
            out[t * n + o] = (f64::from(y[t * n + o]) + scale * d) as f32;
        }
    }
    out
}

/// Random `x`, `a`, `b`, `scales`, `y` for `s`, in the ops' input order.
pub(crate) fn random_operands(s: StackShape, rng: &mut StdRng) -> [Tensor; 5] {
    let StackShape { tokens, k, n, rank, adapters } = s;
    let x = Tensor::f32(vec![tokens, k], uniform(rng, tokens * k, 1.0));
    let a = Tensor::f32(vec![adapters, rank, k], uniform(rng, adapters * rank * k, 1.0 / (k as f32).sqrt()));
    let b = Tensor::f32(vec![adapters, n, rank], uniform(rng, adapters * n * rank, 0.1));
    let scales = Tensor::f32(vec![adapters], (0..adapters).map(|_| random_scale(rng)).collect());
    let y = Tensor::f32(vec![tokens, n], uniform(rng, tokens * n, 1.0));
    [x, a, b, scales, y]
}

/// An adapter scale (LoRA's α/r) between 0.25 and 2, either sign.
pub(crate) fn random_scale(rng: &mut StdRng) -> f32 {
    let m = rng.random_range(0.25f32..2.0);
    if rng.random_bool(0.5) { m } else { -m }
}

/// `count` distinct adapter indices drawn from 0..`adapters`.
pub(crate) fn distinct_indices(rng: &mut StdRng, adapters: usize, count: usize) -> Vec<u32> {
    let mut all: Vec<u32> = (0..adapters as u32).collect();
    for i in 0..count {
        let j = rng.random_range(i..adapters);
        all.swap(i, j);
    }
    all.truncate(count);
    all
}
