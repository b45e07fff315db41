//! The protocol's messages as prost structs, field for field the schema of `proto/dfma.proto`.
//!
//! The structs are written by hand with prost's derive macros, so building the crate needs no
//! `protoc`; `tests/proto_schema.rs` keeps them and the `.proto` file in step. Field numbers are
//! the wire contract: never renumber or reuse one, only add.
//!
//! Rounds are not repeated here: the round id lives in the signed [`crate::envelope::Envelope`]
//! that carries every message.

use crate::error::ProtocolError;
use crate::limits::{HASH_BYTES, PUBLIC_KEY_BYTES};
use crate::payload::TensorPayload;

/// What an envelope's body holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MessageKind {
    /// Never sent: the protobuf default, rejected as unknown.
    Unspecified = 0,
    /// [`Join`].
    Join = 1,
    /// [`Signal`].
    Signal = 2,
    /// [`CcfUpdate`].
    CcfUpdate = 3,
    /// [`Heartbeat`].
    Heartbeat = 4,
    /// [`ErrorMessage`].
    Error = 5,
}

/// The element type of a tensor payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ElementType {
    /// Never valid in a payload.
    Unspecified = 0,
    /// IEEE-754 binary32, little-endian.
    F32 = 1,
    /// IEEE-754 binary16, little-endian.
    F16 = 2,
    /// bfloat16, little-endian.
    Bf16 = 3,
    /// Signed 8-bit integer (quantized values).
    I8 = 4,
    /// Unsigned 8-bit integer.
    U8 = 5,
    /// Unsigned 32-bit integer, little-endian: fixed-point values in Z_2^32, masked or not,
    /// for secure aggregation.
    U32 = 6,
}

impl ElementType {
    /// Bytes one element occupies on the wire; `None` for [`ElementType::Unspecified`].
    pub fn size_bytes(self) -> Option<u64> {
        match self {
            Self::Unspecified => None,
            Self::I8 | Self::U8 => Some(1),
            Self::F16 | Self::Bf16 => Some(2),
            Self::F32 | Self::U32 => Some(4),
        }
    }
}

/// How a signal's payload was compressed; the numeric parameters' meaning depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum CompressionMethod {
    /// Never valid in a signal.
    Unspecified = 0,
    /// The payload is the adapter change itself. No parameters.
    None = 1,
    /// A count sketch. Parameters: `[rows, columns]`.
    CountSketch = 2,
    /// The k largest entries by magnitude. Parameters: `[k]`.
    TopK = 3,
    /// A seeded random projection. Parameters: `[projected_dimension]`.
    RandomProjection = 4,
    /// One sign bit per coordinate and one scale (the mean magnitude) per block: payload U32,
    /// ⌈n/32⌉ words of sign bits (bit i%32 of word i/32 set for a negative coordinate), then one
    /// f32 scale per block as its bit pattern. Parameters: `[n, block]`.
    SignScaled = 5,
    /// Unbiased stochastic rounding to `bits` bits with a max-abs scale per 256 coordinates
    /// (dfma-reference's `stochastic_quantize`): payload U32, the packed codes then one f32
    /// scale per block as its bit pattern. Parameters: `[n, bits]`.
    StochasticQuantize = 6,
}

/// Why a peer refused a message, sent back in an [`ErrorMessage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ErrorCode {
    /// Never sent.
    Unspecified = 0,
    /// The envelope's protocol version is not spoken here; `supported_version` says which is.
    UnsupportedVersion = 1,
    /// The frame did not parse or broke a limit.
    Malformed = 2,
    /// The sender may not send that message.
    Unauthorized = 3,
    /// The counter was not above the last accepted one.
    Replayed = 4,
    /// The envelope had expired.
    Expired = 5,
    /// The receiver failed for a reason of its own.
    Internal = 6,
}

/// What an instance can produce and accept.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Capabilities {
    /// Payload element types the instance can decode ([`ElementType`] values). Unknown values
    /// are kept as numbers and ignored, so newer peers can advertise more.
    #[prost(enumeration = "ElementType", repeated, tag = "1")]
    pub element_types: Vec<i32>,
    /// Compression methods the instance can decode ([`CompressionMethod`] values).
    #[prost(enumeration = "CompressionMethod", repeated, tag = "2")]
    pub compression_methods: Vec<i32>,
    /// Largest frame the instance accepts, in bytes.
    #[prost(uint64, tag = "3")]
    pub max_frame_bytes: u64,
    /// Whether the instance takes part in secure aggregation.
    #[prost(bool, tag = "4")]
    pub secure_aggregation: bool,
}

/// First message of an instance: its identity is the envelope's Ed25519 sender key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Join {
    /// X25519 public key for secure-aggregation key agreement (32 bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub agreement_public_key: Vec<u8>,
    /// What the instance can do.
    #[prost(message, optional, tag = "2")]
    pub capabilities: Option<Capabilities>,
    /// Software name and version, for diagnostics only.
    #[prost(string, tag = "3")]
    pub client_name: String,
}

/// One adapted matrix: a LoRA pair of shape `rows × rank` and `rank × cols`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AdapterShape {
    /// The base-model tensor the adapter applies to.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Output dimension of the adapted matrix.
    #[prost(uint32, tag = "2")]
    pub rows: u32,
    /// Input dimension of the adapted matrix.
    #[prost(uint32, tag = "3")]
    pub cols: u32,
    /// LoRA rank.
    #[prost(uint32, tag = "4")]
    pub rank: u32,
}

/// How a signal was compressed, with what it takes to decompress it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Compression {
    /// A [`CompressionMethod`] value.
    #[prost(enumeration = "CompressionMethod", tag = "1")]
    pub method: i32,
    /// Seed of the method's randomness (hash functions, projections), shared by all instances
    /// of a round so that sketches add up.
    #[prost(uint64, tag = "2")]
    pub seed: u64,
    /// The method's numeric parameters, documented per [`CompressionMethod`] variant.
    #[prost(uint64, repeated, tag = "3")]
    pub parameters: Vec<u64>,
}

/// The differential-privacy treatment a signal received before it was sent.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PrivacyParameters {
    /// L2 norm every instance's change was clipped to.
    #[prost(float, tag = "1")]
    pub clip_norm: f32,
    /// Gaussian noise standard deviation divided by `clip_norm`.
    #[prost(float, tag = "2")]
    pub noise_multiplier: f32,
    /// Probability that an instance takes part in a round (Poisson subsampling).
    #[prost(float, tag = "3")]
    pub sampling_rate: f32,
    /// Whether the payload is a masked fixed-point vector for secure aggregation.
    #[prost(bool, tag = "4")]
    pub secure_aggregation: bool,
    /// Fixed-point fractional bits of a secure-aggregation payload.
    #[prost(uint32, tag = "5")]
    pub fixed_point_fractional_bits: u32,
}

/// An instance's learning signal for one round: a compressed, privatized adapter change.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Signal {
    /// SHA-256 of the base model the adapters apply to (32 bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub base_model_hash: Vec<u8>,
    /// The adapters the change covers, in payload order.
    #[prost(message, repeated, tag = "2")]
    pub adapter_shapes: Vec<AdapterShape>,
    /// How the payload was compressed.
    #[prost(message, optional, tag = "3")]
    pub compression: Option<Compression>,
    /// How the payload was privatized.
    #[prost(message, optional, tag = "4")]
    pub privacy: Option<PrivacyParameters>,
    /// The compressed change.
    #[prost(message, optional, tag = "5")]
    pub payload: Option<TensorPayload>,
}

/// The collective adapter change the CCF built from a round's signals; signed by the CCF.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CcfUpdate {
    /// Version of the collective adapter this update produces; increases by one per update.
    #[prost(uint64, tag = "1")]
    pub ccf_version: u64,
    /// SHA-256 of the base model the adapters apply to (32 bytes).
    #[prost(bytes = "vec", tag = "2")]
    pub base_model_hash: Vec<u8>,
    /// The adapters the delta covers, in payload order.
    #[prost(message, repeated, tag = "3")]
    pub adapter_shapes: Vec<AdapterShape>,
    /// The collective adapter delta.
    #[prost(message, optional, tag = "4")]
    pub delta: Option<TensorPayload>,
    /// How many signals the delta was built from.
    #[prost(uint32, tag = "5")]
    pub contributors: u32,
}

/// Liveness and progress of an instance.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Heartbeat {
    /// The sender's clock when it sent this, in Unix milliseconds.
    #[prost(uint64, tag = "1")]
    pub sent_at_unix_ms: u64,
    /// The last CCF version the sender applied.
    #[prost(uint64, tag = "2")]
    pub applied_ccf_version: u64,
}

/// A refusal, sent back to the peer whose message was refused.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ErrorMessage {
    /// An [`ErrorCode`] value.
    #[prost(enumeration = "ErrorCode", tag = "1")]
    pub code: i32,
    /// Human-readable detail, at most [`crate::limits::MAX_ERROR_DETAIL_BYTES`].
    #[prost(string, tag = "2")]
    pub detail: String,
    /// The counter of the refused envelope, 0 if it could not be read.
    #[prost(uint64, tag = "3")]
    pub refers_to_counter: u64,
    /// The protocol version the sender of this error speaks.
    #[prost(uint32, tag = "4")]
    pub supported_version: u32,
}

/// A decoded, validated message body.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// An instance joins.
    Join(Join),
    /// An instance's learning signal.
    Signal(Signal),
    /// The CCF's collective update.
    CcfUpdate(CcfUpdate),
    /// An instance is alive.
    Heartbeat(Heartbeat),
    /// A refusal.
    Error(ErrorMessage),
}

impl Message {
    /// The kind an envelope carrying this message declares.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::Join(_) => MessageKind::Join,
            Self::Signal(_) => MessageKind::Signal,
            Self::CcfUpdate(_) => MessageKind::CcfUpdate,
            Self::Heartbeat(_) => MessageKind::Heartbeat,
            Self::Error(_) => MessageKind::Error,
        }
    }

    /// Checks what the wire format alone cannot: fixed-length fields have their length,
    /// enumerations the values that are required, payloads a consistent type and count.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        match self {
            Self::Join(join) => exact_len("Join.agreement_public_key", &join.agreement_public_key, PUBLIC_KEY_BYTES),
            Self::Signal(signal) => {
                exact_len("Signal.base_model_hash", &signal.base_model_hash, HASH_BYTES)?;
                let compression = signal
                    .compression
                    .as_ref()
                    .ok_or(ProtocolError::Malformed { what: "Signal.compression", reason: "missing" })?;
                if !matches!(
                    CompressionMethod::try_from(compression.method),
                    Ok(method) if method != CompressionMethod::Unspecified
                ) {
                    return Err(ProtocolError::Malformed {
                        what: "Compression.method",
                        reason: "unknown or unspecified compression method",
                    });
                }
                required_payload("Signal.payload", signal.payload.as_ref())
            }
            Self::CcfUpdate(update) => {
                exact_len("CcfUpdate.base_model_hash", &update.base_model_hash, HASH_BYTES)?;
                required_payload("CcfUpdate.delta", update.delta.as_ref())
            }
            Self::Heartbeat(_) | Self::Error(_) => Ok(()),
        }
    }
}

fn exact_len(what: &'static str, bytes: &[u8], expected: usize) -> Result<(), ProtocolError> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(ProtocolError::Malformed { what, reason: "wrong length for a fixed-size field" })
    }
}

fn required_payload(what: &'static str, payload: Option<&TensorPayload>) -> Result<(), ProtocolError> {
    payload.ok_or(ProtocolError::Malformed { what, reason: "missing" })?.validate()
}
