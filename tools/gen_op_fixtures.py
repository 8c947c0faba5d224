#!/usr/bin/python3
"""Generates tests/fixtures/ops/<case>/: every operator, forward and backward, computed by PyTorch.

Each case is one line of the table below: a name, train/eval, the input shape [N,C,H,W] and the
layers in slimnn's architecture format. The same text is written to model.arch and translated
here into torch.nn modules (the translation is the only per-operator code), so the fixture and
the reference can never describe different networks. PyTorch runs in float64 on the float32
values that are saved; results are rounded to float32. Fixed seeds: rerunning gives the same files.

    /usr/bin/python3 tools/gen_op_fixtures.py      (needs torch and numpy; the tests do not)

Files per case: model.arch, mode, x.npy, y.npy, <tensor>.npy for every parameter and buffer;
train cases add dy.npy, dx.npy, <param>.grad.npy and <buffer>.after.npy (running statistics
after the training-mode forward). Eval cases check the forward only.
"""
import os
import shutil
import sys
import warnings
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "ops")

# name, mode, input N,C,H,W, x ("normal", or "kinks": values near the activation kinks), layers
CASES = [
    # ---- Conv2d geometry
    ("conv3x3", "train", (2, 3, 7, 7), "normal", "conv c1 out=4 k=3 pad=1"),
    ("conv3x3_nobias", "train", (2, 3, 7, 7), "normal", "conv c1 out=4 k=3 pad=1 bias=0"),
    ("conv3x3_n1", "train", (1, 3, 6, 7), "normal", "conv c1 out=5 k=3 pad=1"),
    ("conv3x3_n3_nopad", "train", (3, 2, 6, 5), "normal", "conv c1 out=3 k=3"),
    ("conv_stride2", "train", (2, 3, 9, 9), "normal", "conv c1 out=4 k=3 stride=2 pad=1"),
    ("conv_stride2x1", "train", (2, 3, 8, 7), "normal", "conv c1 out=4 k=3 stride=2x1 pad=1"),
    ("conv_dilation2", "train", (2, 3, 9, 9), "normal", "conv c1 out=4 k=3 pad=2 dilation=2"),
    ("conv_dilation2x3_s2", "train", (2, 2, 9, 9), "normal", "conv c1 out=3 k=3 stride=2 pad=1 dilation=2x3"),
    ("conv_k1x7", "train", (2, 3, 7, 9), "normal", "conv c1 out=4 k=1x7 pad=0x3"),
    ("conv_k7x1", "train", (2, 3, 9, 7), "normal", "conv c1 out=4 k=7x1 pad=3x0"),
    ("conv_k3x5_s2", "train", (2, 3, 9, 8), "normal", "conv c1 out=4 k=3x5 stride=2 pad=1x2"),
    ("conv_pad_asym", "train", (2, 3, 7, 7), "normal", "conv c1 out=4 k=3 pad=1,0,2,1"),
    ("conv_pad_asym_s2", "train", (2, 3, 8, 9), "normal", "conv c1 out=4 k=3 stride=2 pad=0,2,1,0"),
    ("conv_pad_asym_k2x4", "train", (2, 2, 6, 7), "normal", "conv c1 out=3 k=2x4 pad=0,1,3,0 bias=0"),
    ("conv_same", "train", (2, 3, 7, 7), "normal", "conv c1 out=4 k=3 pad=same"),
    ("conv_same_even", "train", (2, 3, 7, 6), "normal", "conv c1 out=4 k=4x2 pad=same"),
    ("conv_same_dilated", "train", (2, 3, 9, 9), "normal", "conv c1 out=4 k=2x3 dilation=3x2 pad=same"),
    ("conv_valid", "train", (2, 3, 7, 8), "normal", "conv c1 out=4 k=3 pad=valid"),
    ("conv_groups2", "train", (2, 4, 7, 7), "normal", "conv c1 out=6 k=3 pad=1 groups=2"),
    ("conv_groups2_s2_nobias", "train", (2, 6, 8, 8), "normal", "conv c1 out=4 k=3 stride=2 pad=1 groups=2 bias=0"),
    ("conv_depthwise", "train", (2, 4, 7, 7), "normal", "conv c1 out=4 k=3 pad=1 groups=4 bias=0"),
    ("conv_depthwise_s2", "train", (2, 5, 9, 9), "normal", "conv c1 out=5 k=3 stride=2 pad=1 groups=5"),
    ("conv_depth_mult2", "train", (2, 3, 7, 7), "normal", "conv c1 out=6 k=3 pad=1 groups=3"),
    ("conv_pointwise", "train", (3, 4, 5, 5), "normal", "conv c1 out=6 k=1"),
    ("conv_pointwise_nobias", "train", (4, 5, 4, 6), "normal", "conv c1 out=3 k=1 bias=0"),
    ("conv_pointwise_groups2", "train", (2, 4, 5, 5), "normal", "conv c1 out=6 k=1 groups=2"),
    ("conv_1x1_stride2", "train", (2, 4, 7, 7), "normal", "conv c1 out=3 k=1 stride=2"),
    ("conv_1x1_pad1", "train", (2, 3, 5, 5), "normal", "conv c1 out=2 k=1 pad=1"),
    # ---- Conv2d padding modes
    ("conv_reflect", "train", (2, 3, 7, 7), "normal", "conv c1 out=4 k=3 pad=1 mode=reflect"),
    ("conv_reflect_k3x5_s2", "train", (2, 3, 8, 9), "normal", "conv c1 out=4 k=3x5 stride=2 pad=1x2 mode=reflect"),
    ("conv_reflect_asym", "train", (2, 3, 7, 7), "normal", "conv c1 out=4 k=3 pad=2,0,1,3 mode=reflect"),
    ("conv_reflect_dilation2", "train", (2, 2, 7, 8), "normal", "conv c1 out=3 k=3 pad=2 dilation=2 mode=reflect"),
    ("conv_reflect_same", "train", (2, 3, 6, 7), "normal", "conv c1 out=4 k=3x4 pad=same mode=reflect"),
    ("conv_replicate", "train", (2, 3, 7, 7), "normal", "conv c1 out=4 k=3 pad=1 mode=replicate"),
    ("conv_replicate_k1x7_s2", "train", (2, 3, 7, 9), "normal", "conv c1 out=4 k=1x7 stride=2 pad=0x3 mode=replicate"),
    ("conv_replicate_asym", "train", (2, 3, 6, 7), "normal", "conv c1 out=4 k=3 pad=0,2,3,1 mode=replicate"),
    ("conv_replicate_dw", "train", (2, 4, 6, 6), "normal", "conv c1 out=8 k=3 stride=2 pad=2 groups=4 mode=replicate"),
    ("conv_circular", "train", (2, 3, 7, 7), "normal", "conv c1 out=4 k=3 pad=1 mode=circular"),
    ("conv_circular_k7x1_s2", "train", (2, 3, 9, 6), "normal", "conv c1 out=4 k=7x1 stride=2 pad=3x0 mode=circular"),
    ("conv_circular_asym_g2", "train", (2, 4, 6, 7), "normal", "conv c1 out=4 k=3 stride=2 pad=1,2,0,2 groups=2 mode=circular"),
    ("conv_circular_full", "train", (2, 2, 4, 5), "normal", "conv c1 out=3 k=5 pad=4x5 mode=circular"),
    ("conv_eval", "eval", (2, 3, 7, 7), "normal", "conv c1 out=4 k=3 stride=2 pad=1,0,2,1 mode=reflect"),
    ("conv_eval_n3", "eval", (3, 4, 6, 6), "normal", "conv c1 out=4 k=3 pad=1 groups=2\nconv c2 out=5 k=1"),
    ("conv_threaded_gemm", "train", (1, 8, 16, 16), "normal", "conv c1 out=16 k=3 pad=1"),   # sn_gemm splits
    ("conv_stack", "train", (2, 3, 8, 8), "normal", "conv c1 out=4 k=3 stride=2 pad=1\nconv c2 out=5 k=3 pad=1 groups=1 mode=circular\nconv c3 out=2 k=1"),
    # ---- BatchNorm2d
    ("bn_train", "train", (2, 4, 5, 5), "normal", "bn bn"),
    ("bn_train_momentum", "train", (3, 3, 4, 6), "normal", "bn bn eps=0.001 momentum=0.3"),
    ("bn_eval", "eval", (2, 4, 5, 5), "normal", "bn bn"),
    ("conv_bn_train", "train", (2, 3, 6, 6), "normal", "conv c1 out=4 k=3 pad=1 bias=0\nbn bn"),
    # ---- activations
    ("relu", "train", (2, 3, 5, 5), "kinks", "relu r"),
    ("relu6", "train", (2, 3, 5, 5), "kinks", "relu6 r"),
    ("sigmoid", "train", (2, 3, 5, 5), "kinks", "sigmoid s"),
    ("hardswish", "train", (2, 3, 5, 5), "kinks", "hardswish h"),
    ("conv_hardswish", "train", (2, 3, 6, 6), "normal", "conv c1 out=4 k=3 pad=1\nhardswish h"),
    # ---- pooling
    ("maxpool_k2s2", "train", (2, 3, 8, 8), "normal", "maxpool p k=2"),
    ("maxpool_k3s2p1", "train", (2, 3, 9, 9), "normal", "maxpool p k=3 stride=2 pad=1"),
    ("maxpool_ceil", "train", (2, 3, 8, 8), "normal", "maxpool p k=3 stride=2 ceil=1"),
    ("maxpool_ceil_pad", "train", (2, 3, 8, 7), "normal", "maxpool p k=3 stride=2 pad=1 ceil=1"),
    ("maxpool_ceil_drop", "train", (2, 3, 5, 7), "normal", "maxpool p k=3 stride=3 pad=1 ceil=1"),
    ("maxpool_k2x3", "train", (2, 2, 7, 9), "normal", "maxpool p k=2x3 stride=1x2 pad=1x1"),
    ("maxpool_k2_ceil_odd", "train", (2, 3, 7, 5), "normal", "maxpool p k=2 ceil=1"),   # partial last windows
    ("avgpool_cip1", "train", (2, 3, 9, 9), "normal", "avgpool p k=3 stride=2 pad=1"),
    ("avgpool_cip0", "train", (2, 3, 9, 9), "normal", "avgpool p k=3 stride=2 pad=1 count_include_pad=0"),
    ("avgpool_ceil", "train", (2, 3, 8, 8), "normal", "avgpool p k=3 stride=2 ceil=1"),
    ("avgpool_ceil_pad_cip1", "train", (2, 3, 8, 7), "normal", "avgpool p k=3 stride=2 pad=1 ceil=1"),
    ("avgpool_ceil_pad_cip0", "train", (2, 3, 8, 7), "normal", "avgpool p k=3 stride=2 pad=1 ceil=1 count_include_pad=0"),
    ("avgpool_ceil_drop", "train", (2, 3, 5, 7), "normal", "avgpool p k=3 stride=3 pad=1 ceil=1"),
    ("avgpool_k2", "train", (2, 3, 6, 7), "normal", "avgpool p k=2"),
    ("gap", "train", (2, 4, 5, 7), "normal", "gap g"),
    # ---- flat layers
    ("flatten", "train", (2, 3, 4, 4), "normal", "flatten f"),
    ("linear", "train", (2, 3, 3, 3), "normal", "flatten f\nlinear fc out=5"),
    ("linear_nobias", "train", (3, 2, 3, 4), "normal", "flatten f\nlinear fc out=4 bias=0"),
    ("linear_stack", "train", (2, 4, 2, 2), "normal", "flatten f\nlinear fc1 out=6\nrelu r\nlinear fc2 out=3 bias=0"),
    # ---- graph structure
    ("add_residual", "train", (2, 4, 6, 6), "normal",
     "conv c0 out=4 k=3 pad=1\nrelu r in=c0\nconv c1 out=4 k=3 pad=1\nadd a in=c0,c1"),
    ("add_three", "train", (2, 3, 5, 5), "normal",
     "conv c1 out=3 k=3 pad=1\nconv c2 out=3 k=1 in=x\nadd a in=x,c1,c2"),
    ("concat", "train", (2, 3, 6, 6), "normal",
     "conv c1 out=2 k=3 pad=1\nconv c2 out=3 k=1 in=x\nconcat cat in=c1,c2"),
    ("concat_input", "train", (2, 2, 5, 5), "normal",
     "conv c1 out=3 k=3 pad=1 bias=0\nconcat cat in=x,c1,x"),
    ("frozen", "train", (2, 3, 6, 6), "normal",
     "conv c1 out=4 k=3 pad=1 frozen=1\nbn bn frozen=1\nrelu r\nconv c2 out=2 k=1"),
    # ---- small whole networks
    ("net_train", "train", (3, 2, 8, 8), "normal",
     "conv c1 out=4 k=3 pad=1 bias=0\nbn b1\nrelu r1\nmaxpool p1 k=2\nconv c2 out=6 k=3 pad=1 bias=0\n"
     "bn b2\nrelu r2\ngap gp\nflatten f\nlinear fc out=3"),
    ("net_eval", "eval", (3, 2, 8, 8), "normal",
     "conv c1 out=4 k=3 pad=1 bias=0\nbn b1\nrelu r1\nmaxpool p1 k=2\nconv c2 out=6 k=3 pad=1 bias=0\n"
     "bn b2\nrelu r2\ngap gp\nflatten f\nlinear fc out=3"),
    ("net_mobile_train", "train", (2, 3, 9, 9), "normal",
     "conv stem out=4 k=3 stride=2 pad=1 bias=0\nbn bn0\nhardswish h0\n"
     "conv dw out=4 k=3 pad=1 groups=4 bias=0\nbn bn1\nrelu6 r1\nconv pw out=4 k=1 bias=0\nbn bn2\n"
     "add res in=h0,bn2\navgpool ap k=2 ceil=1\nsigmoid s\nflatten f\nlinear fc out=3"),
    # ---- mobile-network operators: element-wise product with broadcast, softmax, channel
    # shuffle and slice, stand-alone padding, hardsigmoid
    ("mul_same", "train", (2, 3, 5, 5), "normal", "conv a out=3 k=1\nconv b in=x out=3 k=3 pad=1\nmul m in=a,b"),
    ("mul_se_gate", "train", (2, 4, 5, 6), "normal", "conv c out=4 k=3 pad=1\ngap g\nsigmoid s\nmul m in=c,s"),
    ("mul_gate_first", "train", (2, 4, 5, 5), "normal", "gap g\nconv f out=4 k=1\nhardsigmoid h\nmul m in=h,x"),
    ("mul_spatial", "train", (2, 3, 4, 5), "normal", "conv a out=1 k=1\nsigmoid s\nmul m in=x,s"),
    ("mul_square", "train", (2, 3, 4, 4), "normal", "mul m in=x,x"),
    ("mul_flat", "train", (2, 3, 2, 2), "normal", "flatten f\nlinear a out=4\nlinear b in=f out=4\nmul m in=a,b"),
    ("softmax_channels", "train", (2, 5, 3, 4), "normal", "softmax s"),
    ("softmax_head", "train", (3, 2, 3, 3), "normal", "flatten f\nlinear fc out=6\nsoftmax s"),
    ("shuffle_g3", "train", (2, 6, 3, 4), "normal", "conv c out=6 k=1\nshuffle s groups=3"),
    ("shuffle_g2", "train", (2, 8, 3, 3), "normal", "shuffle s groups=2"),
    ("slice_middle", "train", (2, 3, 5, 5), "normal", "conv c out=6 k=3 pad=1\nslice s start=2 end=5"),
    ("slice_split_concat", "train", (2, 5, 4, 4), "normal",
     "slice a end=2\nslice b in=x start=2 end=5\nconv cb out=3 k=1\nconcat c in=cb,a"),
    ("pad_zeros_asym", "train", (2, 3, 4, 5), "normal", "pad p pad=1,2,0,3"),
    ("pad_value", "train", (2, 2, 3, 4), "normal", "pad p pad=2 value=-0.5"),
    ("pad_reflect", "train", (2, 3, 4, 5), "normal", "pad p pad=2,1,3,0 mode=reflect"),
    ("pad_replicate", "train", (2, 3, 4, 5), "normal", "pad p pad=0,3,2,4 mode=replicate"),
    ("pad_circular", "train", (2, 3, 4, 5), "normal", "pad p pad=1,4,5,2 mode=circular"),
    ("pad_conv_stride2", "train", (2, 3, 6, 6), "normal", "pad p pad=0,1,0,1\nconv c out=4 k=3 stride=2"),
    ("hardsigmoid", "train", (2, 3, 5, 5), "kinks", "hardsigmoid h"),
    ("hardsigmoid_alpha", "train", (2, 3, 5, 5), "normal", "hardsigmoid h alpha=0.2 beta=0.4"),
    ("net_se_block", "train", (2, 4, 6, 6), "normal",
     "conv exp out=8 k=1 bias=0\nbn bn1\nhardswish h1\nconv dw out=8 k=3 pad=1 groups=8 bias=0\nbn bn2\n"
     "gap sq\nconv fc1 out=4 k=1\nrelu r\nconv fc2 out=8 k=1\nhardsigmoid gate\nmul se in=bn2,gate\n"
     "conv proj out=4 k=1 bias=0\nbn bn3\nadd res in=x,bn3"),
    ("net_shuffle_unit", "train", (2, 6, 5, 5), "normal",
     "slice keep end=3\nslice work in=x start=3 end=6\nconv pw1 out=3 k=1 bias=0\nbn b1\nrelu r1\n"
     "conv dw out=3 k=3 pad=1 groups=3 bias=0\nbn b2\nconv pw2 out=3 k=1 bias=0\nrelu r2\n"
     "concat cat in=keep,r2\nshuffle shuf groups=2\nsoftmax sm"),
    ("net_mobile_eval", "eval", (2, 4, 6, 6), "normal",
     "pad p pad=1 mode=reflect\nconv c out=6 k=3 bias=0\nbn b\ngap g\nhardsigmoid h\nmul m in=b,h\n"
     "shuffle s groups=2\nslice sl start=1 end=5\nsoftmax sm"),
]

MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def pair(v):
    a = [int(t) for t in v.split("x")]
    return (a[0], a[-1])


def pad4(v):
    """P, PHxPW or T,B,L,R -> (T, B, L, R)"""
    if "," in v:
        return tuple(int(t) for t in v.split(","))
    h, w = pair(v)
    return (h, h, w, w)


class Net:
    """The architecture text as torch modules (float64); nodes in file order."""

    def __init__(self, arch, x):
        self.nodes, self.tensors = [], {}   # (name, fn, input names); tensor name -> torch tensor
        self.frozen = set()                  # names of frozen parameters
        shapes = {}
        for line in arch.splitlines():
            tok = line.split("#")[0].split()
            if not tok:
                continue
            typ, name, kv = tok[0], tok[1], dict(t.split("=", 1) for t in tok[2:])
            if typ == "input":
                shapes[name] = x.shape
                self.nodes.append((name, None, []))
                continue
            ins = kv.pop("in").split(",") if "in" in kv else [self.nodes[-1][0]]
            frozen = kv.pop("frozen", "0") == "1"
            fn = self.layer(typ, name, kv, shapes[ins[0]])
            for t, v in self.tensors.items():   # frozen: not trained, gradients stay zero
                if frozen and t.startswith(name + ".") and v.requires_grad:
                    v.requires_grad_(False)
                    self.frozen.add(t)
            with torch.no_grad():
                shapes[name] = self.run(fn, [torch.zeros(shapes[i], dtype=torch.float64) for i in ins], probe=True).shape
            self.nodes.append((name, fn, ins))

    def layer(self, typ, name, kv, shape):
        cin = shape[1]
        if typ == "conv":
            k, s, d = pair(kv["k"]), pair(kv.get("stride", "1")), pair(kv.get("dilation", "1"))
            mode, p = kv.get("mode", "zeros"), kv.get("pad", "0")
            groups, bias = int(kv.get("groups", "1")), kv.get("bias", "1") == "1"
            if p in ("same", "valid"):
                m = nn.Conv2d(cin, int(kv["out"]), k, s, p, d, groups, bias, mode, dtype=torch.float64)
                fn = m
            else:
                t, b, l, r = pad4(p)
                if t == b and l == r:   # symmetric: torch's own padding
                    fn = m = nn.Conv2d(cin, int(kv["out"]), k, s, (t, l), d, groups, bias, mode, dtype=torch.float64)
                else:                   # asymmetric: F.pad, then an unpadded conv
                    m = nn.Conv2d(cin, int(kv["out"]), k, s, 0, d, groups, bias, dtype=torch.float64)
                    fn = lambda x, m=m, q=(l, r, t, b): m(F.pad(x, q, MODES[mode]))
            self.param(name, "weight", m.weight)
            if bias:
                self.param(name, "bias", m.bias)
            return fn
        if typ == "bn":
            m = nn.BatchNorm2d(cin, float(kv.get("eps", "1e-5")), float(kv.get("momentum", "0.1")), dtype=torch.float64)
            with torch.no_grad():   # non-trivial affine and running statistics
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
            for t in ("weight", "bias", "running_mean", "running_var"):
                self.param(name, t, getattr(m, t))
            return m
        if typ in ("maxpool", "avgpool"):
            k = pair(kv["k"])
            s = pair(kv["stride"]) if "stride" in kv else k
            t, b, l, r = pad4(kv.get("pad", "0"))
            assert t == b and l == r, "torch pools pad symmetrically"
            ceil = kv.get("ceil", "0") == "1"
            if typ == "maxpool":
                return nn.MaxPool2d(k, s, (t, l), ceil_mode=ceil)
            return nn.AvgPool2d(k, s, (t, l), ceil, kv.get("count_include_pad", "1") == "1")
        if typ == "linear":
            bias = kv.get("bias", "1") == "1"
            m = nn.Linear(cin, int(kv["out"]), bias, dtype=torch.float64)
            self.param(name, "weight", m.weight)
            if bias:
                self.param(name, "bias", m.bias)
            return m
        if typ == "shuffle":   # ShuffleNet's channel_shuffle, as torchvision writes it
            g = int(kv["groups"])
            return lambda x: x.view(x.shape[0], g, x.shape[1] // g, *x.shape[2:]).transpose(1, 2).reshape(x.shape)
        if typ == "slice":
            return lambda x, a=int(kv.get("start", "0")), b=int(kv["end"]): x[:, a:b]
        if typ == "pad":
            t, b, l, r = pad4(kv.get("pad", "0"))
            mode, value = MODES[kv.get("mode", "zeros")], float(kv.get("value", "0"))
            return lambda x: F.pad(x, (l, r, t, b), mode, value) if mode == "constant" else F.pad(x, (l, r, t, b), mode)
        if typ == "hardsigmoid" and ("alpha" in kv or "beta" in kv):
            alpha, beta = float(np.float32(kv.get("alpha", 1 / 6))), float(np.float32(kv.get("beta", 0.5)))
            return lambda x: torch.clamp(alpha * x + beta, 0, 1)
        if typ == "softmax":
            return nn.Softmax(dim=1)
        if typ == "mul":
            return "mul"
        simple = {"relu": nn.ReLU, "relu6": nn.ReLU6, "sigmoid": nn.Sigmoid, "hardswish": nn.Hardswish,
                  "flatten": nn.Flatten, "hardsigmoid": nn.Hardsigmoid}
        if typ in simple:
            return simple[typ]()
        if typ == "gap":
            return nn.AdaptiveAvgPool2d(1)
        if typ == "add":
            return "add"
        if typ == "concat":
            return "concat"
        sys.exit(f"no torch translation for layer type {typ}")

    def param(self, node, what, t):
        with torch.no_grad():   # the values slimnn sees are float32: compute on exactly those
            t.copy_(t.float().double())
        self.tensors[f"{node}.{what}"] = t

    def run(self, fn, xs, probe=False):
        if fn == "add":
            return sum(xs[1:], xs[0])
        if fn == "concat":
            return torch.cat(xs, 1)
        if fn == "mul":   # slimnn: a rank-2 [N, C] input is [N, C, 1, 1]
            a, b = xs
            if a.dim() != b.dim():
                a, b = (t.view(*t.shape, 1, 1) if t.dim() == 2 else t for t in (a, b))
            return a * b
        if probe and isinstance(fn, nn.BatchNorm2d):
            return xs[0]
        return fn(xs[0])

    def modules(self):
        return [fn for _, fn, _ in self.nodes if isinstance(fn, nn.Module)]

    def forward(self, x):
        vals = {self.nodes[0][0]: x}
        for name, fn, ins in self.nodes[1:]:
            vals[name] = self.run(fn, [vals[i] for i in ins])
        return vals[self.nodes[-1][0]]


def make_x(kind, shape, gen):
    if kind == "normal":
        return torch.randn(shape, generator=gen, dtype=torch.float32)
    # activations: values spread over [-8, 8], a quarter of them just beside a kink, none on one
    x = torch.rand(shape, generator=gen, dtype=torch.float32) * 16 - 8
    flat = x.view(-1)
    kinks = torch.tensor([-3.0, 0.0, 3.0, 6.0])
    offs = torch.tensor([-1e-2, -1e-3, 1e-3, 1e-2])
    idx = torch.randperm(flat.numel(), generator=gen)[: flat.numel() // 4]
    for j, i in enumerate(idx.tolist()):
        flat[i] = kinks[j % 4] + offs[(j // 4) % 4]
    assert not any((x == k).any() for k in kinks)
    return x


def save(d, name, t):
    a = t.detach().to(torch.float32).numpy()
    np.save(os.path.join(d, name + ".npy"), np.ascontiguousarray(a, dtype="<f4"))


def gen_case(name, mode, shape, xkind, layers):
    seed = zlib.crc32(name.encode())
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    arch = f"input x shape={shape[1]}x{shape[2]}x{shape[3]}\n{layers}\n"
    x32 = make_x(xkind, shape, gen)
    x = x32.double().requires_grad_(mode == "train")
    net = Net(arch, x)
    d = os.path.join(ROOT, name)
    os.makedirs(d)
    with open(os.path.join(d, "model.arch"), "w") as f:
        f.write(f"# {name}: generated by tools/gen_op_fixtures.py from PyTorch {torch.__version__}\n{arch}")
    with open(os.path.join(d, "mode"), "w") as f:
        f.write(mode + "\n")
    save(d, "x", x32)
    for t, v in net.tensors.items():
        save(d, t, v)
    for m in net.modules():
        m.train(mode == "train")
    if mode == "eval":
        with torch.no_grad():
            save(d, "y", net.forward(x))
        return
    y = net.forward(x)
    dy = torch.randn(y.shape, generator=gen, dtype=torch.float32)
    y.backward(dy.double())
    save(d, "y", y)
    save(d, "dy", dy)
    save(d, "dx", x.grad)
    for t, v in net.tensors.items():
        if t in net.frozen:
            save(d, t + ".grad", torch.zeros_like(v))
        elif v.requires_grad:
            save(d, t + ".grad", v.grad)
        else:
            save(d, t + ".after", v)


def main():
    torch.use_deterministic_algorithms(True)
    warnings.filterwarnings("ignore", "Using padding='same'")   # even kernels: torch pads a copy
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    os.makedirs(ROOT)
    names = [c[0] for c in CASES]
    assert len(set(names)) == len(names), "case names must be unique"
    for c in CASES:
        gen_case(*c)
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(ROOT) for f in fs)
    print(f"{len(CASES)} cases, {size} bytes in {os.path.relpath(ROOT)}")


if __name__ == "__main__":
    main()
