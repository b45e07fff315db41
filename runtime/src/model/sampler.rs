//! Choosing the next token from logits: greedy at temperature 0, else temperature, top-k and
//! top-p (nucleus) sampling from a seeded generator, so a seed reproduces a generation.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Sampling settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerConfig {
    /// Softmax temperature; 0 picks the most likely token.
    pub temperature: f32,
    /// Keep the k most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches p (1: all).
    pub top_p: f32,
    /// Seed of the generator.
    pub seed: u64,
}

/// A seeded sampler.
pub struct Sampler {
    config: SamplerConfig,
    rng: StdRng,
}

impl Sampler {
    /// A sampler with `config`.
    pub fn new(config: SamplerConfig) -> Sampler {
        Sampler { config, rng: StdRng::seed_from_u64(config.seed) }
    }

    /// The next token. Ties in greedy mode go to the smaller id.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        let c = self.config;
        if c.temperature <= 0.0 {
            return argmax(logits);
        }
        let mut order: Vec<u32> = (0..logits.len() as u32).collect();
        // Most likely first, the smaller id first on a tie: a total order, so selecting the
        // top k and sorting only them gives exactly the full sort's first k.
        let by_logit = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]).then(a.cmp(b));
        if c.top_k > 0 && c.top_k < order.len() {
            order.select_nth_unstable_by(c.top_k - 1, by_logit);
            order.truncate(c.top_k);
        }
        order.sort_by(by_logit);
        let max = logits[order[0] as usize];
        let mut probs: Vec<f64> =
            order.iter().map(|&i| f64::from((logits[i as usize] - max) / c.temperature).exp()).collect();
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        if c.top_p < 1.0 {
            let mut cum = 0.0;
            let keep = probs.iter().position(|p| {
                cum += p;
                cum >= f64::from(c.top_p)
            });
            let keep = keep.map_or(probs.len(), |i| i + 1);
            order.truncate(keep);
            probs.truncate(keep);
        }
        let total: f64 = probs.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            // Non-finite logits (a broken adapter): no distribution to draw from; the first
            // candidate, rather than a panic.
            return order[0];
        }
        let mut u = self.rng.random_range(0.0..total);
        for (i, p) in order.iter().zip(&probs) {
            if u < *p {
                return *i;
            }
            u -= p;
        }
        *order.last().expect("at least one candidate")
    }
}

/// The index of the largest logit (the smallest index on a tie).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_zero_is_greedy() {
        let mut s = Sampler::new(SamplerConfig { temperature: 0.0, top_k: 0, top_p: 1.0, seed: 1 });
        assert_eq!(s.sample(&[0.1, 3.0, 2.0, 3.0]), 1);
    }

    #[test]
    fn top_k_1_is_greedy_at_any_temperature() {
        let mut s = Sampler::new(SamplerConfig { temperature: 5.0, top_k: 1, top_p: 1.0, seed: 3 });
        for _ in 0..100 {
            assert_eq!(s.sample(&[0.1, 3.0, 2.9]), 1);
        }
    }

    #[test]
    fn top_p_excludes_the_tail_and_frequencies_follow_the_softmax() {
        // p = softmax([0, ln 3, -10]) ≈ (0.25, 0.75, ~0): with top-p 0.99 the third never appears.
        let logits = [0.0f32, 3.0f32.ln(), -10.0];
        let mut s = Sampler::new(SamplerConfig { temperature: 1.0, top_k: 0, top_p: 0.99, seed: 7 });
        let mut counts = [0usize; 3];
        for _ in 0..20_000 {
            counts[s.sample(&logits) as usize] += 1;
        }
        assert_eq!(counts[2], 0);
        let share = counts[1] as f64 / 20_000.0;
        assert!((share - 0.75).abs() < 0.02, "{share}");
    }

    #[test]
    fn non_finite_logits_give_a_token_not_a_panic() {
        let mut s = Sampler::new(SamplerConfig { temperature: 1.0, top_k: 2, top_p: 0.9, seed: 3 });
        for logits in [[f32::NAN, 1.0, 2.0], [f32::INFINITY, f32::INFINITY, 0.0], [f32::NAN; 3]] {
            assert!(s.sample(&logits) < 3, "{logits:?}");
        }
    }

    #[test]
    fn a_seed_reproduces_the_draws() {
        let cfg = SamplerConfig { temperature: 0.8, top_k: 0, top_p: 1.0, seed: 42 };
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let a: Vec<u32> = {
            let mut s = Sampler::new(cfg);
            (0..20).map(|_| s.sample(&logits)).collect()
        };
        let b: Vec<u32> = {
            let mut s = Sampler::new(cfg);
            (0..20).map(|_| s.sample(&logits)).collect()
        };
        assert_eq!(a, b);
    }
}
