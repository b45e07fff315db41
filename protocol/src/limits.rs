//! Every size the decoders accept, in one place.
//!
//! A peer is untrusted until its signature checks out, and the signature can only be checked
//! after the frame has been parsed. So every length the parser reads — the frame prefix, a
//! length-delimited field, a repeated field's count, a payload's declared element count — is
//! compared with these constants *and* with the bytes actually left in the input before
//! anything is allocated for it. A frame that passes these checks costs at most a small
//! constant factor of its own size in memory (see [`MAX_DECODE_OVERHEAD_BYTES`]).

/// Largest frame (one encoded envelope, without the 4-byte length prefix) a receiver reads.
///
/// 16 MiB holds an uncompressed rank-16 LoRA delta for every projection of a 135M-parameter
/// model (about 4.9 M f32 values is 19.6 MB, so that one needs compression) and leaves a wide
/// margin over the 64 KiB signals the load test sends.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Largest element count a tensor payload may declare. The byte length must also equal
/// `count * element_size`, so this is reached only by 1-byte element types.
pub const MAX_PAYLOAD_ELEMENTS: u64 = MAX_FRAME_BYTES as u64;

/// Most adapter shapes a signal or CCF update may list (a 135M Llama has 30 layers × 7
/// projections = 210 adapted matrices).
pub const MAX_ADAPTER_SHAPES: usize = 1024;

/// Longest adapter name, capability string or similar identifier, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 128;

/// Longest human-readable detail in an error message, in bytes of UTF-8.
pub const MAX_ERROR_DETAIL_BYTES: usize = 1024;

/// Most entries in any list of enumerated capabilities (element types, compression methods).
pub const MAX_CAPABILITY_ENTRIES: usize = 32;

/// Most numeric parameters a compression method may carry.
pub const MAX_COMPRESSION_PARAMETERS: usize = 16;

/// Length of every hash field (SHA-256), in bytes.
pub const HASH_BYTES: usize = 32;

/// Length of an Ed25519 or X25519 public key, in bytes.
pub const PUBLIC_KEY_BYTES: usize = 32;

/// Length of an Ed25519 signature, in bytes.
pub const SIGNATURE_BYTES: usize = 64;

/// Deepest nesting of messages the parser follows. The schema nests at most 3 deep
/// (envelope → signal → compression); anything deeper is malformed, and the bound keeps the
/// recursive parser's stack use constant.
pub const MAX_NESTING_DEPTH: usize = 4;

/// Furthest in the future an envelope's expiry may lie, in milliseconds after the
/// receiver's clock. Without it, a sender could mint messages that stay replayable forever
/// if the receiver ever lost its counter state.
pub const MAX_EXPIRY_HORIZON_MS: u64 = 10 * 60 * 1000;

/// Most distinct senders one receiver tracks counters for. A new sender beyond this is
/// rejected rather than growing the table without bound.
pub const MAX_TRACKED_SENDERS: usize = 1 << 20;

/// Bound on what decoding one frame allocates beyond [`DECODE_BYTES_PER_FRAME_BYTE`] times the
/// frame's own length, in bytes.
///
/// The constant part comes from repeated fields whose in-memory element is larger than its
/// smallest encoding (an empty adapter shape is 2 bytes on the wire and about 40 in memory,
/// doubled by vector growth), which the per-field repeat limits cap.
pub const MAX_DECODE_OVERHEAD_BYTES: usize = 256 * 1024;

/// Bytes of heap a decoder may use per byte of frame, on top of
/// [`MAX_DECODE_OVERHEAD_BYTES`]: the envelope's body is copied once, and the body's payload
/// once more, each into a vector that may have doubled while growing.
pub const DECODE_BYTES_PER_FRAME_BYTE: usize = 4;
