//! Turning two cumulative readings into joules, across counter wraparound.
//!
//! RAPL's `energy_uj` counts up to `max_energy_range_uj` and starts again at zero (every few
//! minutes under load on some parts), so a later value smaller than an earlier one means one
//! wrap. More than one wrap inside a window cannot be detected: keep windows shorter than
//! `wrap_j / power_w` (about 20 minutes at 200 W for a 262 kJ range).

use super::error::EnergyError;
use super::meter::EnergyReading;

/// Joules between two values of one cumulative counter.
///
/// `wrap_j` is the counter's range; when `after_j < before_j` the counter is taken to have
/// wrapped once. Without a range, a counter going backwards (a driver reload, a reset) is an
/// error rather than a negative or made-up energy.
pub fn counter_delta_j(before_j: f64, after_j: f64, wrap_j: Option<f64>) -> Result<f64, EnergyError> {
    if !before_j.is_finite() || !after_j.is_finite() {
        return Err(EnergyError::Invalid(format!("non-finite counter values: {before_j} J then {after_j} J")));
    }
    if after_j >= before_j {
        return Ok(after_j - before_j);
    }
    match wrap_j {
        Some(range_j) if range_j > 0.0 && before_j <= range_j => Ok(range_j - before_j + after_j),
        Some(range_j) => Err(EnergyError::Invalid(format!(
            "counter went from {before_j} J to {after_j} J but its range is {range_j} J"
        ))),
        None => Err(EnergyError::Invalid(format!(
            "counter went backwards from {before_j} J to {after_j} J and does not wrap (reset?)"
        ))),
    }
}

/// Joules used by one domain between two readings.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainDelta {
    /// The domain name.
    pub domain: String,
    /// Energy in joules over the window (never negative).
    pub energy_j: f64,
}

/// Energy per domain and elapsed seconds between an earlier and a later reading of the same
/// meter, handling wraparound per domain.
///
/// Fails when the readings have different domains, when `after` is not later than `before`
/// (a window needs positive length), or when a counter went backwards without wrapping.
pub fn energy_between(before: &EnergyReading, after: &EnergyReading) -> Result<(Vec<DomainDelta>, f64), EnergyError> {
    let names = |r: &EnergyReading| r.domains.iter().map(|d| d.domain.clone()).collect::<Vec<_>>();
    if names(before) != names(after) {
        return Err(EnergyError::Invalid(format!(
            "readings have different domains: {:?} then {:?}",
            names(before),
            names(after)
        )));
    }
    let window_s = after.at.checked_duration_since(before.at).map(|d| d.as_secs_f64());
    let window_s =
        window_s.ok_or_else(|| EnergyError::Invalid("the later reading is older than the earlier one".to_string()))?;
    let mut deltas = Vec::with_capacity(before.domains.len());
    for (b, a) in before.domains.iter().zip(&after.domains) {
        let energy_j = counter_delta_j(b.energy_j, a.energy_j, a.wrap_j.or(b.wrap_j))
            .map_err(|e| EnergyError::Invalid(format!("{}: {e}", b.domain)))?;
        deltas.push(DomainDelta { domain: b.domain.clone(), energy_j });
    }
    Ok((deltas, window_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_that_wraps_counts_the_joules_on_both_sides_of_the_wrap() {
        // 10 J before the end of a 100 J range, then 5 J after zero: 15 J.
        let j = counter_delta_j(90.0, 5.0, Some(100.0)).unwrap();
        assert!((j - 15.0).abs() < 1e-12, "{j}");
    }

    #[test]
    fn a_counter_that_goes_backwards_without_a_range_is_an_error_not_negative_energy() {
        let err = counter_delta_j(90.0, 5.0, None).unwrap_err();
        assert!(err.to_string().contains("backwards"), "{err}");
    }

    #[test]
    fn a_value_beyond_the_wrap_range_is_an_error() {
        assert!(counter_delta_j(150.0, 5.0, Some(100.0)).is_err());
    }

    #[test]
    fn non_finite_values_are_rejected() {
        assert!(counter_delta_j(f64::NAN, 5.0, None).is_err());
        assert!(counter_delta_j(1.0, f64::INFINITY, None).is_err());
    }
}
