//! The model runtime: a Llama-family model read from GGUF, its tokenizer, its forward pass.

pub mod tokenizer;
