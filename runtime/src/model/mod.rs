//! The model runtime: a Llama-family model read from GGUF, its tokenizer, its forward pass.

pub mod adapter;
pub mod batch;
pub mod chat;
pub mod config;
pub mod device_engine;
pub mod engine;
pub mod error;
pub mod fetch;
pub mod forward;
pub mod generate;
pub mod matvec;
pub mod sampler;
mod shared_a;
pub mod tiny;
pub mod tokenizer;
pub mod train;
pub mod weights;

pub use config::LlamaConfig;
pub use device_engine::DeviceEngine;
pub use engine::{ActingAdapter, CpuEngine, CpuInt8Engine, MatmulEngine};
pub use error::ModelError;
pub use forward::{KvCache, Model};
