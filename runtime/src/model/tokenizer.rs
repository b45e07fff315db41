//! The model's tokenizer, built from a GGUF file's `tokenizer.ggml.*` metadata with the
//! `tokenizers` crate (Hugging Face's maintained implementation), so that token ids match the ones
//! the model was trained on and that llama.cpp produces for the same file.
//!
//! Supported: `tokenizer.ggml.model = "gpt2"` (byte-level BPE) with one of the pre-tokenizers in
//! [`PreTokenizer`]. The pipeline, in the order llama.cpp applies it:
//!
//! 1. control and user-defined tokens (`tokenizer.ggml.token_type` 3 and 4, e.g. `<|im_start|>`)
//!    are cut out of the text first and map to their ids: added tokens of the `tokenizers` crate,
//!    matched leftmost-longest;
//! 2. for `smollm` and its relatives, every numeric character (`\p{N}`) is isolated (`Digits` with
//!    individual digits), so "12345" is five tokens, as llama.cpp's first regex `\p{N}` does;
//! 3. GPT-2's regex `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
//!    splits each piece, and its bytes are mapped to GPT-2's printable byte alphabet (`ByteLevel`,
//!    no prefix space: llama.cpp ignores `add_space_prefix` for BPE vocabularies);
//! 4. BPE merges each word by the rank of `tokenizer.ggml.merges` (earlier merges first).
//!
//! A byte without a token in the vocabulary (SmolLM2 has none for 21 bytes, e.g. 0x04) is left out
//! of the ids, as llama.cpp does ([`Tokenizer::unencodable_bytes`]).
//!
//! Decoding maps byte-level text back to bytes and renders control tokens as their text.
//! Anything else in the metadata — a SentencePiece vocabulary, an unknown pre-tokenizer, a merge
//! whose parts are not tokens — is a [`TokenizerError`] naming the key and the value.

use std::collections::HashSet;

use dfma_reference::gguf::{Gguf, GgufFile, Value};
use tokenizers::decoders::byte_level::ByteLevel;
use tokenizers::models::bpe::{BPE, Merges, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer as HfTokenizer};

/// `tokenizer.ggml.token_type` of a normal vocabulary entry.
const TYPE_NORMAL: i64 = 1;
/// `tokenizer.ggml.token_type` of a control token (`<|im_start|>`, `<|endoftext|>`): matched in
/// text as one token, rendered as its text.
const TYPE_CONTROL: i64 = 3;
/// `tokenizer.ggml.token_type` of a user-defined token: matched in text as one token, like llama.cpp.
const TYPE_USER_DEFINED: i64 = 4;

/// Why a tokenizer could not be built from a GGUF file's metadata, or could not encode or decode.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A required metadata key is absent.
    #[error("metadata key {key} is missing (needed to build the tokenizer)")]
    MissingKey {
        /// The key.
        key: &'static str,
    },
    /// A metadata value has the wrong type.
    #[error("metadata key {key} should be {expected}, found {found}")]
    WrongType {
        /// The key.
        key: &'static str,
        /// What it should be.
        expected: &'static str,
        /// What it is, briefly.
        found: String,
    },
    /// `tokenizer.ggml.model` names a tokenizer family this runtime does not build.
    #[error("tokenizer.ggml.model {value:?}{family} is not supported (only \"gpt2\", byte-level BPE, is)")]
    UnsupportedModel {
        /// The value found.
        value: String,
        /// What that family is, in parentheses, where known.
        family: &'static str,
    },
    /// `tokenizer.ggml.pre` names a pre-tokenizer this runtime does not reproduce.
    #[error("tokenizer.ggml.pre {value:?} is not supported (supported: {supported})")]
    UnsupportedPreTokenizer {
        /// The value found.
        value: String,
        /// The supported values.
        supported: String,
    },
    /// Two per-token arrays disagree on the vocabulary size.
    #[error("metadata key {key} has {found} entries, but tokenizer.ggml.tokens has {expected}")]
    LengthMismatch {
        /// The key.
        key: &'static str,
        /// Its length.
        found: usize,
        /// The number of tokens.
        expected: usize,
    },
    /// The same token string appears twice, so text could not map to one id.
    #[error("tokenizer.ggml.tokens[{second}] {token:?} repeats tokenizer.ggml.tokens[{first}]")]
    DuplicateToken {
        /// The token string.
        token: String,
        /// Its first id.
        first: u32,
        /// The repeated id.
        second: u32,
    },
    /// A merge is not two tokens separated by a space, or its parts or result are not tokens.
    #[error("tokenizer.ggml.merges[{index}] {merge:?}: {problem}")]
    BadMerge {
        /// Its index (its rank).
        index: usize,
        /// The merge as stored.
        merge: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A special token id in the metadata is outside the vocabulary.
    #[error("metadata key {key} is {id}, outside the vocabulary of {n_vocab} tokens")]
    IdOutOfRange {
        /// The key.
        key: &'static str,
        /// The id.
        id: u64,
        /// The vocabulary size.
        n_vocab: usize,
    },
    /// A token id given to [`Tokenizer::decode`] is outside the vocabulary.
    #[error("token id {id} is outside the vocabulary of {n_vocab} tokens")]
    UnknownId {
        /// The id.
        id: u32,
        /// The vocabulary size.
        n_vocab: usize,
    },
    /// The `tokenizers` crate refused to build, encode or decode.
    #[error("tokenizers: {what}: {message}")]
    Library {
        /// What was being done.
        what: &'static str,
        /// Its error message.
        message: String,
    },
}

/// How text is split into words before BPE: the `tokenizer.ggml.pre` values this runtime
/// reproduces, grouped by the regexes llama.cpp applies for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreTokenizer {
    /// Every `\p{N}` character isolated, then GPT-2's regex: `smollm`, `starcoder`, `refact`,
    /// `codeshell`, `command-r`.
    DigitsThenGpt2,
    /// GPT-2's regex alone: `gpt-2`, `mpt`, `olmo`, `phi-2`.
    Gpt2,
}

impl PreTokenizer {
    /// The `tokenizer.ggml.pre` values accepted, with what each maps to: those llama.cpp splits with
    /// exactly these regexes. Only `smollm` is checked here against a real model and an independent
    /// reference; the others share its code path.
    pub const SUPPORTED: [(&'static str, PreTokenizer); 9] = [
        ("smollm", PreTokenizer::DigitsThenGpt2),
        ("starcoder", PreTokenizer::DigitsThenGpt2),
        ("refact", PreTokenizer::DigitsThenGpt2),
        ("codeshell", PreTokenizer::DigitsThenGpt2),
        ("command-r", PreTokenizer::DigitsThenGpt2),
        ("gpt-2", PreTokenizer::Gpt2),
        ("mpt", PreTokenizer::Gpt2),
        ("olmo", PreTokenizer::Gpt2),
        ("phi-2", PreTokenizer::Gpt2),
    ];

    /// The pre-tokenizer for a `tokenizer.ggml.pre` value.
    pub fn from_gguf_name(name: &str) -> Result<PreTokenizer, TokenizerError> {
        Self::SUPPORTED.iter().find(|(n, _)| *n == name).map(|&(_, p)| p).ok_or_else(|| {
            TokenizerError::UnsupportedPreTokenizer {
                value: name.to_owned(),
                supported: Self::SUPPORTED.iter().map(|(n, _)| format!("{n:?}")).collect::<Vec<_>>().join(", "),
            }
        })
    }

    /// The `tokenizers` pre-tokenizer that reproduces it, for a vocabulary in which the
    /// byte-level characters `unencodable` have no token.
    ///
    /// Such a character is then cut out as a word of its own, which BPE drops: llama.cpp keeps it
    /// as a symbol that no merge joins and leaves it out of the output, so its neighbours never
    /// merge across it; without the cut the `tokenizers` BPE would drop it first and merge them.
    fn build(self, unencodable: &[(u8, char)]) -> Result<PreTokenizerWrapper, TokenizerError> {
        // No prefix space; GPT-2's regex on; offsets are not used here.
        let byte_level = ByteLevel::new(false, true, true);
        let mut steps: Vec<PreTokenizerWrapper> = match self {
            PreTokenizer::DigitsThenGpt2 => vec![Digits::new(true).into(), byte_level.into()],
            PreTokenizer::Gpt2 => vec![byte_level.into()],
        };
        if !unencodable.is_empty() {
            let class: String = unencodable.iter().map(|&(_, ch)| format!("\\x{{{:x}}}", u32::from(ch))).collect();
            let split = Split::new(SplitPattern::Regex(format!("[{class}]")), SplitDelimiterBehavior::Isolated, false)
                .map_err(|e| TokenizerError::Library { what: "building the byte split", message: e.to_string() })?;
            steps.push(split.into());
        }
        Ok(if steps.len() == 1 { steps.remove(0) } else { Sequence::new(steps).into() })
    }
}

/// A byte-level BPE tokenizer read from GGUF metadata.
pub struct Tokenizer {
    inner: HfTokenizer,
    /// Vocabulary strings as stored (byte-level form, e.g. `Ġthe`), by id.
    tokens: Vec<String>,
    /// Whether each id is a control token (rendered as its text, never byte-decoded).
    control: Vec<bool>,
    pre: PreTokenizer,
    /// Bytes without a token of their own, in increasing order.
    unencodable: Vec<u8>,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    add_eos: bool,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("n_vocab", &self.tokens.len())
            .field("pre", &self.pre)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("add_bos", &self.add_bos)
            .field("add_eos", &self.add_eos)
            .finish()
    }
}

impl Tokenizer {
    /// Builds the tokenizer of a memory-mapped GGUF model.
    pub fn from_gguf(file: &GgufFile) -> Result<Tokenizer, TokenizerError> {
        Self::from_metadata(&file.gguf)
    }

    /// Builds the tokenizer from a parsed GGUF header (its metadata only; no tensor is read).
    pub fn from_metadata(gguf: &Gguf) -> Result<Tokenizer, TokenizerError> {
        let model = string(gguf, "tokenizer.ggml.model")?;
        if model != "gpt2" {
            let family = match model {
                "llama" => " (SentencePiece)",
                "bert" => " (WordPiece)",
                "t5" => " (Unigram)",
                "rwkv" => " (RWKV greedy)",
                "no_vocab" | "none" => " (no vocabulary)",
                _ => "",
            };
            return Err(TokenizerError::UnsupportedModel { value: model.to_owned(), family });
        }
        let pre = PreTokenizer::from_gguf_name(string(gguf, "tokenizer.ggml.pre")?)?;

        let tokens = strings(gguf, "tokenizer.ggml.tokens")?;
        let n_vocab = tokens.len();
        if n_vocab > u32::MAX as usize {
            return Err(TokenizerError::WrongType {
                key: "tokenizer.ggml.tokens",
                expected: "at most 2^32 - 1 tokens",
                found: format!("{n_vocab} tokens"),
            });
        }
        let types = token_types(gguf, n_vocab)?;
        let merges = merges(gguf)?;

        let mut vocab = Vocab::with_capacity(n_vocab);
        for (id, t) in tokens.iter().enumerate() {
            if let Some(&first) = vocab.get(t) {
                return Err(TokenizerError::DuplicateToken { token: t.clone(), first, second: id as u32 });
            }
            vocab.insert(t.clone(), id as u32);
        }
        let unencodable: Vec<(u8, char)> =
            byte_alphabet().filter(|(_, ch)| !vocab.contains_key(ch.to_string().as_str())).collect();
        for (index, (a, b)) in merges.iter().enumerate() {
            let missing = [a.as_str(), b.as_str()]
                .into_iter()
                .map(str::to_owned)
                .chain(std::iter::once(format!("{a}{b}")))
                .find(|t| !vocab.contains_key(t.as_str()));
            if let Some(t) = missing {
                return Err(TokenizerError::BadMerge {
                    index,
                    merge: format!("{a} {b}"),
                    problem: format!("{t:?} is not in tokenizer.ggml.tokens"),
                });
            }
        }

        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| TokenizerError::Library { what: "building the BPE model", message: e.to_string() })?;
        let mut inner = HfTokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(pre.build(&unencodable)?));
        inner.with_decoder(Some(ByteLevel::new(false, true, true)));
        let added = |wanted: i64, special: bool| -> Vec<AddedToken> {
            let of_type = tokens.iter().zip(&types).filter(|&(_, &ty)| ty == wanted);
            of_type.map(|(t, _)| AddedToken::from(t.clone(), special).normalized(false)).collect()
        };
        inner.add_special_tokens(&added(TYPE_CONTROL, true));
        inner.add_tokens(&added(TYPE_USER_DEFINED, false));

        Ok(Tokenizer {
            inner,
            control: types.iter().map(|&t| t == TYPE_CONTROL).collect(),
            tokens,
            pre,
            unencodable: unencodable.iter().map(|&(b, _)| b).collect(),
            bos: optional_id(gguf, "tokenizer.ggml.bos_token_id", n_vocab)?,
            eos: optional_id(gguf, "tokenizer.ggml.eos_token_id", n_vocab)?,
            add_bos: optional_bool(gguf, "tokenizer.ggml.add_bos_token")?.unwrap_or(false),
            add_eos: optional_bool(gguf, "tokenizer.ggml.add_eos_token")?.unwrap_or(false),
        })
    }

    /// Token ids of `text`. Control tokens written in the text (`<|im_start|>`) become their ids.
    /// With `add_special`, BOS and EOS are added where the metadata asks for them
    /// (`tokenizer.ggml.add_bos_token`, `add_eos_token`; both false for SmolLM2), as llama.cpp does.
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| TokenizerError::Library { what: "encoding", message: e.to_string() })?;
        let mut ids = Vec::with_capacity(encoding.len() + 2);
        if add_special && self.add_bos {
            ids.extend(self.bos);
        }
        ids.extend_from_slice(encoding.get_ids());
        if add_special && self.add_eos {
            ids.extend(self.eos);
        }
        Ok(ids)
    }

    /// The text of `ids`: byte-level tokens back to UTF-8 (a sequence cut inside a character gives
    /// U+FFFD for the cut bytes), control tokens as their own text (`<|im_end|>`).
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        let n_vocab = self.tokens.len();
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= n_vocab) {
            return Err(TokenizerError::UnknownId { id, n_vocab });
        }
        // Control tokens are cut out so that their text is never read as byte-level characters.
        let mut out = String::new();
        for run in ids.chunk_by(|&a, &b| self.control[a as usize] == self.control[b as usize]) {
            if self.control[run[0] as usize] {
                run.iter().for_each(|&id| out.push_str(&self.tokens[id as usize]));
            } else {
                let text = self
                    .inner
                    .decode(run, false)
                    .map_err(|e| TokenizerError::Library { what: "decoding", message: e.to_string() })?;
                out.push_str(&text);
            }
        }
        Ok(out)
    }

    /// The beginning-of-sequence id (`tokenizer.ggml.bos_token_id`), if the file names one.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// The end-of-sequence id (`tokenizer.ggml.eos_token_id`), where generation stops.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// The vocabulary string of `id` as stored in the file (byte-level form: `Ġthe` for " the"),
    /// for logs and debugging; [`Tokenizer::decode`] gives text.
    pub fn token_str(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The id of a vocabulary string as stored (`<|im_start|>`, `Ġthe`).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Whether `id` is a control token (`<|im_end|>`): samplers and chat loops treat these apart.
    pub fn is_control(&self, id: u32) -> bool {
        self.control.get(id as usize).copied().unwrap_or(false)
    }

    /// Number of tokens, the model's output width.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// Bytes that have no token in this vocabulary (SmolLM2 lacks 21: six ASCII controls such as
    /// 0x04, and bytes that never occur in UTF-8 such as 0xC0 and 0xF5..=0xFF). [`Tokenizer::encode`]
    /// leaves them out of its output, as llama.cpp does; decoding cannot bring them back.
    pub fn unencodable_bytes(&self) -> &[u8] {
        &self.unencodable
    }

    /// The pre-tokenizer in use.
    pub fn pre_tokenizer(&self) -> PreTokenizer {
        self.pre
    }

    /// The underlying `tokenizers` tokenizer, for what this wrapper does not expose (offsets).
    pub fn inner(&self) -> &HfTokenizer {
        &self.inner
    }
}

/// GPT-2's map from bytes to printable characters: printable Latin-1 bytes stand for themselves,
/// the others for U+0100 onwards in byte order.
fn byte_alphabet() -> impl Iterator<Item = (u8, char)> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut next = 0x100u32;
    (0..=255u8).map(move |b| {
        if printable(b) {
            (b, char::from(b))
        } else {
            let c = char::from_u32(next).unwrap_or(char::REPLACEMENT_CHARACTER);
            next += 1;
            (b, c)
        }
    })
}

fn brief(v: &Value) -> String {
    match v {
        Value::Array(items) => format!("an array of {} items", items.len()),
        Value::String(s) if s.len() > 40 => format!("a string of {} bytes", s.len()),
        other => format!("{other:?}"),
    }
}

fn required<'a>(gguf: &'a Gguf, key: &'static str) -> Result<&'a Value, TokenizerError> {
    gguf.get(key).ok_or(TokenizerError::MissingKey { key })
}

fn string<'a>(gguf: &'a Gguf, key: &'static str) -> Result<&'a str, TokenizerError> {
    let v = required(gguf, key)?;
    v.as_str().ok_or_else(|| TokenizerError::WrongType { key, expected: "a string", found: brief(v) })
}

fn array<'a>(gguf: &'a Gguf, key: &'static str) -> Result<&'a [Value], TokenizerError> {
    let v = required(gguf, key)?;
    v.as_array().ok_or_else(|| TokenizerError::WrongType { key, expected: "an array", found: brief(v) })
}

fn strings(gguf: &Gguf, key: &'static str) -> Result<Vec<String>, TokenizerError> {
    array(gguf, key)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str().map(str::to_owned).ok_or_else(|| TokenizerError::WrongType {
                key,
                expected: "an array of strings",
                found: format!("item {i} = {}", brief(v)),
            })
        })
        .collect()
}

/// Token types; absent means every token is normal (llama.cpp's default too).
fn token_types(gguf: &Gguf, n_vocab: usize) -> Result<Vec<i64>, TokenizerError> {
    const KEY: &str = "tokenizer.ggml.token_type";
    if gguf.get(KEY).is_none() {
        return Ok(vec![TYPE_NORMAL; n_vocab]);
    }
    let items = array(gguf, KEY)?;
    if items.len() != n_vocab {
        return Err(TokenizerError::LengthMismatch { key: KEY, found: items.len(), expected: n_vocab });
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match *v {
            Value::I32(t) => Ok(t.into()),
            Value::U32(t) => Ok(t.into()),
            Value::I8(t) => Ok(t.into()),
            Value::U8(t) => Ok(t.into()),
            _ => Err(TokenizerError::WrongType {
                key: KEY,
                expected: "an array of integers",
                found: format!("item {i} = {}", brief(v)),
            }),
        })
        .collect()
}

/// Merges as (left, right) in rank order. Each is split at its first space after the first byte,
/// as llama.cpp does (a left part may itself be a space-like byte-level character). A pair listed
/// twice keeps its first rank, as in llama.cpp.
fn merges(gguf: &Gguf) -> Result<Merges, TokenizerError> {
    const KEY: &str = "tokenizer.ggml.merges";
    let all = strings(gguf, KEY)?;
    let mut seen: HashSet<(&str, &str)> = HashSet::with_capacity(all.len());
    let mut out = Merges::with_capacity(all.len());
    for (index, m) in all.iter().enumerate() {
        let split = m.char_indices().skip(1).find(|&(_, c)| c == ' ').map(|(i, _)| i);
        let Some(at) = split.filter(|&at| at + 1 < m.len()) else {
            return Err(TokenizerError::BadMerge {
                index,
                merge: m.clone(),
                problem: "not two tokens separated by a space".into(),
            });
        };
        let (a, b) = (&m[..at], &m[at + 1..]);
        if seen.insert((a, b)) {
            out.push((a.to_owned(), b.to_owned()));
        }
    }
    Ok(out)
}

fn optional_id(gguf: &Gguf, key: &'static str, n_vocab: usize) -> Result<Option<u32>, TokenizerError> {
    let Some(v) = gguf.get(key) else { return Ok(None) };
    let id = v.as_u64().ok_or_else(|| TokenizerError::WrongType { key, expected: "a token id", found: brief(v) })?;
    if id >= n_vocab as u64 {
        return Err(TokenizerError::IdOutOfRange { key, id, n_vocab });
    }
    Ok(Some(id as u32))
}

fn optional_bool(gguf: &Gguf, key: &'static str) -> Result<Option<bool>, TokenizerError> {
    match gguf.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(TokenizerError::WrongType { key, expected: "a boolean", found: brief(v) }),
    }
}
