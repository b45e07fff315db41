//! A reader for GGUF, the single-file model format of GGML and llama.cpp (versions 2 and 3:
//! same layout, u64 counts).
//!
//! Layout, little-endian: magic `GGUF`, u32 version, u64 tensor count, u64 metadata count; the
//! metadata as (string key, u32 type, value); per tensor its string name, u32 dimension count,
//! u64 sizes (`ne[0]` first: the fastest-varying, a matrix's columns), u32 GGML type and u64 offset
//! relative to the data section; then padding to `general.alignment` (default 32), and the data.
//!
//! Everything a file claims is checked before it is used: counts against the bytes that remain,
//! dimensions against GGML's block sizes, every tensor's bytes against the data section. A corrupt
//! or truncated file is a [`GgufError`] that names the field, never a panic. [`GgufFile::open`]
//! memory-maps the file, so a multi-gigabyte model is not copied to be read.

mod cursor;
mod error;
mod ggml_type;
mod value;
mod writer;

use std::path::Path;

pub use error::GgufError;
pub use ggml_type::GgmlType;
pub use value::Value;
pub use writer::GgufWriter;

use cursor::Cursor;
use value::read_value;

/// Data alignment when the file does not set `general.alignment`.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Most dimensions a GGML tensor has.
pub const MAX_DIMS: u32 = 4;
/// Deepest nesting of metadata arrays accepted.
const MAX_ARRAY_DEPTH: u32 = 4;

/// One tensor's description.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// Its name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Sizes, `ne[0]` (contiguous) first. A matrix of `rows` rows of `cols` is `[cols, rows]`.
    pub dims: Vec<u64>,
    /// Its GGML type.
    pub ggml_type: GgmlType,
    /// Start of its data, relative to the data section.
    pub offset: u64,
    /// Its data's length in bytes.
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// (rows, cols) of a 2-D tensor: `ne[1]`, `ne[0]`.
    pub fn matrix_shape(&self) -> Option<(u64, u64)> {
        match self.dims.as_slice() {
            &[cols, rows] => Some((rows, cols)),
            _ => None,
        }
    }
}

/// A parsed GGUF header: version, metadata, tensor descriptions and where the data starts.
#[derive(Clone, Debug)]
pub struct Gguf {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata in file order.
    pub metadata: Vec<(String, Value)>,
    /// Tensors in file order.
    pub tensors: Vec<TensorInfo>,
    /// Data alignment in bytes.
    pub alignment: u64,
    /// Byte offset of the data section in the file.
    pub data_offset: u64,
    /// Length of the data section (to the end of the file).
    pub data_len: u64,
}

impl Gguf {
    /// Parses and validates a whole GGUF file held in `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Gguf, GgufError> {
        let mut c = Cursor::new(bytes);
        let magic = c.take(4, &|| "magic".into()).map_err(|_| GgufError::BadMagic { found: bytes.to_vec() })?;
        if magic != b"GGUF" {
            return Err(GgufError::BadMagic { found: magic.to_vec() });
        }
        let version = c.u32(&|| "version".into())?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        // A tensor description is at least 8 + 4 + 8 + 4 + 8 bytes; a key-value pair 8 + 4 + 1.
        let n_tensors = c.count(32, &|| "tensor count".into())?;
        let n_kv = c.count(13, &|| "metadata count".into())?;
        let mut metadata = Vec::with_capacity(n_kv as usize);
        for i in 0..n_kv {
            let key = c.string(&|| format!("metadata key #{i}"))?;
            let what = || format!("metadata '{key}'");
            let tag = c.u32(&|| format!("{} (type)", what()))?;
            let value = read_value(&mut c, tag, MAX_ARRAY_DEPTH, &what)?;
            metadata.push((key, value));
        }
        let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some((_, v)) => match v.as_u64() {
                Some(a) if a.is_power_of_two() => a,
                _ => {
                    return Err(GgufError::invalid(
                        "metadata 'general.alignment'",
                        format!("{v:?} is not a power of two"),
                    ));
                }
            },
        };
        let mut tensors = Vec::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            tensors.push(read_tensor_info(&mut c, i)?);
        }
        let data_offset = (c.pos() as u64).next_multiple_of(alignment);
        let data_len = (bytes.len() as u64).saturating_sub(data_offset);
        for t in &tensors {
            if t.offset % alignment != 0 {
                return Err(GgufError::invalid(
                    format!("tensor '{}'", t.name),
                    format!("offset {} is not a multiple of the alignment {alignment}", t.offset),
                ));
            }
            let end = t.offset.saturating_add(t.n_bytes);
            if end > data_len {
                return Err(GgufError::OutOfRange { tensor: t.name.clone(), start: t.offset, end, data_len });
            }
        }
        let mut names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(GgufError::invalid(format!("tensor '{}'", w[0]), "appears twice"));
        }
        Ok(Gguf { version, metadata, tensors, alignment, data_offset, data_len })
    }

    /// The metadata value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// `t`'s bytes within the whole file's `bytes` (ranges were checked by [`Gguf::parse`]).
    pub fn data<'a>(&self, bytes: &'a [u8], t: &TensorInfo) -> &'a [u8] {
        let start = (self.data_offset + t.offset) as usize;
        &bytes[start..start + t.n_bytes as usize]
    }
}

fn read_tensor_info(c: &mut Cursor<'_>, i: u64) -> Result<TensorInfo, GgufError> {
    let name = c.string(&|| format!("tensor #{i} name"))?;
    let what = || format!("tensor '{name}'");
    let n_dims = c.u32(&|| format!("{} (dimension count)", what()))?;
    if !(1..=MAX_DIMS).contains(&n_dims) {
        return Err(GgufError::invalid(what(), format!("{n_dims} dimensions (GGML tensors have 1 to {MAX_DIMS})")));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for d in 0..n_dims {
        dims.push(c.u64(&|| format!("{} (size of dimension {d})", what()))?);
    }
    let type_id = c.u32(&|| format!("{} (type)", what()))?;
    let offset = c.u64(&|| format!("{} (offset)", what()))?;
    let ggml_type =
        GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnsupportedType { tensor: name.clone(), type_id })?;
    let (block_weights, block_bytes) = ggml_type.block();
    if dims[0] % block_weights != 0 {
        return Err(GgufError::invalid(
            what(),
            format!("first dimension {} is not a multiple of {ggml_type}'s block of {block_weights}", dims[0]),
        ));
    }
    let n_elements = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    let n_bytes = n_elements
        .and_then(|n| (n / block_weights).checked_mul(block_bytes))
        .ok_or_else(|| GgufError::invalid(what(), format!("sizes {dims:?} overflow")))?;
    Ok(TensorInfo { name, dims, ggml_type, offset, n_bytes })
}

/// A memory-mapped GGUF file and its parsed header.
pub struct GgufFile {
    map: memmap2::Mmap,
    /// The parsed header.
    pub gguf: Gguf,
}

impl GgufFile {
    /// Opens, maps and parses `path`.
    pub fn open(path: &Path) -> Result<GgufFile, GgufError> {
        let io = |source| GgufError::Io { path: path.display().to_string(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the map is read-only and private to this process. Another process truncating
        // the file while it is mapped would fault the reads; model files are not rewritten in
        // place, and every offset used was bounds-checked against the length seen at parse time.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let gguf = Gguf::parse(&map)?;
        Ok(GgufFile { map, gguf })
    }

    /// The whole file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// `t`'s data.
    pub fn data(&self, t: &TensorInfo) -> &[u8] {
        self.gguf.data(&self.map, t)
    }
}

#[cfg(test)]
mod tests;
