//! Host tensors: a shape and a typed, contiguous, row-major buffer.

use std::fmt;

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE-754 binary32.
    F32,
    /// Raw bytes, e.g. GGML quantized blocks.
    U8,
    /// 32-bit unsigned words: random bits, seeds, indices. Compared bit for bit, never with a tolerance.
    U32,
}

impl DType {
    /// Size of one element in bytes.
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::U8 => 1,
            DType::U32 => 4,
        }
    }

    /// The name numpy gives this type (`float32`, `uint8`).
    pub fn numpy_name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::U8 => "uint8",
            DType::U32 => "uint32",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.numpy_name())
    }
}

/// The typed storage of a [`Tensor`].
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// f32 elements.
    F32(Vec<f32>),
    /// u8 elements.
    U8(Vec<u8>),
    /// u32 elements.
    U32(Vec<u32>),
}

/// A host tensor: row-major, contiguous.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Extent of each axis, outermost first.
    pub shape: Vec<usize>,
    /// The elements; `data.len() == shape.iter().product()`.
    pub data: TensorData,
}

impl Tensor {
    /// An f32 tensor. Panics if `data` does not hold `shape`'s element count (a programming error).
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "f32 tensor shape/data mismatch");
        Self { shape, data: TensorData::F32(data) }
    }

    /// A u8 tensor. Panics if `data` does not hold `shape`'s element count (a programming error).
    pub fn u8(shape: Vec<usize>, data: Vec<u8>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "u8 tensor shape/data mismatch");
        Self { shape, data: TensorData::U8(data) }
    }

    /// A u32 tensor. Panics if `data` does not hold `shape`'s element count (a programming error).
    pub fn u32(shape: Vec<usize>, data: Vec<u32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "u32 tensor shape/data mismatch");
        Self { shape, data: TensorData::U32(data) }
    }

    /// A tensor of `dtype` and `shape` filled with poison: NaN for floats, all-ones bits for
    /// integers (0xFF bytes, 0xFFFF_FFFF words).
    ///
    /// Outputs are poisoned before a launch so that "never written" cannot pass for "wrote 0".
    pub fn poisoned(dtype: DType, shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        match dtype {
            DType::F32 => Self::f32(shape, vec![f32::NAN; n]),
            DType::U8 => Self::u8(shape, vec![0xFF; n]),
            DType::U32 => Self::u32(shape, vec![u32::MAX; n]),
        }
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        match self.data {
            TensorData::F32(_) => DType::F32,
            TensorData::U8(_) => DType::U8,
            TensorData::U32(_) => DType::U32,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            TensorData::F32(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::U32(v) => v.len(),
        }
    }

    /// True when the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The f32 elements, or `None` for another dtype.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The u8 elements, or `None` for another dtype.
    pub fn as_u8(&self) -> Option<&[u8]> {
        match &self.data {
            TensorData::U8(v) => Some(v),
            _ => None,
        }
    }

    /// The u32 elements, or `None` for another dtype.
    pub fn as_u32(&self) -> Option<&[u32]> {
        match &self.data {
            TensorData::U32(v) => Some(v),
            _ => None,
        }
    }

    /// The elements as raw little-endian bytes (what a device buffer receives).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.data {
            TensorData::F32(v) => bytemuck::cast_slice(v),
            TensorData::U8(v) => v,
            TensorData::U32(v) => bytemuck::cast_slice(v),
        }
    }

    /// Builds a tensor of `dtype` and `shape` from raw little-endian bytes; `None` if the length is wrong.
    pub fn from_bytes(dtype: DType, shape: Vec<usize>, bytes: &[u8]) -> Option<Self> {
        let n: usize = shape.iter().product();
        if bytes.len() != n * dtype.size_bytes() {
            return None;
        }
        Some(match dtype {
            DType::F32 => {
                Self::f32(shape, bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
            }
            DType::U8 => Self::u8(shape, bytes.to_vec()),
            DType::U32 => {
                Self::u32(shape, bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
            }
        })
    }
}
