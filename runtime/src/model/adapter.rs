//! LoRA adapters over the frozen model: which projections of which blocks carry one, their
//! factors, and their file format.
//!
//! An adapter of rank r on a projection W (`rows × cols`) is `A` `[r, cols]` and `B`
//! `[rows, r]`, applied as y = W·x + s·B·(A·x) with s = alpha / r. New adapters start with
//! B = 0 (so the model is unchanged until trained) and A small and random.
//!
//! Files are safetensors: tensors `blk.{layer}.{projection}.lora_a` and `.lora_b` (f32), and
//! metadata `dfma.base_model_sha256` (the SHA-256 of the base GGUF file), `dfma.rank`,
//! `dfma.alpha`. Loading an adapter onto another base model is refused, naming both hashes.

use std::collections::BTreeMap;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use safetensors::tensor::{Dtype, TensorView};
use sha2::{Digest, Sha256};

use super::config::LlamaConfig;
use super::error::ModelError;

/// A projection of a transformer block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Projection {
    /// Query.
    Q,
    /// Key.
    K,
    /// Value.
    V,
    /// Attention output.
    O,
    /// SwiGLU gate.
    Gate,
    /// SwiGLU up.
    Up,
    /// SwiGLU down.
    Down,
}

impl Projection {
    /// Every projection, in block order.
    pub const ALL: [Projection; 7] = [
        Projection::Q,
        Projection::K,
        Projection::V,
        Projection::O,
        Projection::Gate,
        Projection::Up,
        Projection::Down,
    ];

    /// The GGUF name of the projection's weight (`attn_q`, …, `ffn_down`).
    pub fn gguf_name(self) -> &'static str {
        match self {
            Projection::Q => "attn_q",
            Projection::K => "attn_k",
            Projection::V => "attn_v",
            Projection::O => "attn_output",
            Projection::Gate => "ffn_gate",
            Projection::Up => "ffn_up",
            Projection::Down => "ffn_down",
        }
    }

    /// The projection called `name` (its GGUF name, or q/k/v/o/gate/up/down).
    pub fn parse(name: &str) -> Option<Projection> {
        Projection::ALL.into_iter().find(|p| p.gguf_name() == name || p.short() == name)
    }

    fn short(self) -> &'static str {
        match self {
            Projection::Q => "q",
            Projection::K => "k",
            Projection::V => "v",
            Projection::O => "o",
            Projection::Gate => "gate",
            Projection::Up => "up",
            Projection::Down => "down",
        }
    }

    /// (rows, cols) of the projection in a model of configuration `c`.
    pub fn shape(self, c: &LlamaConfig) -> (usize, usize) {
        match self {
            Projection::Q | Projection::O => (c.dim, c.dim),
            Projection::K | Projection::V => (c.kv_dim(), c.dim),
            Projection::Gate | Projection::Up => (c.ffn_dim, c.dim),
            Projection::Down => (c.dim, c.ffn_dim),
        }
    }
}

/// One projection's factors.
#[derive(Clone, Debug, PartialEq)]
pub struct LoraFactors {
    /// `[rank, cols]`, row-major.
    pub a: Vec<f32>,
    /// `[rows, rank]`, row-major.
    pub b: Vec<f32>,
    /// Output width.
    pub rows: usize,
    /// Input width.
    pub cols: usize,
}

/// A LoRA adapter over one base model.
#[derive(Clone, Debug, PartialEq)]
pub struct Adapter {
    /// Common rank.
    pub rank: usize,
    /// LoRA's alpha; the scale is alpha / rank.
    pub alpha: f32,
    /// SHA-256 (hex) of the base model file it belongs to.
    pub base_sha256: String,
    /// Factors by (block, projection).
    pub factors: BTreeMap<(usize, Projection), LoraFactors>,
}

impl Adapter {
    /// A fresh adapter on `projections` of `layers`: A uniform in ±1/√cols (seeded), B = 0.
    pub fn init(
        c: &LlamaConfig,
        base_sha256: &str,
        layers: &[usize],
        projections: &[Projection],
        rank: usize,
        alpha: f32,
        seed: u64,
    ) -> Result<Adapter, ModelError> {
        if rank == 0 || rank > dfma_reference::ops::lora::MAX_RANK {
            return Err(ModelError::Request(format!(
                "rank {rank} is outside 1..={}",
                dfma_reference::ops::lora::MAX_RANK
            )));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut factors = BTreeMap::new();
        for &l in layers {
            if l >= c.layers {
                return Err(ModelError::Request(format!("layer {l} is outside 0..{}", c.layers)));
            }
            for &p in projections {
                let (rows, cols) = p.shape(c);
                let bound = 1.0 / (cols as f32).sqrt();
                let a = (0..rank * cols).map(|_| rng.random_range(-bound..bound)).collect();
                factors.insert((l, p), LoraFactors { a, b: vec![0.0; rows * rank], rows, cols });
            }
        }
        Ok(Adapter { rank, alpha, base_sha256: base_sha256.into(), factors })
    }

    /// alpha / rank.
    pub fn scale(&self) -> f32 {
        self.alpha / self.rank as f32
    }

    /// Every B factor, concatenated in key order: the part of a shared-A adapter that learns,
    /// and what an instance's learning signal is made of.
    pub fn b_vector(&self) -> Vec<f32> {
        self.factors.values().flat_map(|f| f.b.iter().copied()).collect()
    }

    /// Number of B values ([`Adapter::b_vector`]'s length).
    pub fn b_len(&self) -> usize {
        self.factors.values().map(|f| f.b.len()).sum()
    }

    /// Sets the B factors to `b` (laid out as [`Adapter::b_vector`]), as a checkpoint saved
    /// them; a vector of another length is refused and changes nothing.
    pub fn set_b(&mut self, b: &[f32]) -> Result<(), ModelError> {
        if b.len() != self.b_len() {
            return Err(ModelError::Request(format!("{} B values for an adapter with {}", b.len(), self.b_len())));
        }
        let mut rest = b;
        for f in self.factors.values_mut() {
            let (head, tail) = rest.split_at(f.b.len());
            f.b.copy_from_slice(head);
            rest = tail;
        }
        Ok(())
    }

    /// Adds `delta` (laid out as [`Adapter::b_vector`]) to the B factors; a delta of another
    /// length is refused and changes nothing.
    pub fn add_to_b(&mut self, delta: &[f32]) -> Result<(), ModelError> {
        if delta.len() != self.b_len() {
            return Err(ModelError::Request(format!(
                "adapter update of {} values for an adapter with {} B values",
                delta.len(),
                self.b_len()
            )));
        }
        let mut rest = delta;
        for f in self.factors.values_mut() {
            let (head, tail) = rest.split_at(f.b.len());
            f.b.iter_mut().zip(head).for_each(|(b, d)| *b += d);
            rest = tail;
        }
        Ok(())
    }

    /// Writes the adapter as safetensors, through a temporary file renamed into place.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let io = |e: std::io::Error| ModelError::Request(format!("{}: {e}", path.display()));
        let mut bytes: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::new();
        for (&(l, p), f) in &self.factors {
            let name = format!("blk.{l}.{}", p.gguf_name());
            bytes.push((format!("{name}.lora_a"), le_bytes(&f.a), vec![self.rank, f.cols]));
            bytes.push((format!("{name}.lora_b"), le_bytes(&f.b), vec![f.rows, self.rank]));
        }
        let views: Vec<(String, TensorView<'_>)> = bytes
            .iter()
            .map(|(n, b, s)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).expect("shape matches the data")))
            .collect();
        let mut meta = std::collections::HashMap::new();
        meta.insert("dfma.base_model_sha256".to_string(), self.base_sha256.clone());
        meta.insert("dfma.rank".to_string(), self.rank.to_string());
        meta.insert("dfma.alpha".to_string(), self.alpha.to_string());
        let data = safetensors::serialize(views, Some(meta))
            .map_err(|e| ModelError::Request(format!("{}: {e}", path.display())))?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        std::io::Write::write_all(&mut tmp, &data).map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Reads an adapter written by [`Adapter::save`] and checks it against the base model
    /// (`base_sha256`, configuration `c`): hash, shapes, ranks.
    pub fn load(path: &Path, c: &LlamaConfig, base_sha256: &str) -> Result<Adapter, ModelError> {
        let bad = |problem: String| ModelError::Request(format!("adapter {}: {problem}", path.display()));
        let data = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let (_, header) =
            safetensors::SafeTensors::read_metadata(&data).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let get = |k: &str| meta.get(k).cloned().ok_or_else(|| bad(format!("metadata {k} is missing")));
        let hash = get("dfma.base_model_sha256")?;
        if hash != base_sha256 {
            return Err(bad(format!("trained for base model {hash}, this model is {base_sha256}")));
        }
        let rank: usize = get("dfma.rank")?.parse().map_err(|_| bad("dfma.rank is not an integer".into()))?;
        let alpha: f32 = get("dfma.alpha")?.parse().map_err(|_| bad("dfma.alpha is not a number".into()))?;
        let st = safetensors::SafeTensors::deserialize(&data).map_err(|e| bad(e.to_string()))?;
        let mut factors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let Some(base) = name.strip_suffix(".lora_a") else { continue };
            let parse = || -> Option<(usize, Projection)> {
                let rest = base.strip_prefix("blk.")?;
                let (l, p) = rest.split_once('.')?;
                Some((l.parse().ok()?, Projection::parse(p)?))
            };
            let (l, p) = parse()
                .filter(|(l, _)| *l < c.layers)
                .ok_or_else(|| bad(format!("tensor {name}: not blk.<layer>.<projection>")))?;
            let (rows, cols) = p.shape(c);
            let b_name = format!("{base}.lora_b");
            let b_view = st.tensor(&b_name).map_err(|_| bad(format!("{b_name} is missing")))?;
            let a = f32_tensor(&view, &[rank, cols]).map_err(|e| bad(format!("{name}: {e}")))?;
            let b = f32_tensor(&b_view, &[rows, rank]).map_err(|e| bad(format!("{b_name}: {e}")))?;
            factors.insert((l, p), LoraFactors { a, b, rows, cols });
        }
        Ok(Adapter { rank, alpha, base_sha256: hash, factors })
    }
}

fn f32_tensor(v: &TensorView<'_>, shape: &[usize]) -> Result<Vec<f32>, String> {
    if v.dtype() != Dtype::F32 || v.shape() != shape {
        return Err(format!("{:?} {:?}, expected F32 {shape:?}", v.dtype(), v.shape()));
    }
    Ok(v.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

fn le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// SHA-256 (hex) of the file at `path`: the identity adapters are bound to.
pub fn file_sha256(path: &Path) -> Result<String, ModelError> {
    let bytes = std::fs::read(path).map_err(|e| ModelError::Request(format!("{}: {e}", path.display())))?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LlamaConfig {
        LlamaConfig::tiny_for_tests()
    }

    #[test]
    fn save_then_load_gives_the_same_adapter() {
        let c = config();
        let mut ad = Adapter::init(&c, "abc", &[0, 1], &[Projection::Q, Projection::Down], 4, 8.0, 3).unwrap();
        for f in ad.factors.values_mut() {
            f.b.iter_mut().enumerate().for_each(|(i, v)| *v = i as f32 * 0.01);
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.safetensors");
        ad.save(&p).unwrap();
        assert_eq!(Adapter::load(&p, &c, "abc").unwrap(), ad);
    }

    #[test]
    fn an_adapter_for_another_base_model_is_refused_naming_both() {
        let c = config();
        let ad = Adapter::init(&c, "abc", &[0], &[Projection::V], 2, 2.0, 1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.safetensors");
        ad.save(&p).unwrap();
        let e = Adapter::load(&p, &c, "def").unwrap_err().to_string();
        assert!(e.contains("trained for base model abc, this model is def"), "{e}");
    }

    #[test]
    fn a_shape_mismatch_is_refused_naming_the_tensor() {
        let c = config();
        let ad = Adapter::init(&c, "abc", &[0], &[Projection::Gate], 2, 2.0, 1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.safetensors");
        ad.save(&p).unwrap();
        let other = LlamaConfig { ffn_dim: 128, ..config() };
        let e = Adapter::load(&p, &other, "abc").unwrap_err().to_string();
        assert!(e.contains("blk.0.ffn_gate.lora_b"), "{e}");
    }

    #[test]
    fn a_truncated_file_is_an_error_not_a_panic() {
        let c = config();
        let ad = Adapter::init(&c, "abc", &[0], &[Projection::Q], 2, 2.0, 1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.safetensors");
        ad.save(&p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        assert!(Adapter::load(&p, &c, "abc").is_err());
    }
}
