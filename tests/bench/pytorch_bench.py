#!/usr/bin/env python3
"""PyTorch's speed on the same nets, for `make bench` (tests/bench/run-bench.sh).

Times PyTorch's bare training step (forward, cross-entropy, backward, SGD with
momentum 0.9 and weight decay 1e-4) at batch 128 and eval-mode forward at
batch 1000, on random data already in memory: the median of --steps steps
after --warmup. The net is tests/reference/cifar_resnet.py (the reference the
golden values come from). Prints one line of key=value pairs, like bench_step.

CPU: channels_last, --threads threads (default 2). With --device cuda: data
kept on the GPU, channels_last, and an AMP (bf16/fp16 autocast) variant too.

Run with Debian's torch: /usr/bin/python3 tests/bench/pytorch_bench.py --arch resnet --depth 20
It installs nothing; without torch it says so and exits 3.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("pytorch_bench: torch is not importable by this python (use /usr/bin/python3 with python3-torch)",
          file=sys.stderr)
    sys.exit(3)

from cifar_resnet import cifar_net  # noqa: E402


def timed(fn, device, warmup, steps):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(args, amp):
    dev = torch.device(args.device)
    net = cifar_net(args.arch, args.depth).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(args.batch, 3, 32, 32, device=dev).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch,), device=dev)
    xe = torch.randn(args.eval_batch, 3, 32, 32, device=dev).to(memory_format=torch.channels_last)
    amp_dtype = torch.bfloat16 if dev.type == "cpu" else torch.float16
    scaler = None
    if amp and dev.type == "cuda":   # torch.amp.GradScaler from 2.3 on; 1.13 has only torch.cuda.amp's
        scaler = torch.amp.GradScaler("cuda") if hasattr(torch.amp, "GradScaler") else torch.cuda.amp.GradScaler()

    def train_step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp):
            loss = F.cross_entropy(net(x), y)
        if scaler:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    def eval_step():
        with torch.no_grad(), torch.autocast(dev.type, dtype=amp_dtype, enabled=amp):
            net(xe)

    net.train()
    t_train = timed(train_step, args.device, args.warmup, args.steps)
    net.eval()
    t_eval = timed(eval_step, args.device, 1, max(3, min(args.steps, 5)))
    return args.batch / t_train, args.eval_batch / t_eval


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="resnet", choices=["plain", "resnet"])
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--eval-batch", type=int, default=1000)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("pytorch_bench: no CUDA device", file=sys.stderr)
        sys.exit(4)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    train, ev = bench(args, amp=False)
    line = f"torch={torch.__version__} train_img_s={train:.1f} eval_img_s={ev:.1f}"
    if args.device == "cuda":
        atrain, aev = bench(args, amp=True)
        line += f" amp_train_img_s={atrain:.1f} amp_eval_img_s={aev:.1f}"
    print(line)


if __name__ == "__main__":
    main()
