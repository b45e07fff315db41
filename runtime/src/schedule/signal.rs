//! What a trace's per-slot value measures, and so what the scheduler minimises.
//!
//! Every policy minimises `Σ energy × value` over a job's slots. With carbon intensity that sum
//! is grams of CO2e. To prefer renewable hours the value is the *non-renewable* fraction
//! `(100 − share) / 100`, so the sum is the job's non-renewable kWh: minimising it is maximising
//! the renewable share of the job's own energy. Maximising renewable kWh instead would reward a
//! power level that uses more energy, which is not the goal.

/// The signal a trace carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Carbon intensity, g CO2e/kWh; totals are g CO2e.
    Carbon,
    /// Non-renewable fraction of consumption (kWh/kWh, from a renewable share in percent);
    /// totals are non-renewable kWh.
    Renewable,
}

impl Signal {
    /// Unit of one slot's value.
    pub fn per_kwh_unit(self) -> &'static str {
        match self {
            Self::Carbon => "g CO2e/kWh",
            Self::Renewable => "non-renewable kWh/kWh",
        }
    }

    /// Unit of a job's total (energy × value).
    pub fn total_unit(self) -> &'static str {
        match self {
            Self::Carbon => "g CO2e",
            Self::Renewable => "non-renewable kWh",
        }
    }
}
