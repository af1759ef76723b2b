"""Writes the golden fixture of tests/unit/test_golden.c from an independent
implementation: the PyTorch CIFAR ResNet of tests/reference/cifar_resnet.py.

For ResNet-8 (option A) and Plain-8, both made by rn-init (seed 1), on a fixed
batch of 8 images: the logits, the loss and every gradient of the first
training-mode forward/backward, then the weights and BN running statistics
after 3 SGD steps (lr 0.1, momentum 0.9, weight decay 1e-4, as the recipe),
with the loss of each step.

Run once, with Debian's torch, from the repository root after building:
    /usr/bin/python3 tests/reference/make_golden.py [BINDIR]
CI needs no Python: the output is committed.

Fixture format (tests/fixtures/golden/*.bin), little-endian: magic
"RNGOLD1\\0", u32 record count, then records: name (64 bytes, NUL-padded),
u32 count, u32 dense; dense: count f32 values (elements 0..count-1); sparse:
count (u32 element index, f32 value) pairs. To stay small (< 1 MB in all), a
tensor with more than 256 elements is sampled at 256 evenly spaced elements
(first and last included): every tensor is checked, not every element.
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cifar_resnet import cifar_net  # noqa: E402
from check_load import load_safetensors  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures", "golden")
MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)
BATCH, SAMPLES = 8, 256


def sample_indices(n):
    if n <= SAMPLES:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, SAMPLES).round().astype(np.int64))


def write_fixture(path, records):
    with open(path, "wb") as f:
        f.write(b"RNGOLD1\0" + struct.pack("<I", len(records)))
        for name, values, dense in records:
            values = np.asarray(values, dtype=np.float32).reshape(-1)
            f.write(name.encode().ljust(64, b"\0"))
            if dense:
                f.write(struct.pack("<II", values.size, 1) + values.astype("<f4").tobytes())
            else:
                idx = sample_indices(values.size)
                f.write(struct.pack("<II", idx.size, 0))
                for i in idx:
                    f.write(struct.pack("<If", int(i), float(values[i])))


def make_batch():
    rng = np.random.RandomState(2016)
    pixels = rng.randint(0, 256, size=(BATCH, 3, 32, 32)).astype(np.float32)
    x = ((pixels / np.float32(255) - MEAN[None, :, None, None]) / STD[None, :, None, None]).astype(np.float32)
    labels = np.array([3, 8, 8, 0, 6, 6, 1, 6], dtype=np.int64)
    return torch.from_numpy(x), torch.from_numpy(labels)


def golden(bindir, arch, name, x, labels):
    with tempfile.TemporaryDirectory() as tmp:
        wpath = os.path.join(tmp, "w.safetensors")
        subprocess.run([os.path.join(bindir, "rn-init"), "-q", "--arch", arch, "--depth", "8", "--shortcut", "A",
                        "--seed", "1", "-o", wpath], check=True, stderr=subprocess.DEVNULL)
        tensors, meta = load_safetensors(wpath)
    model = cifar_net(arch, 8, "A", 10)
    model.load_state_dict(tensors, strict=True)
    model.train()
    records = [(f"init.{k}", v.numpy(), False) for k, v in tensors.items() if v.dtype == torch.float32]
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    for step in range(1, 4):
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        records.append((f"loss.step{step}", [loss.item()], True))
        if step == 1:
            records.append(("logits", logits.detach().numpy(), True))
            for k, p in model.named_parameters():
                records.append((f"grad.{k}", p.grad.detach().clone().numpy(), False))  # a copy: zero_grad reuses the tensor
        opt.step()
    for k, v in model.state_dict().items():
        records.append((f"step3.{k}", v.float().numpy(), k.endswith("num_batches_tracked")))
    path = os.path.join(OUT, f"{name}.bin")
    write_fixture(path, records)
    print(f"{path}: {len(records)} records, torch {torch.__version__}")


def main():
    bindir = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("RN_BIN", "bin")
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    x, labels = make_batch()
    write_fixture(os.path.join(OUT, "batch.bin"), [("x", x.numpy(), True), ("labels", labels.numpy(), True)])
    golden(bindir, "resnet", "resnet-8A", x, labels)
    golden(bindir, "plain", "plain-8", x, labels)


if __name__ == "__main__":
    main()
