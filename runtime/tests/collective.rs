//! The CCF and the instance's signal on synthetic changes: the mean of what arrived becomes the
//! next version and every instance catches up to it; a signal for another base model or round,
//! a replayed or tampered frame is refused and changes nothing; the median keeps a planted ×100
//! or random instance from moving the update; error feedback loses nothing over rounds; the
//! privacy accountant stops an instance at its budget. Seeded (DFMA_SEED reproduces).

use dfma_protocol::identity::Identity;
use dfma_reference::seed::{rng_for, seed_from_env};
use dfma_runtime::federated::aggregate::Aggregation;
use dfma_runtime::federated::ccf::{Ccf, CcfConfig};
use dfma_runtime::federated::codec::Codec;
use dfma_runtime::federated::error::{FederatedError, Rejected};
use dfma_runtime::federated::privacy::PrivacyConfig;
use dfma_runtime::federated::sender::{Sealed, SignalRound, SignalSender, SignalSpec, SignalStats};
use dfma_runtime::federated::step::ServerStep;
use rand::Rng;

const N: usize = 1000;
const BASE: [u8; 32] = [7; 32];
const NOW: u64 = 1_700_000_000_000;

fn seed() -> u64 {
    let s = seed_from_env().unwrap();
    println!("seed {s} (DFMA_SEED={s} reproduces)");
    s
}

/// A CCF for `base` with its key from `secret`, whose round 1 sketches under seed 5.
fn ccf_of(base: [u8; 32], secret: u8, codec: Codec, aggregation: Aggregation) -> Ccf {
    let config = CcfConfig {
        base_model_hash: base,
        shapes: vec![],
        initial: vec![0.0; N],
        codec,
        aggregation,
        secure_aggregation: false,
        step: ServerStep::Sum,
        sketch_seed_base: 5 ^ 1 << 8,
    };
    Ccf::new(config, Identity::from_secret_bytes([secret; 32])).unwrap()
}

fn ccf(codec: Codec, aggregation: Aggregation) -> Ccf {
    ccf_of(BASE, 1, codec, aggregation)
}

fn sender_of(ccf: &Ccf, base: [u8; 32], i: u8, codec: Codec, privacy: PrivacyConfig) -> SignalSender {
    let spec = SignalSpec { base_model_hash: base, shapes: vec![], len: N, codec };
    SignalSender::new(Identity::from_secret_bytes([10 + i; 32]), ccf.public_key(), spec, Some(privacy), [i; 32])
        .unwrap()
}

/// A sender clipping to `clip`, with noise × `noise` against an ε budget of `epsilon`.
fn sender(ccf: &Ccf, i: u8, codec: Codec, clip: f64, noise: f64, epsilon: f64) -> SignalSender {
    let privacy = PrivacyConfig { clip_norm: clip, noise_multiplier: noise, epsilon_budget: epsilon, delta: 1e-5 };
    sender_of(ccf, BASE, i, codec, privacy)
}

fn signal(
    s: &mut SignalSender,
    round: u64,
    change: &[f32],
    seed: u64,
) -> Result<(Vec<u8>, SignalStats, Vec<f32>), FederatedError> {
    let Sealed { frame, stats, shared } = s.signal(round, change, seed, NOW + 1000)?;
    Ok((frame, stats, shared))
}

fn joined(ccf: &mut Ccf, s: &mut SignalSender) {
    ccf.receive(&s.join([0; 32], 1, NOW + 1000).unwrap(), NOW).unwrap();
}

fn change(rng: &mut impl Rng, scale: f32) -> Vec<f32> {
    (0..N).map(|_| rng.random_range(-scale..scale)).collect()
}

#[test]
fn what_arrived_is_summed_into_the_next_version_and_instances_catch_up() {
    let mut rng = rng_for(seed(), 1);
    let mut c = ccf(Codec::None, Aggregation::Mean);
    let mut senders: Vec<SignalSender> = (0..3).map(|i| sender(&c, i, Codec::None, 1e9, 0.0, 0.0)).collect();
    let changes: Vec<Vec<f32>> = (0..3).map(|_| change(&mut rng, 0.1)).collect();
    for (s, ch) in senders.iter_mut().zip(&changes) {
        joined(&mut c, s);
        let (frame, stats, shared) = signal(s, 1, ch, 5).unwrap();
        assert_eq!(&shared, ch);
        assert!(stats.frame_bytes > 4 * N && !stats.clipped);
        c.receive(&frame, NOW).unwrap();
    }
    assert_eq!(c.close_round(None).unwrap().aggregated, 3);
    assert_eq!((c.version(), c.round()), (1, 2));
    // The collective accumulates the sum of the changes (3 × their mean).
    for (k, v) in c.params().iter().enumerate() {
        let want = changes.iter().map(|ch| ch[k]).sum::<f32>();
        assert!((v - want).abs() < 1e-5, "coordinate {k}: {v} vs {want}");
    }
    // An instance at version 0 (a late joiner) gets everything in one update.
    let frame = c.update_from(0, NOW + 1000).unwrap();
    let (version, delta) = senders[0].open_update(&frame, NOW).unwrap();
    assert_eq!((version, delta.as_slice()), (1, c.params()));
    // A round nobody sent to keeps the version.
    assert_eq!(c.close_round(None).unwrap().aggregated, 0);
    assert_eq!(c.version(), 1);
}

#[test]
fn refused_signals_change_nothing() {
    let mut rng = rng_for(seed(), 2);
    let mut c = ccf(Codec::Sign, Aggregation::Mean);
    let mut s = sender(&c, 0, Codec::Sign, 1.0, 0.0, 0.0);
    joined(&mut c, &mut s);
    // Another base model.
    let other = ccf_of([9; 32], 1, Codec::Sign, Aggregation::Mean);
    let no_noise = PrivacyConfig { clip_norm: 1.0, noise_multiplier: 0.0, epsilon_budget: 0.0, delta: 1e-5 };
    let mut stranger = sender_of(&other, [9; 32], 32, Codec::None, no_noise);
    joined(&mut c, &mut stranger);
    let (frame, _, _) = signal(&mut stranger, 1, &change(&mut rng, 0.1), 5).unwrap();
    let e = c.receive(&frame, NOW).unwrap_err();
    assert!(matches!(e, Rejected::WrongBaseModel { .. }), "{e}");
    assert!(e.to_string().contains("signal for base model 0909"), "{e}");
    // Another round.
    let (frame, _, _) = signal(&mut s, 7, &change(&mut rng, 0.1), 5).unwrap();
    let e = c.receive(&frame, NOW).unwrap_err();
    assert_eq!(e.to_string(), "signal for round 7, the open round is 1");
    // A signal of another length.
    let mut long = sender(&c, 3, Codec::None, 1.0, 0.0, 0.0);
    joined(&mut c, &mut long);
    let (frame, _, _) = signal(&mut long, 1, &vec![0.1; N + 1], 5).unwrap();
    assert!(matches!(c.receive(&frame, NOW).unwrap_err(), Rejected::Payload(_)));
    // The right length under another codec than the CCF's.
    let (frame, _, _) = signal(&mut long, 1, &vec![0.1; N], 5).unwrap();
    let e = c.receive(&frame, NOW).unwrap_err();
    assert!(e.to_string().contains("the CCF expects sign"), "{e}");
    // A tampered frame, then the genuine one twice (the second is a replay).
    let (frame, _, _) = signal(&mut s, 1, &change(&mut rng, 0.1), 5).unwrap();
    let mut tampered = frame.clone();
    let last = tampered.len() - 5;
    tampered[last] ^= 1;
    assert!(matches!(c.receive(&tampered, NOW).unwrap_err(), Rejected::Protocol(_)));
    c.receive(&frame, NOW).unwrap();
    assert!(matches!(c.receive(&frame, NOW).unwrap_err(), Rejected::Protocol(_)));
    // Only the one genuine signal counts.
    assert_eq!(c.close_round(None).unwrap().aggregated, 1);
    // A CCF update from anyone but the CCF is refused by the instance.
    let mut impostor = ccf_of(BASE, 66, Codec::Sign, Aggregation::Mean);
    let e = s.open_update(&impostor.update_from(0, NOW + 1000).unwrap(), NOW).unwrap_err();
    assert!(matches!(e, Rejected::Protocol(_)), "{e}");
}

fn aggregate_with_a_bad_instance(aggregation: Aggregation, bad: impl Fn(&[f32]) -> Vec<f32>, seed: u64) -> f64 {
    let mut rng = rng_for(seed, 3);
    let common = change(&mut rng, 0.1);
    let mut c = ccf(Codec::None, aggregation);
    let mut honest_mean = vec![0f32; N];
    for i in 0..5u8 {
        let mut s = sender(&c, i, Codec::None, 1e9, 0.0, 0.0);
        joined(&mut c, &mut s);
        let mine: Vec<f32> = common.iter().map(|v| v + rng.random_range(-0.01..0.01)).collect();
        let sent = if i == 4 { bad(&mine) } else { mine.clone() };
        if i < 4 {
            honest_mean.iter_mut().zip(&mine).for_each(|(m, v)| *m += v / 4.0);
        }
        c.receive(&signal(&mut s, 1, &sent, 5).unwrap().0, NOW).unwrap();
    }
    c.close_round(None).unwrap();
    // The collective took 5 × the aggregate; the honest instances' mean is what it should be.
    let err: f64 = c.params().iter().zip(&honest_mean).map(|(a, b)| f64::from(a / 5.0 - b).powi(2)).sum();
    (err / honest_mean.iter().map(|b| f64::from(*b).powi(2)).sum::<f64>()).sqrt()
}

#[test]
fn the_median_and_trimmed_mean_hold_against_a_planted_bad_instance() {
    let s = seed();
    let scaled = |v: &[f32]| v.iter().map(|x| x * 100.0).collect::<Vec<_>>();
    let random = |v: &[f32]| {
        let mut rng = rng_for(s, 9);
        v.iter().map(|_| rng.random_range(-10.0f32..10.0)).collect::<Vec<_>>()
    };
    for (name, agg) in
        [("median", Aggregation::Median), ("trimmed mean", Aggregation::TrimmedMean { trim_fraction: 0.2 })]
    {
        for (what, f) in [("x100", &scaled as &dyn Fn(&[f32]) -> Vec<f32>), ("random", &random)] {
            let robust = aggregate_with_a_bad_instance(agg, f, s);
            let mean = aggregate_with_a_bad_instance(Aggregation::Mean, f, s);
            println!("{name} vs {what}: relative error {robust:.3} (the mean: {mean:.1})");
            assert!(robust < 0.1 && mean > 5.0, "{name} vs {what}: {robust} (mean {mean})");
        }
    }
}

/// The collective after one round of four honest sign-compressed signals and, with `bad`, a
/// fifth that skipped the clip (`tamper` applied after it); and how many signals it stands for.
/// What a bad instance does to its clipped change.
type Tamper<'a> = &'a dyn Fn(&mut [f32]);

fn sign_round(seed: u64, aggregation: Aggregation, bad: Option<Tamper<'_>>) -> (Vec<f32>, usize) {
    let mut rng = rng_for(seed, 6);
    let mut c = ccf(Codec::Sign, aggregation);
    for i in 0..5u8 {
        let mut s = sender(&c, i, Codec::Sign, 5.0, 0.0, 0.0);
        joined(&mut c, &mut s);
        // Honest changes of different sizes around the clip.
        let mine = change(&mut rng, 0.05 + 0.04 * f32::from(i));
        match (i, bad) {
            (4, None) => {}
            (4, Some(tamper)) => {
                c.receive(
                    &s.signal_tampered(1, &mine, SignalRound { seed: 5, expires_ms: NOW + 1000, secure: None }, tamper)
                        .unwrap()
                        .frame,
                    NOW,
                )
                .unwrap();
            }
            _ => {
                c.receive(&signal(&mut s, 1, &mine, 5).unwrap().0, NOW).unwrap();
            }
        }
    }
    let used = c.close_round(None).unwrap().aggregated;
    (c.params().to_vec(), used)
}

#[test]
fn the_norm_filter_removes_a_bad_instance_whole() {
    let s = seed();
    let filter = Aggregation::NormFilter { factor: 3.0 };
    let (without, used) = sign_round(s, filter, None);
    assert_eq!(used, 4);
    let scaled = |x: &mut [f32]| x.iter_mut().for_each(|v| *v *= 100.0);
    let random = |x: &mut [f32]| {
        let mut rng = rng_for(s, 7);
        x.iter_mut().for_each(|v| *v = rng.random_range(-10.0f32..10.0));
    };
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    for (what, tamper) in [("x100", &scaled as Tamper<'_>), ("random", &random)] {
        let (with, used) = sign_round(s, filter, Some(tamper));
        // Bit for bit the collective of the honest four alone.
        assert_eq!(used, 4, "{what}");
        assert!(with.iter().zip(&without).all(|(a, b)| a.to_bits() == b.to_bits()), "{what}");
        // The mean under the same attack is far off.
        let (mean, used) = sign_round(s, Aggregation::Mean, Some(tamper));
        let (honest, _) = sign_round(s, Aggregation::Mean, None);
        assert_eq!(honest, without);
        println!("{what}: the mean's collective has norm {:.1}, the honest one {:.1}", norm(&mean), norm(&honest));
        assert!(used == 5 && norm(&mean) > 10.0 * norm(&honest), "{what}");
    }
}

#[test]
fn error_feedback_loses_nothing_over_rounds() {
    let mut rng = rng_for(seed(), 4);
    let mut c = ccf(Codec::Sign, Aggregation::Mean);
    let mut s = sender(&c, 0, Codec::Sign, 1e9, 0.0, 0.0);
    joined(&mut c, &mut s);
    let mut total = vec![0f32; N];
    let rounds = 30;
    for r in 1..=rounds {
        let ch = change(&mut rng, 0.1);
        total.iter_mut().zip(&ch).for_each(|(t, v)| *t += v);
        c.receive(&signal(&mut s, r, &ch, r).unwrap().0, NOW).unwrap();
        c.close_round(None).unwrap();
    }
    let err: f64 = c.params().iter().zip(&total).map(|(a, b)| f64::from(a - b).powi(2)).sum();
    let rel = (err / total.iter().map(|b| f64::from(*b).powi(2)).sum::<f64>()).sqrt();
    println!("sign + error feedback after {rounds} rounds: relative error of the sum {rel:.3}");
    // One round's sign code alone is off by about 0.6 of the change; what error feedback
    // carries over keeps the sum's error at the size of one round's residual.
    assert!(rel < 0.25, "{rel}");
}

#[test]
fn the_accountant_stops_an_instance_at_its_budget() {
    let mut rng = rng_for(seed(), 5);
    let c = ccf(Codec::None, Aggregation::Mean);
    let mut s = sender(&c, 0, Codec::None, 1.0, 1.0, 20.0);
    let mut sent = 0;
    let err = loop {
        match signal(&mut s, sent + 1, &change(&mut rng, 0.1), 5) {
            Ok((_, stats, _)) => {
                assert!(stats.epsilon.is_finite() && stats.epsilon <= 20.0);
                sent += 1;
            }
            Err(e) => break e,
        }
        assert!(sent < 100, "never stopped");
    };
    println!("stopped after {sent} signals: {err}");
    // The refused round spent nothing: the next is refused the same way.
    let spent = s.epsilon_spent();
    assert!(spent.is_finite() && spent <= 20.0, "{spent}");
    assert!(signal(&mut s, sent + 1, &change(&mut rng, 0.1), 5).is_err());
    assert_eq!(s.epsilon_spent(), spent);
    assert!(sent >= 1 && matches!(err, FederatedError::Dp(_)), "{err}");
}
