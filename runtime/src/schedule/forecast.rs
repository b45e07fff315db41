//! Forecasts as a scheduler sees them: a value for every future slot, which may change with the
//! time the forecast is issued, and a model of forecast error fitted on a real forecast/actual
//! pair.
//!
//! A [`CarbonTrace`] is a forecast that never changes (perfect foresight when it is the actual
//! trace). [`NoisyForecast`] wraps an actual trace with seeded multiplicative error that shrinks
//! as the slot approaches, so a policy that re-plans (online) can profit from later, better
//! forecasts and one that plans once at release cannot.
//!
//! The error model ([`ForecastErrorModel`]) comes from one forecast issue and its measured
//! outcome (the GB 48-hour forecast issued 2023-03-14 03:31Z against the API's actual values).
//! The log ratios `ln(forecast / actual)` of that pair are the pool; for each slot of the trace
//! to schedule on, a moving-block bootstrap (blocks of [`BLOCK_S`], so the serial correlation of
//! real forecast error is kept) draws one pool value `e`, and the forecast of that slot issued
//! `lead` seconds before it is `actual × exp(e × √(lead / mean lead of the pair))`. So at the
//! pair's mean lead the errors have the observed distribution, they grow like a random walk with
//! lead time and vanish at lead 0 (the current slot's intensity is known when it starts). One
//! issue cannot show how error depends on lead, so the square-root growth is an assumption, and
//! the model is seeded noise of the observed size and shape, not an estimate of forecast skill.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::trace::CarbonTrace;

/// Block length of the bootstrap: six hours of consecutive errors stay together.
pub const BLOCK_S: i64 = 6 * 3600;

/// What a policy may know: the value forecast for `slot` when issued at the start of `issued`.
pub trait Forecasts {
    /// Number of slots covered.
    fn len(&self) -> usize;

    /// Whether no slot is covered.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value (g CO2e/kWh, or the signal's unit) forecast for `slot` as known at the start of
    /// slot `issued` (`issued <= slot`).
    fn at(&self, issued: usize, slot: usize) -> f64;
}

/// A fixed trace is a forecast that does not change with the issue time.
impl Forecasts for CarbonTrace {
    fn len(&self) -> usize {
        self.g_per_kwh.len()
    }

    fn at(&self, _issued: usize, slot: usize) -> f64 {
        self.g_per_kwh[slot]
    }
}

/// The forecast issued at one slot, frozen: what a policy that plans once at that slot sees.
pub struct IssuedAt<'a> {
    /// The changing forecasts.
    pub forecasts: &'a dyn Forecasts,
    /// The slot at whose start the forecast was issued.
    pub issued: usize,
}

impl Forecasts for IssuedAt<'_> {
    fn len(&self) -> usize {
        self.forecasts.len()
    }

    fn at(&self, _issued: usize, slot: usize) -> f64 {
        self.forecasts.at(self.issued.min(slot), slot)
    }
}

/// Why an error model cannot be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastModelError {
    /// The forecast and actual traces do not start together on the same slot grid.
    #[error("forecast and actual do not start at the same instant with the same slot length")]
    Misaligned,
    /// Fewer than two common slots.
    #[error("forecast and actual share {0} slot(s): need at least 2")]
    TooShort(usize),
    /// A zero value: its log ratio is undefined.
    #[error("slot {slot}: forecast {forecast} or actual {actual} is zero, so their ratio has no logarithm")]
    ZeroValue {
        /// Slot index.
        slot: usize,
        /// Forecast value.
        forecast: f64,
        /// Actual value.
        actual: f64,
    },
}

/// Multiplicative forecast error observed on one forecast issue (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastErrorModel {
    /// `ln(forecast / actual)` per slot of the pair, in time order.
    pub log_ratios: Vec<f64>,
    /// Slot length of the pair, seconds.
    pub pair_slot_s: i64,
    /// Mean lead time of the pair's slots, seconds: the lead at which errors have the observed size.
    pub reference_lead_s: f64,
}

impl ForecastErrorModel {
    /// Fits the model on a forecast and the actual trace of the same slots (their common prefix).
    /// The forecast is taken as issued at the start of its first slot, so slot `k` has lead
    /// `k × slot length` (the GB fixture was issued one minute into its first slot).
    pub fn fit(forecast: &CarbonTrace, actual: &CarbonTrace) -> Result<Self, ForecastModelError> {
        if forecast.start_s != actual.start_s || forecast.slot_s != actual.slot_s {
            return Err(ForecastModelError::Misaligned);
        }
        let n = forecast.len().min(actual.len());
        if n < 2 {
            return Err(ForecastModelError::TooShort(n));
        }
        let mut log_ratios = Vec::with_capacity(n);
        for slot in 0..n {
            let (f, a) = (forecast.g_per_kwh[slot], actual.g_per_kwh[slot]);
            if f <= 0.0 || a <= 0.0 {
                return Err(ForecastModelError::ZeroValue { slot, forecast: f, actual: a });
            }
            log_ratios.push((f / a).ln());
        }
        let reference_lead_s = (n - 1) as f64 / 2.0 * forecast.slot_s as f64;
        Ok(Self { log_ratios, pair_slot_s: forecast.slot_s, reference_lead_s })
    }

    /// Mean of the log ratios (the pair's bias: negative when the forecast is low).
    pub fn mean_log_ratio(&self) -> f64 {
        self.log_ratios.iter().sum::<f64>() / self.log_ratios.len() as f64
    }

    /// Root mean square of the log ratios.
    pub fn rms_log_ratio(&self) -> f64 {
        (self.log_ratios.iter().map(|e| e * e).sum::<f64>() / self.log_ratios.len() as f64).sqrt()
    }

    /// A noisy forecast of `actual` under this model, drawn with `seed`.
    pub fn noisy<'a>(&self, actual: &'a CarbonTrace, seed: u64) -> NoisyForecast<'a> {
        let mut rng = StdRng::seed_from_u64(seed);
        let pool = &self.log_ratios;
        let block_len = ((BLOCK_S / self.pair_slot_s.max(1)) as usize).clamp(1, pool.len());
        let slots_per_block = (BLOCK_S / actual.slot_s.max(1)).max(1) as usize;
        let mut log_error = Vec::with_capacity(actual.len());
        let mut start = 0;
        for s in 0..actual.len() {
            let within = s % slots_per_block;
            if within == 0 {
                start = rng.random_range(0..=pool.len() - block_len);
            }
            let offset = (within as i64 * actual.slot_s / self.pair_slot_s.max(1)) as usize;
            log_error.push(pool[start + offset.min(block_len - 1)]);
        }
        NoisyForecast { actual, log_error, reference_lead_s: self.reference_lead_s }
    }
}

/// An actual trace seen through forecast error that shrinks with lead time.
#[derive(Debug, Clone)]
pub struct NoisyForecast<'a> {
    actual: &'a CarbonTrace,
    /// Drawn log error of each slot at the reference lead.
    log_error: Vec<f64>,
    reference_lead_s: f64,
}

impl Forecasts for NoisyForecast<'_> {
    fn len(&self) -> usize {
        self.actual.len()
    }

    fn at(&self, issued: usize, slot: usize) -> f64 {
        let lead_s = (slot.saturating_sub(issued) as i64 * self.actual.slot_s) as f64;
        let scale = if self.reference_lead_s > 0.0 { (lead_s / self.reference_lead_s).sqrt() } else { 0.0 };
        self.actual.g_per_kwh[slot] * (self.log_error[slot] * scale).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(values: &[f64]) -> CarbonTrace {
        CarbonTrace { start_s: 0, slot_s: 1800, g_per_kwh: values.to_vec() }
    }

    #[test]
    fn the_model_keeps_the_observed_log_ratios_and_their_mean_lead() {
        let actual = trace(&[100.0, 200.0, 50.0]);
        let forecast = trace(&[110.0, 180.0, 50.0]);
        let m = ForecastErrorModel::fit(&forecast, &actual).unwrap();
        assert_eq!(m.log_ratios, vec![1.1f64.ln(), 0.9f64.ln(), 0.0]);
        assert_eq!(m.reference_lead_s, 1800.0);
    }

    #[test]
    fn noisy_forecasts_are_exact_at_lead_zero_and_scale_with_the_square_root_of_lead() {
        let actual = trace(&[100.0; 8]);
        let m = ForecastErrorModel { log_ratios: vec![0.2; 4], pair_slot_s: 1800, reference_lead_s: 4.0 * 1800.0 };
        let noisy = m.noisy(&actual, 7);
        assert_eq!(noisy.at(5, 5), 100.0);
        let at_reference = noisy.at(1, 5);
        assert!((at_reference - 100.0 * 0.2f64.exp()).abs() < 1e-9, "{at_reference}");
        let at_quarter = noisy.at(4, 5);
        assert!((at_quarter - 100.0 * 0.1f64.exp()).abs() < 1e-9, "{at_quarter}");
    }

    #[test]
    fn misaligned_or_zero_pairs_are_refused() {
        let a = trace(&[1.0, 2.0]);
        let b = CarbonTrace { start_s: 1800, ..a.clone() };
        assert_eq!(ForecastErrorModel::fit(&a, &b), Err(ForecastModelError::Misaligned));
        let z = trace(&[1.0, 0.0]);
        assert!(matches!(ForecastErrorModel::fit(&z, &a), Err(ForecastModelError::ZeroValue { slot: 1, .. })));
        assert_eq!(ForecastErrorModel::fit(&trace(&[1.0]), &a), Err(ForecastModelError::TooShort(1)));
    }
}
