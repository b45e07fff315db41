//! Signals for another base model or round, or malformed, replayed or duplicated, are refused
//! with a typed error and change no state; the correct signal is then taken.

use dfma_protocol::identity::Identity;
use dfma_protocol::transport::ConnectionId;
use dfma_protocol::transport::in_process::in_process;
use dfma_runtime::federated::aggregate::Aggregation;
use dfma_runtime::federated::ccf::{Ccf, CcfConfig, sketch_seed};
use dfma_runtime::federated::codec::Codec;
use dfma_runtime::federated::error::Rejected;
use dfma_runtime::federated::instance::{Behaviour, Instance, InstanceConfig, InstanceSetup};
use dfma_runtime::federated::learner::Learner;
use dfma_runtime::federated::link::{Handled, LinkedCcf};
use dfma_runtime::federated::step::ServerStep;

use crate::synthetic::{make, seed, tasks};

const NOW: u64 = 1_700_000_000_000;
const SKETCH_SEED_BASE: u64 = 77;

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
        step: ServerStep::Scaled(1.0),
        sketch_seed_base: SKETCH_SEED_BASE,
    };
    let ccf = Ccf::new(config, Identity::from_secret_bytes([1; 32])).unwrap();
    let mut ccf = LinkedCcf::new(ccf, ccf_link);
    let setup = InstanceSetup {
        name: "a".into(),
        identity: Identity::from_secret_bytes([2; 32]),
        ccf_key: ccf.ccf().public_key(),
        link: connector.connect(),
        seed,
        behaviour: Behaviour::Honest,
    };
    let instance_config = InstanceConfig { local_epochs: 1, codec: Codec::None, privacy: None };
    let mut instance = Instance::new(make(), data.train, data.held_out, instance_config, setup).unwrap();
    let round_seed = sketch_seed(SKETCH_SEED_BASE, 1);
    instance.join(1, NOW).unwrap();
    assert_eq!(ccf.poll(NOW).unwrap(), vec![Ok(Handled::Joined)]);
    instance.train().unwrap();
    let good = instance.draft_signal(round_seed);
    assert!(good.payload.as_ref().is_some_and(|p| p.data.iter().any(|&b| b != 0)), "the change is zero");

    let state = |ccf: &LinkedCcf| {
        let ccf: &Ccf = ccf.ccf();
        (ccf.params().to_vec(), ccf.version(), ccf.signals_in_round(), ccf.frames_accepted())
    };
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
    other_codec.compression = Some(Codec::Quantize { bits: 4 }.description(reference.param_count(), round_seed));
    let frame = instance.seal_raw(1, NOW, other_codec).unwrap();
    assert!(matches!(ccf.handle(from, &frame, NOW).unwrap(), Err(Rejected::Payload(_))));
    assert_eq!(state(&ccf), before);

    // The correct signal is still taken after the refusals (no counter was burnt).
    let frame = instance.seal_raw(1, NOW, good.clone()).unwrap();
    assert_eq!(ccf.handle(from, &frame, NOW).unwrap(), Ok(Handled::Signal));
    assert_eq!(ccf.ccf().signals_in_round(), 1);
    // Replayed, and a second signal in the same round: refused, nothing changes.
    let after = state(&ccf);
    assert!(matches!(ccf.handle(from, &frame, NOW).unwrap(), Err(Rejected::Protocol(_))));
    let second = instance.seal_raw(1, NOW, good).unwrap();
    assert_eq!(ccf.handle(from, &second, NOW).unwrap(), Err(Rejected::Duplicate { round: 1 }));
    assert_eq!(state(&ccf), after);

    let outcome = ccf.ccf_mut().close_round(None).unwrap();
    assert_eq!((outcome.aggregated, outcome.version), (1, 1));
    assert_ne!(ccf.ccf().params(), before.0.as_slice());
}
