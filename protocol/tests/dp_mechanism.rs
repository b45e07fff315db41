//! The DP mechanism and budget: clipping bounds the norm, noise has the variance it claims, and
//! a refused round leaves the budget exactly as it was.

use dfma_protocol::dp::budget::PrivacyBudget;
use dfma_protocol::dp::clip::{clip_l2, l2_norm};
use dfma_protocol::dp::noise::{GaussianNoise, privatize};
use dfma_protocol::dp::{DpError, DpParameters};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn clipping_bounds_the_norm_of_the_f32_values_and_keeps_their_direction(
        values in prop::collection::vec(-1e30f32..1e30f32, 1..200),
        scale_exponent in -20i32..20,
        clip_norm in 1e-6f64..1e6,
    ) {
        let values: Vec<f32> = values.iter().map(|v| v * 2f32.powi(scale_exponent) / 1e20).collect();
        let mut clipped = values.clone();
        let report = clip_l2(&mut clipped, clip_norm).unwrap();
        prop_assert!(l2_norm(&clipped) <= clip_norm, "{} > {clip_norm}", l2_norm(&clipped));
        prop_assert_eq!(report.norm_after, l2_norm(&clipped));
        prop_assert_eq!(report.clipped, report.norm_before > clip_norm);
        if !report.clipped {
            prop_assert_eq!(&clipped, &values);
        } else if report.norm_after > 0.0 {
            let dot: f64 = values.iter().zip(&clipped).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
            let cosine = dot / (report.norm_before * report.norm_after);
            prop_assert!(cosine > 1.0 - 1e-5, "cosine {cosine}");
        }
    }
}

#[test]
fn a_clipped_signal_lands_on_the_sphere_of_the_clip_norm() {
    let mut values: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 5.0).collect();
    let report = clip_l2(&mut values, 2.5).unwrap();
    assert!(report.clipped);
    assert!(report.norm_after <= 2.5 && report.norm_after > 2.5 * (1.0 - 1e-6), "{}", report.norm_after);
}

/// Mean, variance and the fraction within one standard deviation of 400,000 samples of
/// σ·C = 1.1 × 0.75 from a fixed seed. Bounds are wide (about 6 standard errors) so that the test
/// checks the transform, not the luck of one seed: the standard error of the variance is
/// `s²·sqrt(2/n)` ≈ 0.22 % of it, of the mean `s/sqrt(n)`, of the fraction ≈ 0.07 points.
#[test]
fn noise_has_mean_zero_and_the_variance_of_sigma_times_clip_norm() {
    let parameters = DpParameters { clip_norm: 0.75, noise_multiplier: 1.1, sampling_rate: 0.01 };
    let std_dev = parameters.noise_std_dev();
    let n = 400_000;
    let mut values = vec![0.0f32; n];
    let mut noise = GaussianNoise::from_seed([7; 32]);
    let report = privatize(&mut values, &parameters, &mut noise).unwrap();
    assert!(!report.clipped);
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let variance = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let within_one = values.iter().filter(|&&v| f64::from(v).abs() <= std_dev).count() as f64 / n as f64;
    let expected_variance = std_dev * std_dev;
    eprintln!("mean {mean:.5}, variance {variance:.5} (expected {expected_variance:.5}), within 1σ {within_one:.4}");
    assert!(mean.abs() <= 6.0 * std_dev / (n as f64).sqrt(), "mean {mean}");
    assert!((variance / expected_variance - 1.0).abs() <= 0.015, "variance {variance} vs {expected_variance}");
    assert!((within_one - 0.682_689).abs() <= 0.005, "fraction within one standard deviation {within_one}");
}

#[test]
fn the_same_seed_gives_the_same_noise_and_another_seed_other_noise() {
    let draw = |seed: [u8; 32]| {
        let mut noise = GaussianNoise::from_seed(seed);
        (0..16).map(|_| noise.standard_normal()).collect::<Vec<f64>>()
    };
    assert_eq!(draw([1; 32]), draw([1; 32]));
    assert_ne!(draw([1; 32]), draw([2; 32]));
}

#[test]
fn privatize_refuses_bad_parameters_and_non_finite_signals_without_touching_them() {
    let mut noise = GaussianNoise::from_seed([3; 32]);
    let mut values = vec![1.0f32, f32::INFINITY, 2.0];
    let good = DpParameters { clip_norm: 1.0, noise_multiplier: 1.0, sampling_rate: 0.1 };
    assert!(matches!(privatize(&mut values, &good, &mut noise), Err(DpError::NonFinite { index: 1, .. })));
    assert_eq!(values[0], 1.0);
    let bad = DpParameters { sampling_rate: 1.5, ..good };
    let mut values = vec![1.0f32; 3];
    assert!(matches!(privatize(&mut values, &bad, &mut noise), Err(DpError::InvalidParameter { .. })));
    assert_eq!(values, vec![1.0; 3]);
}

#[test]
fn a_round_that_would_exceed_the_budget_is_refused_and_changes_nothing() {
    let (q, sigma) = (0.1, 1.0);
    let mut budget = PrivacyBudget::new(3.0, 1e-5).unwrap();
    assert_eq!(budget.spent_epsilon(), 0.0);
    let mut last = 0.0;
    let refusal = loop {
        let preview = budget.epsilon_after(q, sigma, 1).unwrap();
        match budget.spend(q, sigma) {
            Ok(spent) => {
                assert_eq!(spent, preview);
                assert!(spent > last && spent <= 3.0, "{spent}");
                last = spent;
            }
            Err(error) => break (error, preview),
        }
        assert!(budget.rounds() < 10_000, "the budget never ran out");
    };
    let (error, preview) = refusal;
    assert_eq!(error, DpError::BudgetExceeded { epsilon_after: preview, epsilon_budget: 3.0, delta: 1e-5 });
    eprintln!(
        "{} rounds at q={q}, σ={sigma} spend ε = {last:.4} of 3; the next would reach {preview:.4}",
        budget.rounds()
    );
    let before = budget.clone();
    assert!(budget.spend(q, sigma).is_err());
    assert!(budget.spend_steps(q, sigma, 1000).is_err());
    assert_eq!(budget, before);
    assert_eq!(budget.spent_epsilon(), last);
    assert!(budget.remaining_epsilon() >= 0.0);
    // A cheaper round (smaller sampling rate) may still fit.
    let cheaper = budget.epsilon_after(0.001, 5.0, 1).unwrap();
    assert!(cheaper <= 3.0 && budget.spend(0.001, 5.0).is_ok());
}

#[test]
fn a_budget_rejects_bad_parameters_without_spending() {
    assert!(PrivacyBudget::new(0.0, 1e-5).is_err());
    assert!(PrivacyBudget::new(1.0, 0.0).is_err());
    let mut budget = PrivacyBudget::new(1.0, 1e-5).unwrap();
    let before = budget.clone();
    assert!(matches!(budget.spend(2.0, 1.0), Err(DpError::InvalidParameter { what: "sampling_rate", .. })));
    assert!(matches!(budget.spend(0.1, f64::NAN), Err(DpError::InvalidParameter { what: "noise_multiplier", .. })));
    assert_eq!(budget, before);
}
