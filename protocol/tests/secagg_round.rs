//! Secure aggregation: exact sums under dropout, and what the aggregator can learn.

use chacha20::ChaCha20Rng;
use dfma_protocol::secagg::SecAggError;
use dfma_protocol::secagg::fixed_point::FixedPoint;
use dfma_protocol::secagg::round::{Aggregator, SecAggConfig, SecretKind, simulate_round};
use rand_core::{Rng, SeedableRng};

fn random_inputs(instances: usize, len: usize, seed: u8) -> Vec<Vec<u32>> {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    (0..instances).map(|_| (0..len).map(|_| rng.next_u32()).collect()).collect()
}

/// Marks `count` distinct instances, chosen by a seeded shuffle, as dropping out.
fn dropouts(instances: usize, count: usize, seed: u8) -> Vec<bool> {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let mut order: Vec<usize> = (0..instances).collect();
    for index in (1..instances).rev() {
        order.swap(index, rng.next_u32() as usize % (index + 1));
    }
    let mut dropped = vec![false; instances];
    for &instance in &order[..count] {
        dropped[instance] = true;
    }
    dropped
}

fn plain_sum(inputs: &[Vec<u32>], dropped: &[bool]) -> Vec<u32> {
    let mut sum = vec![0u32; inputs[0].len()];
    for (input, _) in inputs.iter().zip(dropped).filter(|(_, dropped)| !**dropped) {
        for (total, value) in sum.iter_mut().zip(input) {
            *total = total.wrapping_add(*value);
        }
    }
    sum
}

const HUNDRED: SecAggConfig =
    SecAggConfig { instances: 100, neighbours: 50, threshold: 26, vector_len: 257, round_id: 11 };

#[test]
fn the_masked_sum_of_100_instances_equals_the_plain_sum_with_0_10_and_30_percent_dropping_out() {
    // Uniform random words exercise every bit and the wrap-around of Z_2^32.
    let inputs = random_inputs(100, HUNDRED.vector_len, 1);
    for dropped_count in [0, 10, 30] {
        let dropped = dropouts(100, dropped_count, 2);
        let outcome = simulate_round(&HUNDRED, &inputs, &dropped, [3; 32]).unwrap();
        assert_eq!(outcome.sum, plain_sum(&inputs, &dropped), "{dropped_count} dropped");
        assert_eq!(outcome.transcript.masked_inputs.len(), 100 - dropped_count);
        // Masking is not a no-op: no masked vector equals its input.
        for masked in &outcome.transcript.masked_inputs {
            assert_ne!(masked.masked, inputs[masked.instance]);
        }
    }
}

#[test]
fn fixed_point_sketches_sum_through_secure_aggregation_to_the_float_sum() {
    let codec = FixedPoint::DEFAULT;
    let config = SecAggConfig { instances: 12, neighbours: 6, threshold: 4, vector_len: 33, round_id: 1 };
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let floats: Vec<Vec<f32>> =
        (0..12).map(|_| (0..33).map(|_| (rng.next_u32() as f32 / u32::MAX as f32) * 2.0 - 1.0).collect()).collect();
    let encoded: Vec<Vec<u32>> = floats.iter().map(|values| codec.encode(values).unwrap()).collect();
    let mut dropped = vec![false; 12];
    dropped[4] = true;
    let outcome = simulate_round(&config, &encoded, &dropped, [6; 32]).unwrap();
    let decoded = codec.decode(&outcome.sum);
    for (index, value) in decoded.iter().enumerate() {
        let expected: f64 = (0..12).filter(|&i| !dropped[i]).map(|i| floats[i][index] as f64).sum();
        // Each of 11 encodings rounds by at most half a step.
        assert!((value - expected).abs() <= 11.0 * 0.5f64.powi(17), "index {index}");
    }
}

#[test]
fn a_round_with_too_many_dropouts_fails_loudly_instead_of_returning_a_wrong_sum() {
    let config = SecAggConfig { vector_len: 8, ..HUNDRED };
    let inputs = random_inputs(100, 8, 7);
    let dropped = dropouts(100, 80, 8);
    let error = simulate_round(&config, &inputs, &dropped, [9; 32]).unwrap_err();
    assert!(matches!(error, SecAggError::TooFewSurvivors { .. } | SecAggError::TooFewShares { .. }), "{error:?}");
}

#[test]
fn a_threshold_of_half_the_neighbourhood_or_less_is_refused() {
    let config = SecAggConfig { threshold: 25, vector_len: 4, ..HUNDRED };
    let inputs = random_inputs(100, 4, 1);
    assert!(matches!(simulate_round(&config, &inputs, &[false; 100], [0; 32]), Err(SecAggError::InvalidConfig(_))));
}

/// Structural half of the privacy argument: the aggregator receives shares of the self-mask
/// key of every survivor and of the mask secret of every dropped instance, and never both
/// for one instance. With fewer than `t` shares of a secret, Shamir sharing reveals nothing
/// about it; so for a survivor the aggregator never learns the mask secret that hides its
/// pairwise masks, and for a dropped instance it never learns the self-mask key (which does
/// not matter: its masked vector never arrived).
#[test]
fn the_aggregator_gets_shares_of_one_secret_per_instance_never_both() {
    let config = SecAggConfig { vector_len: 4, ..HUNDRED };
    let inputs = random_inputs(100, 4, 1);
    let dropped = dropouts(100, 30, 2);
    let outcome = simulate_round(&config, &inputs, &dropped, [3; 32]).unwrap();
    for (owner, &owner_dropped) in dropped.iter().enumerate() {
        let kinds: Vec<SecretKind> = outcome
            .transcript
            .unmasking
            .iter()
            .flat_map(|response| &response.revealed)
            .filter(|share| share.owner == owner)
            .map(|share| share.kind)
            .collect();
        let expected = if owner_dropped { SecretKind::MaskSecret } else { SecretKind::SelfMaskKey };
        assert!(kinds.len() >= HUNDRED.threshold, "instance {owner}: {} shares", kinds.len());
        assert!(kinds.iter().all(|&kind| kind == expected), "instance {owner}");
    }
}

/// Exact half of the privacy argument. Take two input assignments with the same sum: `X`, and
/// `X'` equal to `X` except `x'_i = x_i + d` and `x'_j = x_j − d` for two surviving neighbours
/// `i < j`. Run both with the same randomness. The transcripts are then identical except that
/// `y'_i = y_i + d` and `y'_j = y_j − d` — which is exactly the transcript `X` would have
/// produced had the pairwise mask `m_ij` been `m_ij + d`. Since `m_ij` is (pseudo)uniform and
/// hidden (the previous test: neither `i`'s nor `j`'s mask secret is ever revealed), and
/// `m ↦ m + d` is a bijection of the uniform distribution on Z_2^32, the two transcripts are
/// identically distributed. Any two equal-sum assignments are connected by a chain of such
/// neighbour-to-neighbour moves (the graph is connected), so the transcript depends on the
/// inputs only through their sum.
#[test]
fn equal_sum_inputs_give_transcripts_that_differ_only_by_a_shift_of_one_hidden_pairwise_mask() {
    let config = SecAggConfig { vector_len: 16, ..HUNDRED };
    let inputs = random_inputs(100, 16, 4);
    let dropped = dropouts(100, 30, 5);
    let first = simulate_round(&config, &inputs, &dropped, [6; 32]).unwrap();
    let i = (0..100).find(|&i| !dropped[i]).unwrap();
    let j = *first.graph.neighbours(i).iter().find(|&&j| !dropped[j] && j > i).unwrap();
    let shift: Vec<u32> = (0..16u32).map(|k| 0x9e37_79b9u32.wrapping_mul(k + 1)).collect();
    let mut shifted = inputs.clone();
    for (k, d) in shift.iter().enumerate() {
        shifted[i][k] = shifted[i][k].wrapping_add(*d);
        shifted[j][k] = shifted[j][k].wrapping_sub(*d);
    }
    let second = simulate_round(&config, &shifted, &dropped, [6; 32]).unwrap();
    assert_eq!(first.sum, second.sum);
    assert_eq!(first.transcript.keys, second.transcript.keys);
    assert_eq!(first.transcript.shares, second.transcript.shares);
    assert_eq!(first.transcript.unmasking, second.transcript.unmasking);
    for (a, b) in first.transcript.masked_inputs.iter().zip(&second.transcript.masked_inputs) {
        let expected: Vec<u32> = if a.instance == i {
            a.masked.iter().zip(&shift).map(|(y, d)| y.wrapping_add(*d)).collect()
        } else if a.instance == j {
            a.masked.iter().zip(&shift).map(|(y, d)| y.wrapping_sub(*d)).collect()
        } else {
            a.masked.clone()
        };
        assert_eq!(b.masked, expected, "instance {}", a.instance);
    }
}

/// Pearson's chi-square statistic of `counts` against a uniform distribution.
fn chi_square_uniform(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum()
}

/// Statistical half: everything the aggregator can strip off one survivor's masked vector
/// (its self mask, and its masks with dropped neighbours, via [`Aggregator::removable_mask`])
/// leaves a residual `x_i + Σ ± m_ij` over surviving neighbours that must look uniform whatever
/// `x_i` is. Over 100 fresh rounds per input world (all-zero input versus a constant input),
/// the top 4 bits of the residual's 256 elements fall into 16 bins; each world must pass a
/// chi-square uniformity test and the two worlds a homogeneity test. The 15-degree-of-freedom
/// critical value at p = 10⁻⁶ is about 52; 60 is used. A leak (a survivor's mask secret
/// revealed, a mask that cancels, a self mask only) makes the residual equal `x_i` and the
/// statistic explode into the hundreds of thousands.
#[test]
fn what_the_aggregator_can_strip_from_a_masked_vector_leaves_it_uniform_whatever_the_input() {
    let config = SecAggConfig { instances: 8, neighbours: 4, threshold: 3, vector_len: 256, round_id: 2 };
    let mut dropped = vec![false; 8];
    dropped[3] = true;
    let target = 0;
    let mut histograms = [[0u64; 16]; 2];
    for (world, input_word) in [0u32, 0x4000_0000].into_iter().enumerate() {
        for trial in 0..100u32 {
            let mut inputs = random_inputs(8, 256, trial as u8);
            inputs[target] = vec![input_word; 256];
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&trial.to_le_bytes());
            seed[4] = world as u8;
            let outcome = simulate_round(&config, &inputs, &dropped, seed).unwrap();
            let aggregator = Aggregator::new(config, outcome.graph.clone());
            let recovered = aggregator.recover_secrets(&outcome.transcript).unwrap();
            let removable = aggregator.removable_mask(&outcome.transcript, &recovered, target);
            let masked = &outcome.transcript.masked_inputs.iter().find(|m| m.instance == target).unwrap().masked;
            for (y, known) in masked.iter().zip(&removable) {
                histograms[world][(y.wrapping_sub(*known) >> 28) as usize] += 1;
            }
        }
    }
    for (world, histogram) in histograms.iter().enumerate() {
        let statistic = chi_square_uniform(histogram);
        assert!(statistic < 60.0, "world {world}: chi-square {statistic}, bins {histogram:?}");
    }
    let totals: Vec<u64> = (0..16).map(|bin| histograms[0][bin] + histograms[1][bin]).collect();
    let n = [histograms[0].iter().sum::<u64>() as f64, histograms[1].iter().sum::<u64>() as f64];
    let grand = n[0] + n[1];
    let homogeneity: f64 = (0..2)
        .flat_map(|world| (0..16).map(move |bin| (world, bin)))
        .map(|(world, bin)| {
            let expected = n[world] * totals[bin] as f64 / grand;
            (histograms[world][bin] as f64 - expected).powi(2) / expected
        })
        .sum();
    assert!(homogeneity < 60.0, "homogeneity chi-square {homogeneity}");
}
