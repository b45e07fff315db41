//! Text generation: prompt → tokens → forward pass → sampled tokens, streamed as text, with
//! tokens per second for the prompt (prefill) and for the generated tokens (decode).

use std::time::Instant;

use super::error::ModelError;
use super::forward::Model;
use super::sampler::Sampler;
use super::tokenizer::Tokenizer;

/// What one generation did, and how fast.
#[derive(Clone, Debug)]
pub struct GenerationStats {
    /// Prompt tokens fed.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Seconds spent on the prompt.
    pub prefill_s: f64,
    /// Seconds spent generating.
    pub decode_s: f64,
    /// Whether an end-of-turn or end-of-text token stopped it (rather than the limit).
    pub stopped_at_end: bool,
}

impl GenerationStats {
    /// Prompt tokens per second.
    pub fn prefill_tokens_per_s(&self) -> f64 {
        self.prompt_tokens as f64 / self.prefill_s
    }

    /// Generated tokens per second.
    pub fn decode_tokens_per_s(&self) -> f64 {
        self.generated_tokens as f64 / self.decode_s
    }
}

/// Generates up to `max_tokens` after `prompt_ids`, calling `on_text` with each new piece of
/// text as soon as it decodes to whole characters. Stops at the end-of-text token or at
/// `<|im_end|>` where the vocabulary has it.
pub fn generate(
    model: &Model,
    tokenizer: &Tokenizer,
    prompt_ids: &[u32],
    max_tokens: usize,
    sampler: &mut Sampler,
    mut on_text: impl FnMut(&str),
) -> Result<(Vec<u32>, GenerationStats), ModelError> {
    if prompt_ids.is_empty() {
        return Err(ModelError::Request("the prompt has no tokens".into()));
    }
    let mut cache = model.new_cache(prompt_ids.len() + max_tokens);
    let stops: Vec<u32> = [tokenizer.eos(), tokenizer.token_id("<|im_end|>")].into_iter().flatten().collect();
    let t0 = Instant::now();
    let mut logits = model.prefill(prompt_ids, &mut cache)?;
    let prefill_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let mut out: Vec<u32> = Vec::new();
    let mut shown = 0;
    let mut stopped_at_end = false;
    while out.len() < max_tokens {
        let next = sampler.sample(&logits);
        if stops.contains(&next) {
            stopped_at_end = true;
            break;
        }
        out.push(next);
        let text = tokenizer.decode(&out)?;
        // Print only whole characters: a token may end inside a UTF-8 sequence.
        if !text.ends_with('\u{FFFD}') && text.len() > shown {
            on_text(&text[shown..]);
            shown = text.len();
        }
        if out.len() == max_tokens {
            break;
        }
        logits = model.forward(next, &mut cache)?;
    }
    let stats = GenerationStats {
        prompt_tokens: prompt_ids.len(),
        generated_tokens: out.len(),
        prefill_s,
        decode_s: t1.elapsed().as_secs_f64(),
        stopped_at_end,
    };
    Ok((out, stats))
}
