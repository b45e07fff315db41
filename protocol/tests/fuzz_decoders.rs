//! Short fuzzing campaign over every decoder: generated and mutated frames must never panic
//! and never make a decoder hold more heap than `allocation_bound_bytes` of its input.
//!
//! This binary installs the counting allocator, so each decoder call's peak heap is measured.
//! The long run (a million frames) goes through the same `run_decoder_fuzz`.

use chacha20::ChaCha20Rng;
use dfma_protocol::envelope::{decode_body, encode_body, open};
use dfma_protocol::framing::split_frame;
use dfma_protocol::fuzz::{ALL_KINDS, CountingAllocator, allocation_bound_bytes, run_decoder_fuzz, sample_message};
use dfma_protocol::messages::MessageKind;
use dfma_protocol::schema::ALL_MESSAGES;
use dfma_protocol::wire::check_message;
use proptest::prelude::*;
use rand_core::SeedableRng;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs every stateless decoder on `bytes`, asserting the allocation bound for each.
fn decode_everything(bytes: &[u8]) {
    let measured = |decode: &dyn Fn()| {
        let baseline = CountingAllocator::live_bytes();
        CountingAllocator::reset_peak();
        decode();
        let peak = CountingAllocator::peak_since_reset(baseline);
        assert!(peak <= allocation_bound_bytes(bytes.len()), "peak {peak} for {} bytes", bytes.len());
    };
    for schema in ALL_MESSAGES {
        measured(&|| drop(check_message(bytes, schema)));
    }
    measured(&|| drop(open(bytes)));
    for kind in ALL_KINDS {
        measured(&|| drop(decode_body(kind, bytes)));
    }
    measured(&|| drop(split_frame(bytes)));
}

#[test]
fn the_fuzz_driver_finds_no_panic_and_no_allocation_beyond_the_bound() {
    let report = run_decoder_fuzz(2_000, 1, true);
    eprintln!("{report:?}");
    assert_eq!(report.cases, 2_000);
    assert_eq!(report.panics, 0, "{report:?}");
    assert_eq!(report.allocation_violations, 0, "{report:?}");
    // The allocator is really counting: decoding a frame allocates something.
    assert!(report.largest_peak_bytes > 0, "{report:?}");
}

#[test]
fn a_declared_length_of_4_gib_allocates_nothing_for_it() {
    // Envelope field 7 (body) declaring 2^32 − 1 bytes, followed by 3 bytes.
    let frame = [0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3];
    let baseline = CountingAllocator::live_bytes();
    CountingAllocator::reset_peak();
    assert!(open(&frame).is_err());
    assert!(CountingAllocator::peak_since_reset(baseline) < 1024);
}

fn valid_body(kind_index: usize, seed: u8) -> Vec<u8> {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    encode_body(&sample_message(ALL_KINDS[kind_index % ALL_KINDS.len()], &mut rng))
}

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    MaxVarint(usize),
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    let at = |index: usize, len: usize| if len == 0 { 0 } else { index % len };
    match edit {
        Edit::Flip(index, bit) if !bytes.is_empty() => {
            let i = at(*index, bytes.len());
            bytes[i] ^= 1 << (bit % 8);
        }
        Edit::Set(index, value) if !bytes.is_empty() => {
            let i = at(*index, bytes.len());
            bytes[i] = *value;
        }
        Edit::Truncate(index) => bytes.truncate(at(*index, bytes.len())),
        Edit::Insert(index, inserted) => {
            let i = at(*index, bytes.len() + 1);
            bytes.splice(i..i, inserted.iter().copied());
        }
        Edit::MaxVarint(index) => {
            let i = at(*index, bytes.len() + 1);
            bytes.splice(i..i, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        }
        _ => {}
    }
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Edit::Set(i, v)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 0..12)).prop_map(|(i, v)| Edit::Insert(i, v)),
        any::<usize>().prop_map(Edit::MaxVarint),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_or_over_allocate_in_any_decoder(
        bytes in prop::collection::vec(any::<u8>(), 0..600)
    ) {
        decode_everything(&bytes);
    }

    #[test]
    fn mutated_valid_bodies_never_panic_or_over_allocate_in_any_decoder(
        kind_index in 0usize..5,
        seed in any::<u8>(),
        edits in prop::collection::vec(edit_strategy(), 1..5),
    ) {
        let mut bytes = valid_body(kind_index, seed);
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        decode_everything(&bytes);
    }
}

#[test]
fn an_unmutated_body_decodes_under_its_own_kind() {
    for (index, kind) in ALL_KINDS.iter().enumerate() {
        let body = valid_body(index, 3);
        assert_eq!(decode_body(*kind, &body).unwrap().kind(), *kind);
    }
    assert!(decode_body(MessageKind::Unspecified, &[]).is_err());
}

#[test]
fn the_largest_allowed_count_of_empty_adapter_shapes_stays_within_the_allocation_bound() {
    use dfma_protocol::limits::MAX_ADAPTER_SHAPES;
    use dfma_protocol::messages::{AdapterShape, Message};
    let mut rng = ChaCha20Rng::from_seed([2; 32]);
    let Message::Signal(mut signal) = sample_message(MessageKind::Signal, &mut rng) else { unreachable!() };
    // 2 bytes on the wire each, about 40 in memory: the worst in-memory amplification.
    signal.adapter_shapes = vec![AdapterShape::default(); MAX_ADAPTER_SHAPES];
    let body = encode_body(&Message::Signal(signal));
    let baseline = CountingAllocator::live_bytes();
    CountingAllocator::reset_peak();
    let decoded = decode_body(MessageKind::Signal, &body).unwrap();
    let peak = CountingAllocator::peak_since_reset(baseline);
    drop(decoded);
    assert!(peak <= allocation_bound_bytes(body.len()), "peak {peak} for {} bytes", body.len());
}
