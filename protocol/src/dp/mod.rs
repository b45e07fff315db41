//! Differential privacy for signals: per-instance L2 clipping, Gaussian noise from a seeded
//! CSPRNG, and a Rényi-DP accountant that stops an instance before it overspends its budget.
//!
//! An instance's signal is clipped to L2 norm `C` ([`clip`]), then noise `N(0, (σ·C)² I)` is
//! added ([`noise`]). Each round an instance takes part in with probability `q` (Poisson
//! subsampling) is one step of the sampled Gaussian mechanism with noise multiplier `σ`; its
//! privacy loss is accounted in Rényi DP over a grid of orders ([`rdp`]), composed by addition,
//! and converted to (ε, δ) at a fixed δ. [`budget::PrivacyBudget`] refuses a round that would
//! take ε past the instance's budget and changes no state when it does.
//!
//! The neighbouring relation is add-or-remove-one instance (user-level DP for an instance's whole
//! contribution to a round), the one the reference accountant (`dp-accounting`'s
//! `RdpAccountant`) uses for Poisson-sampled events; `tests/dp_accountant.rs` checks agreement
//! with it within 1 % of ε.

pub mod budget;
pub mod clip;
pub mod noise;
pub mod rdp;

/// Why a differential-privacy operation was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DpError {
    /// A parameter is outside its domain (named, with the value given).
    #[error("{what} = {value} is invalid: {reason}")]
    InvalidParameter {
        /// The parameter.
        what: &'static str,
        /// The value given.
        value: f64,
        /// The domain it must lie in.
        reason: &'static str,
    },
    /// A signal element is NaN or infinite, so its norm, and therefore its sensitivity, is
    /// undefined; clipping it would silently change what is sent.
    #[error("signal element {index} is {value}, not finite")]
    NonFinite {
        /// Position of the first non-finite element.
        index: usize,
        /// The element.
        value: f32,
    },
    /// Spending the round would take ε past the budget; nothing was spent.
    #[error("round refused: ε would reach {epsilon_after} at δ = {delta}, above the budget of {epsilon_budget}")]
    BudgetExceeded {
        /// ε after the refused round, at `delta`.
        epsilon_after: f64,
        /// The instance's budget.
        epsilon_budget: f64,
        /// The fixed δ of the budget.
        delta: f64,
    },
}

/// The DP treatment of one round's signal: what an instance applies and reports on the wire
/// in [`crate::messages::PrivacyParameters`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DpParameters {
    /// L2 norm every signal is clipped to, `C` (its sensitivity).
    pub clip_norm: f64,
    /// Noise standard deviation divided by `clip_norm`, `σ`.
    pub noise_multiplier: f64,
    /// Probability that an instance takes part in a round, `q` (Poisson subsampling).
    pub sampling_rate: f64,
}

impl DpParameters {
    /// Checks every field's domain: `C > 0` finite, `σ ≥ 0` finite, `0 ≤ q ≤ 1`.
    pub fn validate(&self) -> Result<(), DpError> {
        positive_finite("clip_norm", self.clip_norm)?;
        rdp::check_noise_multiplier(self.noise_multiplier)?;
        rdp::check_sampling_rate(self.sampling_rate)
    }

    /// Standard deviation of the noise added to each element, `σ·C`.
    pub fn noise_std_dev(&self) -> f64 {
        self.noise_multiplier * self.clip_norm
    }

    /// The wire form, for a signal that carries a plain (not securely aggregated) payload.
    pub fn to_wire(&self) -> crate::messages::PrivacyParameters {
        crate::messages::PrivacyParameters {
            clip_norm: self.clip_norm as f32,
            noise_multiplier: self.noise_multiplier as f32,
            sampling_rate: self.sampling_rate as f32,
            secure_aggregation: false,
            fixed_point_fractional_bits: 0,
        }
    }
}

pub(crate) fn positive_finite(what: &'static str, value: f64) -> Result<(), DpError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(DpError::InvalidParameter { what, value, reason: "must be finite and above 0" })
    }
}
