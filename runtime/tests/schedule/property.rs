//! 10,000 seeded random job sets on random traces: no policy misses a deadline and perfect
//! foresight is never beaten. The seed is printed; `DFMA_SEED` reproduces a run.

use dfma_reference::seed::{rng_for, seed_from_env};
use dfma_runtime::schedule::{CarbonTrace, Job, Policy, evaluate};
use rand::Rng;

#[test]
fn no_policy_misses_a_deadline_or_beats_perfect_foresight_on_10000_random_job_sets() {
    let seed = seed_from_env().unwrap();
    println!("DFMA_SEED={seed}");
    for case in 0..10_000u64 {
        let mut rng = rng_for(seed, case);
        let slots = rng.random_range(1..=72);
        let trace = CarbonTrace {
            start_s: 0,
            slot_s: 3600,
            g_per_kwh: (0..slots).map(|_| f64::from(rng.random_range(0u32..=600)) + rng.random::<f64>()).collect(),
        };
        // A noisy forecast of the same slots, to plan on.
        let forecast = CarbonTrace {
            g_per_kwh: trace.g_per_kwh.iter().map(|g| (g * rng.random_range(0.7..1.3)).max(0.0)).collect(),
            ..trace.clone()
        };
        let jobs: Vec<Job> = (0..rng.random_range(1..=8))
            .map(|j| {
                let release = rng.random_range(0..slots);
                let deadline = rng.random_range(release + 1..=slots);
                let duration = rng.random_range(1..=deadline - release);
                Job::new(format!("j{j}"), rng.random_range(0.0..5.0), duration, release, deadline, rng.random())
                    .unwrap()
            })
            .collect();
        let optimal = evaluate(&jobs, Policy::Optimal, &trace, &trace).unwrap();
        assert_eq!(optimal.deadline_misses, 0, "seed {seed} case {case}");
        for policy in
            [Policy::RunAtOnce, Policy::Threshold { g_per_kwh: rng.random_range(0.0..600.0) }, Policy::Optimal]
        {
            for plan in [&trace, &forecast] {
                let e = evaluate(&jobs, policy, plan, &trace).unwrap();
                assert_eq!(e.deadline_misses, 0, "seed {seed} case {case} {policy:?}");
                for (o, b) in e.outcomes.iter().zip(&optimal.outcomes) {
                    let tol = 1e-9 * b.carbon_g.abs().max(1.0);
                    assert!(o.carbon_g >= b.carbon_g - tol, "seed {seed} case {case} {policy:?}: {o:?} beats {b:?}");
                }
            }
        }
    }
}
