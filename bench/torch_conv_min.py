#!/usr/bin/python3
"""PyTorch's side of bench/dense_abba.sh: per conv word N,Cin,H,W,Cout,k,stride (padding k//2,
bias) the fastest of R runs of the forward in eager mode and after
torch.jit.optimize_for_inference(torch.jit.script(...)), and of one training step (forward and
backward with a fixed dy, weight, bias and input gradients).

    /usr/bin/python3 bench/torch_conv_min.py THREADS RUNS WORD...
"""
import sys
import time

import torch
import torch.nn as nn

T, R = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(T)
torch.set_num_interop_threads(1)


def best(fn):
    for _ in range(3):
        fn()
    w0 = time.perf_counter()
    while time.perf_counter() - w0 < 0.2:
        fn()
    ts = []
    for _ in range(R):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return min(ts)


for spec in sys.argv[3:]:
    N, C, H, W, O, k, s = map(int, spec.split(","))
    m = nn.Conv2d(C, O, k, s, k // 2).eval()
    x = torch.rand(N, C, H, W)
    fl = 2.0 * N * O * ((H + 2 * (k // 2) - k) // s + 1) * ((W + 2 * (k // 2) - k) // s + 1) * C * k * k
    with torch.no_grad():
        e = best(lambda: m(x))
        j = torch.jit.optimize_for_inference(torch.jit.script(m))
        jj = best(lambda: j(x))
    m.train()
    xr = x.clone().requires_grad_(True)
    g = torch.rand_like(m(xr))

    def step():
        m.zero_grad(set_to_none=True)
        xr.grad = None
        m(xr).backward(g)
    t = best(step)
    print(f"{spec:26s} torch eager {e:8.3f} ms ({fl / e * 1e-6:6.1f} GF/s)  jit {jj:8.3f} ms  "
          f"train(f+b) {t:8.3f} ms ({3 * fl / t * 1e-6:6.1f})", flush=True)
