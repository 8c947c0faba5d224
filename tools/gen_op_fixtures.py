#!/usr/bin/python3
"""Generates tests/fixtures/ops/<case>/: every operator, forward and backward, computed by PyTorch.

Each case is one line of the table below: a name, train/eval, the input shape [N,C,H,W] and the
layers in slimnn's architecture format. The same text is written to model.arch and translated
into torch.nn modules by tools/arch_torch.py (the translation the summary fixtures use too, and
the only per-operator code), so the fixture and the reference can never describe different
networks. PyTorch runs in float64 on the float32 values that are saved; results are rounded to
float32. Fixed seeds: rerunning gives the same files.

    /usr/bin/python3 tools/gen_op_fixtures.py      (needs torch and numpy; the tests do not)

Files per case: model.arch, mode, x.npy, y.npy, <tensor>.npy for every parameter and buffer;
train cases add dy.npy, dx.npy, <param>.grad.npy and <buffer>.after.npy (running statistics
after the training-mode forward). Eval cases check the forward only.
"""
import os
import shutil
import warnings
import zlib

import numpy as np
import torch
import torch.nn as nn

from arch_torch import build

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
    # ---- SiLU and GELU (exact and tanh), over [-8, 8], and between convs
    ("silu", "train", (2, 3, 5, 5), "kinks", "silu s"),
    ("gelu", "train", (2, 3, 5, 5), "kinks", "gelu g"),
    ("gelu_tanh", "train", (2, 3, 5, 5), "kinks", "gelu g approximate=tanh"),
    ("conv_silu_gelu", "train", (2, 3, 6, 6), "normal",
     "conv c out=4 k=3 pad=1\nsilu s\nconv d out=4 k=1\ngelu g\nconv e out=3 k=1\ngelu t approximate=tanh"),
]

def randomize_bn(m):
    """Non-trivial affine and running statistics, so that a BatchNorm that ignored one shows."""
    with torch.no_grad():
        m.weight.uniform_(0.5, 1.5)
        m.bias.normal_(0, 0.2)
        m.running_mean.normal_(0, 0.2)
        m.running_var.uniform_(0.5, 1.5)


def reference(arch):
    """The architecture as float64 modules and its tensors by slimnn's names (`c1.weight`). Each
    layer's tensors are rounded to float32 (the values slimnn sees) as soon as it exists, its
    BatchNorm statistics drawn before the next layer's initialisation: the seeded draws stay in
    the order the committed fixtures were made with."""
    tensors = {}

    def made(name, m):
        if isinstance(m, nn.BatchNorm2d):
            randomize_bn(m)
        for what, t in (*m.named_parameters(), *m.named_buffers()):
            if t.is_floating_point():   # not num_batches_tracked: slimnn does not store it
                with torch.no_grad():
                    t.copy_(t.float().double())
                tensors[f"{name}.{what}"] = t

    return build(arch, torch.float64, made), tensors


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
    net, tensors = reference(arch)
    d = os.path.join(ROOT, name)
    os.makedirs(d)
    with open(os.path.join(d, "model.arch"), "w") as f:
        f.write(f"# {name}: generated by tools/gen_op_fixtures.py from PyTorch {torch.__version__}\n{arch}")
    with open(os.path.join(d, "mode"), "w") as f:
        f.write(mode + "\n")
    save(d, "x", x32)
    for t, v in tensors.items():
        save(d, t, v)
    net.train(mode == "train")
    if mode == "eval":
        with torch.no_grad():
            save(d, "y", net(x))
        return
    y = net(x)
    dy = torch.randn(y.shape, generator=gen, dtype=torch.float32)
    y.backward(dy.double())
    save(d, "y", y)
    save(d, "dy", dy)
    save(d, "dx", x.grad)
    for t, v in tensors.items():
        if isinstance(v, nn.Parameter) and not v.requires_grad:   # frozen=1: slimnn reports zeros
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
