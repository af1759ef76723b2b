"""Loads an rn-cifar safetensors file (rn-init / rn-train output) into the
PyTorch reference model with load_state_dict(strict=True) and checks the
parameter count. Debian has no safetensors package, so the format is parsed
here directly (docs/FORMATS.md).

usage: /usr/bin/python3 tests/reference/check_load.py FILE [EXPECTED_PARAMS]
"""
import json
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from cifar_resnet import cifar_net  # noqa: E402

DTYPES = {"F32": np.float32, "I64": np.int64}


def load_safetensors(path):
    """Returns (tensors: dict name -> torch.Tensor, metadata: dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=np.dtype(DTYPES[t["dtype"]]).newbyteorder("<"))
        tensors[name] = torch.from_numpy(arr.copy().reshape(t["shape"]))
    return tensors, meta


def main():
    path = sys.argv[1]
    tensors, meta = load_safetensors(path)
    # A checkpoint also holds the optimizer's momentum buffers: not model state.
    momentum = [k for k in tensors if k.startswith("optimizer.momentum.")]
    for k in momentum:
        del tensors[k]
    model = cifar_net(meta["arch"], int(meta["depth"]), meta["shortcut"], int(meta["classes"]))
    model.load_state_dict(tensors, strict=True)
    nparams = sum(p.numel() for p in model.parameters())
    label = f"{meta['arch']}-{meta['depth']} shortcut {meta['shortcut']}"
    if len(sys.argv) > 2 and nparams != int(sys.argv[2]):
        print(f"FAIL {path}: {label}: {nparams} parameters, expected {sys.argv[2]}")
        sys.exit(1)
    # A forward pass proves the shapes are usable, not just named right.
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, int(meta["classes"])), out.shape
    print(f"ok {path}: {label}: loaded with strict=True, {nparams} parameters, {len(tensors)} tensors"
          + (f" (+{len(momentum)} momentum buffers)" if momentum else ""))


if __name__ == "__main__":
    main()
