#!/usr/bin/python3
"""Checks slimnn's ONNX import on torchvision models: each is exported with torch.onnx.export
(random weights, eval mode, dynamic batch) twice, as torch does by default (BatchNorm folded into
the convs) and with training=TrainingMode.PRESERVE (BatchNorm kept), imported by `slimnn summary
--json` and run by `slimnn infer`, then compared with PyTorch: the outputs of both must agree
within 1e-4 relative (to max(1, max |y|)) and the parameter total of the second must be
torchvision's exactly. Prints one line per model and exits non-zero when any check fails.
Needs torch and torchvision (the tests do not).

    /usr/bin/python3 tools/check_torchvision_onnx.py build/slimnn [MODEL ...] [--opset N] [--size S]

MODEL defaults to the set the ONNX issue names: resnet18 mobilenet_v2 mobilenet_v3_small
squeezenet1_0 shufflenet_v2_x1_0 efficientnet_b0 (shufflenet_v2_x0_5, squeezenet1_1 and
mnasnet0_5 work too). --export-only DIR writes the .onnx files and stops. The last line is
"N passed, N failed", which tests/run.sh adds to the suite's totals when torch is installed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

DEFAULT = ["resnet18", "mobilenet_v2", "mobilenet_v3_small", "squeezenet1_0", "shufflenet_v2_x1_0", "efficientnet_b0"]


def export(name, path, opset, size, seed, keep_bn):
    import torch
    import torchvision
    torch.manual_seed(seed)
    m = getattr(torchvision.models, name)().eval()
    g = torch.Generator().manual_seed(seed)
    for mod in m.modules():   # BN statistics that are not the identity, so the check means something
        if isinstance(mod, torch.nn.BatchNorm2d):
            c = mod.num_features
            mod.running_mean.data = torch.randn(c, generator=g) * 0.1
            mod.running_var.data = torch.rand(c, generator=g) + 0.5
    x = torch.randn(2, 3, size, size, generator=g)
    mode = torch.onnx.TrainingMode.PRESERVE if keep_bn else torch.onnx.TrainingMode.EVAL
    torch.onnx.export(m, x, path, opset_version=opset, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "N"}, "output": {0: "N"}}, training=mode)
    with torch.no_grad():
        y = m.double()(x.double()).float().numpy()
    params = sum(p.numel() for p in m.parameters())
    return x.numpy(), y, params


def run(slimnn, path, x, y, tmp):
    """(parameter total, max relative error, seconds of summary) or an error text"""
    xp, yp = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
    np.save(xp, x.astype(np.float32))
    t0 = time.time()
    s = subprocess.run([slimnn, "summary", path, "--json"], capture_output=True, text=True)
    seconds = time.time() - t0
    if s.returncode:
        return f"summary failed: {s.stderr.strip()}"
    r = subprocess.run([slimnn, "infer", path, "--input", xp, "--output", yp], capture_output=True, text=True)
    if r.returncode:
        return f"infer failed: {r.stderr.strip()}"
    z = np.load(yp).reshape(y.shape)
    return json.loads(s.stdout)["totals"]["total_params"], float(np.abs(z - y).max() / max(1.0, float(np.abs(y).max()))), seconds


def check(slimnn, name, opset, size, tmp):
    res = []
    for keep_bn in (False, True):
        path = os.path.join(tmp, f"{name}{'.bn' if keep_bn else ''}.onnx")
        x, y, params = export(name, path, opset, size, 1234, keep_bn)
        r = run(slimnn, path, x, y, tmp)
        if isinstance(r, str):
            return f"{name}: {'BatchNorm kept' if keep_bn else 'default export'}: {r}", False
        res.append(r)
    (p0, e0, t0), (p1, e1, t1) = res
    ok = p1 == params and max(e0, e1) <= 1e-4
    return (f"{name:20s} opset {opset}: params {p1:,} (torchvision {params:,}; BN folded by the exporter: {p0:,}), "
            f"max relative error {max(e0, e1):.2g}, summary {t1:.2f} s: {'OK' if ok else 'FAILED'}"), ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("slimnn")
    ap.add_argument("models", nargs="*", default=DEFAULT)
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--export-only")
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    if a.export_only:
        os.makedirs(a.export_only, exist_ok=True)
        for name in a.models:
            export(name, os.path.join(a.export_only, name + ".onnx"), a.opset, a.size, 1234, True)
        return 0
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models:
            line, ok = check(os.path.abspath(a.slimnn), name, a.opset, a.size, tmp)
            print(line, flush=True)
            failed += not ok
    print(f"{len(a.models) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
