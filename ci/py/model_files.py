"""What the model parity scripts share: a GGUF metadata value, and an adapter's tensors and
metadata from a safetensors file parsed by hand (8-byte header length, JSON header,
little-endian data), so the checks do not depend on the safetensors package."""
import json

import numpy as np


def field(r, key):
    """The scalar value of metadata `key` in a GGUFReader."""
    f = r.fields[key]
    return f.parts[f.data[0]][0]


def read_safetensors(path):
    """f32 tensors by name, and the metadata, from a safetensors file."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise SystemExit(f"{path}: tensor {name} is {t['dtype']}, expected F32")
        a, b = t["data_offsets"]
        tensors[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(t["shape"])
    return tensors, meta
