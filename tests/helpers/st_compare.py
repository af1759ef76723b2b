#!/usr/bin/env python3
"""Two continuations of the same training, compared tensor by tensor.

  st_compare.py BASE A B TOL

BASE: the weights both started from (a checkpoint); A, B: the weights after the
same steps taken two ways (two devices, two backends). For every F32 tensor,
the norm-wise relative difference of the CHANGES, ||(A - BASE) - (B - BASE)|| /
||A - BASE||, must be <= TOL (a tensor that did not change must not change in B
either). Prints the worst tensor; exit status 1 when one is over. Standard
library only (safetensors: 8 bytes of header length, a JSON header, the data)."""
import json, math, struct, sys


def load(path):
    data = open(path, "rb").read()
    n, = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    return {name: struct.unpack(f"<{(t['data_offsets'][1] - t['data_offsets'][0]) // 4}f",
                                body[t["data_offsets"][0]:t["data_offsets"][1]])
            for name, t in header.items() if name != "__metadata__" and t["dtype"] == "F32"}


def main():
    base, a, b = (load(p) for p in sys.argv[1:4])
    tol = float(sys.argv[4])
    worst, worst_name, bad = 0.0, "", 0
    for name in a:
        # a checkpoint also holds the momentum buffers: compare what both files have
        if name not in base or name not in b:
            continue
        da = [x - w for x, w in zip(a[name], base[name])]
        db = [y - w for y, w in zip(b[name], base[name])]
        num = math.sqrt(sum((x - y) ** 2 for x, y in zip(da, db)))
        den = math.sqrt(sum(x * x for x in da))
        rel = num / den if den > 0 else (0.0 if num == 0 else math.inf)
        if rel > worst:
            worst, worst_name = rel, name
        if rel > tol:
            bad += 1
            print(f"{name}: the changes differ by {rel:.3g} (norm-wise relative), tolerance {tol}")
    print(f"st_compare: worst {worst_name} {worst:.3g} (tolerance {tol}), {bad} tensors over")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
