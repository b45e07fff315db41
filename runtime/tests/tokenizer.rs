//! The GGUF tokenizer: a tiny vocabulary written here as a GGUF file, with encodings computed by
//! hand; typed errors for what is not supported; and, when `DFMA_MODEL_GGUF` names the embedded
//! model, token ids identical to an independent Python byte-level BPE (ci/py/gpt2_bpe_reference.py)
//! on a text set, and decode(encode(t)) == t. Without the model file the model checks print
//! "not run: <reason>", except under `CI=true`, where they fail.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use dfma_reference::gguf::GgufFile;
use dfma_runtime::model::tokenizer::{PreTokenizer, Tokenizer, TokenizerError};

// ---------------------------------------------------------------------------------------------
// A minimal GGUF writer: metadata only, no tensors.

enum Meta {
    Str(String),
    Strs(Vec<String>),
    I32s(Vec<i32>),
    U32(u32),
    Bool(bool),
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend((s.len() as u64).to_le_bytes());
    b.extend(s.as_bytes());
}

fn gguf_bytes(kv: &[(&str, Meta)]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend((kv.len() as u64).to_le_bytes());
    for (key, value) in kv {
        put_str(&mut b, key);
        match value {
            Meta::Str(s) => {
                b.extend(8u32.to_le_bytes());
                put_str(&mut b, s);
            }
            Meta::Strs(items) => {
                b.extend(9u32.to_le_bytes());
                b.extend(8u32.to_le_bytes());
                b.extend((items.len() as u64).to_le_bytes());
                items.iter().for_each(|s| put_str(&mut b, s));
            }
            Meta::I32s(items) => {
                b.extend(9u32.to_le_bytes());
                b.extend(5u32.to_le_bytes());
                b.extend((items.len() as u64).to_le_bytes());
                items.iter().for_each(|v| b.extend(v.to_le_bytes()));
            }
            Meta::U32(v) => {
                b.extend(4u32.to_le_bytes());
                b.extend(v.to_le_bytes());
            }
            Meta::Bool(v) => {
                b.extend(7u32.to_le_bytes());
                b.push(u8::from(*v));
            }
        }
    }
    b
}

/// Writes `kv` as a GGUF file and builds its tokenizer.
fn tokenizer_of(kv: &[(&str, Meta)]) -> Result<Tokenizer, TokenizerError> {
    let mut file = tempfile::NamedTempFile::new().expect("temporary file");
    file.write_all(&gguf_bytes(kv)).expect("write GGUF");
    let gguf = GgufFile::open(file.path()).expect("the test's GGUF parses");
    Tokenizer::from_gguf(&gguf)
}

// ---------------------------------------------------------------------------------------------
// The tiny vocabulary: id 0 the control token "<|end|>", ids 1..=256 GGUF's byte-level
// characters of bytes 0..=255 (except byte 0x04, whose place holds "<unused>", as SmolLM2 has no
// token for 0x04 either), then one token per merge.

/// GPT-2's byte-level character of `byte`, written out again here.
fn byte_char(byte: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(byte) {
        return char::from(byte);
    }
    let rank = (0..byte).filter(|&b| !printable(b)).count() as u32;
    char::from_u32(0x100 + rank).unwrap()
}

/// The id of a single byte in the tiny vocabulary.
fn byte_id(byte: u8) -> u32 {
    1 + u32::from(byte)
}

const MERGES: [&str; 9] = ["h i", "Ġ t", "Ġt h", "e r", "Ġth er", "Ġther e", "r e", "4 2", "! !"];
const HI: u32 = 257;
const ER: u32 = 260;
const THERE: u32 = 262;
const FORTY_TWO: u32 = 264;
const BANGS: u32 = 265;
const END: u32 = 0;

fn tiny(model: &str, pre: &str) -> Vec<(&'static str, Meta)> {
    let mut tokens = vec!["<|end|>".to_string()];
    tokens.extend((0..=255u8).map(|b| byte_char(b).to_string()));
    tokens[byte_id(0x04) as usize] = "<unused>".into();
    tokens.extend(MERGES.iter().map(|m| m.replace(' ', "")));
    let mut types = vec![1i32; tokens.len()];
    types[0] = 3;
    vec![
        ("tokenizer.ggml.model", Meta::Str(model.into())),
        ("tokenizer.ggml.pre", Meta::Str(pre.into())),
        ("tokenizer.ggml.tokens", Meta::Strs(tokens)),
        ("tokenizer.ggml.token_type", Meta::I32s(types)),
        ("tokenizer.ggml.merges", Meta::Strs(MERGES.iter().map(|m| m.to_string()).collect())),
        ("tokenizer.ggml.bos_token_id", Meta::U32(END)),
        ("tokenizer.ggml.eos_token_id", Meta::U32(END)),
        ("tokenizer.ggml.add_bos_token", Meta::Bool(false)),
    ]
}

fn with(mut kv: Vec<(&'static str, Meta)>, key: &'static str, value: Meta) -> Vec<(&'static str, Meta)> {
    kv.retain(|(k, _)| *k != key);
    kv.push((key, value));
    kv
}

#[test]
fn tokenizer_tiny_vocabulary_encodes_to_the_hand_computed_ids() {
    let t = tokenizer_of(&tiny("gpt2", "smollm")).unwrap();
    assert_eq!(t.pre_tokenizer(), PreTokenizer::DigitsThenGpt2);
    assert_eq!(t.vocab_size(), 257 + MERGES.len());
    // "hi" | " there" (Ġ t → Ġt h → Ġth, e r → er, Ġth er → Ġther e) | " " | "4" | "2" | <|end|>
    let ids = t.encode("hi there 42<|end|>", false).unwrap();
    assert_eq!(ids, [HI, THERE, byte_id(b' '), byte_id(b'4'), byte_id(b'2'), END]);
}

#[test]
fn tokenizer_merges_apply_in_rank_order() {
    let t = tokenizer_of(&tiny("gpt2", "smollm")).unwrap();
    // "e r" (rank 3) takes the "e" and "r" of "there" before "r e" (rank 6) can.
    let ids = t.encode("there", false).unwrap();
    assert_eq!(ids, [byte_id(b't'), byte_id(b'h'), ER, byte_id(b'e')]);
}

#[test]
fn tokenizer_smollm_splits_digits_one_by_one_and_gpt2_does_not() {
    let smollm = tokenizer_of(&tiny("gpt2", "smollm")).unwrap();
    assert_eq!(smollm.encode("42", false).unwrap(), [byte_id(b'4'), byte_id(b'2')]);
    let gpt2 = tokenizer_of(&tiny("gpt2", "gpt-2")).unwrap();
    assert_eq!(gpt2.pre_tokenizer(), PreTokenizer::Gpt2);
    assert_eq!(gpt2.encode("42", false).unwrap(), [FORTY_TWO]);
}

#[test]
fn tokenizer_tiny_vocabulary_round_trips_text_bytes_and_control_tokens() {
    let t = tokenizer_of(&tiny("gpt2", "smollm")).unwrap();
    let text = "hi  there\n\té 🙂<|end|>x";
    let ids = t.encode(text, false).unwrap();
    assert!(ids.contains(&END), "the control token is one id: {ids:?}");
    // "é" is two bytes, two byte-level tokens.
    assert!(ids.windows(2).any(|w| w == [byte_id(0xC3), byte_id(0xA9)]), "{ids:?}");
    assert_eq!(t.decode(&ids).unwrap(), text);
    assert_eq!(t.token_str(HI), Some("hi"));
    assert_eq!(t.token_str(byte_id(b' ')), Some("Ġ"));
    assert!(t.is_control(END) && !t.is_control(HI));
    assert_eq!((t.bos(), t.eos()), (Some(END), Some(END)));
}

#[test]
fn tokenizer_adds_bos_only_when_the_metadata_asks_for_it() {
    let off = tokenizer_of(&tiny("gpt2", "smollm")).unwrap();
    assert_eq!(off.encode("hi", true).unwrap(), [HI]);
    let on = tokenizer_of(&with(tiny("gpt2", "smollm"), "tokenizer.ggml.add_bos_token", Meta::Bool(true))).unwrap();
    assert_eq!(on.encode("hi", true).unwrap(), [END, HI]);
    assert_eq!(on.encode("hi", false).unwrap(), [HI]);
}

#[test]
fn tokenizer_leaves_out_a_byte_without_a_token_and_merges_nothing_across_it() {
    let t = tokenizer_of(&tiny("gpt2", "smollm")).unwrap();
    assert_eq!(t.unencodable_bytes(), [0x04]);
    assert_eq!(t.encode("!!", false).unwrap(), [BANGS]);
    // llama.cpp keeps the byte as a symbol no merge joins, then leaves it out: "!" "!", not "!!".
    assert_eq!(t.encode("!\x04!", false).unwrap(), [byte_id(b'!'), byte_id(b'!')]);
    assert_eq!(t.encode("a\x04", false).unwrap(), [byte_id(b'a')]);
}

#[test]
fn tokenizer_sentencepiece_model_is_a_typed_error_naming_key_and_value() {
    let err = tokenizer_of(&tiny("llama", "default")).unwrap_err();
    assert!(matches!(&err, TokenizerError::UnsupportedModel { value, .. } if value == "llama"), "{err:?}");
    assert_eq!(
        err.to_string(),
        "tokenizer.ggml.model \"llama\" (SentencePiece) is not supported (only \"gpt2\", byte-level BPE, is)"
    );
}

#[test]
fn tokenizer_unknown_pre_tokenizer_is_a_typed_error_naming_key_and_value() {
    let err = tokenizer_of(&tiny("gpt2", "llama3")).unwrap_err();
    assert!(matches!(&err, TokenizerError::UnsupportedPreTokenizer { value, .. } if value == "llama3"), "{err:?}");
    assert!(err.to_string().starts_with("tokenizer.ggml.pre \"llama3\" is not supported"), "{err}");
}

#[test]
fn tokenizer_bad_metadata_is_a_typed_error_never_a_panic() {
    let missing = tiny("gpt2", "smollm").into_iter().filter(|(k, _)| *k != "tokenizer.ggml.merges").collect::<Vec<_>>();
    let err = tokenizer_of(&missing).unwrap_err();
    assert!(matches!(err, TokenizerError::MissingKey { key: "tokenizer.ggml.merges" }), "{err:?}");

    let no_space = with(tiny("gpt2", "smollm"), "tokenizer.ggml.merges", Meta::Strs(vec!["hi".into()]));
    let err = tokenizer_of(&no_space).unwrap_err();
    assert!(matches!(err, TokenizerError::BadMerge { index: 0, .. }), "{err:?}");

    let unknown_part = with(tiny("gpt2", "smollm"), "tokenizer.ggml.merges", Meta::Strs(vec!["x yz".into()]));
    let err = tokenizer_of(&unknown_part).unwrap_err();
    assert!(err.to_string().contains("\"yz\" is not in tokenizer.ggml.tokens"), "{err}");

    let short_types = with(tiny("gpt2", "smollm"), "tokenizer.ggml.token_type", Meta::I32s(vec![1; 3]));
    let err = tokenizer_of(&short_types).unwrap_err();
    assert!(matches!(err, TokenizerError::LengthMismatch { found: 3, .. }), "{err:?}");

    let model_not_string = with(tiny("gpt2", "smollm"), "tokenizer.ggml.model", Meta::U32(2));
    let err = tokenizer_of(&model_not_string).unwrap_err();
    assert!(matches!(err, TokenizerError::WrongType { key: "tokenizer.ggml.model", .. }), "{err:?}");

    let bos_outside = with(tiny("gpt2", "smollm"), "tokenizer.ggml.bos_token_id", Meta::U32(100_000));
    let err = tokenizer_of(&bos_outside).unwrap_err();
    assert!(matches!(err, TokenizerError::IdOutOfRange { id: 100_000, .. }), "{err:?}");

    let t = tokenizer_of(&tiny("gpt2", "smollm")).unwrap();
    let err = t.decode(&[HI, 9999]).unwrap_err();
    assert!(matches!(err, TokenizerError::UnknownId { id: 9999, .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// The embedded model against the Python reference.

/// Texts that exercise each branch of the pre-tokenizer and the byte alphabet.
const TEXTS: &[&str] = &[
    "The quick brown fox jumps over the lazy dog.",
    "Hello world! 123",
    "12345 and 3.14159, 2024-11-25, 1e-9, 0x1F",
    "Punctuation: !?.,;:-()[]{}\"'`~@#$%^&*_+=|\\/<>",
    "don't I'll we've she's they're I'd I'm DON'T",
    "   leading spaces, trailing spaces   ",
    "whitespace  runs   of    spaces\t\ttabs \t mixed",
    "line one\nline two\n\nline four\r\nwindows\n",
    "\n\n\n",
    " ",
    "naïve café 日本語 🙂",
    "Ünïcödé: Ελληνικά, русский, العربية, हिन्दी, 한국어, emoji 👍🏽 ⁂ ½ ① ٣",
    "fn main() {\n    let x: Vec<u32> = (0..10).map(|i| i * 2).collect();\n    println!(\"{x:?}\");\n}\n",
    "def f(a, b=2):\n\treturn a**b  # comment\n",
    "<|im_start|>user\nHi<|im_end|>",
    "<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n<|im_start|>assistant\n",
    "text<|im_end|><|im_start|>x <|endoftext|> <|im_start",
    "control bytes: bell\x07 eot\x04 !\x04! ?\x06? \x1d end",
    "",
];

/// Pieces random texts are drawn from: each branch of GPT-2's split, digits, white space of several
/// kinds, multi-byte characters (none newer than Unicode 14, the tables of Python 3.11), bytes
/// without a token, and control markers. (Spaces twice: they are the commonest piece of text.)
#[rustfmt::skip]
const PIECES: &[&str] = &[
    "a", "Z", "the", " ", " ", "  ", "\t", "\n", "\r\n", "\u{a0}", "\u{3000}", "\u{2003}", "'", "'s", "'ll",
    "'re", "'D", "0", "7", "42", "٣", "½", "Ⅻ", ".", ",", "!", "?!", "-", "_", "(", ")", "{", "}", "<", ">", "|",
    "é", "ß", "Ω", "日本", "한", "🙂", "👍🏽", "\u{301}", "\x04", "\x1d", "\x07", "<|im_start|>", "<|im_end|>",
    "<|endoftext|>", "<|im", "|>",
];

/// `n` texts of up to 24 pieces each.
fn random_texts(seed: u64, n: usize) -> Vec<String> {
    use rand::Rng;
    let mut rng = dfma_reference::seed::rng_for(seed, 0x70C);
    (0..n)
        .map(|_| {
            let len = rng.random_range(0..=24);
            (0..len).map(|_| PIECES[rng.random_range(0..PIECES.len())]).collect()
        })
        .collect()
}

/// The model file, or why the model checks cannot run.
fn model_path() -> Result<PathBuf, String> {
    match std::env::var_os("DFMA_MODEL_GGUF") {
        None => Err("DFMA_MODEL_GGUF unset".into()),
        Some(p) if !Path::new(&p).is_file() => Err(format!("DFMA_MODEL_GGUF={} is not a file", p.to_string_lossy())),
        Some(p) => Ok(PathBuf::from(p)),
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Runs `f` on the model file, or prints "not run: <reason>" (a failure under `CI=true`).
fn with_model(f: impl FnOnce(&Path)) {
    match model_path() {
        Ok(p) => f(&p),
        Err(why) if in_ci() => panic!("the model tokenizer check must run under CI=true: {why}"),
        Err(why) => println!("not run: {why}"),
    }
}

/// The reference's ids for `texts`, or why it could not run.
fn python_reference(model: &Path, texts: &[&str]) -> Result<Vec<Vec<u32>>, String> {
    let py = std::env::var("DFMA_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/py/gpt2_bpe_reference.py");
    let mut child = Command::new(&py)
        .arg(&script)
        .arg(model)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{py}: {e}"))?;
    let input = serde_json::to_vec(texts).expect("texts serialize");
    child.stdin.take().expect("stdin is piped").write_all(&input).map_err(|e| format!("writing to {py}: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("{py}: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{} failed: {}", script.display(), stderr.lines().last().unwrap_or("")));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("reading the reference's output: {e}"))
}

#[test]
fn tokenizer_of_the_embedded_model_matches_the_python_reference_id_for_id() {
    with_model(|path| {
        let gguf = GgufFile::open(path).unwrap();
        let t = Tokenizer::from_gguf(&gguf).unwrap();
        assert_eq!(t.pre_tokenizer(), PreTokenizer::DigitsThenGpt2);
        let seed = dfma_reference::seed::seed_from_env().unwrap();
        println!("random texts: seed {seed} (DFMA_SEED={seed} reproduces)");
        let random = random_texts(seed, 400);
        let texts: Vec<&str> = TEXTS.iter().copied().chain(random.iter().map(String::as_str)).collect();
        let expected = match python_reference(path, &texts) {
            Ok(ids) => ids,
            Err(why) if in_ci() => panic!("the Python reference must run under CI=true: {why}"),
            Err(why) => return println!("not run: {why}"),
        };
        assert_eq!(expected.len(), texts.len());
        for (text, want) in texts.iter().zip(&expected) {
            let got = t.encode(text, false).unwrap();
            let first_bad = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
            assert_eq!(&got, want, "{text:?}: first difference at index {first_bad}");
        }
        // Spot checks that do not depend on the reference: one id per control marker, one per digit.
        let chat = t.encode("<|im_start|>user\nHi<|im_end|>", false).unwrap();
        assert_eq!((chat.first(), chat.last()), (t.token_id("<|im_start|>").as_ref(), t.eos().as_ref()));
        assert_eq!(t.encode("12345", false).unwrap().len(), 5);
    });
}

#[test]
fn tokenizer_of_the_embedded_model_decodes_its_encoding_to_the_same_text() {
    with_model(|path| {
        let t = Tokenizer::from_gguf(&GgufFile::open(path).unwrap()).unwrap();
        assert_eq!(t.vocab_size(), 49152);
        assert_eq!((t.bos(), t.eos()), (Some(1), Some(2)));
        assert_eq!(t.token_str(1), Some("<|im_start|>"));
        assert_eq!(
            t.unencodable_bytes(),
            [
                0x04, 0x06, 0x13, 0x14, 0x16, 0x1d, 0xc0, 0xc1, 0xf1, 0xf2, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb,
                0xfc, 0xfd, 0xfe, 0xff
            ]
        );
        for text in TEXTS {
            let ids = t.encode(text, true).unwrap();
            // Bytes without a token are left out; every other byte comes back.
            let lost = |c: &char| c.is_ascii() && t.unencodable_bytes().contains(&(*c as u8));
            let expected: String = text.chars().filter(|c| !lost(c)).collect();
            assert_eq!(t.decode(&ids).unwrap(), expected, "ids {ids:?}");
        }
    });
}
