"""An independent Llama forward pass in numpy (float64) over the `gguf` package's reader and
dequantizers, for checking dfma's model runtime.

usage: llama_forward.py MODEL.gguf OUT.npy [--adapter FILE.safetensors] TOKEN_ID...
Writes the logits after each token, float32 [tokens, vocab], to OUT.npy. With --adapter, every
projection the adapter names computes W·h + (alpha/rank)·B·(A·h); the safetensors file is parsed
here by hand (`model_files.py`).
"""
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

from model_files import field, read_safetensors


def read_adapter(path):
    tensors, meta = read_safetensors(path)
    lora = {name: t.astype(np.float64) for name, t in tensors.items()}
    return lora, float(meta["dfma.alpha"]) / int(meta["dfma.rank"])


def main(path, out, ids, adapter=None):
    lora, scale = read_adapter(adapter) if adapter else ({}, 0.0)
    r = GGUFReader(path)
    t = {x.name: x for x in r.tensors}

    def mat(name):
        x = t[name]
        return dequantize(x.data, x.tensor_type).reshape(int(x.shape[1]), int(x.shape[0])).astype(np.float64)

    def vec(name):
        return np.asarray(t[name].data, dtype=np.float64).reshape(-1)

    layers = int(field(r, "llama.block_count"))
    heads = int(field(r, "llama.attention.head_count"))
    kv_heads = int(field(r, "llama.attention.head_count_kv"))
    theta = float(field(r, "llama.rope.freq_base"))
    eps = float(field(r, "llama.attention.layer_norm_rms_epsilon"))
    emb = mat("token_embd.weight")
    dim = emb.shape[1]
    hd = dim // heads
    head = mat("output.weight") if "output.weight" in t else emb

    def norm(x, w):
        return x / np.sqrt(np.mean(x * x) + eps) * w

    inv = theta ** (-np.arange(0, hd, 2) / hd)

    def rope(x, pos):
        x = x.reshape(-1, hd // 2, 2)
        c, s = np.cos(pos * inv), np.sin(pos * inv)
        a, b = x[..., 0], x[..., 1]
        return np.stack([a * c - b * s, a * s + b * c], axis=-1).reshape(-1)

    W = []
    for l in range(layers):
        p = f"blk.{l}."
        W.append({k: (vec if k.endswith("norm") else mat)(p + k + ".weight") for k in
                  ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"]})

    class Proj:
        """W·h, plus the adapter's s·B·(A·h) where it names this projection."""

        def __init__(self, l, k):
            self.w = W[l][k]
            self.a = lora.get(f"blk.{l}.{k}.lora_a")
            self.b = lora.get(f"blk.{l}.{k}.lora_b")

        def __matmul__(self, h):
            y = self.w @ h
            return y if self.a is None else y + scale * (self.b @ (self.a @ h))

    for l in range(layers):
        for k in ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]:
            W[l][k] = Proj(l, k)
    out_norm = vec("output_norm.weight")
    K = [[] for _ in range(layers)]
    V = [[] for _ in range(layers)]
    logits = []
    for pos, tok in enumerate(ids):
        x = emb[tok].copy()
        for l, w in enumerate(W):
            h = norm(x, w["attn_norm"])
            q = rope(w["attn_q"] @ h, pos)
            K[l].append(rope(w["attn_k"] @ h, pos))
            V[l].append(w["attn_v"] @ h)
            k = np.stack(K[l]).reshape(pos + 1, kv_heads, hd)
            v = np.stack(V[l]).reshape(pos + 1, kv_heads, hd)
            o = np.zeros(dim)
            for hh in range(heads):
                g = hh // (heads // kv_heads)
                s = k[:, g, :] @ q[hh * hd:(hh + 1) * hd] / np.sqrt(hd)
                p_ = np.exp(s - s.max())
                p_ /= p_.sum()
                o[hh * hd:(hh + 1) * hd] = p_ @ v[:, g, :]
            x = x + w["attn_output"] @ o
            h = norm(x, w["ffn_norm"])
            gt = w["ffn_gate"] @ h
            x = x + w["ffn_down"] @ (gt / (1 + np.exp(-gt)) * (w["ffn_up"] @ h))
        logits.append(head @ norm(x, out_norm))
    np.save(out, np.asarray(logits, dtype=np.float32))


if __name__ == "__main__":
    args = sys.argv[3:]
    adapter = None
    if args and args[0] == "--adapter":
        adapter, args = args[1], args[2:]
    main(sys.argv[1], sys.argv[2], [int(a) for a in args], adapter)
