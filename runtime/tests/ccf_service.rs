//! The CCF's round schedule (`federated::service`) on synthetic signals, frame by frame: a
//! round closes only when every member taking part has reported past it (a late member's round
//! waits for it; a member that dropped out reports with its next heartbeat), or at its deadline,
//! after which a straggler's signal is refused and changes nothing; heartbeats are answered when
//! their round opens, with the update from the version they hold; the collective adapter does
//! not depend on the order signals arrive in. Seeded (DFMA_SEED reproduces).

use dfma_protocol::identity::Identity;
use dfma_reference::seed::{rng_for, seed_from_env};
use dfma_runtime::federated::aggregate::Aggregation;
use dfma_runtime::federated::ccf::{Ccf, CcfConfig};
use dfma_runtime::federated::codec::Codec;
use dfma_runtime::federated::privacy::PrivacyConfig;
use dfma_runtime::federated::sender::{SignalSender, SignalSpec};
use dfma_runtime::federated::service::CcfService;
use dfma_runtime::federated::step::ServerStep;
use rand::Rng;

const N: usize = 300;
const BASE: [u8; 32] = [7; 32];
const NOW: u64 = 1_700_000_000_000;
const TIMEOUT_MS: u64 = 10_000;

fn seed() -> u64 {
    let s = seed_from_env().unwrap();
    println!("seed {s} (DFMA_SEED={s} reproduces)");
    s
}

fn service(expected: usize) -> CcfService<usize> {
    let config = CcfConfig {
        base_model_hash: BASE,
        shapes: vec![],
        initial: vec![0.0; N],
        codec: Codec::None,
        aggregation: Aggregation::Mean,
        secure_aggregation: false,
        step: ServerStep::Sum,
        // Round 1 sketches under seed 1.
        sketch_seed_base: 1 ^ 1 << 8,
    };
    let ccf = Ccf::new(config, Identity::from_secret_bytes([1; 32])).unwrap();
    CcfService::new(ccf, expected, TIMEOUT_MS, NOW).unwrap()
}

fn senders(s: &CcfService<usize>, count: u8) -> Vec<SignalSender> {
    let privacy = PrivacyConfig { clip_norm: 1e9, noise_multiplier: 0.0, epsilon_budget: 0.0, delta: 1e-5 };
    (0..count)
        .map(|i| {
            let id = Identity::from_secret_bytes([10 + i; 32]);
            let spec = SignalSpec { base_model_hash: BASE, shapes: vec![], len: N, codec: Codec::None };
            SignalSender::new(id, s.ccf().public_key(), spec, Some(privacy), [i; 32]).unwrap()
        })
        .collect()
}

fn change(rng: &mut impl Rng) -> Vec<f32> {
    (0..N).map(|_| rng.random_range(-0.5f32..0.5)).collect()
}

/// Feeds one frame and checks it was taken.
fn take(s: &mut CcfService<usize>, peer: usize, frame: &[u8], now: u64) -> Vec<(usize, Vec<u8>)> {
    let (out, refusal) = s.handle(peer, frame, now);
    assert!(refusal.is_none(), "{refusal:?}");
    out
}

#[test]
fn a_round_waits_for_every_member_and_a_late_one_and_answers_when_it_opens() {
    let mut rng = rng_for(seed(), 1);
    let mut s = service(3);
    let mut inst = senders(&s, 3);
    // Instances 0 and 1 take part from round 1, instance 2 from round 2.
    for (i, from) in [(0, 1), (1, 1), (2, 2)] {
        let join = inst[i].join([0; 32], from, NOW + 60_000).unwrap();
        assert!(take(&mut s, i, &join, NOW).is_empty());
    }
    // Round 1 is open: a heartbeat for it is answered at once (version 0).
    let beat = inst[0].heartbeat(1, 0, NOW, NOW + 60_000).unwrap();
    let out = take(&mut s, 0, &beat, NOW);
    assert_eq!(out.len(), 1);
    assert_eq!(inst[0].open_update(&out[0].1, NOW).unwrap().0, 0);
    // Instance 0 signals and reports; the round waits for instance 1, not for instance 2.
    let sig = inst[0].signal(1, &change(&mut rng), 1, NOW + 60_000).unwrap().frame;
    assert!(take(&mut s, 0, &sig, NOW).is_empty());
    let beat = inst[0].heartbeat(2, 0, NOW, NOW + 60_000).unwrap();
    assert!(take(&mut s, 0, &beat, NOW).is_empty(), "round 1 still waits for instance 1");
    // Instance 2, joining in round 2, asks early: no answer until round 2 opens.
    let early = inst[2].heartbeat(2, 0, NOW, NOW + 60_000).unwrap();
    assert!(take(&mut s, 2, &early, NOW).is_empty());
    // Asking again replaces the first request: one answer per member, however often it asks.
    let again = inst[2].heartbeat(2, 0, NOW, NOW + 60_000).unwrap();
    assert!(take(&mut s, 2, &again, NOW).is_empty());
    assert!(s.closed().is_empty());
    // Instance 1 dropped out mid-round: no signal, only its next heartbeat. Round 1 closes with
    // one signal and both waiting heartbeats (0 and 2) and 1's are answered with version 1.
    let beat = inst[1].heartbeat(2, 0, NOW, NOW + 60_000).unwrap();
    let mut out = take(&mut s, 1, &beat, NOW + 5);
    out.sort_by_key(|(peer, _)| *peer);
    assert_eq!(out.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![0, 1, 2]);
    for (peer, frame) in &out {
        let (version, delta) = inst[*peer].open_update(frame, NOW + 5).unwrap();
        assert_eq!((version, delta.len()), (1, N));
    }
    let closed = s.closed()[0];
    assert_eq!((closed.round, closed.signals_aggregated, closed.by_deadline), (1, 1, false));
    // Round 2 needs all three now.
    for (i, sender) in inst.iter_mut().enumerate().take(2) {
        let beat = sender.heartbeat(3, 1, NOW, NOW + 60_000).unwrap();
        assert!(take(&mut s, i, &beat, NOW + 10).is_empty());
    }
    assert_eq!(s.closed().len(), 1, "round 2 waits for the member that joined in it");
    let beat = inst[2].heartbeat(3, 1, NOW, NOW + 60_000).unwrap();
    assert_eq!(take(&mut s, 2, &beat, NOW + 20).len(), 3);
    assert_eq!(s.closed()[1].signals_aggregated, 0);
}

#[test]
fn a_silent_member_holds_a_round_only_until_its_deadline_and_its_late_signal_changes_nothing() {
    let mut rng = rng_for(seed(), 2);
    let mut s = service(2);
    let mut inst = senders(&s, 2);
    for (i, sender) in inst.iter_mut().enumerate() {
        let join = sender.join([0; 32], 1, NOW + 60_000).unwrap();
        take(&mut s, i, &join, NOW);
    }
    let sig = inst[0].signal(1, &change(&mut rng), 1, NOW + 60_000).unwrap().frame;
    take(&mut s, 0, &sig, NOW);
    let beat = inst[0].heartbeat(2, 0, NOW, NOW + 60_000).unwrap();
    assert!(take(&mut s, 0, &beat, NOW).is_empty());
    assert!(s.tick(NOW + TIMEOUT_MS - 1).is_empty(), "before the deadline nothing closes");
    let out = s.tick(NOW + TIMEOUT_MS);
    assert_eq!(out.len(), 1, "the waiting heartbeat is answered when the deadline closes the round");
    assert!(s.closed()[0].by_deadline);
    let collective = s.ccf().params().to_vec();
    // Instance 1 comes back with a signal for the closed round: refused, nothing changes.
    let late = inst[1].signal(1, &change(&mut rng), 1, NOW + 60_000).unwrap().frame;
    let (_, refusal) = s.handle(1, &late, NOW + TIMEOUT_MS + 1);
    assert!(refusal.is_some_and(|e| e.to_string().contains("round 1, the open round is 2")));
    assert_eq!(s.refused(), 1);
    assert_eq!(s.ccf().params(), &collective[..]);
    assert_eq!(s.closed().len(), 1, "round 2 got its own full time");
}

#[test]
fn the_collective_adapter_does_not_depend_on_arrival_order() {
    let mut rng = rng_for(seed(), 3);
    let changes: Vec<Vec<f32>> = (0..5).map(|_| change(&mut rng)).collect();
    let run = |order: &[usize]| {
        let mut s = service(5);
        let mut inst = senders(&s, 5);
        let frames: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = inst
            .iter_mut()
            .zip(&changes)
            .map(|(sender, c)| {
                let join = sender.join([0; 32], 1, NOW + 60_000).unwrap();
                let sig = sender.signal(1, c, 1, NOW + 60_000).unwrap().frame;
                (join, sig, sender.heartbeat(2, 0, NOW, NOW + 60_000).unwrap())
            })
            .collect();
        for &i in order {
            take(&mut s, i, &frames[i].0, NOW);
        }
        for &i in order {
            take(&mut s, i, &frames[i].1, NOW);
            take(&mut s, i, &frames[i].2, NOW);
        }
        assert_eq!(s.closed()[0].signals_aggregated, 5);
        s.ccf().params().iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
    };
    let forward = run(&[0, 1, 2, 3, 4]);
    assert!(forward.iter().any(|&b| b != 0));
    assert_eq!(forward, run(&[4, 2, 0, 3, 1]), "bit for bit");
    assert_eq!(forward, run(&[3, 4, 1, 0, 2]), "bit for bit");
}

#[test]
fn a_heartbeat_claiming_a_future_version_or_from_a_stranger_is_refused() {
    let mut s = service(1);
    let mut inst = senders(&s, 2);
    let stranger = inst[1].heartbeat(1, 0, NOW, NOW + 60_000).unwrap();
    let (_, refusal) = s.handle(1, &stranger, NOW);
    assert!(refusal.is_some_and(|e| e.to_string().contains("not joined")));
    let join = inst[0].join([0; 32], 1, NOW + 60_000).unwrap();
    take(&mut s, 0, &join, NOW);
    let future = inst[0].heartbeat(1, 5, NOW, NOW + 60_000).unwrap();
    let (out, refusal) = s.handle(0, &future, NOW);
    assert!(out.is_empty());
    assert!(refusal.is_some_and(|e| e.to_string().contains("future version")));
    assert_eq!(s.refused(), 2);
    assert!(s.closed().is_empty());
}
