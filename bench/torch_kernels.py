#!/usr/bin/python3
"""PyTorch's side of bench/kernels.c: the same cases, timed the same way, printed the same way.

    /usr/bin/python3 bench/torch_kernels.py [--threads T] [--warmup W] [--runs R] [--seed S] CASE...

CASE (as bench_kernels takes them):
  conv:N,Cin,H,W,Cout,k,stride,groups   nn.Conv2d(Cin, Cout, k, stride, padding=k//2, groups), with bias
  sparse:N,Cin,H,W,Cout,percent         a 1x1 conv without bias, `percent` % of its weights zeroed (the
                                        smallest magnitudes); timed dense (F.conv2d) and with the weight
                                        as a sparse matrix times each image's [Cin, H*W] pixels:
                                        torch.sparse.mm on COO (impl=coo) and CSR @ dense (impl=csr)
  model:PATH                            the torchvision model that the zoo file PATH reproduces
                                        (tools/gen_summary_fixtures.py's TORCHVISION map) on the file's
                                        input shape, or for PATH = DIR/NAME.onnx torchvision.models.NAME()
                                        on 3x224x224; batch 1, in eval mode: eager (impl=eager) and
                                        torch.jit.optimize_for_inference(torch.jit.script(model)) (impl=jit)
  q8conv:N,Cin,H,W,Cout,k,stride,groups the conv: case through PyTorch's quantized Conv2d
                                        (torch.ao.nn.quantized): quint8 input and output, qint8 weights
                                        with one scale per output channel (as slimnn's q8conv), float
                                        bias; once per quantized engine this torch has (impl=int8:ENGINE,
                                        ENGINE in Q8_ENGINES)
  q8linear:N,K,OUT                      a quantized Linear on N rows, the same way
  q8model:N,PATH                        torchvision's quantizable model (torchvision.models.quantization)
                                        for the zoo file PATH, at batch N, quantized as torchvision's own
                                        recipe does it: fuse_model(), the engine's default qconfig,
                                        prepare, calibration on 8 seeded random images, convert (eager
                                        mode; float in, float out, as slimnn's q8model)

Everything runs under torch.no_grad() in NCHW float32 with torch.set_num_threads(T), one interop
thread. Each measurement: W untimed calls (and at least WARMUP_S seconds of them), then the
median of R timed ones (time.perf_counter).
Each alternative implementation is checked against the dense/eager output before it is timed;
each int8 layer against the float layer on its own dequantized input and weights (within two output
steps), each int8 model against the float model (within half the largest output, as bench_kernels).
One line per measurement:

    case=conv:1,3,224,224,32,3,2,1 engine=torch impl=dense ms=0.391 runs=21
"""
import argparse
import os
import statistics
import sys
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


WARMUP_S = 0.2   # as bench/timing.h: warm-up lasts W passes and at least this long


def median_ms(fn, warmup, runs):
    with torch.no_grad():
        w0, done = time.perf_counter(), 0
        while done < warmup or (warmup and time.perf_counter() - w0 < WARMUP_S):
            fn()
            done += 1
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def ints(spec, n, what, zero_last=False):
    """n comma-separated positive integers (the last may be 0 with zero_last), as bench_kernels reads them."""
    v = spec.split(",")
    if len(v) != n or not all(x.isdigit() and (int(x) > 0 or (zero_last and i == n - 1)) for i, x in enumerate(v)):
        raise ValueError(f"expected {what} (positive integers)")
    return [int(x) for x in v]


def report(case, impl, ms, o, macs=None, note=""):
    print(f"case={case} engine=torch impl={impl}" + (f" macs={macs}" if macs else "") + f" ms={ms:.4f} runs={o.runs}"
          + (f" note={note}" if note else ""), flush=True)


def check(name, got, want, tol):
    err = float((got - want).abs().max() / want.abs().max().clamp(min=1e-30))
    if not err < tol:
        raise ValueError(f"{name} differs from the dense result by {err:.3g}")


def bench_conv(case, spec, o):
    n, cin, h, w, cout, k, s, g = ints(spec, 8, "conv:N,Cin,H,W,Cout,k,stride,groups")
    m = nn.Conv2d(cin, cout, k, s, k // 2, groups=g, bias=True).eval()
    x = torch.rand(n, cin, h, w) * 2 - 1
    with torch.no_grad():
        macs = m(x).numel() * (cin // g) * k * k   # weights only, as bench_kernels counts them
    report(case, "dense", median_ms(lambda: m(x), o.warmup, o.runs), o, macs)


def prune_smallest(w, percent):
    """Zeroes round(percent % of w.numel()) weights of smallest magnitude, as slimnn's layer-scope pruning."""
    k = round(percent / 100 * w.numel())
    flat = w.flatten().clone()
    flat[flat.abs().argsort()[:k]] = 0
    return flat.view_as(w)


def bench_sparse(case, spec, o):
    n, cin, h, w, cout, pct = ints(spec, 6, "sparse:N,Cin,H,W,Cout,percent", zero_last=True)
    if pct >= 100:
        raise ValueError("percent must be below 100")
    wt = prune_smallest(nn.Conv2d(cin, cout, 1, bias=False).weight.detach(), pct)
    x = torch.rand(n, cin, h, w) * 2 - 1
    with torch.no_grad():
        want = F.conv2d(x, wt)
    report(case, "dense", median_ms(lambda: F.conv2d(x, wt), o.warmup, o.runs), o, want.numel() * cin)
    w2 = wt.view(cout, cin)
    pixels = [x[i].reshape(cin, h * w) for i in range(n)]   # views: NCHW images are [Cin, H*W] matrices
    variants = {"coo": (w2.to_sparse(), torch.sparse.mm), "csr": (w2.to_sparse_csr(), torch.mm)}
    for impl, (ws, mm) in variants.items():
        def run():
            return torch.stack([mm(ws, p) for p in pixels]).view(n, cout, h, w)
        with torch.no_grad():
            check(f"torch {impl}", run(), want, 1e-5)
        report(case, impl, median_ms(run, o.warmup, o.runs), o)


def torchvision_model(path):
    """The torchvision model that the zoo file `path` reproduces, its version and its input shape;
    for NAME.onnx (as bench/run.sh exports them) torchvision.models.NAME() on 3x224x224."""
    sys.path.insert(0, os.path.join(REPO, "tools"))
    from gen_summary_fixtures import TORCHVISION   # the zoo files that reproduce a torchvision model
    import torchvision
    if path.endswith(".onnx"):
        name = os.path.basename(path)[:-len(".onnx")]
        if not hasattr(torchvision.models, name):
            raise ValueError(f"{path}: no torchvision model named {name}")
        return getattr(torchvision.models, name)().eval(), torchvision.__version__, (3, 224, 224)
    name = os.path.basename(path)[:-len(".arch")] if path.endswith(".arch") else path
    if name not in TORCHVISION:
        raise ValueError(f"{path} is not a zoo model with a torchvision original ({', '.join(sorted(TORCHVISION))})")
    with open(os.path.join(REPO, path) if not os.path.isabs(path) else path) as f:
        shape = next(t[6:] for line in f for t in line.split("#")[0].split()[2:] if t.startswith("shape="))
    return getattr(torchvision.models, TORCHVISION[name])().eval(), torchvision.__version__, \
        tuple(int(v) for v in shape.split("x"))


def bench_model(case, path, o):
    m, tv_version, shape = torchvision_model(path)
    x = torch.rand(1, *shape) * 2 - 1
    report(case, "eager", median_ms(lambda: m(x), o.warmup, o.runs), o, note=f"torchvision-{tv_version}")
    try:
        with torch.no_grad():
            j = torch.jit.optimize_for_inference(torch.jit.script(m))
            check("optimize_for_inference", j(x), m(x), 1e-4)
    except Exception as e:   # noqa: BLE001  (a torch build without the pass: say why, keep going)
        print(f"case={case} engine=torch impl=jit err=1 note={type(e).__name__}", flush=True)
        print(f"torch_kernels.py: {case}: torch.jit.optimize_for_inference failed: {e}", file=sys.stderr)
        return
    report(case, "jit", median_ms(lambda: j(x), o.warmup, o.runs), o)


# PyTorch's quantized engines, in the order they are printed; Debian's torch 1.13 has onednn and
# qnnpack ('x86' and 'fbgemm' exist only in builds with FBGEMM). Those this torch lacks are skipped.
Q8_ENGINES = ("onednn", "qnnpack", "x86", "fbgemm")


def q8_engines():
    have = torch.backends.quantized.supported_engines
    return [e for e in Q8_ENGINES if e in have]


def q8_layer_case(case, o, make, x, ref_fn, macs):
    """Times a quantized layer on each engine: make() builds it (after the engine is chosen: the
    weights are packed for it), x is the float input, ref_fn(xq_deq, layer) the float reference."""
    for e in q8_engines():
        torch.backends.quantized.engine = e
        m = make()
        # input: asymmetric quint8 over x's range; output: the scale that fits the reference's range
        xq = torch.quantize_per_tensor(x, float(x.max() - x.min()) / 255, int(round(-float(x.min()) * 255 /
                                       float(x.max() - x.min()))), torch.quint8)
        with torch.no_grad():
            ref = ref_fn(xq.dequantize(), m)
        lo, hi = min(float(ref.min()), 0.0), max(float(ref.max()), 0.0)
        m.scale, m.zero_point = (hi - lo) / 255, int(round(-lo * 255 / (hi - lo)))
        with torch.no_grad():
            err = float((m(xq).dequantize() - ref).abs().max()) / m.scale
        if not err <= 2:
            raise ValueError(f"the {e} int8 output differs from the float one by {err:.3g} output steps")
        report(case, f"int8:{e}", median_ms(lambda: m(xq), o.warmup, o.runs), o, macs)


def per_channel_weight(w):
    """qint8 weights, symmetric, one scale per output channel (slimnn's default)."""
    scale = w.abs().flatten(1).amax(1).clamp(min=1e-8) / 127
    return torch.quantize_per_channel(w, scale.double(), torch.zeros(len(scale), dtype=torch.long), 0, torch.qint8)


def bench_q8conv(case, spec, o):
    import torch.ao.nn.quantized as nnq
    n, cin, h, w, cout, k, s, g = ints(spec, 8, "q8conv:N,Cin,H,W,Cout,k,stride,groups")
    f = nn.Conv2d(cin, cout, k, s, k // 2, groups=g, bias=True).eval()
    x = torch.rand(n, cin, h, w) * 2 - 1
    qw = per_channel_weight(f.weight.detach())

    def make():
        m = nnq.Conv2d(cin, cout, k, s, k // 2, groups=g)
        m.set_weight_bias(qw, f.bias.detach())
        return m
    macs = n * cout * ((h + 2 * (k // 2) - k) // s + 1) * ((w + 2 * (k // 2) - k) // s + 1) * (cin // g) * k * k
    q8_layer_case(case, o, make, x, lambda xd, m: F.conv2d(xd, qw.dequantize(), f.bias, s, k // 2, 1, g), macs)


def bench_q8linear(case, spec, o):
    import torch.ao.nn.quantized as nnq
    n, k, out = ints(spec, 3, "q8linear:N,K,OUT")
    f = nn.Linear(k, out).eval()
    x = torch.rand(n, k) * 2 - 1
    qw = per_channel_weight(f.weight.detach())

    def make():
        m = nnq.Linear(k, out)
        m.set_weight_bias(qw, f.bias.detach())
        return m
    q8_layer_case(case, o, make, x, lambda xd, m: F.linear(xd, qw.dequantize(), f.bias), n * k * out)


def bench_q8model(case, spec, o):
    import torchvision.models.quantization as tvq
    from torch.ao.quantization import convert, get_default_qconfig, prepare
    b, _, path = spec.partition(",")
    if not b.isdigit() or int(b) < 1 or not path:
        raise ValueError("expected q8model:BATCH,PATH")
    f, tv_version, shape = torchvision_model(path)
    name = type(f).__name__
    quantizable = {"MobileNetV2": "mobilenet_v2", "ResNet": "resnet18"}.get(name)
    if not quantizable or (name == "ResNet" and len(f.layer1) != 2):
        raise ValueError(f"{path}: torchvision.models.quantization has no {name} of this shape")
    # torchvision's own initialisation makes MobileNetV2's random logits vanish (about 1e-9), which
    # leaves nothing to quantize; PyTorch's default layer initialisation (as slimnn's .arch models
    # get) keeps the activations in range, so the int8 model can be checked against the float one
    for mod in f.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            mod.reset_parameters()
    x = torch.rand(int(b), *shape) * 2 - 1
    calib = torch.rand(8, *shape) * 2 - 1   # as bench_kernels: 8 seeded random images
    for e in q8_engines():
        torch.backends.quantized.engine = e
        m = getattr(tvq, quantizable)(quantize=False).eval()
        m.load_state_dict(f.state_dict())   # the same float weights on every engine
        with torch.no_grad():
            want = m(x)   # the quantizable model in float: its ReLU6 are ReLU, as torchvision makes it
        m.fuse_model(is_qat=False)
        m.qconfig = get_default_qconfig(e)
        prepare(m, inplace=True)
        with torch.no_grad():
            m(calib)
            convert(m, inplace=True)
            got = m(x)
        err = float((got - want).abs().max() / want.abs().max().clamp(min=1e-30))
        if not err < 0.5:
            raise ValueError(f"the {e} int8 output differs from the float one by {err:.3g}")
        report(case, f"int8:{e}", median_ms(lambda: m(x), o.warmup, o.runs), o, note=f"torchvision-{tv_version}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("cases", nargs="+", metavar="CASE")
    o = ap.parse_args()
    if o.threads < 1 or o.runs < 1 or o.warmup < 0:
        ap.error("--threads and --runs must be at least 1, --warmup at least 0")
    torch.set_num_threads(o.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(o.seed)
    warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta state")
    # the skip_add observer of torchvision's inverted residual blocks without a shortcut never runs
    warnings.filterwarnings("ignore", "must run observer before calling calculate_qparams")
    print(f"info engine=torch torch={torch.__version__} threads={torch.get_num_threads()} "
          f"mkldnn={int(torch.backends.mkldnn.is_available())} q8_engines={','.join(q8_engines()) or 'none'}",
          flush=True)
    kinds = {"conv": bench_conv, "sparse": bench_sparse, "model": bench_model, "q8conv": bench_q8conv,
             "q8linear": bench_q8linear, "q8model": bench_q8model}
    failed = 0
    for case in o.cases:   # a failing case is reported and the others still run
        kind, _, spec = case.partition(":")
        try:
            if kind not in kinds:
                raise ValueError("expected conv:..., sparse:..., model:PATH, q8conv:..., q8linear:... or q8model:N,PATH")
            kinds[kind](case, spec, o)
        except (ValueError, RuntimeError, OSError) as e:   # bad words, shapes torch refuses, a missing file
            failed += 1
            print(f"case={case} engine=torch err=1", flush=True)
            print(f"torch_kernels.py: {case}: {e}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
