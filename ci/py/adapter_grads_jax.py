"""An independent autograd for dfma's adapter training: the summed next-token cross-entropy of
a token sequence through a Llama GGUF model with a LoRA adapter applied, and its gradient with
respect to every factor of the adapter, by JAX (CPU build) reverse mode.

usage: adapter_grads_jax.py MODEL.gguf ADAPTER.safetensors OUT_DIR --loss-from N
                            [--dtype float64|float32] TOKEN_ID...

The loss is Σ_{t = N}^{n-1} −ln softmax(logits(tokens[..t]))[tokens[t]], the sum dfma's
`train::loss_and_gradients` returns for `Example { tokens, loss_from: N }`. Every projection the
adapter names computes W·h + (alpha/rank)·B·(A·h); weights are dequantized by the `gguf`
package (the same conventions as llama_forward.py: [rows, cols] matrices, tied head, RoPE on
interleaved pairs). Unlike llama_forward.py (token by token, numpy, no gradients), the whole
sequence goes through each block at once under a causal mask, and gradients come from jax.grad.

Writes OUT_DIR/loss.npy (0-d) and OUT_DIR/<tensor>.npy per adapter tensor (the gradient, the
tensor's shape), all float64 little-endian, whatever --dtype computed them.
"""
import os
import sys
import time

import numpy as np

from gguf import GGUFReader
from gguf.quants import dequantize

from model_files import field, read_safetensors

PROJECTIONS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]


def parse_args(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    model, adapter, out = argv[:3]
    rest = argv[3:]
    loss_from, dtype, ids = None, "float64", []
    i = 0
    while i < len(rest):
        if rest[i] == "--loss-from":
            loss_from, i = int(rest[i + 1]), i + 2
        elif rest[i] == "--dtype":
            dtype, i = rest[i + 1], i + 2
        else:
            ids.append(int(rest[i]))
            i += 1
    if dtype not in ("float64", "float32"):
        raise SystemExit(f"--dtype {dtype}: expected float64 or float32")
    if loss_from is None or not 1 <= loss_from < len(ids):
        raise SystemExit(f"--loss-from must be in 1..{len(ids)} for {len(ids)} tokens")
    return model, adapter, out, loss_from, dtype, ids


def main(argv):
    model_path, adapter_path, out, loss_from, dtype, ids = parse_args(argv)
    import jax

    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    started = time.perf_counter()
    lora, meta = read_safetensors(adapter_path)
    scale = float(meta["dfma.alpha"]) / int(meta["dfma.rank"])

    r = GGUFReader(model_path)
    t = {x.name: x for x in r.tensors}

    def mat(name):
        x = t[name]
        rows, cols = int(x.shape[1]), int(x.shape[0])
        return dequantize(x.data, x.tensor_type).reshape(rows, cols)

    def vec(name):
        return np.asarray(t[name].data, dtype=np.float32).reshape(-1)

    layers = int(field(r, "llama.block_count"))
    heads = int(field(r, "llama.attention.head_count"))
    kv_heads = int(field(r, "llama.attention.head_count_kv"))
    theta = float(field(r, "llama.rope.freq_base"))
    eps = float(field(r, "llama.attention.layer_norm_rms_epsilon"))
    if max(ids) >= int(t["token_embd.weight"].shape[1]):
        raise SystemExit("a token id is outside the vocabulary")

    def dev(a):
        return jnp.asarray(np.asarray(a, dtype=np.float32), dtype=dtype)

    emb_all = mat("token_embd.weight")
    head = dev(mat("output.weight")) if "output.weight" in t else dev(emb_all)
    x0 = dev(emb_all[ids])
    dim = x0.shape[1]
    hd = dim // heads
    group = heads // kv_heads
    blocks = []
    for l in range(layers):
        p = f"blk.{l}."
        w = {k: dev(mat(p + k + ".weight")) for k in PROJECTIONS}
        w["attn_norm"] = dev(vec(p + "attn_norm.weight"))
        w["ffn_norm"] = dev(vec(p + "ffn_norm.weight"))
        blocks.append(w)
    out_norm = dev(vec("output_norm.weight"))
    params = {name: dev(v) for name, v in lora.items()}
    for name in params:
        l, k, _ = name.removeprefix("blk.").split(".")
        if int(l) >= layers or k not in PROJECTIONS:
            raise SystemExit(f"adapter tensor {name}: not blk.<layer>.<projection>.lora_a/b")
    loaded = time.perf_counter()

    n = len(ids)
    pos = np.arange(n, dtype=np.float64)[:, None]
    angles = pos * theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)[None, :]
    cos, sin = dev(np.cos(angles)), dev(np.sin(angles))
    causal = jnp.asarray(np.tril(np.ones((n, n), dtype=bool)))
    targets = jnp.asarray(np.asarray(ids[loss_from:]))

    def rms_norm(x, w):
        return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps) * w

    def rope(x):
        # x: [n, heads, hd]; pairs (2i, 2i+1) rotate by pos·θ^(−2i/hd).
        x = x.reshape(n, x.shape[1], hd // 2, 2)
        a, b = x[..., 0], x[..., 1]
        c, s = cos[:, None, :], sin[:, None, :]
        return jnp.stack([a * c - b * s, a * s + b * c], axis=-1).reshape(n, -1, hd)

    def project(p, l, k, h):
        """h: [n, cols] -> [n, rows], W·h plus the adapter's s·B·(A·h) where it has one."""
        y = h @ blocks[l][k].T
        a = p.get(f"blk.{l}.{k}.lora_a")
        if a is not None:
            y = y + scale * ((h @ a.T) @ p[f"blk.{l}.{k}.lora_b"].T)
        return y

    def loss(p):
        x = x0
        for l, w in enumerate(blocks):
            h = rms_norm(x, w["attn_norm"])
            q = rope(project(p, l, "attn_q", h).reshape(n, heads, hd))
            k = rope(project(p, l, "attn_k", h).reshape(n, kv_heads, hd))
            v = project(p, l, "attn_v", h).reshape(n, kv_heads, hd)
            k = jnp.repeat(k, group, axis=1)
            v = jnp.repeat(v, group, axis=1)
            s = jnp.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd)
            s = jnp.where(causal[None], s, -jnp.inf)
            att = jnp.einsum("hqk,khd->qhd", jax.nn.softmax(s, axis=-1), v).reshape(n, dim)
            x = x + project(p, l, "attn_output", att)
            h = rms_norm(x, w["ffn_norm"])
            a = jax.nn.silu(project(p, l, "ffn_gate", h)) * project(p, l, "ffn_up", h)
            x = x + project(p, l, "ffn_down", a)
        rows = rms_norm(x[loss_from - 1:n - 1], out_norm)
        logits = rows @ head.T
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.sum(jnp.take_along_axis(logp, targets[:, None], axis=-1))

    value, grads = jax.value_and_grad(loss)(params)
    done = time.perf_counter()

    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "loss.npy"), np.asarray(value, dtype="<f8"))
    for name, g in grads.items():
        np.save(os.path.join(out, name + ".npy"), np.asarray(g, dtype="<f8"))
    print(f"jax {jax.__version__} {dtype}: {n} tokens, loss from {loss_from}, summed loss {float(value):.9f}, "
          f"{len(grads)} gradients; load {loaded - started:.1f} s, value_and_grad {done - loaded:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
