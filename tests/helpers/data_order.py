#!/usr/bin/env python3
"""What rn-train feeds the net, computed without its code: writes the dataset
file whose plain order (rn-train --no-shuffle --no-augment) gives exactly the
batches that rn-train's shuffle and augmentation give.

  data_order.py IN.ds OUT.ds SEED EPOCH [--shuffle] [--augment PAD]

--shuffle: image k of OUT is image perm[k] of IN, where perm sorts the
   positions by 64-bit keys drawn from Philox4x32-10 (counter (k, EPOCH,
   purpose 2, "RNCR"), key SEED; ties by position);
--augment PAD: each image (at its dataset position j in IN) is padded with PAD
   black pixels, cropped at (dx, dy) = (r0, r1) mod (2 PAD + 1) and flipped when
   the top bit of r2 is set, r = Philox(j, EPOCH, purpose 3) (torchvision's
   RandomCrop(32, padding=PAD) + RandomHorizontalFlip). Black is pixel value 0,
   which normalises like any 0 pixel, so OUT without augmentation is the same
   input bit for bit. The format is docs/FORMATS.md's dataset file."""
import struct, sys

M32 = 0xFFFFFFFF


def philox(ctr, key):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c3 ^ k1) & M32, p0 & M32
        k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
    return c0, c1, c2, c3


def random4(seed, purpose, a, b):
    return philox((b, a, purpose, 0x52434E52), (seed & M32, seed >> 32))


def main():
    src, dst, seed, epoch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rest = sys.argv[5:]
    shuffle = "--shuffle" in rest
    pad = int(rest[rest.index("--augment") + 1]) if "--augment" in rest else None
    data = open(src, "rb").read()
    assert data[:8] == b"RNCIFAR\x1a"
    version, count, C, H, W, classes = struct.unpack("<6I", data[8:32])
    L = 32 + 32 * classes
    labels, img = data[L:L + count], C * H * W
    pixels = [bytearray(data[L + count + i * img:L + count + (i + 1) * img]) for i in range(count)]
    if pad is not None:
        for j in range(count):
            r = random4(seed, 3, epoch, j)
            dx, dy, flip = r[0] % (2 * pad + 1), r[1] % (2 * pad + 1), r[2] >> 31
            src_img, out = pixels[j], bytearray(img)
            for c in range(C):
                for y in range(H):
                    sy = y + dy - pad
                    if not 0 <= sy < H:
                        continue
                    for x in range(W):
                        sx = (W - 1 - x if flip else x) + dx - pad
                        if 0 <= sx < W:
                            out[(c * H + y) * W + x] = src_img[(c * H + sy) * W + sx]
            pixels[j] = out
    order = list(range(count))
    if shuffle:
        keys = []
        for k in range(count):
            r = random4(seed, 2, epoch, k)
            keys.append((r[0] << 32 | r[1], k))
        order = [k for _, k in sorted(keys)]
    with open(dst, "wb") as f:
        f.write(data[:L])
        f.write(bytes(labels[k] for k in order))
        for k in order:
            f.write(pixels[k])


if __name__ == "__main__":
    main()
