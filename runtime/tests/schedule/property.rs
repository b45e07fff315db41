//! 10,000 seeded random job sets on random traces, under every policy and three kinds of
//! forecast (perfect, a fixed noisy forecast, and forecast error that shrinks with lead time):
//! no deadline is missed, every placement lies in its window with exactly its level's slots,
//! and no policy beats perfect foresight of the actual trace. The seed is printed; `DFMA_SEED`
//! reproduces a run.

use dfma_reference::seed::{rng_for, seed_from_env};
use dfma_runtime::schedule::evaluate::meets_deadline;
use dfma_runtime::schedule::forecast::ForecastErrorModel;
use dfma_runtime::schedule::{CarbonTrace, Forecasts, Job, Level, Policy, evaluate_with};
use rand::Rng;
use rand::rngs::StdRng;

fn random_trace(rng: &mut StdRng, slots: usize) -> CarbonTrace {
    let g_per_kwh = (0..slots)
        .map(|_| match rng.random_range(0..10) {
            // Exact ties and zeros stress the tie-breaking and the "nothing below the threshold" paths.
            0 => 0.0,
            1 => 100.0,
            _ => f64::from(rng.random_range(0u32..=600)) + rng.random::<f64>(),
        })
        .collect();
    CarbonTrace { start_s: 0, slot_s: [300, 1800, 3600][rng.random_range(0..3)], g_per_kwh }
}

fn random_job(rng: &mut StdRng, j: usize, slots: usize) -> Job {
    let release = rng.random_range(0..slots);
    let deadline = rng.random_range(release + 1..=slots);
    let window = deadline - release;
    // A quarter of the jobs fill their window exactly: no freedom at all.
    let duration = if rng.random_range(0..4) == 0 { window } else { rng.random_range(1..=window) };
    let job = Job::new(format!("j{j}"), rng.random_range(0.0..5.0), duration, release, deadline, rng.random()).unwrap();
    let levels = (0..rng.random_range(0..=2))
        .map(|_| Level {
            power_fraction: rng.random_range(0.1..=1.0),
            slots: rng.random_range(1..=window),
            energy_kwh: rng.random_range(0.0..5.0),
        })
        .collect();
    job.with_levels(levels).unwrap()
}

#[test]
fn no_policy_misses_a_deadline_or_beats_perfect_foresight_on_10000_random_job_sets() {
    let seed = seed_from_env().unwrap();
    println!("DFMA_SEED={seed}");
    for case in 0..10_000u64 {
        let mut rng = rng_for(seed, case);
        let slots = rng.random_range(1..=72);
        let trace = random_trace(&mut rng, slots);
        let fixed_noisy = CarbonTrace {
            g_per_kwh: trace.g_per_kwh.iter().map(|g| g * rng.random_range(0.7..1.3)).collect(),
            ..trace.clone()
        };
        let model = ForecastErrorModel {
            log_ratios: (0..rng.random_range(1..=48)).map(|_| rng.random_range(-0.6..0.6)).collect(),
            pair_slot_s: [900, 1800, 3600][rng.random_range(0..3)],
            reference_lead_s: rng.random_range(0.0..86_400.0),
        };
        let shrinking = model.noisy(&trace, rng.random());
        let jobs: Vec<Job> = (0..rng.random_range(1..=8)).map(|j| random_job(&mut rng, j, slots)).collect();
        let threshold = rng.random_range(0.0..600.0);
        let forecasts: [(&str, &dyn Forecasts); 3] =
            [("perfect", &trace), ("fixed noisy", &fixed_noisy), ("shrinking error", &shrinking)];
        for policy in [Policy::RunAtOnce, Policy::Threshold { g_per_kwh: threshold }, Policy::Optimal, Policy::Online] {
            for (kind, plan) in forecasts {
                let at = || format!("seed {seed} case {case} {policy:?} on {kind}");
                let e = evaluate_with(&jobs, policy, plan, &trace).unwrap();
                assert_eq!(e.deadline_misses, 0, "{}", at());
                for (o, job) in e.outcomes.iter().zip(&jobs) {
                    let p = &o.placement;
                    let level = job.level(p.level).unwrap_or_else(|| panic!("{}: level {} of {job:?}", at(), p.level));
                    assert_eq!(p.slots.len(), level.slots, "{}: {job:?} {p:?}", at());
                    assert!(p.slots.iter().all(|s| (job.release..job.deadline).contains(s)), "{}: {job:?} {p:?}", at());
                    assert!(meets_deadline(job, p), "{}: {job:?} {p:?}", at());
                    let tol = 1e-9 * o.bound_g.abs().max(1.0);
                    assert!(o.carbon_g >= o.bound_g - tol, "{}: {o:?} beats the bound", at());
                }
            }
        }
    }
}
