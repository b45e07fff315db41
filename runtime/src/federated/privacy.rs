//! An instance's differential privacy settings: every round's change is clipped to an L2 norm
//! and, with a noise multiplier above zero, noised and accounted against a budget, all with the
//! protocol crate's mechanism ([`dfma_protocol::dp`]), by the instance's
//! [`super::sender::SignalSender`].
//!
//! Clipping alone bounds what one instance can move the collective by (its sensitivity) and is
//! always on. Noise makes the signal (ε, δ)-DP per round; the accountant composes the rounds in
//! Rényi DP and refuses the round that would pass the budget, after which the instance stops
//! sending (it keeps learning locally). With a noise multiplier of 0 nothing is accounted and ε
//! is reported as infinite: clipping is not privacy.

use dfma_protocol::dp::DpParameters;

/// The DP settings every instance of an experiment uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrivacyConfig {
    /// L2 norm each round's change is clipped to.
    pub clip_norm: f64,
    /// Noise standard deviation over `clip_norm`; 0 sends the clipped change without noise.
    pub noise_multiplier: f64,
    /// Each instance's ε budget at `delta` (used when `noise_multiplier > 0`).
    pub epsilon_budget: f64,
    /// δ of the budget.
    pub delta: f64,
}

impl PrivacyConfig {
    /// The wire parameters (every instance takes part in every round it is online: q = 1).
    pub fn parameters(&self) -> DpParameters {
        DpParameters { clip_norm: self.clip_norm, noise_multiplier: self.noise_multiplier, sampling_rate: 1.0 }
    }
}
