#!/usr/bin/python3
"""Generates tests/fixtures/onnx/qdq/: a QDQ model slimnn exported from an int8 model, its
reference output computed by the ONNX operators' definitions, the same model with uint8
activations, and malformed QDQ models for the importer's error paths.

    /usr/bin/python3 tools/gen_qdq_fixtures.py build/slimnn   (needs torch, numpy, onnx and
                                                             Fashion-MNIST for the training)

Writes tests/fixtures/onnx/qdq/:
  cnn.onnx        slimnn's export (`slimnn export`) of a small CNN trained 1 epoch on 1,000
                  Fashion-MNIST images and quantized (`slimnn quantize`, conv c4 kept float): fused
                  ReLU and ReLU6 convs, a grouped conv, Add, MaxPool, a float Hardswish between
                  int8 layers, a reflect-padded conv, Concat, AveragePool, GAP, Linear;
                  checked with onnx.checker (full check)
  x.npy, y_ref.npy  an input batch and the model's output as ONNX defines it: every operator
                  evaluated here per the ONNX specification in float32 (QuantizeLinear rounds half
                  to even and saturates; DequantizeLinear (q - zero_point) * scale per axis). Debian's
                  onnx 1.12 has no onnx.reference.ReferenceEvaluator (1.13+) and onnxruntime is not
                  packaged, so the evaluator is the few operators below, on torch's float32 kernels
  uint8.onnx      cnn.onnx with every activation QuantizeLinear/DequantizeLinear in uint8, zero
                  point + 128 (as onnxruntime's QUInt8 activations): slimnn must compute the same bits
  ort.onnx        uint8.onnx without the Relus between Conv and QuantizeLinear, as onnxruntime's
                  quantize_static writes QDQ: the same bits again
  flat_again.onnx cnn.onnx with a Flatten of the flat tensor before the Gemm: the same bits
  fakequant.onnx  cnn.onnx with the int8 weights as torch's fake quantization exports them (float
                  initializers through QuantizeLinear -> DequantizeLinear): the same bits again
  bad/<name>.onnx, bad/<name>.expect   corrupt variants and the words their error must contain
The generated files are committed; rerunning gives models of the same form (training on this
machine's slimnn may change weights in the last bits).
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "onnx", "qdq")
ARCH = """input x shape=1x28x28
conv c1 out=4 k=3 stride=2 pad=1
relu r1
conv c2 out=4 k=3 pad=1 groups=2
relu6 r2
add a in=r2,r1
maxpool p k=2
hardswish hs
conv c3 out=6 k=3 pad=1 mode=reflect
relu r3
conv c4 out=6 k=1 in=hs
concat cat in=r3,c4
avgpool ap k=3 stride=1 pad=1
gap g
flatten f
linear fc out=10
"""


def attrs(n):
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in n.attribute}


def evaluate(m, x):
    """The model's output on x, each operator as the ONNX specification defines it, in float32."""
    import torch
    import torch.nn.functional as F
    from onnx import numpy_helper
    env = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in m.graph.initializer}
    env[m.graph.input[0].name] = torch.from_numpy(x)

    def along(v, axis, rank):   # a per-axis vector shaped to broadcast along axis
        shape = [1] * rank
        shape[axis] = -1
        return v.reshape(shape)

    for n in m.graph.node:
        a = attrs(n)
        i = [env[k] if k else None for k in n.input]
        op = n.op_type
        if op == "QuantizeLinear":
            s, z = i[1].float(), i[2]
            lo, hi = (-128, 127) if z.dtype == torch.int8 else (0, 255)
            zf = z.to(torch.float32)
            if s.dim() == 1 and s.numel() > 1:
                s, zf = along(s, a.get("axis", 1), i[0].dim()), along(zf, a.get("axis", 1), i[0].dim())
            y = torch.clamp(torch.round(i[0] / s) + zf, lo, hi).to(z.dtype)   # torch.round: half to even
        elif op == "DequantizeLinear":
            s, z = i[1].float(), (i[2] if len(i) > 2 and i[2] is not None else torch.zeros((), dtype=i[0].dtype))
            if s.dim() == 1 and s.numel() > 1:
                s, z = along(s, a.get("axis", 1), i[0].dim()), along(z, a.get("axis", 1), i[0].dim())
            y = (i[0].to(torch.int64) - z.to(torch.int64)).to(torch.float32) * s
        elif op == "Conv":
            p = a.get("pads", [0, 0, 0, 0])
            xp = F.pad(i[0], (p[1], p[3], p[0], p[2]))
            y = F.conv2d(xp, i[1], i[2], stride=a.get("strides", [1, 1]), dilation=a.get("dilations", [1, 1]),
                         groups=a.get("group", 1))
        elif op == "Relu":
            y = torch.relu(i[0])
        elif op == "Clip":
            y = torch.clamp(i[0], float(i[1]), float(i[2]))
        elif op in ("MaxPool", "AveragePool"):
            p, k, s = a.get("pads", [0, 0, 0, 0]), a["kernel_shape"], a.get("strides", [1, 1])
            assert p[0] == p[2] and p[1] == p[3]
            if op == "MaxPool":
                y = F.max_pool2d(i[0], k, s, (p[0], p[1]), ceil_mode=bool(a.get("ceil_mode", 0)))
            else:
                y = F.avg_pool2d(i[0], k, s, (p[0], p[1]), ceil_mode=bool(a.get("ceil_mode", 0)),
                                 count_include_pad=bool(a.get("count_include_pad", 0)))
        elif op == "GlobalAveragePool":
            y = i[0].mean((2, 3), keepdim=True)
        elif op == "Flatten":
            y = i[0].flatten(a.get("axis", 1))
        elif op == "Gemm":
            y = i[0] @ (i[1].t() if a.get("transB", 0) else i[1]) + (i[2] if len(i) > 2 else 0)
        elif op == "Add":
            y = i[0] + i[1]
        elif op == "Mul":
            y = i[0] * i[1]
        elif op == "Concat":
            y = torch.cat(i, a["axis"])
        elif op == "HardSigmoid":
            y = torch.clamp(a.get("alpha", 0.2) * i[0] + a.get("beta", 0.5), 0, 1)
        elif op == "Pad":
            p = [int(v) for v in i[1]]
            mode = {b"constant": "constant", b"reflect": "reflect", b"edge": "replicate"}[a.get("mode", b"constant")]
            y = F.pad(i[0], (p[3], p[7], p[2], p[6]), mode=mode)
        else:
            raise SystemExit(f"the evaluator has no {op}")
        env[n.output[0]] = y
    return env[m.graph.output[0].name].numpy()


def slimnn(b, *args):
    subprocess.run([b, *args], check=True, stdout=subprocess.DEVNULL)


def init(m, name):
    return next(t for t in m.graph.initializer if t.name == name)


def node(m, op, output=None):
    return next(n for n in m.graph.node if n.op_type == op and (output is None or n.output[0] == output))


def to_uint8(m):
    """Activations in uint8, zero point + 128; the int8 weights stay."""
    import onnx
    from onnx import numpy_helper
    m = onnx.ModelProto.FromString(m.SerializeToString())
    names = {n.input[2] for n in m.graph.node if n.op_type == "QuantizeLinear"}
    for t in m.graph.initializer:
        if t.name in names:
            z = numpy_helper.to_array(t).astype(np.int32) + 128
            t.CopyFrom(numpy_helper.from_array(z.astype(np.uint8), t.name))
    return m


def fake_quant(m):
    """The int8 weights as torch's fake quantization writes them: float initializers (the int8 values
    times the scales) through QuantizeLinear -> DequantizeLinear; biases stay int32."""
    import onnx
    from onnx import helper, numpy_helper
    m = onnx.ModelProto.FromString(m.SerializeToString())
    for n in [n for n in m.graph.node if n.op_type == "DequantizeLinear"]:
        t = next((t for t in m.graph.initializer if t.name == n.input[0]), None)
        if t is None or t.data_type != onnx.TensorProto.INT8:
            continue
        q, s = numpy_helper.to_array(t).astype(np.float32), numpy_helper.to_array(init(m, n.input[1]))
        axis = attrs(n).get("axis", 1)
        if s.ndim:
            s = s.reshape([-1 if d == axis else 1 for d in range(q.ndim)])
        w = n.output[0] + ".float"
        m.graph.initializer.remove(t)
        m.graph.initializer.append(numpy_helper.from_array((q * s).astype(np.float32), w))
        kw = {"axis": axis} if numpy_helper.to_array(init(m, n.input[1])).ndim else {}
        qn = helper.make_node("QuantizeLinear", [w, n.input[1], n.input[2]], [n.output[0] + ".q"], name=n.output[0] + ".q", **kw)
        m.graph.node.insert(list(m.graph.node).index(n), qn)
        n.input[0] = qn.output[0]
    return m


def ort_style(m):
    """As onnxruntime's quantize_static writes QDQ: uint8 activations, and a Relu between a Conv and
    its QuantizeLinear left out (the QuantizeLinear's range, zero point 0, clamps at 0 alone)."""
    m = to_uint8(m)
    for r in [n for n in m.graph.node if n.op_type == "Relu"]:
        readers = [n for n in m.graph.node if r.output[0] in n.input]
        if len(readers) == 1 and readers[0].op_type == "QuantizeLinear":
            readers[0].input[0] = r.input[0]
            m.graph.node.remove(r)
    return m


def flat_again(m):
    """A Flatten of the already flat dequantized tensor before the Gemm (an alias in slimnn, which
    must keep the tensor read through QDQ)."""
    import onnx
    from onnx import helper
    m = onnx.ModelProto.FromString(m.SerializeToString())
    fc = node(m, "Gemm")
    m.graph.node.insert(list(m.graph.node).index(fc), helper.make_node("Flatten", [fc.input[0]], ["f2"], name="f2", axis=1))
    fc.input[0] = "f2"
    return m


def bad_models(m, fq):
    """(name, model, words of the error) for corrupt QDQ variants of m (and of fq, its fake-quant form)."""
    import onnx
    from onnx import helper, numpy_helper, TensorProto
    out = []

    def variant(name, expect, edit, base=m):
        v = onnx.ModelProto.FromString(base.SerializeToString())
        edit(v)
        out.append((name, v, expect))

    def set_init(v, name, arr):
        init(v, name).CopyFrom(numpy_helper.from_array(arr, name))

    variant("scale_zero", "scale 0 is not a positive finite number",
            lambda v: set_init(v, "c1.scale", np.array(0, np.float32)))
    variant("scale_negative", "scale -0.5 is not a positive finite number",
            lambda v: set_init(v, "c2.weight.scale", np.full(4, -0.5, np.float32)))
    variant("scale_empty", "0 scales and 1 zero points",   # no values, no array (found by fuzz_onnx)
            lambda v: init(v, "c1.scale").CopyFrom(helper.make_tensor("c1.scale", TensorProto.FLOAT, [0], [])))
    variant("scale_nan", "scale nan is not a positive finite number",
            lambda v: set_init(v, "x.scale", np.array(np.nan, np.float32)))

    def zp_range(v):   # uint8 stored in int32_data, as ONNX keeps small integers: 300 is no uint8
        t = init(v, "c1.zero_point")
        t.CopyFrom(helper.make_tensor("c1.zero_point", TensorProto.UINT8, [], [300]))
    variant("zero_point_range", "holds 300, out of the range of uint8", zp_range)
    variant("axis_length", "3 scales along axis 0, which has 4 values",
            lambda v: (set_init(v, "c1.weight.scale", np.full(3, 0.01, np.float32)),
                       set_init(v, "c1.weight.zero_point", np.zeros(3, np.int8))))

    def missing(v):
        t = init(v, "c3.weight.scale")
        v.graph.initializer.remove(t)
    variant("missing_initializer", "'c3.weight.scale' is not defined before it is used", missing)

    def default_axis(v):   # a per-axis bias without its axis: ONNX's default 1 lies past a vector's rank
        n = node(v, "DequantizeLinear", "fc.bias")
        del n.attribute[:]
    variant("axis_default", "10 scales along axis 1 of a tensor of rank 1", default_axis)
    variant("weight_zero_point", "symmetric",
            lambda v: set_init(v, "fc.weight.zero_point", np.full(10, 3, np.int8)))

    def uint8_weight(v):   # uint8 weights with zero point 0 (asymmetric): refused
        w = numpy_helper.to_array(init(v, "c2.weight.quant")).astype(np.int32)
        set_init(v, "c2.weight.quant", np.abs(w).astype(np.uint8))
        set_init(v, "c2.weight.zero_point", np.zeros(4, np.uint8))
    variant("uint8_weight", "has zero point 0", uint8_weight)

    def weight_min(v):
        w = numpy_helper.to_array(init(v, "c3.weight.quant")).copy()
        w.flat[0] = -128
        set_init(v, "c3.weight.quant", w)
    variant("weight_min", "holds -128", weight_min)

    def requant(v):   # a DequantizeLinear with other parameters than its QuantizeLinear
        n = node(v, "DequantizeLinear", "p.dequant")
        v.graph.initializer.append(numpy_helper.from_array(np.array(0.5, np.float32), "other.scale"))
        n.input[1] = "other.scale"
    variant("requantize", "only matching pairs", requant)

    def per_channel_act(v):
        set_init(v, "c3.scale", np.full(6, 0.05, np.float32))
        set_init(v, "c3.zero_point", np.zeros(6, np.int8))
    variant("per_channel_activation", "per-channel parameters of an activation", per_channel_act)

    def q_of_constant(v):   # torch's fake quantization with another scale in its QuantizeLinear
        n = node(v, "QuantizeLinear", "fc.weight.q")
        v.graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(init(v, "fc.weight.scale")) * 2,
                                                           "fc.weight.scale2"))
        n.input[1] = "fc.weight.scale2"
    variant("quantize_constant", "other parameters than its QuantizeLinear's", q_of_constant, fq)

    def quantize_nan(v):   # a NaN weight quantized as the model runs (found by fuzz_onnx)
        w = numpy_helper.to_array(init(v, "c3.weight.float")).copy()
        w.flat[5] = np.nan
        set_init(v, "c3.weight.float", w)
    variant("quantize_nan", "holds a value that is not a number", quantize_nan, fq)

    def qlinear(v):
        n = node(v, "Conv")
        n.op_type = "QLinearConv"
    variant("qlinearconv", "operator form of quantized ONNX", qlinear)

    def dequantize_float(v):   # DequantizeLinear of a float tensor
        node(v, "DequantizeLinear", "c1.dequant").input[0] = "c1"
    variant("dequantize_float", "neither a QuantizeLinear's output nor an initializer", dequantize_float)
    return out


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    import onnx
    b = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp()
    try:
        arch = os.path.join(tmp, "m.arch")
        with open(arch, "w") as f:
            f.write(ARCH)
        slimnn(b, "train", arch, "--limit", "1000", "--epochs", "1", "--seed", "4", "--quiet", "-o", tmp + "/f.slim")
        slimnn(b, "quantize", tmp + "/f.slim", "--limit", "500", "--calib", "128", "--keep-float", "c4", "-o", tmp + "/q.slim")
        if os.path.isdir(ROOT):
            shutil.rmtree(ROOT)
        os.makedirs(os.path.join(ROOT, "bad"))
        path = os.path.join(ROOT, "cnn.onnx")
        slimnn(b, "export", tmp + "/q.slim", "-o", path)
    finally:
        shutil.rmtree(tmp)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    x = np.random.default_rng(7).uniform(-0.5, 2.5, (8, 1, 28, 28)).astype(np.float32)
    np.save(os.path.join(ROOT, "x.npy"), x)
    np.save(os.path.join(ROOT, "y_ref.npy"), evaluate(m, x).astype(np.float32))
    u = to_uint8(m)
    onnx.checker.check_model(u, full_check=True)
    assert np.array_equal(evaluate(u, x), evaluate(m, x)), "uint8 activations compute other values"
    onnx.save(u, os.path.join(ROOT, "uint8.onnx"))
    ort = ort_style(m)
    onnx.checker.check_model(ort, full_check=True)
    assert np.array_equal(evaluate(ort, x), evaluate(m, x)), "the onnxruntime form computes other values"
    assert not [n for n in ort.graph.node if n.op_type == "Relu"]
    onnx.save(ort, os.path.join(ROOT, "ort.onnx"))
    fl = flat_again(m)
    onnx.checker.check_model(fl, full_check=True)
    onnx.save(fl, os.path.join(ROOT, "flat_again.onnx"))
    fq = fake_quant(m)
    onnx.checker.check_model(fq, full_check=True)
    assert np.array_equal(evaluate(fq, x), evaluate(m, x)), "the fake-quant form computes other values"
    onnx.save(fq, os.path.join(ROOT, "fakequant.onnx"))
    bad = bad_models(m, fq)
    for name, v, expect in bad:
        onnx.save(v, os.path.join(ROOT, "bad", name + ".onnx"))
        with open(os.path.join(ROOT, "bad", name + ".expect"), "w") as f:
            f.write(expect + "\n")
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"{path}: onnx.checker OK (full check; {len(m.graph.node)} nodes: {', '.join(ops)}), "
          f"{os.path.getsize(path)} bytes; uint8.onnx, ort.onnx and fakequant.onnx compute the same; {len(bad)} malformed models")


if __name__ == "__main__":
    main()
