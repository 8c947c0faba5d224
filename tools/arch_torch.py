"""slimnn's architecture text (models/README.md) as torch.nn modules: the one translation of
`TYPE NAME key=value ...` lines into PyTorch that every torch-side tool uses, so that the op
fixtures (tools/gen_op_fixtures.py, float64), the summary fixtures (tools/gen_summary_fixtures.py)
and tools/torch_prune_compare.py can never read a line differently.

Every layer is a module (functional operators get tiny ones: Add, Concat, Mul, ...), kept in a
ModuleList in file order, so that forward hooks (torchsummary's rows) see each layer once.
build(text, dtype, on_layer) calls on_layer(name, module) right after each layer is created, before
the next one is: a caller that changes parameters there (random BatchNorm statistics) draws its
random numbers in file order, interleaved with the layers' own initialisation.
"""
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def pair(v):
    """K or HxW -> (H, W)"""
    a = [int(t) for t in v.split("x")]
    return (a[0], a[-1])


def pad4(v):
    """P, PHxPW or T,B,L,R -> (T, B, L, R)"""
    if "," in v:
        return tuple(int(t) for t in v.split(","))
    h, w = pair(v)
    return (h, h, w, w)


class Add(nn.Module):
    """x0 + x1 + ...: a module so that forward hooks (and torchsummary) see it."""

    def forward(self, *xs):
        return sum(xs[1:], xs[0])


class Concat(nn.Module):
    """torch.cat along the channels, as a module."""

    def forward(self, *xs):
        return torch.cat(xs, 1)


class Mul(nn.Module):
    """a * b with broadcast, as a module; slimnn reads a flat [N, C] as [N, C, 1, 1]."""

    def forward(self, a, b):
        if a.dim() != b.dim():
            a, b = (t.view(*t.shape, 1, 1) if t.dim() == 2 else t for t in (a, b))
        return a * b


class Slice(nn.Module):
    """x[:, start:end], as a module."""

    def __init__(self, start, end):
        super().__init__()
        self.start, self.end = start, end

    def forward(self, x):
        return x[:, self.start:self.end]


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel_shuffle as torchvision writes it: torch 1.13's nn.ChannelShuffle has no
    backward, which the op fixtures need; the class name keeps torchsummary's row label."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        g = self.groups
        return x.view(x.shape[0], g, x.shape[1] // g, *x.shape[2:]).transpose(1, 2).reshape(x.shape)


class CircularPad2d(nn.Module):
    """F.pad(mode="circular") as a module (torch 1.13 has no CircularPad2d)."""

    def __init__(self, pad):
        super().__init__()
        self.pad = pad

    def forward(self, x):
        return F.pad(x, self.pad, "circular")


class Hardsigmoid(nn.Module):
    """min(max(alpha x + beta, 0), 1) with slimnn's alpha and beta (nn.Hardsigmoid has 1/6, 1/2),
    rounded to the float32 that slimnn stores, so that float64 references compute on its values."""

    def __init__(self, alpha, beta):
        super().__init__()
        self.alpha, self.beta = float(np.float32(alpha)), float(np.float32(beta))

    def forward(self, x):
        return torch.clamp(self.alpha * x + self.beta, 0, 1)


def asym_pad_hook(l, r, t, b, mode):
    """Pads the input of an unpadded conv: torch's own padding is symmetric."""
    return lambda m, inp: (F.pad(inp[0], (l, r, t, b), MODES[mode]),)


def conv_layer(kv, cin, dtype):
    k, s, d = pair(kv["k"]), pair(kv.get("stride", "1")), pair(kv.get("dilation", "1"))
    mode, p = kv.get("mode", "zeros"), kv.get("pad", "0")
    groups, bias, out = int(kv.get("groups", "1")), kv.get("bias", "1") == "1", int(kv["out"])
    if p in ("same", "valid"):
        return nn.Conv2d(cin, out, k, s, p, d, groups, bias, mode, dtype=dtype)
    t, b, l, r = pad4(p)
    if t == b and l == r:
        return nn.Conv2d(cin, out, k, s, (t, l), d, groups, bias, mode, dtype=dtype)
    # asymmetric padding: still a true nn.Conv2d (one hooked row), padded by a pre-hook
    m = nn.Conv2d(cin, out, k, s, 0, d, groups, bias, dtype=dtype)
    m.register_forward_pre_hook(asym_pad_hook(l, r, t, b, mode))
    return m


def pool_layer(typ, kv):
    k = pair(kv["k"])
    s = pair(kv["stride"]) if "stride" in kv else k
    t, b, l, r = pad4(kv.get("pad", "0"))
    assert t == b and l == r, "torch pools pad symmetrically"
    ceil = kv.get("ceil", "0") == "1"
    if typ == "maxpool":
        return nn.MaxPool2d(k, s, (t, l), ceil_mode=ceil)
    return nn.AvgPool2d(k, s, (t, l), ceil, kv.get("count_include_pad", "1") == "1")


def pad_layer(kv):
    t, b, l, r = pad4(kv.get("pad", "0"))
    mode, value = kv.get("mode", "zeros"), float(kv.get("value", "0"))
    if mode == "circular":
        return CircularPad2d((l, r, t, b))
    if mode != "zeros":
        return (nn.ReflectionPad2d if mode == "reflect" else nn.ReplicationPad2d)((l, r, t, b))
    return nn.ConstantPad2d((l, r, t, b), value) if value else nn.ZeroPad2d((l, r, t, b))


SIMPLE = {"relu": nn.ReLU, "relu6": nn.ReLU6, "sigmoid": nn.Sigmoid, "hardswish": nn.Hardswish,
          "flatten": nn.Flatten, "add": Add, "concat": Concat, "mul": Mul, "hardsigmoid": nn.Hardsigmoid,
          "silu": nn.SiLU}


def make_layer(typ, kv, shape, dtype):
    """One layer of type `typ` with keys `kv` (in= and frozen= removed) reading `shape` (one sample)."""
    cin = shape[0]
    if typ == "conv":
        return conv_layer(kv, cin, dtype)
    if typ == "bn":
        return nn.BatchNorm2d(cin, float(kv.get("eps", "1e-5")), float(kv.get("momentum", "0.1")), dtype=dtype)
    if typ in ("maxpool", "avgpool"):
        return pool_layer(typ, kv)
    if typ == "linear":
        assert len(shape) == 1, "linear reads a flat input"
        return nn.Linear(cin, int(kv["out"]), kv.get("bias", "1") == "1", dtype=dtype)
    if typ == "dropout":
        return nn.Dropout(float(kv.get("p", "0.5")))
    if typ == "pad":
        return pad_layer(kv)
    if typ == "hardsigmoid" and ("alpha" in kv or "beta" in kv):
        return Hardsigmoid(float(kv.get("alpha", 1 / 6)), float(kv.get("beta", 0.5)))
    if typ == "gelu":
        return nn.GELU(approximate=kv.get("approximate", "none"))
    if typ == "shuffle":
        return ChannelShuffle(int(kv["groups"]))
    if typ == "slice":
        return Slice(int(kv.get("start", "0")), int(kv["end"]))
    if typ == "softmax":
        return nn.Softmax(dim=1)
    if typ in SIMPLE:
        return SIMPLE[typ]()
    if typ == "gap":
        return nn.AdaptiveAvgPool2d(1)
    sys.exit(f"no torch translation for layer type {typ}")


class ArchNet(nn.Module):
    """Architecture text as a torch.nn.Module: layers in a ModuleList (which torchsummary does not
    hook), run in file order, each reading its in= layers (default: the previous line)."""

    def __init__(self, dtype=torch.float32, on_layer=None):
        super().__init__()
        self.layers = nn.ModuleList()
        self.names, self.ins, self.shapes = [], [], {}   # shapes: per sample, without the batch
        self.input_name, self.input_shape = None, None
        self.dtype, self.on_layer = dtype, on_layer

    def add_line(self, line):
        """Adds one layer; raises (and adds nothing) if torch refuses it or its output is empty."""
        tok = line.split("#")[0].split()
        if not tok:
            return
        typ, name, kv = tok[0], tok[1], dict(t.split("=", 1) for t in tok[2:])
        if typ == "input":
            assert self.input_name is None, "one input layer"
            self.input_name, self.input_shape = name, tuple(int(v) for v in kv["shape"].split("x"))
            self.shapes[name] = self.input_shape
            return
        ins = kv.pop("in").split(",") if "in" in kv else [self.names[-1] if self.names else self.input_name]
        frozen = kv.pop("frozen", "0") == "1"
        m = make_layer(typ, kv, self.shapes[ins[0]], self.dtype)
        if self.on_layer:
            self.on_layer(name, m)
        if frozen:
            for p in m.parameters():
                p.requires_grad_(False)
        self.shapes[name] = self.probe(name, m, ins)
        self.layers.append(m)
        self.names.append(name)
        self.ins.append(ins)

    def probe(self, name, m, ins):
        """Output shape of `m` (one sample), from zeros in eval mode: BatchNorm's running statistics
        stay as they are."""
        with torch.no_grad():
            m.eval()
            y = m(*[torch.zeros((2,) + self.shapes[i], dtype=self.dtype) for i in ins])
            m.train()
        if y.numel() == 0:
            raise ValueError(f"{name}: empty output {list(y.shape)}")
        return tuple(y.shape[1:])

    def forward(self, x):
        vals = {self.input_name: x}
        for name, m, ins in zip(self.names, self.layers, self.ins):
            vals[name] = m(*[vals[i] for i in ins])
        return vals[self.names[-1]]


def build(text, dtype=torch.float32, on_layer=None):
    """The whole architecture `text`; on_layer(name, module) as in the module's docstring."""
    net = ArchNet(dtype, on_layer)
    for line in text.splitlines():
        net.add_line(line)
    return net
