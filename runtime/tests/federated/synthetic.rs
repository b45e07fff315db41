//! Seeded non-IID logistic tasks: every instance labels by one shared rule, but sees its own
//! region of feature space and few samples, so alone it overfits and together the instances
//! recover the rule.

use dfma_reference::seed::{rng_for, seed_from_env};
use dfma_runtime::federated::aggregate::Aggregation;
use dfma_runtime::federated::codec::Codec;
use dfma_runtime::federated::experiment::{ExperimentConfig, Faults, InstanceData};
use dfma_runtime::federated::logistic::{LogisticRegression, Samples, SgdConfig};
use dfma_runtime::federated::privacy::PrivacyConfig;
use rand::Rng;

/// Features per sample.
pub const DIM: usize = 30;
/// Instances.
pub const INSTANCES: usize = 8;

/// The seed of this test (printed).
pub fn seed(test: &str) -> u64 {
    let seed = seed_from_env().unwrap_or_else(|e| panic!("{e}"));
    println!("{test}: seed {seed} (DFMA_SEED={seed} reproduces)");
    seed
}

/// A standard normal sample (Box–Muller), so the tests need no extra crate.
fn normal(rng: &mut impl Rng) -> f32 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// `INSTANCES` instances with `train` training and `held_out` held-out samples each.
pub fn tasks(seed: u64, train: usize, held_out: usize) -> Vec<InstanceData<Samples>> {
    let mut rng = rng_for(seed, 1);
    let w: Vec<f32> = (0..DIM).map(|_| normal(&mut rng)).collect();
    (0..INSTANCES)
        .map(|i| {
            let mut rng = rng_for(seed, 100 + i as u64);
            // Each instance lives in its own region: a shifted mean and its own scale per feature.
            let shift: Vec<f32> = (0..DIM).map(|_| 0.5 * normal(&mut rng)).collect();
            let scale: Vec<f32> = (0..DIM).map(|_| rng.random_range(0.5f32..1.5)).collect();
            let mut draw = |n: usize| {
                let mut s = Samples::empty(DIM);
                for _ in 0..n {
                    let x: Vec<f32> = (0..DIM).map(|j| shift[j] + scale[j] * normal(&mut rng)).collect();
                    let z: f32 = x.iter().zip(&w).map(|(a, b)| a * b).sum::<f32>() + 0.5 * normal(&mut rng);
                    s.push(&x, u8::from(z > 0.0));
                }
                s
            };
            InstanceData { name: format!("instance {i}"), train: draw(train), held_out: draw(held_out) }
        })
        .collect()
}

/// The model every instance starts from.
pub fn make() -> LogisticRegression {
    LogisticRegression::new(DIM, SgdConfig { learning_rate: 0.3, batch_size: 64, l2: 1e-3 }, "synthetic v1")
}

/// A collective run with clipping, mean aggregation and no faults.
pub fn config(seed: u64, rounds: usize) -> ExperimentConfig {
    ExperimentConfig {
        rounds,
        local_epochs: 2,
        codec: Codec::None,
        aggregation: Aggregation::Mean,
        secure_aggregation: false,
        privacy: Some(PrivacyConfig { clip_norm: 5.0, noise_multiplier: 0.0, epsilon_budget: 10.0, delta: 1e-5 }),
        server_learning_rate: 1.0,
        seed,
        faults: Faults::default(),
        evaluate_each_round: false,
    }
}
