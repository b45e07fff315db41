//! Gaussian noise from a seeded CSPRNG, and the clip-then-noise step a signal goes through.
//!
//! Uniforms come from ChaCha20 (`chacha20::ChaCha20Rng`, a CSPRNG: its output reveals neither
//! its seed nor its other outputs), 53 bits at a time, in `(0, 1]`. Normals come from the
//! Box–Muller transform: for independent uniforms `u₁ ∈ (0, 1]`, `u₂ ∈ [0, 1)`,
//! `sqrt(−2 ln u₁) · (cos 2πu₂, sin 2πu₂)` are two independent standard normals; both are used.
//! Box–Muller is exact in real arithmetic and needs no tables or rejection loop, so a seed
//! always gives the same noise on every platform that rounds `ln`, `sqrt`, `cos`, `sin` alike.
//!
//! Known limitation: noise is computed in floating point, which leaks through the low-order
//! bits of the noisy values (Mironov 2012, "On significance of the least significant bits for
//! differential privacy"); a discrete Gaussian over a fixed-point grid would close it. Secure
//! aggregation's fixed-point encoding rounds those bits away only partially.

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::clip::{ClipReport, clip_l2};
use super::{DpError, DpParameters};

/// A source of standard normal samples.
pub struct GaussianNoise {
    rng: ChaCha20Rng,
    spare: Option<f64>,
}

impl GaussianNoise {
    /// Noise from a 32-byte seed: reproducible, for simulations and tests. A deployment must
    /// seed from [`GaussianNoise::from_os_entropy`]; noise whose seed the aggregator knows
    /// protects nothing.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self { rng: ChaCha20Rng::from_seed(seed), spare: None }
    }

    /// Noise seeded from the operating system's random source.
    pub fn from_os_entropy() -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(Self::from_seed(seed))
    }

    /// Where the generator stands: its ChaCha word position and the spare normal sample, if any
    /// (saved with a checkpoint; both are secrets like the seed).
    pub fn position(&self) -> (u128, Option<f64>) {
        (self.rng.get_word_pos(), self.spare)
    }

    /// Moves the generator to a position [`GaussianNoise::position`] returned, so a restarted
    /// instance draws exactly the noise it would have drawn without the restart.
    pub fn resume_at(&mut self, position: (u128, Option<f64>)) {
        self.rng.set_word_pos(position.0);
        self.spare = position.1;
    }

    /// A uniform in `(0, 1]` with 53 random bits (never 0, so its logarithm is finite).
    fn uniform_open_zero(&mut self) -> f64 {
        ((self.rng.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// One standard normal sample (mean 0, variance 1).
    pub fn standard_normal(&mut self) -> f64 {
        if let Some(spare) = self.spare.take() {
            return spare;
        }
        let radius = (-2.0 * self.uniform_open_zero().ln()).sqrt();
        let angle = std::f64::consts::TAU * (1.0 - self.uniform_open_zero());
        self.spare = Some(radius * angle.sin());
        radius * angle.cos()
    }

    /// Adds independent `N(0, std_dev²)` noise to every element.
    pub fn add_to(&mut self, values: &mut [f32], std_dev: f64) {
        for value in values {
            *value = (f64::from(*value) + std_dev * self.standard_normal()) as f32;
        }
    }
}

impl std::fmt::Debug for GaussianNoise {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The generator's state is a secret: printing it would print the noise.
        formatter.debug_struct("GaussianNoise").finish_non_exhaustive()
    }
}

/// Clips `values` to `parameters.clip_norm`, then adds `N(0, (σ·C)²)` noise to each element:
/// what an instance does to its signal before sealing it. On an error nothing is changed.
pub fn privatize(
    values: &mut [f32],
    parameters: &DpParameters,
    noise: &mut GaussianNoise,
) -> Result<ClipReport, DpError> {
    parameters.validate()?;
    let report = clip_l2(values, parameters.clip_norm)?;
    noise.add_to(values, parameters.noise_std_dev());
    Ok(report)
}
