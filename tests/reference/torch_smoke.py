"""An independent check of the smoke profile's training curves: the same nets,
starting from the same rn-init weights, trained by PyTorch on the same subset
with the same recipe (batch 128, SGD momentum 0.9, weight decay 1e-4, lr 0.1
with a warm-up at 0.01 for the first steps and x0.1 at a milestone, pad-4 crop +
flip). The augmentation and shuffle come from torch's generator, not ours, so
the curves agree in shape, not bit for bit. Used to tell whether a curve of
ours (e.g. a deep net stalling early) is the recipe's or a bug of ours.

usage: /usr/bin/python3 tests/reference/torch_smoke.py INIT.safetensors TRAIN.ds TEST.ds \
           [EPOCHS 8] [MILESTONE 6] [WARMUP_ITERS 40]
Prints one line per epoch: epoch, train loss, train error, test error.
"""
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from cifar_resnet import cifar_net  # noqa: E402
from check_load import load_safetensors  # noqa: E402

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


def load_ds(path):
    """A dataset file (docs/FORMATS.md): 32-byte header, class names, labels, pixels."""
    raw = open(path, "rb").read()
    count, channels, height, width, classes = struct.unpack("<5I", raw[12:32])
    off = 32 + 32 * classes
    labels = np.frombuffer(raw[off:off + count], dtype=np.uint8).astype(np.int64)
    off += count
    x = np.frombuffer(raw[off:off + count * channels * height * width], dtype=np.uint8)
    x = torch.from_numpy(x.reshape(count, channels, height, width).astype(np.float32) / 255.0)
    return (x - MEAN) / STD, torch.from_numpy(labels)


def augment(x):
    """Pad 4 black pixels (0 before normalisation), random 32x32 crop, flip p=0.5."""
    pad_value = (-MEAN / STD)  # black, in normalised units
    n = x.shape[0]
    padded = pad_value.expand(n, 3, 40, 40).clone()
    padded[:, :, 4:36, 4:36] = x
    out = torch.empty_like(x)
    dx = torch.randint(0, 9, (n,))
    dy = torch.randint(0, 9, (n,))
    flip = torch.rand(n) < 0.5
    for i in range(n):
        img = padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        out[i] = img.flip(2) if flip[i] else img
    return out


def main():
    init, train_path, test_path = sys.argv[1:4]
    epochs = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    milestone = int(sys.argv[5]) if len(sys.argv) > 5 else 6
    warmup = int(sys.argv[6]) if len(sys.argv) > 6 else 40
    torch.manual_seed(1)
    torch.set_num_threads(2)
    tensors, meta = load_safetensors(init)
    model = cifar_net(meta["arch"], int(meta["depth"]), meta["shortcut"], int(meta["classes"]))
    model.load_state_dict(tensors, strict=True)
    xtr, ytr = load_ds(train_path)
    xte, yte = load_ds(test_path)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    step = 0
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(len(ytr))
        loss_sum, errors = 0.0, 0
        for start in range(0, len(ytr), 128):
            idx = perm[start:start + 128]
            lr = 0.01 if step < warmup else (0.1 if epoch <= milestone else 0.01)
            for g in opt.param_groups:
                g["lr"] = lr
            out = model(augment(xtr[idx]))
            loss = F.cross_entropy(out, ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.item() * len(idx)
            errors += (out.argmax(1) != ytr[idx]).sum().item()
        model.eval()
        with torch.no_grad():
            test_err = (model(xte).argmax(1) != yte).float().mean().item()
        print(f"{epoch}\t{loss_sum / len(ytr):.4f}\t{errors / len(ytr):.4f}\t{test_err:.4f}", flush=True)


if __name__ == "__main__":
    main()
