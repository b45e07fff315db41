//! AdamW (Loshchilov & Hutter): Adam's moment estimates with bias correction, and weight decay
//! applied to the parameters directly rather than through the gradient.

use std::collections::BTreeMap;

use super::gradients::Gradients;
use crate::model::adapter::{Adapter, Projection};

/// First and second moment estimates of one tensor.
type Moments = (Vec<f32>, Vec<f32>);

/// Optimizer state for one adapter.
#[derive(Clone, Debug)]
pub struct AdamW {
    /// Learning rate.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Added to √v̂.
    pub eps: f32,
    /// Decoupled weight decay per step (times lr).
    pub weight_decay: f32,
    /// Leave every A factor as it is (train B only): adapters that share A — drawn from one
    /// seed — then combine exactly by adding their B's, which is what makes a collective
    /// adapter a linear function of its instances' updates.
    pub freeze_a: bool,
    steps: i32,
    /// (m, v) for A then B, by factor.
    moments: BTreeMap<(usize, Projection), [Moments; 2]>,
}

impl AdamW {
    /// Fresh state with the usual β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
    pub fn new(lr: f32, weight_decay: f32) -> AdamW {
        AdamW {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            freeze_a: false,
            steps: 0,
            moments: BTreeMap::new(),
        }
    }

    /// Steps taken.
    pub fn steps(&self) -> i32 {
        self.steps
    }

    /// One update of `adapter` by `grads` (shaped like it).
    pub fn step(&mut self, adapter: &mut Adapter, grads: &Gradients) {
        self.steps += 1;
        let (c1, c2) = (1.0 - self.beta1.powi(self.steps), 1.0 - self.beta2.powi(self.steps));
        for (key, f) in &mut adapter.factors {
            let Some(g) = grads.factors.get(key) else { continue };
            let state = self.moments.entry(*key).or_insert_with(|| {
                [(vec![0.0; f.a.len()], vec![0.0; f.a.len()]), (vec![0.0; f.b.len()], vec![0.0; f.b.len()])]
            });
            let tensors = [(&mut f.a, &g.da), (&mut f.b, &g.db)].into_iter().zip(state.iter_mut());
            for ((theta, grad), (m, v)) in tensors.skip(usize::from(self.freeze_a)) {
                for i in 0..theta.len() {
                    m[i] = self.beta1 * m[i] + (1.0 - self.beta1) * grad[i];
                    v[i] = self.beta2 * v[i] + (1.0 - self.beta2) * grad[i] * grad[i];
                    let update = (m[i] / c1) / ((v[i] / c2).sqrt() + self.eps);
                    theta[i] -= self.lr * (update + self.weight_decay * theta[i]);
                }
            }
        }
    }
}
