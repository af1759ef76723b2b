#!/usr/bin/env python3
"""Weight decay end to end, computed independently of rn-train's code.

  wd_check.py LR INIT W0 WD:WX [WD:WX ...]

INIT: the initial weights; W0: after ONE step of rn-train with --weight-decay 0;
each WX: after one step from the same weights and batch with --weight-decay WD.
SGD folds decay into the gradient (g = grad + wd * w; buf = g on the first step;
w -= lr * buf), and grad is the same in every run (same weights, same batch), so
    WX - W0 = -LR * WD * INIT   for every parameter (BN's included),
(the running statistics, buffers, are not decayed: WX == W0), up to float rounding of the two results (|W0| and |WX| ulps). Checks that per
tensor: the worst element off by at most 2% of the expected change plus 4 ulps of
the weight, and the tensor's total change within 0.5% of the expected one.
Reads safetensors with the standard library only (the format is 8 bytes of header
length, a JSON header, the data)."""
import json, struct, sys


def load(path):
    data = open(path, "rb").read()
    n, = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] != "F32":
            continue
        b, e = t["data_offsets"]
        out[name] = struct.unpack(f"<{(e - b) // 4}f", body[b:e])
    return out


def main():
    lr = float(sys.argv[1])
    init, w0 = load(sys.argv[2]), load(sys.argv[3])
    bad = 0
    for arg in sys.argv[4:]:
        wd, path = arg.split(":", 1)
        wd, wx = float(wd), load(path)
        assert wx.keys() == w0.keys() == init.keys(), f"{path}: other tensors"
        for name in init:
            exp_total = got_total = worst = 0.0
            # BN running statistics are buffers, not parameters: no decay, the same bits
            buffer = name.endswith(("running_mean", "running_var"))
            for w, a, b in zip(init[name], w0[name], wx[name]):
                expect = 0.0 if buffer else -lr * wd * w
                got = b - a
                ulp = 6e-8 * max(abs(a), abs(b))
                err = abs(got - expect) - (0.02 * abs(expect) + 4 * ulp)
                worst = max(worst, err)
                exp_total += abs(expect)
                got_total += abs(got)
            if worst > 0 or abs(got_total - exp_total) > 0.005 * exp_total + 1e-12:
                print(f"{path}: {name}: weight decay {wd} changed the weights by {got_total:.6g} "
                      f"(sum of |change|), expected {exp_total:.6g}; worst element off by {worst:.3g} over tolerance")
                bad += 1
    print(f"wd_check: {len(sys.argv) - 4} runs, {len(init)} tensors each, {bad} wrong")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
