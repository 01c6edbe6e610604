#!/usr/bin/env python3
"""The GPU reference for `impasto bench` (issue 5): one Gatys/CS20 iteration in PyTorch eager —
VGG16 to conv5_1 with average pooling, content loss at conv4_2, Gram style losses at conv1_1 …
conv5_1 (CS20 weights), backward to the image, Adam step (lr 2) — timed per iteration.

Weights are random with VGG16's shapes: the time does not depend on their values, and this keeps
the script free of any download. Run beside `impasto bench --backends wgpu` on the same card:

    python3 bench/pytorch_vgg.py --sizes 256,512,1024 --out bench-pytorch.json
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

# (name, in, out, pool_before): VGG16 configuration D up to conv5_1.
VGG16 = [
    ("conv1_1", 3, 64, False), ("conv1_2", 64, 64, False),
    ("conv2_1", 64, 128, True), ("conv2_2", 128, 128, False),
    ("conv3_1", 128, 256, True), ("conv3_2", 256, 256, False), ("conv3_3", 256, 256, False),
    ("conv4_1", 256, 512, True), ("conv4_2", 512, 512, False), ("conv4_3", 512, 512, False),
    ("conv5_1", 512, 512, True),
]
STYLE = {"conv1_1": 0.5, "conv2_1": 1.0, "conv3_1": 1.5, "conv4_1": 3.0, "conv5_1": 4.0}
CONTENT = "conv4_2"


def features(x, weights):
    out = {}
    h = x
    for (name, _, _, pool), (w, b) in zip(VGG16, weights):
        if pool:
            h = F.avg_pool2d(h, 2)
        h = F.relu(F.conv2d(h, w, b, padding=1))
        out[name] = h
    return out


def gram(f):
    _, n, hh, ww = f.shape
    f = f.reshape(n, hh * ww)
    return f @ f.t()


def time_size(size, weights, iterations, device):
    g = torch.Generator(device="cpu").manual_seed(0)
    content = (torch.rand(1, 3, size, size, generator=g) * 255).to(device)
    style = (torch.rand(1, 3, size, size, generator=g) * 255).to(device)
    with torch.no_grad():
        p = features(content, weights)[CONTENT]
        a = {k: gram(v) for k, v in features(style, weights).items() if k in STYLE}
    x = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=2.0)

    def step():
        opt.zero_grad(set_to_none=True)
        f = features(x, weights)
        content_loss = ((f[CONTENT] - p) ** 2).sum() / (4 * p.numel())
        style_loss = 0
        for k, w in STYLE.items():
            _, n, hh, ww = f[k].shape
            m = hh * ww
            style_loss = style_loss + w * (((gram(f[k]) - a[k]) / (2 * n * m)) ** 2).sum()
        loss = 0.01 * content_loss + style_loss
        loss.backward()
        opt.step()
        return loss

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iterations):
        loss = step()
    # Impasto reads the loss back every iteration; so does this.
    loss.item()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1000 / iterations


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--out", default="bench-pytorch.json")
    args = ap.parse_args()
    device = "cuda"
    g = torch.Generator(device="cpu").manual_seed(0)
    weights = [
        ((torch.randn(o, i, 3, 3, generator=g) * (2 / (9 * i)) ** 0.5).to(device), torch.zeros(o, device=device))
        for _, i, o, _ in VGG16
    ]
    points = []
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        for size in [int(s) for s in args.sizes.split(",")]:
            ms = time_size(size, weights, args.iterations, device)
            mode = "tf32" if tf32 else "fp32"
            print(f"pytorch {mode} teacher {size}px: {ms:.2f} ms/iteration", flush=True)
            points.append({"backend": f"pytorch-{mode}", "model": "teacher", "size": size, "ms_per_iteration": ms,
                           "iterations": args.iterations, "device": torch.cuda.get_device_name(),
                           "torch": torch.__version__})
    with open(args.out, "w") as f:
        json.dump(points, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
