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

    def acts():   # BN after an activation is not fused into the conv by the exporter
        return seq(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4), nn.ReLU6(), nn.Hardswish(),
                   nn.Conv2d(4, 4, 1), nn.Sigmoid(), nn.BatchNorm2d(4, eps=1e-3))

    def randomise_bn(m, g):
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.data = torch.rand(c, generator=g) + 0.5
                mod.bias.data = torch.randn(c, generator=g) * 0.2
                mod.running_mean.data = torch.randn(c, generator=g) * 0.2
                mod.running_var.data = torch.rand(c, generator=g) + 0.5
        return m

    # name, opset, input C,H,W, module
    return [
        ("conv_basic", 13, (3, 8, 8), ViewHead(seq(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)), 64, 5)),
        ("conv_depthwise", 13, (4, 7, 7), seq(nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.Conv2d(4, 6, 1, bias=False))),
        ("conv_grouped_dilated", 13, (4, 9, 9), seq(nn.Conv2d(4, 6, 3, groups=2, dilation=2, padding=2), nn.ReLU())),
        ("conv_strided", 13, (3, 9, 8), seq(nn.Conv2d(3, 5, (3, 2), stride=(2, 1), padding=(1, 0)), nn.ReLU6())),
        ("activations_bn", 13, (3, 6, 6), acts()),
        ("activations_bn_opset9", 9, (3, 6, 6), acts()),
        ("hardswish_opset14", 14, (3, 6, 6), acts()),
        ("pools", 13, (3, 11, 11), seq(nn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.AvgPool2d(3, 2, 1, ceil_mode=True),
                                       nn.AvgPool2d(2, 1, 1, count_include_pad=False))),
        ("gap_flatten_linear", 11, (3, 6, 6), seq(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                                  nn.Dropout(0.3), nn.Linear(8, 4))),
        ("view_head_opset17", 17, (2, 6, 6), ViewHead(seq(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.AvgPool2d(2)), 12, 3)),
        ("residual_add", 13, (3, 6, 6), Residual()),
        ("concat", 12, (3, 7, 7), Concat()),
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
    return [
        ("huge_dims", model([conv], [huge]), "invalid dimension"),
        ("too_many_values", model([conv], [too_many]), "too large"),
        ("conv_weight_rank", model([conv], [rank3]), "rank 3"),
        ("short_raw_data", model([conv], [short]), "bytes of data"),
        ("unsupported_op", model([conv, helper.make_node("Softmax", ["y"], ["z"], name="sm")], [w]), "Softmax"),
        ("undefined_input", model([helper.make_node("Relu", ["nowhere"], ["y"], name="r")], []), "not defined"),
        ("old_opset", model([conv], [w], opset=7), "opset 7"),
    ]


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--check":
        return check(sys.argv[2:])
    import torch
    import onnx
    warnings.filterwarnings("ignore")
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    os.makedirs(os.path.join(ROOT, "bad"))
    table, randomise_bn = cases()
    for i, (name, opset, chw, m) in enumerate(table):
        g = torch.Generator().manual_seed(1000 + i)
        torch.manual_seed(1000 + i)
        m = randomise_bn(m, g).eval()
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
    for name, mdl, expect in bad_models(ROOT):
        with open(os.path.join(ROOT, "bad", name + ".onnx"), "wb") as f:
            f.write(mdl.SerializeToString())
        with open(os.path.join(ROOT, "bad", name + ".expect"), "w") as f:
            f.write(expect + "\n")
    print(f"{len(table) + 1} cases, {len(bad_models(ROOT))} malformed models in {os.path.normpath(ROOT)}")


if __name__ == "__main__":
    main()
