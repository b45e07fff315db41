//! Learning together beats learning alone, and faults lose no round.

use dfma_runtime::federated::codec::Codec;
use dfma_runtime::federated::experiment::{mean, run_collective, run_isolated};

use crate::synthetic::{INSTANCES, config, make, seed, tasks};

#[test]
fn the_collective_model_beats_every_instance_learning_alone_on_non_iid_data() {
    let seed = seed("collective vs isolated");
    let data = tasks(seed, 25, 500);
    let cfg = config(seed, 30);
    let collective = run_collective(&make, &data, &cfg).unwrap();
    let isolated = run_isolated(&make, &data, cfg.rounds * cfg.local_epochs, seed).unwrap();
    println!("collective {:?}\nisolated   {:?}", collective.accuracy, isolated.accuracy);
    let (c, i) = (mean(&collective.accuracy), mean(&isolated.accuracy));
    assert!(c >= i + 0.05, "collective mean {c:.3} is not 5 points above isolated {i:.3}");
    let better = collective.accuracy.iter().zip(&isolated.accuracy).filter(|(c, i)| c > i).count();
    assert!(better >= INSTANCES - 1, "collective better on only {better} of {INSTANCES} instances");
    assert_eq!(collective.version, cfg.rounds as u64);
    // Compressed signals with error feedback still learn together.
    let mut quantize = config(seed, 30);
    quantize.codec = Codec::Quantize { bits: 4 };
    let quantized = run_collective(&make, &data, &quantize).unwrap();
    let q = mean(&quantized.accuracy);
    println!("quantize:4 {q:.3}, {} signal bytes vs {}", quantized.signal_bytes(), collective.signal_bytes());
    assert!(q >= i + 0.05, "4-bit collective {q:.3} is not 5 points above isolated {i:.3}");
    assert!(quantized.signal_bytes() < collective.signal_bytes());
}

#[test]
fn a_quarter_of_instances_dropping_out_mid_round_loses_no_round_and_late_joiners_catch_up() {
    let seed = seed("dropout");
    let data = tasks(seed, 25, 500);
    let mut cfg = config(seed, 20);
    cfg.faults.dropout_fraction = 0.25;
    cfg.faults.late_joins = vec![(INSTANCES - 1, 10)];
    let run = run_collective(&make, &data, &cfg).unwrap();
    for r in &run.rounds {
        let expected_online = if r.round < 10 { INSTANCES - 1 } else { INSTANCES };
        assert_eq!(r.online, expected_online, "round {}", r.round);
        assert_eq!(r.dropped, (0.25 * expected_online as f64).round() as usize, "round {}", r.round);
        assert_eq!(r.contributors, r.online - r.dropped, "round {}: a signal was lost", r.round);
        assert_eq!(r.version, r.round as u64 + 1, "round {} did not produce a version", r.round);
        assert_eq!(r.rejected, 0);
    }
    // The late joiner starts from the collective version, not from scratch.
    let isolated = run_isolated(&make, &data, cfg.rounds * cfg.local_epochs, seed).unwrap();
    let late = INSTANCES - 1;
    println!("late joiner: personal {:.3}, isolated {:.3}", run.personal_accuracy[late], isolated.accuracy[late]);
    assert!(run.personal_accuracy[late] > isolated.accuracy[late]);
    assert!(mean(&run.accuracy) >= mean(&isolated.accuracy) + 0.05);
}
