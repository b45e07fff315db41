//! Gradients of the loss with respect to an adapter's factors, shaped like the adapter.

use std::collections::BTreeMap;

use crate::model::adapter::{Adapter, Projection};

/// ∂L/∂A and ∂L/∂B of one projection's factors.
#[derive(Clone, Debug, PartialEq)]
pub struct FactorGradients {
    /// `[rank, cols]`, like A.
    pub da: Vec<f32>,
    /// `[rows, rank]`, like B.
    pub db: Vec<f32>,
}

/// Gradients for every factor of an adapter.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients {
    /// By (block, projection), the adapter's keys.
    pub factors: BTreeMap<(usize, Projection), FactorGradients>,
}

impl Gradients {
    /// Zeros shaped like `adapter`.
    pub fn zeros_like(adapter: &Adapter) -> Gradients {
        let factors = adapter
            .factors
            .iter()
            .map(|(&key, f)| (key, FactorGradients { da: vec![0.0; f.a.len()], db: vec![0.0; f.b.len()] }))
            .collect();
        Gradients { factors }
    }

    /// Adds `da`, `db` into the gradients of `key` (which must exist).
    pub(super) fn accumulate(&mut self, key: (usize, Projection), da: &[f32], db: &[f32]) {
        let g = self.factors.get_mut(&key).expect("gradients shaped like the trained adapter");
        g.da.iter_mut().zip(da).for_each(|(x, y)| *x += y);
        g.db.iter_mut().zip(db).for_each(|(x, y)| *x += y);
    }

    /// Adds another adapter's worth of gradients (the same keys).
    pub fn add(&mut self, other: &Gradients) {
        for (key, g) in &other.factors {
            self.accumulate(*key, &g.da, &g.db);
        }
    }

    /// Multiplies every gradient by `s` (a mean over a batch: 1 / tokens).
    pub fn scale(&mut self, s: f32) {
        for g in self.factors.values_mut() {
            g.da.iter_mut().chain(g.db.iter_mut()).for_each(|x| *x *= s);
        }
    }

    /// The L2 norm over every factor.
    pub fn norm(&self) -> f64 {
        self.factors
            .values()
            .flat_map(|g| g.da.iter().chain(&g.db))
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt()
    }
}
