#!/usr/bin/python3
"""Generates tests/fixtures/onnx/: small PyTorch models exported with torch.onnx.export, with an
input and PyTorch's output, and a few malformed models for the importer's error paths.

    /usr/bin/python3 tools/gen_onnx_fixtures.py            (needs torch, numpy and onnx)
    /usr/bin/python3 tools/gen_onnx_fixtures.py --check M.onnx [M2.onnx ...]
        runs onnx.checker (full check, with shape inference) on models slimnn exported

Per case, tests/fixtures/onnx/<case>/: model.onnx, x.npy (float32 [2, C, H, W]) and y.npy
(PyTorch's output in eval mode, computed in float64 and rounded to float32). Malformed models go
to tests/fixtures/onnx/bad/<name>.onnx with the words the error must contain in <name>.expect.
Fixed seeds: rerunning gives the same files. Keep every model a few KB: the set is committed.
"""
import os
import shutil
import sys
import warnings

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "onnx")


def check(paths):
    import onnx
    for p in paths:
        m = onnx.load(p)
        onnx.checker.check_model(m, full_check=True)
        ops = sorted({n.op_type for n in m.graph.node})
        print(f"{p}: onnx.checker OK (opset {m.opset_import[0].version}, {len(m.graph.node)} nodes: {', '.join(ops)})")


def cases():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def seq(*layers):
        return nn.Sequential(*layers)

    class ViewHead(nn.Module):   # torch's classic x.view(x.size(0), -1): the Shape/Gather chain
        def __init__(self, body, feat, out):
            super().__init__()
            self.body, self.fc = body, nn.Linear(feat, out)

        def forward(self, x):
            x = self.body(x)
            return self.fc(x.view(x.size(0), -1))

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(4)
            self.short = nn.Conv2d(3, 4, 1)

        def forward(self, x):
            y = self.bn(F.relu(self.conv2(F.relu(self.conv1(x)))))
            return F.relu(y + self.short(x))

    class Concat(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 2, 1)
            self.b = nn.Conv2d(3, 3, 3, padding=1)
            self.c = nn.Conv2d(5, 4, 3, stride=2)

        def forward(self, x):
            return self.c(torch.cat([F.relu(self.a(x)), torch.sigmoid(self.b(x))], 1))

    class SEBlock(nn.Module):   # MobileNetV3's inverted residual with squeeze-and-excitation
        def __init__(self):
            super().__init__()
            from torchvision.ops import SqueezeExcitation
            self.body = seq(nn.Conv2d(4, 8, 1, bias=False), nn.BatchNorm2d(8), nn.Hardswish(),
                            nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.Hardswish(),
                            SqueezeExcitation(8, 4, scale_activation=nn.Hardsigmoid),
                            nn.Conv2d(8, 4, 1, bias=False), nn.BatchNorm2d(4))

        def forward(self, x):
            return x + self.body(x)

    class SELinear(nn.Module):   # SENet's gate made by Linears: view(b, c, 1, 1) and [:, :, None, None]
        def __init__(self):
            super().__init__()
            self.conv, self.fc1, self.fc2 = nn.Conv2d(3, 6, 3, padding=1), nn.Linear(6, 3), nn.Linear(3, 6)

        def forward(self, x):
            x = F.relu(self.conv(x))
            b, c = x.shape[:2]
            y = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3))))))
            x = x * y.view(b, c, 1, 1)
            return x * y[:, :, None, None]

    def shuffle_units():   # torchvision's ShuffleNetV2 units: chunk, branches, concat, channel shuffle
        from torchvision.models.shufflenetv2 import InvertedResidual
        return seq(InvertedResidual(8, 16, 2), InvertedResidual(16, 16, 1))

    class ChannelSplit(nn.Module):   # torch.split (ONNX Split) and channel slices (ONNX Slice)
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(3, 2, 1)

        def forward(self, x):
            p, q, r = torch.split(x, [2, 3, 1], dim=1)
            return torch.cat([self.b(q), x[:, 1:4], F.relu(self.a(p)) * torch.sigmoid(r)], 1)

    class SoftmaxHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(3, 6, 3), nn.Linear(6, 5)

        def forward(self, x):
            return F.softmax(self.fc(torch.flatten(F.adaptive_avg_pool2d(F.relu(self.conv(x)), 1), 1)), dim=1)

    class MeanHead(nn.Module):   # x.mean([2, 3]) (ONNX ReduceMean), with and without keepdim
        def __init__(self):
            super().__init__()
            self.conv, self.gate, self.fc = nn.Conv2d(3, 6, 3), nn.Conv2d(6, 6, 1), nn.Linear(6, 4)

        def forward(self, x):
            x = F.relu(self.conv(x))
            x = x * torch.sigmoid(self.gate(x.mean([2, 3], keepdim=True)))
            return self.fc(x.mean([2, 3]))

    class Pads(nn.Module):   # stand-alone pads: some fold into the next layer, some stay layers
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3)

        def forward(self, x):
            x = self.c1(F.pad(x, (1, 2, 0, 1), value=0.25))        # constant 0.25: a pad layer
            x = nn.ReflectionPad2d((1, 0, 2, 1))(x)                  # then a pool: a pad layer
            x = F.max_pool2d(x, 2)
            x = self.c2(nn.ZeroPad2d((1, 1, 0, 2))(x))               # zeros: folded into the conv
            return F.relu(nn.ReplicationPad2d(1)(x))

    def padded_convs():   # torch writes the pads of reflect/replicate convs as a Shape-free int chain
        return seq(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), nn.ReLU(),
                   nn.Conv2d(4, 4, (3, 5), padding=(1, 2), padding_mode="replicate"),
                   nn.Conv2d(4, 2, 3, stride=2, padding=2, padding_mode="reflect"))

    def acts():   # BN after an activation is not fused into the conv by the exporter
        return seq(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4), nn.ReLU6(), nn.Hardswish(),
                   nn.Conv2d(4, 4, 1), nn.Sigmoid(), nn.BatchNorm2d(4, eps=1e-3))

    def silu_gelu():   # torch writes SiLU as Sigmoid + Mul and GELU as its Div/Erf/Add/Mul/Mul chain
        return seq(nn.Conv2d(3, 4, 3, padding=1), nn.SiLU(), nn.Conv2d(4, 6, 1), nn.BatchNorm2d(6), nn.GELU(),
                   nn.Conv2d(6, 4, 3, stride=2), nn.GELU(), nn.SiLU())

    def randomise_bn(m, g):
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.data = torch.rand(c, generator=g) + 0.5
                mod.bias.data = torch.randn(c, generator=g) * 0.2
                mod.running_mean.data = torch.randn(c, generator=g) * 0.2
                mod.running_var.data = torch.rand(c, generator=g) + 0.5
        return m

    # name, opset, input C,H,W, the module (made after the case's seed is set)
    return [
        ("conv_basic", 13, (3, 8, 8), lambda: ViewHead(seq(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)), 64, 5)),
        ("conv_depthwise", 13, (4, 7, 7), lambda: seq(nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.Conv2d(4, 6, 1, bias=False))),
        ("conv_grouped_dilated", 13, (4, 9, 9), lambda: seq(nn.Conv2d(4, 6, 3, groups=2, dilation=2, padding=2), nn.ReLU())),
        ("conv_strided", 13, (3, 9, 8), lambda: seq(nn.Conv2d(3, 5, (3, 2), stride=(2, 1), padding=(1, 0)), nn.ReLU6())),
        ("activations_bn", 13, (3, 6, 6), acts),
        ("activations_bn_opset9", 9, (3, 6, 6), acts),
        ("hardswish_opset14", 14, (3, 6, 6), acts),
        ("pools", 13, (3, 11, 11), lambda: seq(nn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.AvgPool2d(3, 2, 1, ceil_mode=True),
                                               nn.AvgPool2d(2, 1, 1, count_include_pad=False))),
        ("gap_flatten_linear", 11, (3, 6, 6), lambda: seq(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                                          nn.Flatten(), nn.Dropout(0.3), nn.Linear(8, 4))),
        ("view_head_opset17", 17, (2, 6, 6), lambda: ViewHead(seq(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.AvgPool2d(2)), 12, 3)),
        ("residual_add", 13, (3, 6, 6), Residual),
        ("concat", 12, (3, 7, 7), Concat),
        ("se_block", 13, (4, 6, 6), SEBlock),
        ("se_block_opset11", 11, (4, 6, 6), SEBlock),
        ("se_linear", 13, (3, 5, 5), SELinear),
        ("se_linear_opset11", 11, (3, 5, 5), SELinear),
        ("shufflenet_units", 13, (8, 8, 8), shuffle_units),
        ("shufflenet_units_opset11", 11, (8, 8, 8), shuffle_units),
        ("channel_split", 13, (6, 5, 5), ChannelSplit),
        ("channel_split_opset11", 11, (6, 5, 5), ChannelSplit),
        ("softmax_head", 13, (3, 6, 6), SoftmaxHead),
        ("softmax_head_opset9", 9, (3, 6, 6), SoftmaxHead),
        ("softmax_channels", 13, (3, 5, 5), lambda: seq(nn.Conv2d(3, 4, 1), nn.Softmax(dim=1))),
        ("mean_head", 13, (3, 7, 7), MeanHead),
        ("pads", 13, (3, 8, 9), Pads),
        ("pads_opset9", 9, (3, 8, 9), Pads),
        ("reflect_replicate_convs", 13, (3, 7, 8), padded_convs),
        ("reflect_replicate_convs_opset11", 11, (3, 7, 8), padded_convs),
        ("silu_gelu", 13, (3, 7, 7), silu_gelu),
        ("silu_gelu_opset9", 9, (3, 7, 7), silu_gelu),
        ("silu_gelu_opset17", 17, (3, 7, 7), silu_gelu),
    ], randomise_bn


def auto_pad_case(d):
    """Conv with auto_pad=SAME_UPPER (torch never writes it): built by hand, reference by torch."""
    import torch
    import torch.nn.functional as F
    from onnx import TensorProto, helper, numpy_helper
    g = torch.Generator().manual_seed(77)
    x, w, b = torch.randn(2, 2, 6, 5, generator=g), torch.randn(3, 2, 4, 3, generator=g), torch.randn(3, generator=g)
    y = F.conv2d(F.pad(x.double(), (1, 1, 1, 2)), w.double(), b.double()).float()   # W: 2 -> 1+1, H: 3 -> 1+2
    node = helper.make_node("Conv", ["input", "w", "b"], ["output"], name="same", auto_pad="SAME_UPPER")
    graph = helper.make_graph([node], "same", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 2, 6, 5])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, 6, 5])],
                              [numpy_helper.from_array(w.numpy(), "w"), numpy_helper.from_array(b.numpy(), "b")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    os.makedirs(d)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(m.SerializeToString())
    np.save(os.path.join(d, "x.npy"), x.numpy())
    np.save(os.path.join(d, "y.npy"), y.numpy())


def circular_case(d):
    """Circular-padding convs as torch 2.x exports them (torch 1.13's export picks the wrong rows,
    pytorch issue 86690): Concat([x[..., -p:], x, x[..., :q]]) along H, then W, then an unpadded
    Conv. Built by hand; the reference is torch's own padding_mode='circular'."""
    import torch
    from onnx import TensorProto, helper, numpy_helper
    g = torch.Generator().manual_seed(78)
    x, w, b = torch.randn(2, 2, 5, 6, generator=g), torch.randn(3, 2, 3, 3, generator=g), torch.randn(3, generator=g)
    conv = torch.nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="circular").double()
    conv.weight.data, conv.bias.data = w.double(), b.double()
    with torch.no_grad():
        y = conv(x.double()).float()
    ints = lambda name, v: numpy_helper.from_array(np.array(v, dtype=np.int64), name)
    inits = [numpy_helper.from_array(w.numpy(), "w"), numpy_helper.from_array(b.numpy(), "b"),
             ints("hs", [-1]), ints("he", [2 ** 63 - 1]), ints("h0", [0]), ints("h1", [1]), ints("ax2", [2]),
             ints("ws", [-2]), ints("w2", [2]), ints("ax3", [3])]
    nodes = [helper.make_node("Slice", ["input", "hs", "he", "ax2"], ["top"], name="/pad/Slice"),
             helper.make_node("Slice", ["input", "h0", "h1", "ax2"], ["bottom"], name="/pad/Slice_1"),
             helper.make_node("Concat", ["top", "input", "bottom"], ["padh"], name="/pad/Concat", axis=2),
             helper.make_node("Slice", ["padh", "ws", "he", "ax3"], ["left"], name="/pad/Slice_2"),
             helper.make_node("Slice", ["padh", "h0", "w2", "ax3"], ["right"], name="/pad/Slice_3"),
             helper.make_node("Concat", ["left", "padh", "right"], ["padhw"], name="/pad/Concat_1", axis=3),
             helper.make_node("Conv", ["padhw", "w", "b"], ["output"], name="/conv/Conv", pads=[0, 0, 0, 0])]
    graph = helper.make_graph(nodes, "circular", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 2, 5, 6])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, 5, 8])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    os.makedirs(d)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(m.SerializeToString())
    np.save(os.path.join(d, "x.npy"), x.numpy())
    np.save(os.path.join(d, "y.npy"), y.numpy())


def torch_circular_export():
    """torch 1.13's own export of a circular conv: refused (it computes other values than torch)."""
    import io
    import onnx
    import torch
    f = io.BytesIO()
    torch.manual_seed(79)
    torch.onnx.export(torch.nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular"), torch.randn(1, 1, 4, 4), f,
                      opset_version=13, input_names=["x"], output_names=["y"])
    return onnx.load_from_string(f.getvalue())


def torch_gelu_tanh_export():
    """torch's export of nn.GELU(approximate='tanh'): its Mul/Tanh chain is not read back."""
    import io
    import onnx
    import torch
    f = io.BytesIO()
    torch.onnx.export(torch.nn.GELU(approximate="tanh"), torch.randn(1, 4, 4, 4), f, opset_version=13,
                      input_names=["x"], output_names=["y"])
    return onnx.load_from_string(f.getvalue())


def bad_models(out):
    """Malformed models built by hand: (name, model, words the error must contain)."""
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, 4, 4])

    def model(nodes, inits, opset=13):
        g = helper.make_graph(nodes, "bad", [x], [y], inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])

    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 1, 1], [1.0])
    huge = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 40, 1, 1, 1])
    too_many = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20, 1, 1])
    rank3 = helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 1], [1.0])
    short = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1, 1, 3, 3], raw_data=b"\0" * 8)
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv")

    def ints(name, v):
        return helper.make_tensor(name, TensorProto.INT64, [len(v)], v)

    def one(op, inputs, inits_=(), opset=13, **attrs):   # x -> op -> y, the hostile node alone
        return model([helper.make_node(op, inputs, ["y"], name="bad", **attrs)], list(inits_), opset)

    def split(sizes, axis=1):
        n = helper.make_node("Split", ["x", "s"], ["a", "b"], name="split", axis=axis)
        return model([n, helper.make_node("Concat", ["a", "b"], ["y"], name="cat", axis=1)], [ints("s", sizes)])

    old = [
        ("huge_dims", model([conv], [huge]), "invalid dimension"),
        ("too_many_values", model([conv], [too_many]), "too large"),
        ("conv_weight_rank", model([conv], [rank3]), "rank 3"),
        ("short_raw_data", model([conv], [short]), "bytes of data"),
        ("unsupported_op", model([conv, helper.make_node("LRN", ["y"], ["z"], name="lrn", size=3)], [w]), "LRN"),
        ("undefined_input", model([helper.make_node("Relu", ["nowhere"], ["y"], name="r")], []), "not defined"),
        ("old_opset", model([conv], [w], opset=7), "opset 7"),
    ]
    x.type.tensor_type.shape.dim[1].dim_value = 4   # four channels from here on
    y.type.tensor_type.shape.dim[1].dim_value = 4
    return old + [
        ("split_sizes", split([1, 2]), "split sizes"),
        ("split_zero", split([4, 0]), "out of range"),
        ("split_axis", split([2, 2], axis=2), "axis 2"),
        ("slice_axis", one("Slice", ["x", "s", "e", "a"], [ints("s", [0]), ints("e", [1]), ints("a", [7])]), "axis 7"),
        ("slice_step", one("Slice", ["x", "s", "e", "a", "t"], [ints("s", [0]), ints("e", [4]), ints("a", [1]), ints("t", [2])]),
         "step 1"),
        ("slice_empty", one("Slice", ["x", "s", "e", "a"], [ints("s", [3]), ints("e", [1]), ints("a", [1])]), "empty"),
        ("pad_negative", one("Pad", ["x", "p"], [ints("p", [0, 0, -1, 0, 0, 0, 0, 0])]), "cropping"),
        ("pad_channels", one("Pad", ["x", "p"], [ints("p", [0, 1, 0, 0, 0, 0, 0, 0])]), "channels"),
        ("pad_huge", one("Pad", ["x", "p"], [ints("p", [0, 0, 1 << 40, 0, 0, 0, 0, 0])]), "out of range"),
        ("pad_count", one("Pad", ["x", "p"], [ints("p", [1, 1, 1, 1])]), "8 pads"),
        ("pad_mode", one("Pad", ["x", "p"], [ints("p", [0, 0, 1, 1, 0, 0, 1, 1])], mode="wrap"), "mode 'wrap'"),
        ("pad_reflect_too_big", one("Pad", ["x", "p"], [ints("p", [0, 0, 4, 0, 0, 0, 0, 0])], mode="reflect"), "too large"),
        ("reduce_mean_axes", one("ReduceMean", ["x"], axes=[1]), "spatial axes"),
        ("softmax_axis", one("Softmax", ["x"], axis=2), "axis 2"),
        ("transpose", one("Transpose", ["x"], perm=[0, 1, 3, 2]), "channel shuffle"),
        ("reshape_5d", one("Reshape", ["x", "s"], [ints("s", [0, 3, 2, 4, 4])]), "Reshape to"),
        ("mul_const", one("Mul", ["x", "w"], [w]), "constant"),
        ("div_by_zero", model([helper.make_node("Shape", ["x"], ["s"], name="shape"),
                               helper.make_node("Gather", ["s", "i"], ["c"], name="gather", axis=0),
                               helper.make_node("Div", ["c", "z"], ["q"], name="div"),
                               helper.make_node("Reshape", ["x", "q"], ["y"], name="r")], [ints("i", [1]), ints("z", [0])]), "division by zero"),
        ("concat_spatial", one("Concat", ["x", "x"], axis=2), "axis 2"),
        ("circular_torch113", torch_circular_export(), "86690"),
        ("hardsigmoid_nan", one("HardSigmoid", ["x"], alpha=float("nan")), "finite"),
        ("erf_alone", one("Erf", ["x"]), "Erf is supported only in GELU"),
        ("gelu_half_used", model([helper.make_node("Div", ["x", "r2"], ["d"], name="div"),
                                  helper.make_node("Erf", ["d"], ["e"], name="erf"),
                                  helper.make_node("Relu", ["d"], ["y"], name="relu")],
                                 [helper.make_tensor("r2", TensorProto.FLOAT, [], [2 ** 0.5])]), "part of GELU"),
        ("gelu_tanh_torch", torch_gelu_tanh_export(), "constant"),
    ]


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--check":
        return check(sys.argv[2:])
    import torch
    import onnx
    warnings.filterwarnings("ignore")
    for e in os.listdir(ROOT) if os.path.isdir(ROOT) else []:   # qdq/ is tools/gen_qdq_fixtures.py's
        if e != "qdq":
            shutil.rmtree(os.path.join(ROOT, e))
    os.makedirs(os.path.join(ROOT, "bad"))
    table, randomise_bn = cases()
    for i, (name, opset, chw, m) in enumerate(table):
        g = torch.Generator().manual_seed(1000 + i)
        torch.manual_seed(1000 + i)   # before the module exists: its initial weights depend on it
        m = randomise_bn(m(), g).eval()
        x = torch.randn(2, *chw, generator=g)
        d = os.path.join(ROOT, name)
        os.makedirs(d)
        path = os.path.join(d, "model.onnx")
        torch.onnx.export(m, x, path, opset_version=opset, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
        onnx.checker.check_model(onnx.load(path))
        with torch.no_grad():
            y = m.double()(x.double()).float()
        np.save(os.path.join(d, "x.npy"), x.numpy().astype(np.float32))
        np.save(os.path.join(d, "y.npy"), y.numpy().astype(np.float32))
        print(f"{name}: opset {opset}, {os.path.getsize(path)} bytes")
    auto_pad_case(os.path.join(ROOT, "conv_auto_pad_same"))
    circular_case(os.path.join(ROOT, "circular_conv"))
    for name, mdl, expect in bad_models(ROOT):
        with open(os.path.join(ROOT, "bad", name + ".onnx"), "wb") as f:
            f.write(mdl.SerializeToString())
        with open(os.path.join(ROOT, "bad", name + ".expect"), "w") as f:
            f.write(expect + "\n")
    print(f"{len(table) + 2} cases, {len(bad_models(ROOT))} malformed models in {os.path.normpath(ROOT)}")


if __name__ == "__main__":
    main()
