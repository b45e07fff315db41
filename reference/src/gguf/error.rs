//! Why a GGUF file was rejected. Every message names the part of the file and the problem, in
//! one line, so a command can print it as it is.

/// A GGUF file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file could not be opened or mapped.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The first four bytes are not `GGUF`.
    #[error("bad magic {found:02x?} (a GGUF file starts with \"GGUF\")")]
    BadMagic {
        /// The bytes found.
        found: Vec<u8>,
    },
    /// A version this reader does not speak.
    #[error("GGUF version {0} is not supported (versions 2 and 3 are)")]
    UnsupportedVersion(u32),
    /// The file ends inside a field.
    #[error("truncated: {what} at byte {offset} needs {needed} bytes, {available} left")]
    Truncated {
        /// The field being read.
        what: String,
        /// Where it starts.
        offset: u64,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left in the file.
        available: u64,
    },
    /// A field holds a value that cannot be right (an unknown type tag, a count larger than the
    /// file could hold, a string that is not UTF-8, …).
    #[error("{what}: {problem}")]
    Invalid {
        /// The field.
        what: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A tensor of a GGML type this reader does not know the block size of.
    #[error("tensor '{tensor}': unsupported ggml type {type_id}")]
    UnsupportedType {
        /// The tensor's name.
        tensor: String,
        /// Its type id.
        type_id: u32,
    },
    /// A tensor whose data lies outside the file's data section.
    #[error("tensor '{tensor}': data [{start}, {end}) lies outside the data section ({data_len} bytes)")]
    OutOfRange {
        /// The tensor's name.
        tensor: String,
        /// First byte, relative to the data section.
        start: u64,
        /// One past the last byte.
        end: u64,
        /// Length of the data section.
        data_len: u64,
    },
}

impl GgufError {
    pub(crate) fn invalid(what: impl Into<String>, problem: impl Into<String>) -> Self {
        GgufError::Invalid { what: what.into(), problem: problem.into() }
    }
}
