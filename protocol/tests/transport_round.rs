//! A simulated round over the in-process transport: instances clip and noise their signals,
//! spend their privacy budgets, seal Signal envelopes and send them; the CCF's receiver accepts
//! every one, and a lossy link's duplicates are refused as replays while its losses are simply
//! missing.

use std::thread;
use std::time::Duration;

use dfma_protocol::dp::budget::PrivacyBudget;
use dfma_protocol::dp::noise::{GaussianNoise, privatize};
use dfma_protocol::dp::{DpError, DpParameters};
use dfma_protocol::envelope::Sealer;
use dfma_protocol::error::RejectionKind;
use dfma_protocol::identity::Identity;
use dfma_protocol::messages::{
    AdapterShape, CcfUpdate, Compression, CompressionMethod, Join, Message, MessageKind, Signal,
};
use dfma_protocol::payload::TensorPayload;
use dfma_protocol::receiver::{Receiver, ReceiverPolicy};
use dfma_protocol::transport::faults::{FaultPlan, Faulty};
use dfma_protocol::transport::in_process::in_process;
use dfma_protocol::transport::{Ccf, Transport, TransportError};

const NOW_MS: u64 = 1_700_000_000_000;
const EXPIRES_MS: u64 = NOW_MS + 60_000;
const ROUND: u64 = 3;
const SIGNAL_LEN: usize = 256;
const WAIT: Duration = Duration::from_secs(10);
const DP: DpParameters = DpParameters { clip_norm: 1.0, noise_multiplier: 1.0, sampling_rate: 0.01 };

fn instance_identity(index: usize) -> Identity {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&(index as u64 + 1000).to_le_bytes());
    Identity::from_secret_bytes(secret)
}

fn join_message(index: usize) -> Message {
    Message::Join(Join { agreement_public_key: vec![index as u8; 32], capabilities: None, client_name: "sim".into() })
}

/// Instance `index`'s privatized signal for the round, after spending its budget.
fn signal_message(index: usize, budget: &mut PrivacyBudget) -> Result<Message, DpError> {
    budget.spend(DP.sampling_rate, DP.noise_multiplier)?;
    let mut values: Vec<f32> = (0..SIGNAL_LEN).map(|i| ((i * 31 + index * 7) % 17) as f32 - 8.0).collect();
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(index as u64).to_le_bytes());
    privatize(&mut values, &DP, &mut GaussianNoise::from_seed(seed))?;
    Ok(Message::Signal(Signal {
        base_model_hash: vec![0xab; 32],
        adapter_shapes: vec![AdapterShape { name: "blk.0.attn_q".into(), rows: 16, cols: 16, rank: 8 }],
        compression: Some(Compression { method: CompressionMethod::None as i32, seed: 0, parameters: vec![] }),
        privacy: Some(DP.to_wire()),
        payload: Some(TensorPayload::from_f32(&values)),
    }))
}

#[test]
fn a_round_of_signals_through_the_in_process_transport_is_accepted_and_answered() {
    let instances = 40;
    let (mut ccf, connector) = in_process(8);
    let ccf_identity = Identity::from_secret_bytes([1; 32]);
    let ccf_key = ccf_identity.public_key();
    let mut handles = Vec::new();
    for index in 0..instances {
        let mut link = connector.connect();
        handles.push(thread::spawn(move || {
            let mut sealer = Sealer::new(instance_identity(index));
            let mut budget = PrivacyBudget::new(8.0, 1e-5).unwrap();
            link.send(Ccf, sealer.seal(ROUND, EXPIRES_MS, &join_message(index)).unwrap()).unwrap();
            let signal = signal_message(index, &mut budget).unwrap();
            link.send(Ccf, sealer.seal(ROUND, EXPIRES_MS, &signal).unwrap()).unwrap();
            // The CCF's update comes back through the same link and passes the instance's receiver.
            let mut receiver = Receiver::new(ReceiverPolicy::for_instance(ccf_key));
            let incoming = link.recv_timeout(WAIT).unwrap().expect("a CCF update within the wait");
            let accepted = receiver.receive(&incoming.frame, NOW_MS).unwrap();
            assert_eq!(accepted.header.kind, MessageKind::CcfUpdate);
            budget.spent_epsilon()
        }));
    }
    drop(connector);
    let mut receiver = Receiver::new(ReceiverPolicy::for_ccf());
    let mut sum = vec![0.0f64; SIGNAL_LEN];
    let mut signals = 0;
    let mut peers = Vec::new();
    while signals < instances {
        let incoming = ccf.recv_timeout(WAIT).unwrap().expect("every instance's frames within the wait");
        let accepted = receiver.receive(&incoming.frame, NOW_MS).unwrap();
        assert_eq!(accepted.header.round_id, ROUND);
        if let Message::Signal(signal) = accepted.message {
            let values = signal.payload.unwrap().to_f32().unwrap();
            assert_eq!(signal.privacy.unwrap().noise_multiplier, 1.0);
            for (total, value) in sum.iter_mut().zip(values) {
                *total += f64::from(value);
            }
            signals += 1;
            peers.push(incoming.from);
        }
    }
    assert_eq!(receiver.accepted(), 2 * instances as u64);
    assert_eq!(receiver.known_senders(), instances);
    assert_eq!(receiver.rejections().total(), 0);
    // Each clipped signal has norm ≤ 1 and noise of σ·C = 1 per element: the mean's norm is
    // bounded by 1 plus the noise's (about sqrt(256 / 40) ≈ 2.5).
    let mean_norm = sum.iter().map(|v| (v / instances as f64).powi(2)).sum::<f64>().sqrt();
    assert!(mean_norm < 1.0 + 4.0, "{mean_norm}");
    let mut ccf_sealer = Sealer::new(ccf_identity);
    let update = Message::CcfUpdate(CcfUpdate {
        ccf_version: 1,
        base_model_hash: vec![0xab; 32],
        adapter_shapes: vec![],
        delta: Some(TensorPayload::from_f32(&sum.iter().map(|&v| v as f32).collect::<Vec<_>>())),
        contributors: instances as u32,
    });
    let frame = ccf_sealer.seal(ROUND, EXPIRES_MS, &update).unwrap();
    for peer in peers {
        ccf.send(peer, frame.clone()).unwrap();
    }
    for handle in handles {
        let spent = handle.join().unwrap();
        assert!(spent > 0.0 && spent < 8.0, "{spent}");
    }
    assert_eq!(ccf.recv_timeout(WAIT), Err(TransportError::Closed));
}

#[test]
fn duplicated_frames_are_refused_as_replays_and_dropped_frames_are_simply_missing() {
    let instances = 60;
    let (mut ccf, connector) = in_process(4 * instances);
    let mut expected_accepted = 0u64;
    let mut expected_replays = 0u64;
    let mut dropped_signals = 0u64;
    for index in 0..instances {
        let plan = FaultPlan { drop_probability: 0.15, duplicate_probability: 0.2, seed: index as u64 };
        let mut link = Faulty::new(connector.connect(), plan);
        let mut sealer = Sealer::new(instance_identity(index));
        let mut budget = PrivacyBudget::new(8.0, 1e-5).unwrap();
        // The join is sent until it is through, as a client retrying on a missing
        // acknowledgement would: a lost join would make every later frame unauthorized.
        let join = sealer.seal(ROUND, EXPIRES_MS, &join_message(index)).unwrap();
        loop {
            let before = link.counts();
            link.send(Ccf, join.clone()).unwrap();
            let after = link.counts();
            if after.dropped == before.dropped {
                expected_accepted += 1;
                expected_replays += after.duplicated - before.duplicated;
                break;
            }
        }
        let signal = signal_message(index, &mut budget).unwrap();
        let before = link.counts();
        link.send(Ccf, sealer.seal(ROUND, EXPIRES_MS, &signal).unwrap()).unwrap();
        let after = link.counts();
        if after.dropped > before.dropped {
            dropped_signals += 1;
        } else {
            expected_accepted += 1;
            expected_replays += after.duplicated - before.duplicated;
        }
    }
    drop(connector);
    let mut receiver = Receiver::new(ReceiverPolicy::for_ccf());
    let mut signals = 0u64;
    loop {
        match ccf.recv_timeout(WAIT) {
            Ok(Some(incoming)) => {
                if let Ok(accepted) = receiver.receive(&incoming.frame, NOW_MS) {
                    signals += u64::from(accepted.header.kind == MessageKind::Signal);
                }
            }
            Ok(None) => panic!("the transport neither delivered nor closed within the wait"),
            Err(TransportError::Closed) => break,
            Err(error) => panic!("{error}"),
        }
    }
    eprintln!(
        "{} accepted, {} replays refused, {dropped_signals} signals lost of {instances}",
        receiver.accepted(),
        receiver.rejections().get(RejectionKind::Replayed)
    );
    assert!(dropped_signals > 0 && expected_replays > 0, "the plan must both drop and duplicate");
    assert_eq!(receiver.accepted(), expected_accepted);
    assert_eq!(signals, instances as u64 - dropped_signals);
    assert_eq!(receiver.rejections().get(RejectionKind::Replayed), expected_replays);
    assert_eq!(receiver.rejections().total(), expected_replays);
}

#[test]
fn an_instance_past_its_budget_sends_no_signal() {
    let mut budget = PrivacyBudget::new(0.5, 1e-5).unwrap();
    let error = signal_message(0, &mut budget).unwrap_err();
    assert!(matches!(error, DpError::BudgetExceeded { .. }), "{error}");
    assert_eq!(budget.rounds(), 0);
}
