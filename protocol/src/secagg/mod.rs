//! Secure aggregation of linear sketches (Bonawitz et al. 2017, with the k-regular neighbour
//! graph of SecAgg+): the aggregator learns the sum of the instances' vectors in Z_2^32 and
//! nothing else about any one of them, even when some instances drop out mid-round.
//!
//! Every instance `i` sends `y_i = x_i + PRG(b_i) + Σ_j ±PRG(s_ij) (mod 2^32)`, where `x_i` is
//! its fixed-point vector ([`fixed_point`]), `b_i` a fresh self-mask key, and `s_ij` a seed it
//! shares with each neighbour `j` through X25519 key agreement (`+` when `i < j`, `−`
//! otherwise, so pairwise masks cancel in the sum). Before sending, each instance Shamir-shares
//! `b_i` and its X25519 mask secret among its neighbours, encrypted to each. After the masked
//! vectors are in, each surviving instance reveals, per neighbour, the share of `b` if that
//! neighbour survived or of the mask secret if it dropped, never both. The aggregator then
//! removes the self masks of survivors and the pairwise masks survivors shared with dropped
//! instances ([`round::Aggregator`]).
//!
//! Linearity is what makes this fit DFMA: count sketches and random projections of the
//! instances' changes add up to the sketch of the summed change, so the CCF never needs an
//! individual sketch.
//!
//! [`round::simulate_round`] runs a whole round in process. Shares are encrypted with a
//! ChaCha20 keystream only; a network deployment must use an authenticated cipher and the
//! signed envelopes of [`crate::envelope`] for every message, and must add the consistency
//! check round of the paper against an actively malicious aggregator.

pub mod fixed_point;
pub mod graph;
pub mod prg;
pub mod round;
pub mod shamir;

/// Why a secure-aggregation round failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SecAggError {
    /// The round's parameters are inconsistent.
    #[error("invalid secure-aggregation configuration: {0}")]
    InvalidConfig(&'static str),
    /// A value could not be encoded in fixed point.
    #[error("value {value} at index {index} is outside the fixed-point clip or not finite")]
    OutOfRange {
        /// Position of the value.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A vector had the wrong length.
    #[error("vector of instance {instance} has length {actual}, expected {expected}")]
    WrongLength {
        /// The instance.
        instance: usize,
        /// The round's vector length.
        expected: usize,
        /// The vector's length.
        actual: usize,
    },
    /// Fewer instances survived than the threshold allows unmasking with.
    #[error("{got} instances survived, fewer than the threshold {needed}")]
    TooFewSurvivors {
        /// The threshold.
        needed: usize,
        /// Survivors.
        got: usize,
    },
    /// Too few neighbours of an instance revealed shares of its secret.
    #[error("instance {owner}: {got} shares revealed, {needed} needed")]
    TooFewShares {
        /// Whose secret.
        owner: usize,
        /// The threshold.
        needed: usize,
        /// Shares available.
        got: usize,
    },
    /// Shares of an instance's secret disagree, or decrypt to garbage.
    #[error("shares of instance {owner}'s secret are inconsistent")]
    InconsistentShare {
        /// Whose secret.
        owner: usize,
    },
}
