//! Every way a frame can be refused, each with its typed error, its counter, and proof that
//! the receiver's state did not move.

use chacha20::ChaCha20Rng;
use dfma_protocol::envelope::{EnvelopeHeader, Sealer, encode_body, open, seal_body};
use dfma_protocol::error::{ProtocolError, RejectionKind};
use dfma_protocol::fuzz::sample_message;
use dfma_protocol::identity::Identity;
use dfma_protocol::limits::{MAX_ADAPTER_SHAPES, MAX_FRAME_BYTES, MAX_PAYLOAD_ELEMENTS};
use dfma_protocol::messages::{AdapterShape, Heartbeat, Message, MessageKind};
use dfma_protocol::payload::TensorPayload;
use dfma_protocol::receiver::{Receiver, ReceiverPolicy};
use prost::Message as _;
use rand_core::SeedableRng;

const NOW_MS: u64 = 1_700_000_000_000;
const EXPIRES_MS: u64 = NOW_MS + 60_000;

struct Setup {
    ccf: Sealer,
    instance: Sealer,
    receiver: Receiver,
    rng: ChaCha20Rng,
}

/// An instance-side receiver that has accepted one heartbeat (counter 1) from the CCF.
fn setup() -> Setup {
    let ccf = Sealer::new(Identity::from_secret_bytes([1; 32]));
    let instance = Sealer::new(Identity::from_secret_bytes([2; 32]));
    let receiver = Receiver::new(ReceiverPolicy::for_instance(ccf.public_key()));
    let mut setup = Setup { ccf, instance, receiver, rng: ChaCha20Rng::from_seed([9; 32]) };
    let heartbeat = Message::Heartbeat(Heartbeat { sent_at_unix_ms: NOW_MS, applied_ccf_version: 0 });
    let frame = setup.ccf.seal(1, EXPIRES_MS, &heartbeat).unwrap();
    setup.receiver.receive(&frame, NOW_MS).unwrap();
    setup
}

/// Asserts `frame` is refused with an error of `kind`, counted once, and that nothing else
/// about the receiver changed.
fn assert_rejected(setup: &mut Setup, frame: &[u8], kind: RejectionKind) -> ProtocolError {
    let ccf_key = setup.ccf.public_key();
    let before_counter = setup.receiver.last_accepted_counter(&ccf_key);
    let before_senders = setup.receiver.known_senders();
    let before_accepted = setup.receiver.accepted();
    let before_count = setup.receiver.rejections().get(kind);
    let error = setup.receiver.receive(frame, NOW_MS).unwrap_err();
    assert_eq!(error.kind(), kind, "{error}");
    assert_eq!(setup.receiver.rejections().get(kind), before_count + 1);
    assert_eq!(setup.receiver.last_accepted_counter(&ccf_key), before_counter);
    assert_eq!(setup.receiver.known_senders(), before_senders);
    assert_eq!(setup.receiver.accepted(), before_accepted);
    error
}

fn ccf_header(setup: &Setup, counter: u64, kind: MessageKind) -> EnvelopeHeader {
    EnvelopeHeader { sender_key: setup.ccf.public_key(), counter, round_id: 1, expires_at_unix_ms: EXPIRES_MS, kind }
}

#[test]
fn every_message_kind_round_trips_through_seal_and_receive() {
    let mut setup = setup();
    for kind in dfma_protocol::fuzz::ALL_KINDS {
        let message = sample_message(kind, &mut setup.rng);
        let frame = setup.ccf.seal(5, EXPIRES_MS, &message).unwrap();
        let accepted = setup.receiver.receive(&frame, NOW_MS).unwrap();
        assert_eq!(accepted.message, message);
        assert_eq!(accepted.header.round_id, 5);
        assert_eq!(accepted.header.kind, kind);
    }
    assert_eq!(setup.receiver.accepted(), 6);
    assert_eq!(setup.receiver.rejections().total(), 0);
}

#[test]
fn a_flipped_body_bit_is_forged() {
    let mut setup = setup();
    let message = sample_message(MessageKind::Signal, &mut setup.rng);
    let mut frame = setup.ccf.seal(1, EXPIRES_MS, &message).unwrap();
    let last = frame.len() - 70; // inside the body, before the signature field
    frame[last] ^= 0x01;
    assert_rejected(&mut setup, &frame, RejectionKind::Forged);
}

#[test]
fn a_signature_by_another_key_is_forged() {
    let mut setup = setup();
    let header = ccf_header(&setup, 2, MessageKind::Heartbeat);
    let body = encode_body(&Message::Heartbeat(Heartbeat::default()));
    let impostor = Identity::from_secret_bytes([66; 32]);
    let frame = seal_body(&impostor, &header, body);
    assert_eq!(assert_rejected(&mut setup, &frame, RejectionKind::Forged), ProtocolError::Forged);
}

#[test]
fn a_replayed_or_older_counter_is_refused() {
    let mut setup = setup();
    let heartbeat = Message::Heartbeat(Heartbeat::default());
    let frame = setup.ccf.seal(1, EXPIRES_MS, &heartbeat).unwrap();
    setup.receiver.receive(&frame, NOW_MS).unwrap();
    let error = assert_rejected(&mut setup, &frame, RejectionKind::Replayed);
    assert_eq!(error, ProtocolError::Replayed { counter: 2, last_accepted: 2 });
    let identity = Identity::from_secret_bytes([1; 32]);
    let older = seal_body(&identity, &ccf_header(&setup, 1, MessageKind::Heartbeat), encode_body(&heartbeat));
    assert_rejected(&mut setup, &older, RejectionKind::Replayed);
}

#[test]
fn an_expired_or_far_future_envelope_is_refused() {
    let mut setup = setup();
    let heartbeat = Message::Heartbeat(Heartbeat::default());
    let stale = setup.ccf.seal(1, NOW_MS - 1, &heartbeat).unwrap();
    assert_rejected(&mut setup, &stale, RejectionKind::Expired);
    let far = setup.ccf.seal(1, NOW_MS + 24 * 3600 * 1000, &heartbeat).unwrap();
    assert_rejected(&mut setup, &far, RejectionKind::Expired);
}

#[test]
fn an_oversized_frame_is_refused_before_parsing() {
    let mut setup = setup();
    let frame = vec![0u8; MAX_FRAME_BYTES + 1];
    assert_rejected(&mut setup, &frame, RejectionKind::Oversized);
}

#[test]
fn too_many_adapter_shapes_are_oversized_even_under_a_valid_signature() {
    let mut setup = setup();
    let Message::Signal(mut signal) = sample_message(MessageKind::Signal, &mut setup.rng) else { unreachable!() };
    signal.adapter_shapes = vec![AdapterShape::default(); MAX_ADAPTER_SHAPES + 1];
    let frame = seal_body(
        &Identity::from_secret_bytes([1; 32]),
        &ccf_header(&setup, 2, MessageKind::Signal),
        signal.encode_to_vec(),
    );
    assert_rejected(&mut setup, &frame, RejectionKind::Oversized);
}

#[test]
fn a_payload_declaring_more_elements_than_the_limit_is_oversized() {
    let mut setup = setup();
    let Message::Signal(mut signal) = sample_message(MessageKind::Signal, &mut setup.rng) else { unreachable!() };
    signal.payload = Some(TensorPayload { count: MAX_PAYLOAD_ELEMENTS + 1, ..TensorPayload::from_f32(&[1.0]) });
    let frame = seal_body(
        &Identity::from_secret_bytes([1; 32]),
        &ccf_header(&setup, 2, MessageKind::Signal),
        signal.encode_to_vec(),
    );
    assert_rejected(&mut setup, &frame, RejectionKind::Oversized);
}

#[test]
fn a_cut_frame_and_a_payload_shorter_than_its_count_are_truncated() {
    let mut setup = setup();
    let message = sample_message(MessageKind::Signal, &mut setup.rng);
    let frame = setup.ccf.seal(1, EXPIRES_MS, &message).unwrap();
    assert_rejected(&mut setup, &frame[..frame.len() / 2], RejectionKind::Truncated);

    let Message::Signal(mut signal) = message else { unreachable!() };
    signal.payload = Some(TensorPayload { count: 1000, ..TensorPayload::from_f32(&[1.0, 2.0]) });
    let frame = seal_body(
        &Identity::from_secret_bytes([1; 32]),
        &ccf_header(&setup, 3, MessageKind::Signal),
        signal.encode_to_vec(),
    );
    let error = assert_rejected(&mut setup, &frame, RejectionKind::Truncated);
    assert_eq!(error, ProtocolError::Truncated { what: "TensorPayload.data", needed: 4000, available: 8 });
}

#[test]
fn a_field_with_the_wrong_wire_type_is_mis_typed() {
    let mut setup = setup();
    // Heartbeat field 1 (a uint64) sent as length-delimited bytes.
    let body = vec![0x0a, 2, 0xaa, 0xbb];
    let frame = seal_body(&Identity::from_secret_bytes([1; 32]), &ccf_header(&setup, 2, MessageKind::Heartbeat), body);
    let error = assert_rejected(&mut setup, &frame, RejectionKind::MisTyped);
    assert_eq!(
        error,
        ProtocolError::MisTyped { message: "Heartbeat", field: "sent_at_unix_ms", expected: 0, actual: 2 }
    );
}

#[test]
fn reading_a_payload_as_the_wrong_element_type_is_mis_typed() {
    let payload = TensorPayload::from_u32(&[1, 2, 3]);
    assert!(matches!(payload.to_f32(), Err(ProtocolError::MisTyped { .. })));
    assert_eq!(payload.to_u32().unwrap(), vec![1, 2, 3]);
}

#[test]
fn another_protocol_version_is_unsupported() {
    let mut setup = setup();
    let heartbeat = Message::Heartbeat(Heartbeat::default());
    let frame = setup.ccf.seal(1, EXPIRES_MS, &heartbeat).unwrap();
    let mut envelope = dfma_protocol::envelope::Envelope::decode(frame.as_slice()).unwrap();
    envelope.protocol_version = 2;
    let error = assert_rejected(&mut setup, &envelope.encode_to_vec(), RejectionKind::UnsupportedVersion);
    assert_eq!(error, ProtocolError::UnsupportedVersion { got: 2, supported: 1 });
}

#[test]
fn an_unknown_message_kind_is_refused() {
    let mut setup = setup();
    let frame = setup.ccf.seal(1, EXPIRES_MS, &Message::Heartbeat(Heartbeat::default())).unwrap();
    let mut envelope = dfma_protocol::envelope::Envelope::decode(frame.as_slice()).unwrap();
    envelope.kind = 99;
    let error = assert_rejected(&mut setup, &envelope.encode_to_vec(), RejectionKind::UnknownMessageKind);
    assert_eq!(error, ProtocolError::UnknownMessageKind(99));
}

#[test]
fn a_ccf_update_from_an_instance_is_unauthorized() {
    let mut setup = setup();
    let update = sample_message(MessageKind::CcfUpdate, &mut setup.rng);
    let frame = setup.instance.seal(1, EXPIRES_MS, &update).unwrap();
    assert_rejected(&mut setup, &frame, RejectionKind::Unauthorized);
}

#[test]
fn a_ccf_refuses_signals_from_an_instance_that_has_not_joined() {
    let mut instance = Sealer::new(Identity::from_secret_bytes([3; 32]));
    let mut ccf = Receiver::new(ReceiverPolicy::for_ccf());
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let signal = instance.seal(1, EXPIRES_MS, &sample_message(MessageKind::Signal, &mut rng)).unwrap();
    let error = ccf.receive(&signal, NOW_MS).unwrap_err();
    assert_eq!(error.kind(), RejectionKind::Unauthorized);
    assert_eq!(ccf.known_senders(), 0);
    let join = instance.seal(1, EXPIRES_MS, &sample_message(MessageKind::Join, &mut rng)).unwrap();
    ccf.receive(&join, NOW_MS).unwrap();
    // The signal sealed before the join carries a lower counter: it is now a replay.
    assert_eq!(ccf.receive(&signal, NOW_MS).unwrap_err().kind(), RejectionKind::Replayed);
    let fresh = instance.seal(1, EXPIRES_MS, &sample_message(MessageKind::Signal, &mut rng)).unwrap();
    ccf.receive(&fresh, NOW_MS).unwrap();
    assert_eq!(ccf.last_accepted_counter(&instance.public_key()), Some(3));
}

#[test]
fn a_wrong_length_hash_is_malformed() {
    let mut setup = setup();
    let Message::Signal(mut signal) = sample_message(MessageKind::Signal, &mut setup.rng) else { unreachable!() };
    signal.base_model_hash.pop();
    let frame = seal_body(
        &Identity::from_secret_bytes([1; 32]),
        &ccf_header(&setup, 2, MessageKind::Signal),
        signal.encode_to_vec(),
    );
    assert_rejected(&mut setup, &frame, RejectionKind::Malformed);
    assert!(setup.ccf.seal(1, EXPIRES_MS, &Message::Signal(signal)).is_err());
}

#[test]
fn unknown_body_fields_are_ignored_but_still_signed() {
    let mut setup = setup();
    let mut body = encode_body(&Message::Heartbeat(Heartbeat { sent_at_unix_ms: 5, applied_ccf_version: 1 }));
    body.extend([0xf8, 0x01, 0x07]); // field 31, varint 7
    let frame = seal_body(&Identity::from_secret_bytes([1; 32]), &ccf_header(&setup, 2, MessageKind::Heartbeat), body);
    let accepted = setup.receiver.receive(&frame, NOW_MS).unwrap();
    assert_eq!(accepted.message, Message::Heartbeat(Heartbeat { sent_at_unix_ms: 5, applied_ccf_version: 1 }));
    // Stripping the unknown field afterwards breaks the signature.
    let mut envelope = dfma_protocol::envelope::Envelope::decode(frame.as_slice()).unwrap();
    envelope.body.truncate(envelope.body.len() - 3);
    envelope.counter = 3;
    assert_eq!(open(&envelope.encode_to_vec()), Err(ProtocolError::Forged));
}

#[test]
fn a_singular_field_sent_twice_is_malformed() {
    let mut setup = setup();
    let body = vec![0x08, 1, 0x08, 2];
    let frame = seal_body(&Identity::from_secret_bytes([1; 32]), &ccf_header(&setup, 2, MessageKind::Heartbeat), body);
    assert_rejected(&mut setup, &frame, RejectionKind::Malformed);
}
