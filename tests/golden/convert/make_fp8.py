#!/usr/bin/env python3
"""Makes tests/golden/convert/ds3-tiny-fp8.hf: the ds3-tiny fixture checkpoint stored the way
DeepSeek-V3 ships its weights (spec §6.4), for the FP8 conversion test.

- Every 2-D linear weight becomes float8_e4m3fn with a `<name>_scale_inv` (f32) of 128x128 block
  scales: scale = max|W| over the block / 448, q = round-to-nearest-even(W / scale) in E4M3.
  (All ds3-tiny matrices are smaller than 128 in both dimensions, so each has one partial block.)
- Embeddings and output heads (model.embed_tokens, lm_head, the MTP copies) are stored as BF16
  (round to nearest even), norms, the router and the bias stay F32, as in real V3 checkpoints.
- Two shards and a model.safetensors.index.json; config.json gains quantization_config.
- expected.tsv: for every tensor, the FNV-1a 64 hash of its dequantized f32 values (C order,
  little endian) and four sampled values, computed here with numpy: the C++ test checks that
  the converter's dequantization gives exactly these floats.

numpy only. Run by hand; the outputs are committed:
    python3 tests/golden/convert/make_fp8.py [FIXTURES_DIR]
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "..", "shared", "fixtures")
SRC = os.path.join(FIXTURES, "models", "ds3-tiny.hf")
OUT = os.path.join(HERE, "ds3-tiny-fp8.hf")
BLOCK = 128


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", (name, e["dtype"])
        b, en = e["data_offsets"]
        out[name] = np.frombuffer(data[base + b:base + en], dtype="<f4").reshape(e["shape"])
    return out


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype string, numpy array of the stored bytes' dtype)."""
    header = {"__metadata__": {"format": "pt"}}
    blobs, off = [], 0
    for name, dtype, arr in sorted(tensors, key=lambda t: t[0]):
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def e4m3_table():
    v = np.zeros(256, dtype=np.float32)
    for b in range(256):
        s, e, m = b >> 7, (b >> 3) & 15, b & 7
        if e == 15 and m == 7:
            x = np.nan
        elif e == 0:
            x = (m / 8.0) * 2.0 ** -6
        else:
            x = (1 + m / 8.0) * 2.0 ** (e - 7)
        v[b] = -x if s else x
    return v


TABLE = e4m3_table()
POS = TABLE[:127]  # codes 0..126: the non-negative finite values, increasing


def to_e4m3(x):
    """Round float32 values to the nearest E4M3 code (ties to the even code), saturating at 448."""
    a = np.minimum(np.abs(x), 448.0).astype(np.float32)
    hi = np.clip(np.searchsorted(POS, a, side="left"), 0, 126)
    lo = np.clip(hi - 1, 0, 126)
    d_lo, d_hi = a - POS[lo], POS[hi] - a
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (hi % 2 == 0))
    code = np.where(pick_hi, hi, lo).astype(np.uint8)
    code = np.where(a == 0, 0, code).astype(np.uint8)
    return np.where(np.signbit(x) & (code != 0), code | 0x80, code).astype(np.uint8)


def quantize_fp8(w):
    rows, cols = w.shape
    sr, sc = -(-rows // BLOCK), -(-cols // BLOCK)
    scale = np.zeros((sr, sc), dtype=np.float32)
    q = np.zeros(w.shape, dtype=np.uint8)
    for i in range(sr):
        for j in range(sc):
            blk = w[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK]
            amax = np.float32(np.abs(blk).max())
            s = np.float32(amax / np.float32(448.0)) if amax > 0 else np.float32(1.0)
            scale[i, j] = s
            q[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK] = to_e4m3((blk / s).astype(np.float32))
    return q, scale


def dequantize_fp8(q, scale):
    rows, cols = q.shape
    s = np.repeat(np.repeat(scale, BLOCK, axis=0), BLOCK, axis=1)[:rows, :cols]
    return (TABLE[q] * s).astype(np.float32)


def to_bf16(x):
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return r


def from_bf16(h):
    return (h.astype(np.uint32) << 16).view(np.float32)


def fnv1a64(b):
    h = 0xCBF29CE484222325
    for byte in b:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def is_bf16(name):
    return name in ("model.embed_tokens.weight", "lm_head.weight") or name.endswith(
        (".embed_tokens.weight", ".shared_head.head.weight"))


def is_fp8(name, arr):
    return arr.ndim == 2 and name.endswith(".weight") and not is_bf16(name) and not name.endswith(".mlp.gate.weight")


def main():
    src = read_safetensors(os.path.join(SRC, "model.safetensors"))
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"):
        shutil.copy(os.path.join(SRC, f), os.path.join(OUT, f))
    cfg = json.load(open(os.path.join(SRC, "config.json")))
    cfg["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                  "weight_block_size": [BLOCK, BLOCK]}
    cfg["torch_dtype"] = "bfloat16"
    json.dump(cfg, open(os.path.join(OUT, "config.json"), "w"), indent=2)

    shards = {1: [], 2: []}
    expected = []
    for name in sorted(src):
        w = src[name]
        shard = 1 if (name.startswith("model.layers.0.") or name.startswith("model.layers.1.")) else 2
        if is_fp8(name, w):
            q, s = quantize_fp8(w)
            shards[shard].append((name, "F8_E4M3", q))
            shards[shard].append((name + "_scale_inv", "F32", s))
            deq = dequantize_fp8(q, s)
        elif is_bf16(name):
            h = to_bf16(w)
            shards[shard].append((name, "BF16", h))
            deq = from_bf16(h)
        else:
            shards[shard].append((name, "F32", w))
            deq = w.astype(np.float32)
        flat = deq.reshape(-1)
        n = flat.size
        idx = sorted({0, n - 1, (n * 7) // 13, (n * 11) // 17})
        samples = ",".join(f"{i}:{flat[i].view(np.uint32):08x}" for i in idx)
        expected.append(f"{name}\t{fnv1a64(flat.astype('<f4').tobytes()):016x}\t{samples}")

    index = {"metadata": {}, "weight_map": {}}
    for k, items in shards.items():
        fn = f"model-{k:05d}-of-00002.safetensors"
        write_safetensors(os.path.join(OUT, fn), items)
        for name, _, _ in items:
            index["weight_map"][name] = fn
    json.dump(index, open(os.path.join(OUT, "model.safetensors.index.json"), "w"), indent=2, sort_keys=True)
    with open(os.path.join(HERE, "ds3-tiny-fp8.expected.tsv"), "w") as f:
        f.write("# hf_tensor\tfnv1a64_of_dequantized_f32_le\tsamples(index:f32_bits_hex)\n")
        f.write("# generated by tests/golden/convert/make_fp8.py\n")
        f.write("\n".join(expected) + "\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"{OUT}: {total} bytes, {len(expected)} tensors", file=sys.stderr)


if __name__ == "__main__":
    main()
