//! Generated and mutated frames for every decoder, with a panic and allocation check.
//!
//! [`run_decoder_fuzz`] is the long-run driver (a bench command can ask it for a million
//! cases); `tests/fuzz_decoders.rs` runs a short proptest campaign over the same decoders in
//! `cargo test`. Frames start from valid messages of every kind ([`sample_message`]) and are
//! then mutated: bit flips, byte overwrites, truncation, insertion, duplication of a span, and
//! large varints written over length prefixes. Half of the mutated bodies are re-signed so that
//! the body decoders behind the signature check are reached too.
//!
//! Allocation is measured by [`CountingAllocator`], which a test or bench binary installs as
//! its global allocator; each decoder call must stay within [`allocation_bound_bytes`] of the
//! frame it was given.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::envelope::{EnvelopeHeader, decode_body, encode_body, open, seal_body};
use crate::framing::split_frame;
use crate::identity::Identity;
use crate::limits::{DECODE_BYTES_PER_FRAME_BYTE, MAX_DECODE_OVERHEAD_BYTES};
use crate::messages::{
    AdapterShape, Capabilities, CcfUpdate, Compression, CompressionMethod, ElementType, ErrorCode, ErrorMessage,
    Heartbeat, Join, Message, MessageKind, PrivacyParameters, Signal,
};
use crate::payload::TensorPayload;
use crate::receiver::{Receiver, ReceiverPolicy};
use crate::schema::ALL_MESSAGES;
use crate::wire::check_message;

/// Most heap bytes one decoder call may hold at once for a frame of `frame_len` bytes.
pub fn allocation_bound_bytes(frame_len: usize) -> usize {
    DECODE_BYTES_PER_FRAME_BYTE * frame_len + MAX_DECODE_OVERHEAD_BYTES
}

thread_local! {
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
    static PEAK_BYTES: Cell<isize> = const { Cell::new(0) };
}

/// A global allocator that tracks, per thread, live heap bytes and their peak since the last
/// [`CountingAllocator::reset_peak`]. Install it with `#[global_allocator]` in a test or bench
/// binary to give [`run_decoder_fuzz`] its allocation check.
pub struct CountingAllocator;

impl CountingAllocator {
    fn add(delta: isize) {
        let _ = LIVE_BYTES.try_with(|live| {
            let now = live.get() + delta;
            live.set(now);
            let _ = PEAK_BYTES.try_with(|peak| peak.set(peak.get().max(now)));
        });
    }

    /// Starts a new measurement on this thread: the peak becomes the current live bytes.
    pub fn reset_peak() {
        let live = LIVE_BYTES.with(Cell::get);
        PEAK_BYTES.with(|peak| peak.set(live));
    }

    /// Peak live bytes on this thread since [`CountingAllocator::reset_peak`], above the live
    /// bytes at that reset.
    pub fn peak_since_reset(baseline_live: isize) -> usize {
        (PEAK_BYTES.with(Cell::get) - baseline_live).max(0) as usize
    }

    /// Live bytes on this thread now.
    pub fn live_bytes() -> isize {
        LIVE_BYTES.with(Cell::get)
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and only
// updates thread-local counters, which neither allocate nor unwind.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::add(layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        Self::add(-(layout.size() as isize));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::add(layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::add(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

/// A valid message of `kind` with contents drawn from `rng`, small enough to mutate quickly.
pub fn sample_message(kind: MessageKind, rng: &mut impl Rng) -> Message {
    let mut bytes32 = || {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        bytes.to_vec()
    };
    let hash = bytes32();
    let key = bytes32();
    let mut rng_values = ChaCha20Rng::from_seed(hash.as_slice().try_into().unwrap_or([0; 32]));
    let values: Vec<f32> = (0..(rng_values.next_u32() % 24)).map(|_| rng_values.next_u32() as f32 / 1e9).collect();
    let shapes = vec![
        AdapterShape { name: "blk.0.attn_q".into(), rows: 576, cols: 576, rank: 8 },
        AdapterShape { name: "blk.0.ffn_up".into(), rows: 1536, cols: 576, rank: 8 },
    ];
    match kind {
        MessageKind::Join | MessageKind::Unspecified => Message::Join(Join {
            agreement_public_key: key,
            capabilities: Some(Capabilities {
                element_types: vec![ElementType::F32 as i32, ElementType::U32 as i32],
                compression_methods: vec![CompressionMethod::CountSketch as i32],
                max_frame_bytes: 1 << 20,
                secure_aggregation: true,
            }),
            client_name: "dfma 0.1".into(),
        }),
        MessageKind::Signal => Message::Signal(Signal {
            base_model_hash: hash,
            adapter_shapes: shapes,
            compression: Some(Compression {
                method: CompressionMethod::CountSketch as i32,
                seed: rng_values.next_u64(),
                parameters: vec![5, 4096],
            }),
            privacy: Some(PrivacyParameters {
                clip_norm: 1.0,
                noise_multiplier: 1.1,
                sampling_rate: 0.01,
                secure_aggregation: false,
                fixed_point_fractional_bits: 16,
            }),
            payload: Some(TensorPayload::from_f32(&values)),
        }),
        MessageKind::CcfUpdate => Message::CcfUpdate(CcfUpdate {
            ccf_version: 3,
            base_model_hash: hash,
            adapter_shapes: shapes,
            delta: Some(TensorPayload::from_f32(&values)),
            contributors: 17,
        }),
        MessageKind::Heartbeat => {
            Message::Heartbeat(Heartbeat { sent_at_unix_ms: rng_values.next_u64() >> 20, applied_ccf_version: 2 })
        }
        MessageKind::Error => Message::Error(ErrorMessage {
            code: ErrorCode::Malformed as i32,
            detail: "payload count and length disagree".into(),
            refers_to_counter: 41,
            supported_version: crate::PROTOCOL_VERSION,
        }),
    }
}

/// Every message kind a frame can carry.
pub const ALL_KINDS: [MessageKind; 5] =
    [MessageKind::Join, MessageKind::Signal, MessageKind::CcfUpdate, MessageKind::Heartbeat, MessageKind::Error];

/// Applies one to four random mutations to `bytes`.
pub fn mutate(bytes: &mut Vec<u8>, rng: &mut impl Rng) {
    for _ in 0..=(rng.next_u32() % 4) {
        let len = bytes.len();
        let at = if len == 0 { 0 } else { rng.next_u32() as usize % len };
        match rng.next_u32() % 7 {
            0 if len > 0 => bytes[at] ^= 1 << (rng.next_u32() % 8),
            1 if len > 0 => bytes[at] = rng.next_u32() as u8,
            2 => bytes.truncate(at),
            3 => {
                let extra = (rng.next_u32() % 16) as usize;
                let inserted: Vec<u8> = (0..extra).map(|_| rng.next_u32() as u8).collect();
                bytes.splice(at..at, inserted);
            }
            4 if len > 0 => {
                let end = (at + 1 + rng.next_u32() as usize % 32).min(len);
                let span = bytes[at..end].to_vec();
                bytes.splice(at..at, span);
            }
            5 => {
                // A maximal varint, as a lying length prefix would be.
                let varint = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
                let end = (at + 1).min(len);
                bytes.splice(at..end, varint);
            }
            _ => bytes.push(rng.next_u32() as u8),
        }
    }
}

/// Counts from a fuzz run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FuzzReport {
    /// Frames generated.
    pub cases: u64,
    /// Decoder calls made (several per frame).
    pub decoder_calls: u64,
    /// Frames the full receiver accepted.
    pub accepted: u64,
    /// Decoder calls that panicked.
    pub panics: u64,
    /// Decoder calls whose peak allocation exceeded [`allocation_bound_bytes`].
    pub allocation_violations: u64,
    /// Largest peak allocation of one decoder call, in bytes (0 without a counting allocator).
    pub largest_peak_bytes: usize,
}

/// Runs `cases` generated-and-mutated frames through every decoder: the wire walk for every
/// schema, the envelope opener, every body decoder, the framing splitter and a full receiver.
/// With `count_allocations`, the binary must have [`CountingAllocator`] installed.
pub fn run_decoder_fuzz(cases: u64, seed: u64, count_allocations: bool) -> FuzzReport {
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut rng = ChaCha20Rng::from_seed(seed_bytes);
    let identity = Identity::from_secret_bytes([0x42; 32]);
    let now_unix_ms = 1_700_000_000_000;
    let mut report = FuzzReport::default();
    let mut receiver =
        Receiver::new(ReceiverPolicy { require_join: false, ..ReceiverPolicy::for_instance(identity.public_key()) });
    for case in 0..cases {
        let kind = ALL_KINDS[(rng.next_u32() % 5) as usize];
        let message = sample_message(kind, &mut rng);
        let mut body = encode_body(&message);
        let header = EnvelopeHeader {
            sender_key: identity.public_key(),
            counter: case + 1,
            round_id: 7,
            expires_at_unix_ms: now_unix_ms + 1000,
            kind,
        };
        let mutate_body = rng.next_u32() % 2 == 0;
        if mutate_body {
            mutate(&mut body, &mut rng);
        }
        let mut frame = seal_body(&identity, &header, body.clone());
        if !mutate_body {
            mutate(&mut frame, &mut rng);
        }
        report.cases += 1;
        let mut call = |decode: &mut dyn FnMut(), input_len: usize| {
            report.decoder_calls += 1;
            let baseline = if count_allocations { CountingAllocator::live_bytes() } else { 0 };
            if count_allocations {
                CountingAllocator::reset_peak();
            }
            if catch_unwind(AssertUnwindSafe(&mut *decode)).is_err() {
                report.panics += 1;
            }
            if count_allocations {
                let peak = CountingAllocator::peak_since_reset(baseline);
                report.largest_peak_bytes = report.largest_peak_bytes.max(peak);
                if peak > allocation_bound_bytes(input_len) {
                    report.allocation_violations += 1;
                }
            }
        };
        for schema in ALL_MESSAGES {
            call(&mut || drop(check_message(&frame, schema)), frame.len());
        }
        call(&mut || drop(open(&frame)), frame.len());
        // The gRPC transport's message around every frame.
        call(&mut || drop(<crate::transport::grpc::Frame as prost::Message>::decode(&frame[..])), frame.len());
        for body_kind in ALL_KINDS {
            call(&mut || drop(decode_body(body_kind, &body)), body.len());
        }
        call(&mut || drop(split_frame(&frame)), frame.len());
        let mut accepted = false;
        call(&mut || accepted = receiver.receive(&frame, now_unix_ms).is_ok(), frame.len());
        report.accepted += u64::from(accepted);
    }
    report
}
