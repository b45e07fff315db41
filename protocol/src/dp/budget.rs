//! A per-instance privacy budget: ε at a fixed δ, spent round by round, never overspent.

use super::DpError;
use super::rdp::{RdpAccountant, check_delta, epsilon_from_rdp};

/// An instance's privacy budget and what it has spent.
///
/// It keeps the RDP curve, not ε: ε does not compose by addition, RDP does, order by order, and
/// the rounds may differ in sampling rate and noise. [`PrivacyBudget::spend`] computes ε after
/// the round first and commits only if it stays within the budget, so a refused round leaves
/// the budget exactly as it was (and the instance must not send that round's signal).
#[derive(Debug, Clone, PartialEq)]
pub struct PrivacyBudget {
    accountant: RdpAccountant,
    epsilon_budget: f64,
    delta: f64,
    rounds: u64,
    spent_epsilon: f64,
}

impl PrivacyBudget {
    /// A budget of `epsilon_budget` at `delta`, over the default orders, nothing spent.
    pub fn new(epsilon_budget: f64, delta: f64) -> Result<Self, DpError> {
        Self::with_accountant(epsilon_budget, delta, RdpAccountant::with_default_orders())
    }

    /// A budget kept by `accountant` (its orders, and whatever it has composed already).
    pub fn with_accountant(epsilon_budget: f64, delta: f64, accountant: RdpAccountant) -> Result<Self, DpError> {
        super::positive_finite("epsilon_budget", epsilon_budget)?;
        check_delta(delta)?;
        let spent_epsilon = accountant.epsilon(delta)?.epsilon;
        Ok(Self { accountant, epsilon_budget, delta, rounds: 0, spent_epsilon })
    }

    /// ε the instance would have spent after `steps` more steps at `sampling_rate` and
    /// `noise_multiplier`, without spending them.
    pub fn epsilon_after(&self, sampling_rate: f64, noise_multiplier: f64, steps: u64) -> Result<f64, DpError> {
        let mut rdp = self.accountant.steps_rdp(sampling_rate, noise_multiplier, steps)?;
        for (after, spent) in rdp.iter_mut().zip(self.accountant.rdp()) {
            *after += spent;
        }
        Ok(epsilon_from_rdp(self.accountant.orders(), &rdp, self.delta)?.epsilon)
    }

    /// Spends one round (one step of the sampled Gaussian mechanism); returns ε spent after it.
    /// Refuses with [`DpError::BudgetExceeded`], changing nothing, if ε would pass the budget.
    pub fn spend(&mut self, sampling_rate: f64, noise_multiplier: f64) -> Result<f64, DpError> {
        self.spend_steps(sampling_rate, noise_multiplier, 1)
    }

    /// Spends `steps` rounds at once, all or nothing (see [`PrivacyBudget::spend`]).
    pub fn spend_steps(&mut self, sampling_rate: f64, noise_multiplier: f64, steps: u64) -> Result<f64, DpError> {
        let added = self.accountant.steps_rdp(sampling_rate, noise_multiplier, steps)?;
        let mut after = self.accountant.clone();
        after.add_rdp(&added);
        let epsilon_after = after.epsilon(self.delta)?.epsilon;
        if epsilon_after > self.epsilon_budget {
            return Err(DpError::BudgetExceeded {
                epsilon_after,
                epsilon_budget: self.epsilon_budget,
                delta: self.delta,
            });
        }
        self.accountant = after;
        self.rounds += steps;
        self.spent_epsilon = epsilon_after;
        Ok(epsilon_after)
    }

    /// ε spent so far, at [`PrivacyBudget::delta`].
    pub fn spent_epsilon(&self) -> f64 {
        self.spent_epsilon
    }

    /// ε left: the budget minus what is spent.
    pub fn remaining_epsilon(&self) -> f64 {
        self.epsilon_budget - self.spent_epsilon
    }

    /// The budget, in ε.
    pub fn epsilon_budget(&self) -> f64 {
        self.epsilon_budget
    }

    /// The fixed δ every ε here is stated at.
    pub fn delta(&self) -> f64 {
        self.delta
    }

    /// Rounds spent through this budget.
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    /// The accountant behind the budget.
    pub fn accountant(&self) -> &RdpAccountant {
        &self.accountant
    }
}
