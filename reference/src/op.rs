//! The op abstraction: one mathematical function, its problem descriptor, its reference
//! implementation and its cost model.

use std::fmt;

use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::tensor::{DType, Tensor};

/// Named problem sizes of one op instance, e.g. `rows=4096 cols=4096 batch=1`.
///
/// Kept as an ordered list so kernels receive them as launch parameters in a fixed order
/// and reports print them as the op names them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Dims(pub Vec<(&'static str, usize)>);

impl Dims {
    /// The size called `name`. Panics when the op does not define it (a programming error).
    pub fn get(&self, name: &str) -> usize {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("problem has no dimension named {name}"))
    }

    /// The sizes in declaration order, as the u32 launch parameters GPU kernels receive.
    pub fn as_u32_params(&self) -> Vec<u32> {
        self.0.iter().map(|(_, v)| u32::try_from(*v).expect("dimension exceeds u32")).collect()
    }
}

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

/// The least work an op must do: bytes it must move to or from memory and arithmetic operations.
/// Roofline fractions are computed against this model, never against what a kernel happens to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    /// Bytes read plus bytes written, each operand touched once.
    pub bytes: u64,
    /// Bytes of the op's (possibly quantized) weight operand alone, for "GB/s of weights".
    pub weight_bytes: u64,
    /// Floating-point or integer operations (an FMA counts as two).
    pub flops: u64,
}

/// One input or output tensor of an op.
#[derive(Clone, Copy, Debug)]
pub struct TensorSpec {
    /// Name used on the command line (`--in w=W.npy`).
    pub name: &'static str,
    /// Required element type.
    pub dtype: DType,
    /// Shape in words, e.g. `[rows, cols/32*34]`.
    pub shape_doc: &'static str,
}

/// A bad input to an op: wrong dtype, wrong rank, inconsistent shapes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{tensor}: {problem}")]
pub struct OpError {
    /// The input at fault.
    pub tensor: String,
    /// What is wrong with it, in one line.
    pub problem: String,
}

impl OpError {
    /// An error about `tensor`.
    pub fn new(tensor: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { tensor: tensor.into(), problem: problem.into() }
    }
}

/// One mathematical function that kernels implement.
///
/// Inputs and outputs are passed in the order of [`Op::inputs`] and [`Op::outputs`].
pub trait Op: Send + Sync {
    /// Registry name, e.g. `q8_0_gemv`.
    fn name(&self) -> &'static str;
    /// One-line description with the formula.
    fn summary(&self) -> &'static str;
    /// The input tensors, in order.
    fn inputs(&self) -> &'static [TensorSpec];
    /// The output tensors, in order.
    fn outputs(&self) -> &'static [TensorSpec];
    /// Checks dtypes and shapes of `inputs` and derives the problem sizes.
    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError>;
    /// Shapes of the outputs for `dims`.
    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>>;
    /// The plain reference: obviously correct, f64 accumulation.
    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor>;
    /// Fresh random inputs for `dims` (never zeros).
    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor>;
    /// Problem sizes of the test matrix: the smallest legal size, ragged sizes, a realistic large size.
    fn test_dims(&self) -> Vec<Dims>;
    /// Problem sizes of the bench suite: shapes from real models.
    fn bench_dims(&self) -> Vec<Dims>;
    /// Pass bar of a kernel's output against the reference.
    fn tolerance(&self) -> Tolerance;
    /// The cost model of `dims`.
    fn cost(&self, dims: &Dims) -> Cost;
    /// True for the ops that measure a backend's roofline (streaming read, copy, FMA peak):
    /// the bench runs them first, as calibration, rather than as cases of a suite.
    fn is_calibration(&self) -> bool {
        false
    }
}

/// Checks that `t` has dtype `dtype` and rank 1 or 2; names `name` in the error.
pub fn expect_dtype(name: &str, t: &Tensor, dtype: DType) -> Result<(), OpError> {
    if t.dtype() != dtype {
        return Err(OpError::new(name, format!("dtype is {}, expected {dtype}", t.dtype())));
    }
    Ok(())
}

/// The length `n` of the one non-empty f32 vector `x` an op takes (the calibration ops' input).
pub fn one_f32_vector(inputs: &[Tensor]) -> Result<usize, OpError> {
    let [x] = inputs else {
        return Err(OpError::new("inputs", format!("expected 1 tensor (x), got {}", inputs.len())));
    };
    expect_dtype("x", x, DType::F32)?;
    match x.shape.as_slice() {
        &[n] if n > 0 => Ok(n),
        s => Err(OpError::new("x", format!("shape {s:?} is not a non-empty [n]"))),
    }
}
