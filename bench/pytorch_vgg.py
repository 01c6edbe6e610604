#!/usr/bin/env python3
"""The PyTorch peer of `impasto-lab bench` (issues 5 and 19): one Gatys/CS20 iteration in PyTorch
eager — the network to conv5_1 with average pooling, content loss at conv4_2, Gram style losses
at conv1_1 … conv5_1 (CS20 weights), backward to the image, Adam step (lr 2) — timed per
iteration, on a GPU or on the CPU with a given number of threads.

`--models teacher,distilled` reads each network from Impasto's own weight file (models/*.bpk:
the same layers, a 3×3 then a 1×1 convolution per layer for the distilled model), so both sides
compute the same function; without the teacher's file, random weights of VGG16's shapes (the
time does not depend on the values). Run beside `impasto-lab bench` on the same device:

    python3 bench/pytorch_vgg.py --sizes 256,512,1024 --out bench-pytorch.json
    python3 bench/pytorch_vgg.py --device cpu --threads 2 --models teacher,distilled --sizes 128,256,384
"""
import argparse
import json
import os
import struct
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


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cbor(data, pos):
    """One CBOR item (the subset burn-pack's header uses) and the position after it."""
    head = data[pos]
    pos += 1
    major, info = head >> 5, head & 31
    arg = info
    if info == 24:
        arg, pos = data[pos], pos + 1
    elif info == 25:
        arg, pos = struct.unpack(">H", data[pos:pos + 2])[0], pos + 2
    elif info == 26:
        arg, pos = struct.unpack(">I", data[pos:pos + 4])[0], pos + 4
    elif info == 27:
        arg, pos = struct.unpack(">Q", data[pos:pos + 8])[0], pos + 8
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major in (2, 3):
        raw = data[pos:pos + arg]
        return (bytes(raw) if major == 2 else raw.decode()), pos + arg
    if major == 4:
        out = []
        for _ in range(arg):
            v, pos = cbor(data, pos)
            out.append(v)
        return out, pos
    if major == 5:
        out = {}
        for _ in range(arg):
            k, pos = cbor(data, pos)
            v, pos = cbor(data, pos)
            out[k] = v
        return out, pos
    if major == 7 and info in (20, 21, 22):
        return {20: False, 21: True, 22: None}[info], pos
    raise ValueError(f"CBOR item {head} not supported")


def read_pack(path):
    """{name: tensor} of an Impasto weight file (burn-pack: a 10-byte header with the metadata's
    length at byte 6, CBOR metadata, data from the next multiple of 256)."""
    data = open(path, "rb").read()
    length = struct.unpack("<I", data[6:10])[0]
    meta, _ = cbor(data, 10)
    start = -(-(10 + length) // 256) * 256
    out = {}
    for name, t in meta["tensors"].items():
        a, b = t["data_offsets"]
        dtype = {"F16": torch.float16, "F32": torch.float32}[t["dtype"]]
        out[name] = torch.frombuffer(bytearray(data[start + a:start + b]), dtype=dtype).float().reshape(t["shape"])
    return out


def load_model(name, device):
    """The network's layers as lists of (weight, bias, padding), conv1_1 taking RGB (the file
    stores it BGR, as Vgg::from_bytes reads it)."""
    path = os.path.join(ROOT, "models", f"vgg16-{name}.bpk")
    if not os.path.exists(path):
        if name != "teacher":
            raise SystemExit(f"{path} is missing")
        g = torch.Generator(device="cpu").manual_seed(0)
        return [[((torch.randn(o, i, 3, 3, generator=g) * (2 / (9 * i)) ** 0.5).to(device), torch.zeros(o, device=device), 1)]
                for _, i, o, _ in VGG16]
    t = read_pack(path)
    layers = []
    for lname, _, _, _ in VGG16:
        chain, k = [], 0
        while f"{lname}.{k}.weight" in t:
            w, b = t[f"{lname}.{k}.weight"], t[f"{lname}.{k}.bias"]
            if lname == "conv1_1" and k == 0:
                w = w.flip(1)
            chain.append((w.contiguous().to(device), b.to(device), w.shape[2] // 2))
            k += 1
        layers.append(chain)
    return layers


def features(x, weights):
    out = {}
    h = x
    for (name, _, _, pool), chain in zip(VGG16, weights):
        if pool:
            h = F.avg_pool2d(h, 2)
        for w, b, pad in chain:
            h = F.conv2d(h, w, b, padding=pad)
        h = F.relu(h)
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

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(3):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(iterations):
        # Impasto reads the loss back every iteration; so does this.
        step().item()
    sync()
    return (time.perf_counter() - t0) * 1000 / iterations


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--out", default="bench-pytorch.json")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    ap.add_argument("--models", default="teacher")
    args = ap.parse_args()
    device = args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    points = []
    modes = (False, True) if device == "cuda" else (False,)
    for model in args.models.split(","):
        weights = load_model(model, device)
        for tf32 in modes:
            if device == "cuda":
                torch.backends.cuda.matmul.allow_tf32 = tf32
                torch.backends.cudnn.allow_tf32 = tf32
            for size in [int(s) for s in args.sizes.split(",")]:
                ms = time_size(size, weights, args.iterations, device)
                mode = ("tf32" if tf32 else "fp32") if device == "cuda" else f"cpu{torch.get_num_threads()}"
                print(f"pytorch {mode} {model} {size}px: {ms:.2f} ms/iteration", flush=True)
                points.append({"backend": f"pytorch-{mode}", "model": model, "size": size, "ms_per_iteration": ms,
                               "iterations": args.iterations, "threads": torch.get_num_threads(),
                               "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                               "torch": torch.__version__})
    with open(args.out, "w") as f:
        json.dump(points, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
