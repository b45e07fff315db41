//! Signals for another base model or round, or malformed, replayed or duplicated, are refused
//! with a typed error and change no state; the correct signal is then taken.

use dfma_protocol::identity::Identity;
use dfma_protocol::transport::ConnectionId;
use dfma_protocol::transport::in_process::in_process;
use dfma_runtime::federated::aggregate::Aggregation;
use dfma_runtime::federated::ccf::{Ccf, CcfConfig, Handled};
use dfma_runtime::federated::codec::Codec;
use dfma_runtime::federated::error::Rejected;
use dfma_runtime::federated::instance::{Behaviour, Instance, InstanceConfig, InstanceSetup};
use dfma_runtime::federated::learner::Learner;

use crate::synthetic::{make, seed, tasks};

const NOW: u64 = 1_700_000_000_000;
const SKETCH_SEED: u64 = 77;

#[test]
fn a_signal_for_another_base_model_or_round_is_refused_and_changes_no_state() {
    let seed = seed("rejection");
    let data = tasks(seed, 20, 10).swap_remove(0);
    let (ccf_link, connector) = in_process(16);
    let reference = make();
    let config = CcfConfig {
        base_model_hash: reference.base_model_hash(),
        shapes: reference.shapes(),
        initial: reference.params(),
        codec: Codec::None,
        aggregation: Aggregation::Mean,
        secure_aggregation: false,
        server_learning_rate: 1.0,
    };
    let mut ccf = Ccf::new(config, Identity::from_secret_bytes([1; 32]), ccf_link).unwrap();
    let setup = InstanceSetup {
        name: "a".into(),
        identity: Identity::from_secret_bytes([2; 32]),
        ccf_key: ccf.public_key(),
        link: connector.connect(),
        seed,
        behaviour: Behaviour::Honest,
    };
    let instance_config = InstanceConfig { local_epochs: 1, codec: Codec::None, privacy: None };
    let mut instance = Instance::new(make(), data.train, data.held_out, instance_config, setup).unwrap();
    ccf.open_round_with(1, SKETCH_SEED);
    instance.join(1, NOW).unwrap();
    assert_eq!(ccf.poll(NOW).unwrap(), vec![Ok(Handled::Joined)]);
    instance.train().unwrap();
    let good = instance.draft_signal(SKETCH_SEED);
    assert!(good.payload.as_ref().is_some_and(|p| p.data.iter().any(|&b| b != 0)), "the change is zero");

    let state = |ccf: &Ccf| (ccf.params().to_vec(), ccf.version(), ccf.signals_in_round(), ccf.frames_accepted());
    let before = state(&ccf);
    let from = ConnectionId(0);

    let mut other_model = good.clone();
    other_model.base_model_hash = vec![0xAB; 32];
    let frame = instance.seal_raw(1, NOW, other_model).unwrap();
    let refused = ccf.handle(from, &frame, NOW).unwrap().unwrap_err();
    println!("{refused}");
    assert!(matches!(refused, Rejected::WrongBaseModel { .. }), "{refused:?}");
    assert!(refused.to_string().starts_with("signal for base model abababab"), "{refused}");
    assert_eq!(state(&ccf), before);

    let frame = instance.seal_raw(2, NOW, good.clone()).unwrap();
    let refused = ccf.handle(from, &frame, NOW).unwrap().unwrap_err();
    assert_eq!(refused, Rejected::WrongRound { open: Some(1), got: 2 });
    assert_eq!(refused.to_string(), "signal for round 2, the open round is 1");
    assert_eq!(state(&ccf), before);

    let mut short = good.clone();
    short.payload = Some(dfma_protocol::payload::TensorPayload::from_f32(&[0.5; 3]));
    let frame = instance.seal_raw(1, NOW, short).unwrap();
    assert!(matches!(ccf.handle(from, &frame, NOW).unwrap(), Err(Rejected::Payload(_))));
    let mut other_codec = good.clone();
    other_codec.compression = Some(Codec::Quantize { bits: 4 }.description(reference.param_count(), SKETCH_SEED));
    let frame = instance.seal_raw(1, NOW, other_codec).unwrap();
    assert!(matches!(ccf.handle(from, &frame, NOW).unwrap(), Err(Rejected::Payload(_))));
    assert_eq!(state(&ccf), before);

    // The correct signal is still taken after the refusals (no counter was burnt).
    let frame = instance.seal_raw(1, NOW, good.clone()).unwrap();
    assert_eq!(ccf.handle(from, &frame, NOW).unwrap(), Ok(Handled::Signal));
    assert_eq!(ccf.signals_in_round(), 1);
    // Replayed, and a second signal in the same round: refused, nothing changes.
    let after = state(&ccf);
    assert!(matches!(ccf.handle(from, &frame, NOW).unwrap(), Err(Rejected::Protocol(_))));
    let second = instance.seal_raw(1, NOW, good).unwrap();
    assert_eq!(ccf.handle(from, &second, NOW).unwrap(), Err(Rejected::Duplicate { round: 1 }));
    assert_eq!(state(&ccf), after);

    let outcome = ccf.close_round(None).unwrap();
    assert_eq!((outcome.contributors, outcome.version), (1, 1));
    assert_ne!(ccf.params(), before.0.as_slice());
}
