//! An instance's differential privacy: every round's change is clipped to an L2 norm and, with a
//! noise multiplier above zero, noised and accounted against a budget, all with the protocol
//! crate's mechanism ([`dfma_protocol::dp`]).
//!
//! Clipping alone bounds what one instance can move the collective by (its sensitivity) and is
//! always on. Noise makes the signal (ε, δ)-DP per round; the accountant composes the rounds in
//! Rényi DP and refuses the round that would pass the budget, after which the instance stops
//! sending (it keeps learning locally). With a noise multiplier of 0 nothing is accounted and ε
//! is reported as infinite: clipping is not privacy.

use dfma_protocol::dp::budget::PrivacyBudget;
use dfma_protocol::dp::clip::{ClipReport, clip_l2};
use dfma_protocol::dp::noise::GaussianNoise;
use dfma_protocol::dp::{DpError, DpParameters};

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

/// What privatizing one round did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrivatizeReport {
    /// What clipping did.
    pub clip: ClipReport,
    /// ε spent so far after this round (infinite without noise).
    pub epsilon_spent: f64,
}

/// One instance's clip-noise-account state.
#[derive(Debug)]
pub struct Privatizer {
    config: PrivacyConfig,
    noise: GaussianNoise,
    budget: Option<PrivacyBudget>,
}

impl Privatizer {
    /// A privatizer whose noise comes from `noise_seed`. Simulations derive the seed from the
    /// experiment's; a deployment seeds from the operating system (noise whose seed the CCF
    /// knows protects nothing).
    pub fn new(config: PrivacyConfig, noise_seed: [u8; 32]) -> Result<Self, DpError> {
        config.parameters().validate()?;
        let budget = if config.noise_multiplier > 0.0 {
            Some(PrivacyBudget::new(config.epsilon_budget, config.delta)?)
        } else {
            None
        };
        Ok(Self { config, noise: GaussianNoise::from_seed(noise_seed), budget })
    }

    /// Clips `change`, spends the round on the budget and adds the noise. On an error (a
    /// non-finite value, the budget exhausted) `change` and the budget are left as they were
    /// and the round must not be sent.
    pub fn privatize(&mut self, change: &mut [f32]) -> Result<PrivatizeReport, DpError> {
        let mut clipped = change.to_vec();
        let clip = clip_l2(&mut clipped, self.config.clip_norm)?;
        let epsilon_spent = match &mut self.budget {
            Some(budget) => budget.spend(1.0, self.config.noise_multiplier)?,
            None => f64::INFINITY,
        };
        self.noise.add_to(&mut clipped, self.config.parameters().noise_std_dev());
        change.copy_from_slice(&clipped);
        Ok(PrivatizeReport { clip, epsilon_spent })
    }

    /// ε spent so far (infinite without noise; 0 before the first round).
    pub fn epsilon_spent(&self) -> f64 {
        match &self.budget {
            Some(budget) => budget.spent_epsilon(),
            None => f64::INFINITY,
        }
    }

    /// The settings.
    pub fn config(&self) -> &PrivacyConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_stops_an_instance_and_a_refused_round_changes_nothing() {
        let config = PrivacyConfig { clip_norm: 1.0, noise_multiplier: 2.0, epsilon_budget: 5.0, delta: 1e-5 };
        let mut p = Privatizer::new(config, [7; 32]).unwrap();
        let mut sent = 0;
        loop {
            let mut change = vec![3.0f32, 4.0];
            match p.privatize(&mut change) {
                Ok(report) => {
                    assert!(report.clip.clipped && report.epsilon_spent <= 5.0);
                    sent += 1;
                }
                Err(DpError::BudgetExceeded { .. }) => {
                    assert_eq!(change, vec![3.0, 4.0]);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
            assert!(sent < 1000, "the budget never ran out");
        }
        assert!(sent >= 1);
        let before = p.epsilon_spent();
        assert!(p.privatize(&mut [1.0]).is_err());
        assert_eq!(p.epsilon_spent(), before);
    }
}
