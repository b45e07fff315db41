"""Checks dfma's GGML formats (Q8_0, Q4_0, Q4_1) against the `gguf` package (llama.cpp's Python quantizer).

usage: q8_0_parity.py quantize IN.npy OUT.npy [TYPE]
           OUT (dfma quantize) must equal gguf's TYPE bytes of IN, byte for byte.
       q8_0_parity.py gemv W.npy X.npy Y.npy [TYPE]
           Y (dfma op q8_0_gemv / q4_0_gemv) must match x @ dequantize(W).T in float64, W
           dequantized by gguf.
TYPE is Q8_0 (the default), Q4_0 or Q4_1. Prints one line; exits 1 on a mismatch.
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType, quants


def quantize(inp, out, qtype="Q8_0"):
    x = np.load(inp)
    want = quants.quantize(x.astype(np.float32), GGMLQuantizationType[qtype])
    got = np.load(out)
    if got.dtype != np.uint8 or got.shape != want.shape:
        print(f"FAIL shape/dtype: dfma {got.dtype}{got.shape}, gguf {want.dtype}{want.shape}")
        return 1
    diff = np.flatnonzero(got.reshape(-1) != want.reshape(-1))
    if diff.size:
        i = int(diff[0])
        print(f"FAIL {diff.size} bytes differ; first at byte {i}: dfma {got.reshape(-1)[i]}, gguf {want.reshape(-1)[i]}")
        return 1
    print(f"PASS {got.size} bytes identical to gguf {qtype} {x.shape} -> {got.shape}")
    return 0


def gemv(w_path, x_path, y_path, qtype="Q8_0"):
    w_bytes = np.load(w_path)
    x = np.load(x_path).astype(np.float64)
    y = np.load(y_path).astype(np.float64)
    w = quants.dequantize(w_bytes, GGMLQuantizationType[qtype]).astype(np.float64)
    want = np.atleast_2d(x) @ w.T
    if y.shape != want.shape or not np.all(np.isfinite(y)):
        print(f"FAIL y shape {y.shape} (want {want.shape}) or non-finite values")
        return 1
    rel = np.linalg.norm(y - want) / np.linalg.norm(want)
    max_abs = np.max(np.abs(y - want))
    scale = max(1.0, np.max(np.abs(want)))
    ok = rel <= 1e-5 and max_abs <= 1e-5 * scale
    print(f"{'PASS' if ok else 'FAIL'} {qtype} rel_l2={rel:.3e} max_abs={max_abs:.3e} against numpy float64")
    return 0 if ok else 1


if __name__ == "__main__":
    mode, *paths = sys.argv[1:]
    sys.exit({"quantize": quantize, "gemv": gemv}[mode](*paths))
