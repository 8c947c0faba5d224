#!/usr/bin/python3
"""PyTorch's own post-training int8 quantization against slimnn's, on the same trained weights.

Takes a trained float model (.slim) and its architecture file, and in one run:

  1. slimnn quantize MODEL --calib N (per channel, the default mse calibration) and, with
     --per-tensor, slimnn quantize --per-tensor: the int8 accuracy each reports on the test set;
  2. exports the float model (slimnn export), rebuilds it in PyTorch with exactly those weights
     (tools/arch_torch.py, as tools/torch_prune_compare.py does) and quantizes it as a PyTorch
     user would: FX graph mode (prepare_fx / convert_fx; BatchNorm folded, ReLU fused; residual
     adds become quantized add or add_relu; ReLU6 stays a separate quantized op, torch 1.13 has no
     conv + ReLU6 fusion), histogram activation observers and symmetric qint8 weights with one
     MinMax scale per output channel and, separately, one per tensor (each engine's default
     qconfig is one of the two: onednn's per channel, qnnpack's per tensor), calibrated on the same
     N training images (spread evenly over the split, as slimnn takes them), for each engine in
     --engines that this torch build has.
  3. the test accuracy of float and of each int8 model, on the whole test split.

--keep DIR keeps slimnn's two int8 models (DIR/int8.slim, DIR/int8-per-tensor.slim) and their
quantize reports (DIR/int8.txt, DIR/int8-per-tensor.txt: per layer, the scales and the SQNR).
Output: one JSON object on stdout. Needs torch, numpy and onnx (Debian: python3-torch,
python3-onnx); a measurement tool only, never a runtime need of slimnn.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
from arch_torch import build  # noqa: E402  (architecture text -> nn.Module)
from torch_prune_compare import accuracy, load_weights, test_set  # noqa: E402
from torch_train import DATA_DIR, load_train  # noqa: E402
from torch.ao.quantization import QConfig, get_default_qconfig, QConfigMapping  # noqa: E402
from torch.ao.quantization.observer import HistogramObserver, MinMaxObserver, PerChannelMinMaxObserver  # noqa: E402
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx  # noqa: E402


def slimnn_int8(slimnn, model, data, calib, extra, keep=None):
    """slimnn quantize's reported float and int8 test accuracy (%); the model is written to keep."""
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([slimnn, "quantize", model, "--data", data, "--calib", str(calib), *extra,
                              "-o", keep or os.path.join(d, "q.slim")], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"slimnn quantize failed: {out.stderr.strip()}")
    if keep:
        with open(keep[:-len(".slim")] + ".txt", "w") as fh:
            fh.write(out.stdout)
    m = re.search(r"float ([0-9.]+)%, int8 ([0-9.]+)%", out.stdout)
    return float(m.group(1)), float(m.group(2))


def torch_int8(net, engine, qconfig, calib_x, tx, ty):
    torch.backends.quantized.engine = engine
    net.eval()
    prepared = prepare_fx(net, QConfigMapping().set_global(qconfig), example_inputs=(calib_x[:1],))
    with torch.no_grad():
        for i in range(0, len(calib_x), 64):
            prepared(calib_x[i:i + 64])
    return accuracy(convert_fx(prepared), tx, ty)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="the trained float model (.slim)")
    ap.add_argument("arch", help="its architecture file (models/cnn.arch)")
    ap.add_argument("--slimnn", default=os.path.join(HERE, "..", "build", "slimnn"))
    ap.add_argument("--calib", type=int, default=512, help="calibration images of the training split")
    ap.add_argument("--engines", default="x86,fbgemm,onednn,qnnpack")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=DATA_DIR)
    ap.add_argument("--keep", metavar="DIR", help="write slimnn's int8 models into DIR")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    res = {"model": a.model, "calib_images": a.calib, "torch_version": torch.__version__}
    if a.keep:
        os.makedirs(a.keep, exist_ok=True)
    keep = (lambda name: os.path.join(a.keep, name)) if a.keep else (lambda name: None)
    f, q = slimnn_int8(a.slimnn, a.model, a.data, a.calib, [], keep("int8.slim"))
    _, qt = slimnn_int8(a.slimnn, a.model, a.data, a.calib, ["--per-tensor"], keep("int8-per-tensor.slim"))
    res["slimnn"] = {"float": f, "int8_per_channel": q, "int8_per_tensor": qt}
    with tempfile.TemporaryDirectory() as d:
        onnx_path = os.path.join(d, "m.onnx")
        subprocess.run([a.slimnn, "export", a.model, "-o", onnx_path], check=True, capture_output=True)
        with open(a.arch) as fh:
            text = fh.read()
        images, _, mean, std = load_train(a.data, 0)
        idx = torch.tensor([i * len(images) // a.calib for i in range(a.calib)])
        calib_x = (images[idx].float() / 255.0 - mean) / std
        tx, ty = test_set(a.data, mean, std)

        def fresh():
            net = build(text)
            load_weights(net, onnx_path)
            return net.eval()

        res["torch"] = {"float": accuracy(fresh(), tx, ty)}
        have = torch.backends.quantized.supported_engines
        engines = [e for e in a.engines.split(",") if e in have]
        act = HistogramObserver.with_args(reduce_range=False)
        qconfigs = {"per_channel": QConfig(activation=act, weight=PerChannelMinMaxObserver.with_args(
                        dtype=torch.qint8, qscheme=torch.per_channel_symmetric)),
                    "per_tensor": QConfig(activation=act, weight=MinMaxObserver.with_args(
                        dtype=torch.qint8, qscheme=torch.per_tensor_symmetric))}
        for e in engines:
            for scheme, qc in qconfigs.items():
                res["torch"][f"int8_{scheme}_{e}"] = torch_int8(fresh(), e, qc, calib_x, tx, ty)
            w = get_default_qconfig(e).weight().qscheme
            res["torch"][f"default_qconfig_{e}"] = "per_channel" if w == torch.per_channel_symmetric else "per_tensor"
        res["engines_missing"] = [e for e in a.engines.split(",") if e not in have]
    res["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
