//! Adapter training through the frozen model: a whole-sequence forward pass that keeps what the
//! backward pass needs, the backward pass to the adapters' factors, and AdamW.
//!
//! The base weights never change; gradients flow only to a *trainable* adapter. Adapters
//! attached to the model (the collective one) shape the forward pass and carry the gradient
//! back through their layers like the base weights, but are not trained. Backward stops at the
//! lowest block the trainable adapter touches: nothing below it has parameters to learn, so an
//! adapter on the top blocks costs a full forward but only a short backward.
//!
//! Per block, with h = RMSNorm(x), the forward is
//! q, k, v = projections of h; q, k rotated (RoPE); causal grouped-query attention; x₂ = x + O·att;
//! h₂ = RMSNorm(x₂); a = silu(gate·h₂) ⊙ (up·h₂); x₃ = x₂ + down·a — and the backward, in order:
//! - a projection y = W·x + Σ s·B(A·x): dx = Wᵀ·dy + Σ s·Aᵀ(Bᵀ·dy) (the transposed product
//!   through the frozen, possibly quantized W: [`super::MatmulEngine::matmul_t`]); for the trainable
//!   adapter dB = s·dyᵀ(x·Aᵀ) and dA = s·(dy·B)ᵀ·x (`dfma_reference::cpu::lora`);
//! - SwiGLU: dgate = da ⊙ up ⊙ silu′(gate), dup = da ⊙ silu(gate), silu′(g) = σ(g)(1 + g(1 − σ(g)));
//! - RMSNorm y = w ⊙ x·ρ, ρ = (mean(x²) + ε)^(−½): dx = ρ·(w ⊙ dy) − x·ρ³·⟨w ⊙ dy, x⟩ / n;
//! - RoPE: the rotation's transpose, the rotation by the opposite angle;
//! - attention, per head with P = softmax(scale·QKᵀ) (causal): dV += Pᵀ·dO, dP = dO·Vᵀ,
//!   dS = P ⊙ (dP − rowsum(P ⊙ dP)), dQ = scale·dS·K, dK += scale·dSᵀ·Q (key/value heads sum over
//!   the query heads that share them).
//!
//! The loss is the summed next-token cross-entropy over an [`Example`]'s answer positions; its
//! gradient at the logits is softmax − one-hot. Everything is f32 with f64 loss sums. The
//! products through the frozen weights run on the model's engine, forward and transposed
//! ([`super::MatmulEngine::matmul_t`]); the adapters' small products on the CPU.

mod adamw;
mod attention;
mod backward;
mod example;
mod finetune;
mod gradients;
mod norm;
pub(crate) mod tape;

pub use adamw::AdamW;
pub use backward::{loss, loss_and_gradients};
pub use example::{Example, LossSum};
pub use finetune::{StepConfig, StepReport, evaluate, split_every, train_epoch, windows};
pub use gradients::{FactorGradients, Gradients};
