//! The online policy: it re-plans when the forecast is re-issued, so it profits from a forecast
//! that improves; with the GB error model on CAISO it is evaluated on a noisy forecast and
//! charged on the actual trace.

use dfma_runtime::schedule::forecast::IssuedAt;
use dfma_runtime::schedule::sweep::release_every_slot;
use dfma_runtime::schedule::{
    CarbonTrace, ForecastErrorModel, Forecasts, Job, Policy, evaluate_with, parse_electricity_maps_csv,
    parse_gb_api_json, parse_gb_forecast_csv, place_with,
};

use super::data;

/// A forecast that, issued at slot 0, believes slot 3 is cleanest, and from slot 1 on knows
/// that slot 1 is.
struct Revised(CarbonTrace);

impl Forecasts for Revised {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn at(&self, issued: usize, slot: usize) -> f64 {
        match (issued, slot) {
            (0, 1) => 300.0,
            (0, 3) => 10.0,
            _ => self.0.g_per_kwh[slot],
        }
    }
}

#[test]
fn the_online_policy_follows_a_revised_forecast_that_plan_once_misses() {
    let actual = CarbonTrace { start_s: 0, slot_s: 3600, g_per_kwh: vec![200.0, 20.0, 200.0, 150.0, 200.0] };
    let forecasts = Revised(actual.clone());
    let job = Job::new("j", 1.0, 1, 0, 5, false).unwrap();
    assert_eq!(place_with(Policy::Optimal, &job, &forecasts).unwrap().slots, vec![3]);
    assert_eq!(place_with(Policy::Online, &job, &forecasts).unwrap().slots, vec![1]);
    let once = evaluate_with(std::slice::from_ref(&job), Policy::Optimal, &forecasts, &actual).unwrap();
    let online = evaluate_with(std::slice::from_ref(&job), Policy::Online, &forecasts, &actual).unwrap();
    assert_eq!((once.carbon_g, online.carbon_g, online.bound_g), (150.0, 20.0, 20.0));
    // Planned: what each expected at release, on the forecast issued then (slot 3 at 10 g).
    assert_eq!((once.planned_g, online.planned_g), (10.0, 10.0));
    let at_release = IssuedAt { forecasts: &forecasts, issued: 0 };
    assert_eq!(place_with(Policy::Online, &job, &at_release).unwrap().slots, vec![3]);
}

#[test]
fn an_interruptible_online_job_re_plans_its_remaining_slots() {
    let actual = CarbonTrace { start_s: 0, slot_s: 3600, g_per_kwh: vec![5.0, 200.0, 20.0, 150.0, 200.0, 150.0] };
    let forecasts = Revised(actual.clone());
    let job = Job::new("j", 2.0, 2, 0, 6, true).unwrap();
    // At slot 0 the forecast says slots 0 and 3 are cleanest: run 0. From slot 1 on, slot 2 is
    // known to beat 3.
    assert_eq!(place_with(Policy::Online, &job, &forecasts).unwrap().slots, vec![0, 2]);
    assert_eq!(place_with(Policy::Optimal, &job, &forecasts).unwrap().slots, vec![0, 3]);
}

#[test]
fn on_caiso_with_gb_forecast_error_the_online_policy_reports_planned_and_realised_saving_below_the_bound() {
    let (Some(caiso), Some(json), Some(csv)) = (
        data::fixture("US-CAL-CISO_2022_hourly.csv"),
        data::fixture("national_pt24h_2023-03-15T0331Z.json"),
        data::fixture("national_fw48h_2023-03-14T0331Z.csv"),
    ) else {
        return;
    };
    let actual = parse_electricity_maps_csv(&caiso, &data::read(&caiso)).unwrap();
    let gb = parse_gb_api_json(&json, &data::read(&json)).unwrap();
    let fw = parse_gb_forecast_csv(&csv, &data::read(&csv)).unwrap();
    let model = ForecastErrorModel::fit(&fw, &gb.actual).unwrap();
    assert_eq!(model.log_ratios.len(), 45);
    println!(
        "GB 48-h forecast vs actual: mean ln(f/a) {:+.4}, rms {:.4}, reference lead {:.2} h",
        model.mean_log_ratio(),
        model.rms_log_ratio(),
        model.reference_lead_s / 3600.0
    );
    let seed = 1;
    let noisy = model.noisy(&actual, seed);
    for n in [4, 24] {
        let jobs = release_every_slot(actual.len(), n).unwrap();
        let once = evaluate_with(&jobs, Policy::Optimal, &noisy, &actual).unwrap();
        let online = evaluate_with(&jobs, Policy::Online, &noisy, &actual).unwrap();
        println!(
            "CAISO 2022 N={n}, GB-fitted forecast error (seed {seed}): plan once planned {:.2} % realised {:.2} %; \
             online planned {:.2} % realised {:.2} %; bound {:.2} %",
            once.planned_saving() * 100.0,
            once.realised_saving() * 100.0,
            online.planned_saving() * 100.0,
            online.realised_saving() * 100.0,
            online.bound_saving() * 100.0
        );
        for e in [&once, &online] {
            assert_eq!(e.deadline_misses, 0);
            assert!(e.realised_saving() <= e.bound_saving() + 1e-12);
            assert!(e.realised_saving() > 0.0, "forecast error of this size should still save");
            assert_ne!(e.planned_saving(), e.realised_saving(), "planned is on the forecast, realised on the actual");
        }
        // With a day of slack, re-planning as the forecast sharpens beats planning once (by 0.6
        // points with this seed). With N=4 it does not: the GB forecast runs ~9 % low, the current
        // slot is known exactly and later ones look cheaper than they are, so it waits too often;
        // the test records that rather than hiding it.
        if n == 24 {
            assert!(online.realised_saving() > once.realised_saving() + 0.002, "N={n}");
        }
    }
}
