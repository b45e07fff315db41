"""Writes a small Llama-shaped GGUF v3 file with the `gguf` package (llama.cpp's writer), for the
tests of dfma's GGUF reader and `dfma bench --gguf`.

usage: make_gguf.py OUT.gguf SEED
Tensors: token_embd (Q8_0, 64 x 256), per block b in 0..2: attn_q (Q8_0, 256 x 256), ffn_up (Q4_0,
96 x 256), ffn_norm (F32, 256) and a F16 matrix (attn_k, 64 x 256). Prints each tensor as
"name type rows cols" so a test can compare with what dfma reads.
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter, quants


def main(out, seed):
    rng = np.random.default_rng(int(seed))
    w = GGUFWriter(out, "llama")
    w.add_block_count(2)
    w.add_context_length(128)
    w.add_embedding_length(256)

    def matrix(name, rows, cols, qtype):
        x = (rng.standard_normal((rows, cols)) * 10.0 ** rng.uniform(-1, 1, (rows, 1))).astype(np.float32)
        if qtype in (T.F32, T.F16):
            w.add_tensor(name, x.astype(np.float16 if qtype == T.F16 else np.float32))
        else:
            w.add_tensor(name, quants.quantize(x, qtype), raw_dtype=qtype)
        print(name, qtype.name, rows, cols)

    matrix("token_embd.weight", 64, 256, T.Q8_0)
    for b in range(2):
        matrix(f"blk.{b}.attn_q.weight", 256, 256, T.Q8_0)
        matrix(f"blk.{b}.ffn_up.weight", 96, 256, T.Q4_0)
        matrix(f"blk.{b}.attn_k.weight", 64, 256, T.F16)
        w.add_tensor(f"blk.{b}.ffn_norm.weight", rng.uniform(0.5, 1.5, 256).astype(np.float32))
        print(f"blk.{b}.ffn_norm.weight F32 1 256")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
