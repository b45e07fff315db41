//! GGML tensor types: id, name and block geometry (weights per block, bytes per block), the
//! facts a reader needs to bound a tensor's bytes. Ids and sizes are GGML's (`ggml.h`).

/// A GGML tensor type this reader knows the size of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GgmlType {
    /// IEEE f32.
    F32,
    /// IEEE f16.
    F16,
    /// 32 weights: f16 d, 16 bytes of nibbles; w = d·(q − 8).
    Q4_0,
    /// 32 weights: f16 d, f16 m, 16 bytes of nibbles; w = d·q + m.
    Q4_1,
    /// 32 weights: f16 d, 4 bytes of fifth bits, 16 bytes of nibbles.
    Q5_0,
    /// 32 weights: f16 d, f16 m, 4 bytes of fifth bits, 16 bytes of nibbles.
    Q5_1,
    /// 32 weights: f16 d, 32 int8; w = d·q.
    Q8_0,
    /// 32 weights: f16 d, f16 s, 32 int8 (activations).
    Q8_1,
    /// K-quant, 256 weights in 84 bytes.
    Q2K,
    /// K-quant, 256 weights in 110 bytes.
    Q3K,
    /// K-quant, 256 weights in 144 bytes.
    Q4K,
    /// K-quant, 256 weights in 176 bytes.
    Q5K,
    /// K-quant, 256 weights in 210 bytes.
    Q6K,
    /// K-quant, 256 weights in 292 bytes.
    Q8K,
    /// 8-bit signed integers.
    I8,
    /// 16-bit signed integers.
    I16,
    /// 32-bit signed integers.
    I32,
    /// 64-bit signed integers.
    I64,
    /// IEEE f64.
    F64,
    /// bfloat16.
    BF16,
}

impl GgmlType {
    /// The type with GGML id `id`, if this reader knows it.
    pub fn from_id(id: u32) -> Option<Self> {
        use GgmlType::*;
        Some(match id {
            0 => F32,
            1 => F16,
            2 => Q4_0,
            3 => Q4_1,
            6 => Q5_0,
            7 => Q5_1,
            8 => Q8_0,
            9 => Q8_1,
            10 => Q2K,
            11 => Q3K,
            12 => Q4K,
            13 => Q5K,
            14 => Q6K,
            15 => Q8K,
            24 => I8,
            25 => I16,
            26 => I32,
            27 => I64,
            28 => F64,
            30 => BF16,
            _ => return None,
        })
    }

    /// GGML's id of the type.
    pub fn id(self) -> u32 {
        use GgmlType::*;
        match self {
            F32 => 0,
            F16 => 1,
            Q4_0 => 2,
            Q4_1 => 3,
            Q5_0 => 6,
            Q5_1 => 7,
            Q8_0 => 8,
            Q8_1 => 9,
            Q2K => 10,
            Q3K => 11,
            Q4K => 12,
            Q5K => 13,
            Q6K => 14,
            Q8K => 15,
            I8 => 24,
            I16 => 25,
            I32 => 26,
            I64 => 27,
            F64 => 28,
            BF16 => 30,
        }
    }

    /// GGML's name of the type, e.g. `Q8_0`.
    pub fn name(self) -> &'static str {
        use GgmlType::*;
        match self {
            F32 => "F32",
            F16 => "F16",
            Q4_0 => "Q4_0",
            Q4_1 => "Q4_1",
            Q5_0 => "Q5_0",
            Q5_1 => "Q5_1",
            Q8_0 => "Q8_0",
            Q8_1 => "Q8_1",
            Q2K => "Q2_K",
            Q3K => "Q3_K",
            Q4K => "Q4_K",
            Q5K => "Q5_K",
            Q6K => "Q6_K",
            Q8K => "Q8_K",
            I8 => "I8",
            I16 => "I16",
            I32 => "I32",
            I64 => "I64",
            F64 => "F64",
            BF16 => "BF16",
        }
    }

    /// (weights per block, bytes per block).
    pub fn block(self) -> (u64, u64) {
        use GgmlType::*;
        match self {
            F32 | I32 => (1, 4),
            F16 | BF16 | I16 => (1, 2),
            I8 => (1, 1),
            I64 | F64 => (1, 8),
            Q4_0 => (32, 18),
            Q4_1 => (32, 20),
            Q5_0 => (32, 22),
            Q5_1 => (32, 24),
            Q8_0 => (32, 34),
            Q8_1 => (32, 36),
            Q2K => (256, 84),
            Q3K => (256, 110),
            Q4K => (256, 144),
            Q5K => (256, 176),
            Q6K => (256, 210),
            Q8K => (256, 292),
        }
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
