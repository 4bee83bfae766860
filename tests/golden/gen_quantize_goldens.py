#!/usr/bin/env python3
"""Writes quantize_goldens.tsv: SHA-256 of the bytes that the PyPI gguf package's reference
quantizers (`gguf.quants.quantize`, bit-exact with ggml's quantize_row_*_ref) produce for a
deterministic set of rows. tests/quant/quantize_golden_test.cc builds the same rows (same integer
generator, exactly representable floats) and checks mla's QuantizeRow without importance.
gguf has no IQ4_NL quantizer: iq4_nl_quantize() below is a numpy re-implementation of the
algorithm of ggml's quantize_iq4_nl (what llama-quantize runs, ntry = 7), in float32 with the
sums in ggml's order.

Run by hand (output is committed):  python3 tests/golden/gen_quantize_goldens.py
"""
import hashlib
import importlib.metadata
import os

import numpy as np
import gguf
from gguf import quants

HERE = os.path.dirname(os.path.abspath(__file__))
N = 1024  # elements per row
MASK = (1 << 64) - 1


def splitmix64(state: int) -> tuple[int, int]:
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def make_rows() -> np.ndarray:
    """Row r, element i: a 24-bit integer u from splitmix64 -> (u - 2^23) * 2^(e_r - 23), exact in
    f32. Row kinds (by r % 4): plain uniform; one element in 64 scaled by 32 (outliers); all values
    non-negative (shifted); values rounded to multiples of 1/8 of the scale (ties for rounding)."""
    rows = []
    state = 12345
    for r in range(16):
        e = (r % 5) - 3  # scales 2^-3 .. 2^1
        row = np.zeros(N, dtype=np.float32)
        for i in range(N):
            state, z = splitmix64(state)
            u = z >> 40
            v = np.float32(u - (1 << 23)) * np.float32(2.0 ** (e - 23))
            kind = r % 4
            if kind == 1 and i % 64 == 17:
                v = v * np.float32(32)
            elif kind == 2:
                v = np.float32(u) * np.float32(2.0 ** (e - 24))
            elif kind == 3:
                v = np.float32(np.trunc(np.float32(u - (1 << 23)) * np.float32(2.0 ** -20))) * np.float32(2.0 ** (e - 3))
            row[i] = v
        rows.append(row)
    rows.append(np.zeros(N, dtype=np.float32))  # the all-zero row
    return np.stack(rows)


IQ4NL_VALUES = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], dtype=np.int32)


def iq4_nl_quantize(rows: np.ndarray, ntry: int = 7) -> np.ndarray:
    """ggml's IQ4_NL search without importance, vectorized over the blocks of 32: weights x^2;
    candidate inverse scales 127/max (the signed extreme at +127) then (k - 127)/max for
    |k| <= ntry; each scored by its least-squares scale (sumqx^2/sumq2 must beat the best);
    d = f16 of the best scale; levels re-indexed under the unrounded scale. The nearest level of
    v is the number of midpoints at or below v (ties go up), tested as 2v >= a + b."""
    f32 = np.float32
    x = rows.reshape(-1, 32).astype(f32)
    nb = x.shape[0]
    values = IQ4NL_VALUES.astype(f32)
    sums2 = (IQ4NL_VALUES[:-1] + IQ4NL_VALUES[1:]).astype(f32)

    def index(v):
        return np.searchsorted(sums2, (v + v).astype(f32), side="right")

    w = (x * x).astype(f32)
    ax = np.abs(x)
    imax = np.argmax(ax, axis=1)  # the first of equal magnitudes
    mx = x[np.arange(nb), imax]
    zero = ax[np.arange(nb), imax] < f32(1e-15)
    mx = np.where(zero, f32(1), mx).astype(f32)

    def fit(inv):
        q = values[index((inv[:, None] * x).astype(f32))]
        sqx = np.zeros(nb, f32)
        sq2 = np.zeros(nb, f32)
        for j in range(32):  # float32, term by term in order
            wq = (w[:, j] * q[:, j]).astype(f32)
            sqx = (sqx + (wq * x[:, j]).astype(f32)).astype(f32)
            sq2 = (sq2 + (wq * q[:, j]).astype(f32)).astype(f32)
        return sqx, sq2

    with np.errstate(divide="ignore", invalid="ignore"):
        d = (-mx / f32(-127)).astype(f32)
        sqx, sq2 = fit((f32(1) / d).astype(f32))
        d = np.where(sq2 > 0, sqx / sq2, f32(0)).astype(f32)
        best = (d * sqx).astype(f32)
        for k in range(-ntry, ntry + 1):
            sqx, sq2 = fit((f32(k - 127) / mx).astype(f32))
            better = (sq2 > 0) & ((sqx * sqx).astype(f32) > (best * sq2).astype(f32))
            nd = (sqx / sq2).astype(f32)
            d = np.where(better, nd, d).astype(f32)
            best = np.where(better, (nd * sqx).astype(f32), best).astype(f32)
        d = np.where(zero, f32(0), d).astype(f32)
        inv = np.where(d != 0, f32(1) / d, f32(0)).astype(f32)
    L = index((inv[:, None] * x).astype(f32)).astype(np.uint8)
    out = np.zeros((nb, 18), np.uint8)
    out[:, :2] = d.astype(np.float16).view(np.uint8).reshape(nb, 2)
    out[:, 2:] = L[:, :16] | (L[:, 16:] << 4)
    return out


def main() -> None:
    rows = make_rows()
    out_path = os.path.join(HERE, "quantize_goldens.tsv")
    with open(out_path, "w") as f:
        f.write("# type\trows\tn_per_row\tsha256_of_quantized_bytes\tsha256_of_input_f32_le\n")
        f.write("# generated by tests/golden/gen_quantize_goldens.py with gguf " +
                importlib.metadata.version("gguf") + "\n")
        in_hash = hashlib.sha256(rows.astype("<f4").tobytes()).hexdigest()
        for qt in ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]:
            q = quants.quantize(rows, gguf.GGMLQuantizationType[qt])
            q = np.ascontiguousarray(q).view(np.uint8)
            f.write(f"{qt}\t{rows.shape[0]}\t{N}\t{hashlib.sha256(q.tobytes()).hexdigest()}\t{in_hash}\n")
        q = iq4_nl_quantize(rows)
        f.write(f"IQ4_NL\t{rows.shape[0]}\t{N}\t{hashlib.sha256(q.tobytes()).hexdigest()}\t{in_hash}\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
