//! Secure aggregation gives the CCF the same mean as plain signals, up to the fixed-point step.

use dfma_runtime::federated::codec::Codec;
use dfma_runtime::federated::experiment::run_collective;

use crate::synthetic::{config, make, seed, tasks};

#[test]
fn securely_aggregated_rounds_build_the_same_collective_as_plain_ones() {
    let seed = seed("secure aggregation");
    let data = tasks(seed, 30, 50);
    for codec in [Codec::None, Codec::CountSketch { rows: 3, buckets: 16 }] {
        let mut cfg = config(seed, 5);
        cfg.codec = codec;
        let plain = run_collective(&make, &data, &cfg).unwrap();
        cfg.secure_aggregation = true;
        let secure = run_collective(&make, &data, &cfg).unwrap();
        let diff = plain.params.iter().zip(&secure.params).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        println!("{}: largest parameter difference {diff:e}", codec.name());
        assert!(diff < 1e-3, "{}: secure and plain collectives differ by {diff}", codec.name());
        assert!(plain.params.iter().any(|p| p.abs() > 1e-2), "nothing was learned");
    }
    // A robust rule needs individual signals, which secure aggregation hides: refused up front.
    let mut cfg = config(seed, 1);
    cfg.secure_aggregation = true;
    cfg.aggregation = dfma_runtime::federated::aggregate::Aggregation::Median;
    let err = run_collective(&make, &data, &cfg).unwrap_err();
    assert!(err.to_string().contains("secure aggregation needs a linear codec and the mean"), "{err}");
}
