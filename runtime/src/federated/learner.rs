//! What the federated stack needs from a model: a flat f32 parameter vector it can read and
//! replace, local training on private data, and an accuracy on held-out data.
//!
//! Everything above this trait (instances, signals, the CCF, the baselines) sees only the flat
//! vector. Fed-Heart-Disease's logistic regression implements it; the language-model
//! experiment (`crate::reasoning`) shares this stack's codec and aggregation rules but has its
//! own CCF and instance side (`crate::collective`) for now.

use dfma_protocol::messages::AdapterShape;
use rand::rngs::StdRng;

/// Why a learner refused an operation (a parameter vector of the wrong length, data it cannot
/// train on, a backend failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("learner: {0}")]
pub struct LearnerError(pub String);

/// A model whose trainable state is one flat f32 vector.
///
/// The vector's layout is the learner's business; it must be the same for every instance of one
/// experiment (the CCF averages coordinate by coordinate) and is named by
/// [`Learner::base_model_hash`] and [`Learner::shapes`], which every signal carries.
pub trait Learner {
    /// One instance's private data (a training split or a held-out split).
    type Data;

    /// The trainable parameters, flattened.
    fn params(&self) -> Vec<f32>;

    /// Replaces the trainable parameters; a vector of another length is refused and nothing
    /// changes.
    fn set_params(&mut self, params: &[f32]) -> Result<(), LearnerError>;

    /// Length of [`Learner::params`].
    fn param_count(&self) -> usize;

    /// Trains on `data` for `epochs` passes, drawing every random choice (order, batches) from
    /// `rng` so that a seed reproduces a run.
    fn train_local(&mut self, data: &Self::Data, epochs: usize, rng: &mut StdRng) -> Result<(), LearnerError>;

    /// Fraction of `held_out` answered correctly, in `[0, 1]`; NaN for empty data.
    fn evaluate(&self, held_out: &Self::Data) -> f64;

    /// SHA-256 naming what the parameters apply to: the frozen base model and the layout of the
    /// vector. A signal for another hash is refused by the CCF, so instances on different bases
    /// never average coordinates that mean different things.
    fn base_model_hash(&self) -> [u8; 32];

    /// The parameter vector's pieces in order, as signals describe them. The default is one
    /// piece of `param_count` × 1 (rank 0: not a low-rank pair).
    fn shapes(&self) -> Vec<AdapterShape> {
        vec![AdapterShape { name: "params".into(), rows: self.param_count() as u32, cols: 1, rank: 0 }]
    }
}
