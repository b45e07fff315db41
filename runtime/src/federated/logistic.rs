//! Binary logistic regression as a [`Learner`]: the model Fed-Heart-Disease trains per hospital,
//! and the synthetic tasks of the federated tests.
//!
//! Parameters are `[w_0 … w_{d−1}, b]`. Training is mini-batch SGD on the mean log-loss plus
//! `l2 · ‖w‖² / 2` (the bias is not decayed), with the order of samples shuffled each epoch from
//! the caller's generator. Sums are in f64 so that the result does not depend on the batch size
//! through rounding.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use sha2::{Digest, Sha256};

use super::learner::{Learner, LearnerError};

/// Labelled samples: `labels.len()` rows of `dim` features, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// Features per sample.
    pub dim: usize,
    /// `labels.len() × dim` features, row-major.
    pub features: Vec<f32>,
    /// 0 or 1 per sample.
    pub labels: Vec<u8>,
}

impl Samples {
    /// No samples of `dim` features.
    pub fn empty(dim: usize) -> Self {
        Self { dim, features: Vec::new(), labels: Vec::new() }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Sample `i`'s features.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.features[i * self.dim..(i + 1) * self.dim]
    }

    /// Appends one sample.
    pub fn push(&mut self, row: &[f32], label: u8) {
        debug_assert_eq!(row.len(), self.dim);
        self.features.extend_from_slice(row);
        self.labels.push(label);
    }

    /// Every sample of `parts`, in order: the pooled baseline's data.
    pub fn pooled<'a>(dim: usize, parts: impl IntoIterator<Item = &'a Samples>) -> Samples {
        let mut out = Samples::empty(dim);
        for part in parts {
            assert_eq!(part.dim, dim, "pooling samples of different widths");
            out.features.extend_from_slice(&part.features);
            out.labels.extend_from_slice(&part.labels);
        }
        out
    }

    /// Fraction of samples labelled 1 (NaN when empty).
    pub fn positive_rate(&self) -> f64 {
        self.labels.iter().map(|&l| f64::from(l)).sum::<f64>() / self.len() as f64
    }
}

/// How [`LogisticRegression`] trains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// Step size.
    pub learning_rate: f64,
    /// Samples per step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// L2 penalty on the weights (not the bias).
    pub l2: f64,
}

/// A logistic regression over `dim` features, trained by SGD.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticRegression {
    /// `[w_0 … w_{dim−1}, b]`.
    params: Vec<f32>,
    dim: usize,
    sgd: SgdConfig,
    /// Names the feature layout; part of the base-model hash.
    schema: String,
}

impl LogisticRegression {
    /// Zero weights and bias over `dim` features. `schema` names the features (their order and
    /// encoding) and goes into [`Learner::base_model_hash`].
    pub fn new(dim: usize, sgd: SgdConfig, schema: impl Into<String>) -> Self {
        Self { params: vec![0.0; dim + 1], dim, sgd, schema: schema.into() }
    }

    /// P(label = 1 | x).
    pub fn probability(&self, x: &[f32]) -> f64 {
        sigmoid(self.logit(x))
    }

    fn logit(&self, x: &[f32]) -> f64 {
        let (w, b) = self.params.split_at(self.dim);
        w.iter().zip(x).map(|(&w, &x)| f64::from(w) * f64::from(x)).sum::<f64>() + f64::from(b[0])
    }

    /// Mean log-loss on `data` (NaN when empty).
    pub fn log_loss(&self, data: &Samples) -> f64 {
        let total: f64 = (0..data.len())
            .map(|i| {
                let p = self.probability(data.row(i)).clamp(1e-12, 1.0 - 1e-12);
                if data.labels[i] == 1 { -p.ln() } else { -(1.0 - p).ln() }
            })
            .sum();
        total / data.len() as f64
    }

    fn step(&mut self, data: &Samples, batch: &[usize]) {
        let mut grad = vec![0.0f64; self.dim + 1];
        for &i in batch {
            let x = data.row(i);
            let err = self.probability(x) - f64::from(data.labels[i]);
            for (g, &xj) in grad.iter_mut().zip(x) {
                *g += err * f64::from(xj);
            }
            grad[self.dim] += err;
        }
        let scale = 1.0 / batch.len() as f64;
        let lr = self.sgd.learning_rate;
        for (j, (p, g)) in self.params.iter_mut().zip(&grad).enumerate() {
            let decay = if j < self.dim { self.sgd.l2 * f64::from(*p) } else { 0.0 };
            *p = (f64::from(*p) - lr * (g * scale + decay)) as f32;
        }
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl Learner for LogisticRegression {
    type Data = Samples;

    fn params(&self) -> Vec<f32> {
        self.params.clone()
    }

    fn set_params(&mut self, params: &[f32]) -> Result<(), LearnerError> {
        if params.len() != self.params.len() {
            return Err(LearnerError(format!(
                "{} parameters given, the model has {}",
                params.len(),
                self.params.len()
            )));
        }
        if let Some(i) = params.iter().position(|p| !p.is_finite()) {
            return Err(LearnerError(format!("parameter {i} is {}, not finite", params[i])));
        }
        self.params.copy_from_slice(params);
        Ok(())
    }

    fn param_count(&self) -> usize {
        self.params.len()
    }

    fn train_local(&mut self, data: &Samples, epochs: usize, rng: &mut StdRng) -> Result<(), LearnerError> {
        if data.dim != self.dim {
            return Err(LearnerError(format!("data has {} features, the model {}", data.dim, self.dim)));
        }
        if self.sgd.batch_size == 0 {
            return Err(LearnerError("batch size 0".into()));
        }
        let mut order: Vec<usize> = (0..data.len()).collect();
        for _ in 0..epochs {
            order.shuffle(rng);
            for batch in order.chunks(self.sgd.batch_size) {
                self.step(data, batch);
            }
        }
        Ok(())
    }

    fn evaluate(&self, held_out: &Samples) -> f64 {
        let correct =
            (0..held_out.len()).filter(|&i| u8::from(self.logit(held_out.row(i)) > 0.0) == held_out.labels[i]).count();
        correct as f64 / held_out.len() as f64
    }

    fn base_model_hash(&self) -> [u8; 32] {
        Sha256::new()
            .chain_update(b"dfma/federated/logistic-regression/v1\0")
            .chain_update((self.dim as u64).to_le_bytes())
            .chain_update(self.schema.as_bytes())
            .finalize()
            .into()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn training_lowers_the_loss_on_separable_data() {
        let mut data = Samples::empty(2);
        for i in 0..40 {
            let x = i as f32 / 20.0 - 1.0;
            data.push(&[x, 0.5], u8::from(x > 0.1));
        }
        let sgd = SgdConfig { learning_rate: 0.5, batch_size: 8, l2: 0.0 };
        let mut model = LogisticRegression::new(2, sgd, "x,c");
        let before = model.log_loss(&data);
        model.train_local(&data, 50, &mut StdRng::seed_from_u64(1)).unwrap();
        assert!(model.log_loss(&data) < before * 0.5, "{} -> {}", before, model.log_loss(&data));
        assert!(model.evaluate(&data) >= 0.95);
        assert!(model.set_params(&[1.0]).is_err());
        assert!(model.set_params(&[1.0, f32::NAN, 0.0]).is_err());
    }
}
