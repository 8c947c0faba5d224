#!/usr/bin/python3
"""Generates tests/fixtures/summary/: what `slimnn summary` must print, computed by PyTorch.

For every model of the zoo (models/*.arch, models/seed/*.arch), one zoo model on another input
shape, and a set of random (seeded) architectures, the architecture text is translated into
torch.nn modules (tools/arch_torch.py, the translation the op fixtures use too), one forward pass
runs with forward hooks on every layer, and from what the hooks see:

  <name>.arch           the architecture (a copy, so that the fixture stands alone)
  <name>.expected.txt   torchsummary's table (torchsummary 1.5.1's hooks, row labels, layout and
                        size formulas, re-implemented here so torchsummary need not be installed)
  <name>.expected.json  per layer: label, output shape, params (torchsummary's weight + bias),
                        trainable params (requires_grad), mult-adds (torchinfo's rule: weight and
                        bias values x output pixels for convs, once per sample for other layers);
                        totals: sum(p.numel()) over model.parameters(), the trainable part, the
                        floating-point buffers (BN running statistics; num_batches_tracked is a
                        counter, not a float tensor, and slimnn does not store it), mult-adds and
                        torchsummary's size estimates. One layer per line, keys as `slimnn summary
                        --json` names them.
  <name>.batch4.txt     (a few fixtures) the table torchsummary prints with batch_size=4
  index.txt             the fixture names, one per line

Functional operators are tiny modules in arch_torch (Add, Concat, ...) so that the hooks see
them (slimnn gives them rows; torchsummary would not see torch.add / torch.cat). Only torch-side
numbers go into the expectations; slimnn's output is never read.

Zoo models that claim to be a torchvision model (TORCHVISION below: mobilenetv2-224, resnet18-224)
are also checked against torchvision itself before their fixture is written: every layer with
parameters must exist under the same module path in the torchvision model with the same class
and tensor shapes; with torchvision's weights and randomised BatchNorm statistics copied in,
both give the same logits (which also checks the wiring: residual sums, strides, pooling); and
the parameter, buffer and mult-add totals and torchvision's leaf-module rows (class, output
shape, params, mult-adds; functional pooling, flatten and sums have no rows there) agree.

    /usr/bin/python3 tools/gen_summary_fixtures.py      (needs torch and numpy; the tests do not)

Fixed seeds: rerunning gives the same files.
"""
import json
import os
import random
import shutil
import warnings
import zlib

import numpy as np
import torch
import torch.nn as nn

from arch_torch import ArchNet, build, pair

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
ROOT = os.path.join(REPO, "tests", "fixtures", "summary")
N_GENERATED = 10
BATCH4 = ("cnn", "resnet", "gen-03")          # fixtures that also get a batch_size=4 table
INPUT_VARIANTS = [("cnn-input3x32x20", "cnn", (3, 32, 20))]   # zoo model on another input shape
TORCHVISION = {"mobilenetv2-224": "mobilenet_v2", "resnet18-224": "resnet18"}   # zoo model: its original
# operators neither the zoo nor the generated architectures use (the generator's draws stay as they were)
OPERATOR_CASES = [("ops-silu-gelu", "input x shape=3x16x16\nconv c1 out=8 k=3 stride=2 pad=1\nbn b1\nsilu s1\n"
                   "conv c2 out=8 k=3 pad=1 groups=8\ngelu g1\nconv c3 out=16 k=1\ngelu g2 approximate=tanh\n"
                   "gap p\nflatten f\nlinear fc out=10\nsilu s2\n")]


# ---------------------------------------------------------------- the two references

def hooked_rows(model, input_size):
    """One forward pass (batch 2, as torchsummary) with forward hooks on every module except the
    model itself and containers, exactly where torchsummary 1.5.1 puts them. Per row: label,
    output shape (batch dim dropped), params the torchsummary way, trainable (requires_grad
    values), mult-adds per sample the torchinfo way, and torchsummary's trainable flag."""
    rows, hooks = [], []

    def hook(m, inp, out):
        cls = str(m.__class__).split(".")[-1].split("'")[0]
        params, ts_trainable = 0, None
        if hasattr(m, "weight") and hasattr(m.weight, "size"):
            params += int(torch.prod(torch.LongTensor(list(m.weight.size()))))
            ts_trainable = m.weight.requires_grad
        if hasattr(m, "bias") and hasattr(m.bias, "size"):
            params += int(torch.prod(torch.LongTensor(list(m.bias.size()))))
        macs = 0                                  # torchinfo: LayerInfo.calculate_macs, per sample
        for pname, p in m.named_parameters():
            if pname in ("weight", "bias"):
                macs += p.numel() * (int(np.prod(out.shape[2:])) if "Conv" in cls else 1)
        rows.append({
            "layer": f"{cls}-{len(rows) + 1}",
            "shape": list(out.shape[1:]),
            "params": params,
            "trainable": sum(p.numel() for p in m.parameters() if p.requires_grad),
            "ts_trainable": ts_trainable,
            "mult_adds": macs,
            "n_param_tensors": sum(p.numel() for p in m.parameters()),
        })

    for m in model.modules():
        if not isinstance(m, (nn.Sequential, nn.ModuleList)) and m is not model:
            hooks.append(m.register_forward_hook(hook))
    model(torch.rand(2, *input_size))
    for h in hooks:
        h.remove()
    for r in rows:   # torchsummary's weight + bias is all of the layer's parameters here
        assert r["params"] == r["n_param_tensors"], r
    return rows


def torchsummary_text(rows, input_size, batch_size):
    """torchsummary 1.5.1's summary(): layout, totals and size estimates, formula for formula."""
    rule, eq = "-" * 64, "=" * 64
    out = [rule, "{:>20}  {:>25} {:>15}".format("Layer (type)", "Output Shape", "Param #"), eq]
    total_params = total_output = trainable_params = 0
    for r in rows:
        shape = [batch_size] + r["shape"]
        out.append("{:>20}  {:>25} {:>15}".format(r["layer"], str(shape), "{0:,}".format(r["params"])))
        total_params += r["params"]
        total_output += np.prod(shape)
        if r["ts_trainable"] is True:
            trainable_params += r["params"]
    total_input_size = abs(np.prod(input_size) * batch_size * 4. / (1024 ** 2.))
    total_output_size = abs(2. * total_output * 4. / (1024 ** 2.))   # x2 for gradients
    total_params_size = abs(total_params * 4. / (1024 ** 2.))
    total_size = total_params_size + total_output_size + total_input_size
    out += [eq,
            "Total params: {0:,}".format(total_params),
            "Trainable params: {0:,}".format(trainable_params),
            "Non-trainable params: {0:,}".format(total_params - trainable_params),
            rule,
            "Input size (MB): %0.2f" % total_input_size,
            "Forward/backward pass size (MB): %0.2f" % total_output_size,
            "Params size (MB): %0.2f" % total_params_size,
            "Estimated Total Size (MB): %0.2f" % total_size,
            rule]
    sizes = {"input_size_mb": float(total_input_size), "forward_backward_size_mb": float(total_output_size),
             "params_size_mb": float(total_params_size), "estimated_total_size_mb": float(total_size)}
    return "\n".join(out) + "\n", int(total_params), int(trainable_params), sizes


def expected_json(name, source, model, rows, input_size, sizes, original=None):
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    totals = {"total_params": params, "trainable_params": trainable, "non_trainable_params": params - trainable,
              "buffers": buffers, "mult_adds": sum(r["mult_adds"] for r in rows)}
    totals.update(sizes)
    head = {"model": name, "source": source, "torch": torch.__version__, "input": list(input_size), "batch": -1}
    if original:
        head["same_as"] = original
    lines = ["{" + json.dumps(head)[1:-1] + ",", ' "totals": ' + json.dumps(totals) + ",", ' "layers": [']
    for i, r in enumerate(rows):
        row = {"layer": r["layer"], "output_shape": [-1] + r["shape"], "params": r["params"],
               "trainable": r["trainable"], "mult_adds": r["mult_adds"]}
        lines.append("  " + json.dumps(row) + ("," if i + 1 < len(rows) else ""))
    lines.append(" ]}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text)["totals"]["total_params"] == params
    return text, params, trainable


# ---------------------------------------------------------------- torchvision originals

def leaf_rows(model, input_size):
    """Class, output shape, params and mult-adds (torchinfo's rule) of every call of a leaf module."""
    rows, hooks = [], []

    def hook(m, inp, out):
        cls = type(m).__name__
        macs = sum(p.numel() * (int(np.prod(out.shape[2:])) if "Conv" in cls else 1) for p in m.parameters())
        rows.append((cls, tuple(out.shape[1:]), sum(p.numel() for p in m.parameters()), macs))

    for m in model.modules():
        if not list(m.children()):
            hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model.eval()
        model(torch.rand(1, *input_size))
    for h in hooks:
        h.remove()
    return rows


def check_torchvision(name, model, rows):
    """Asserts that the architecture `model` (an ArchNet) is torchvision's TORCHVISION[name]."""
    import torchvision
    tv = getattr(torchvision.models, TORCHVISION[name])()
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    for m in tv.modules():   # non-trivial running statistics, so that BN placement matters
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    copied = 0
    for lname, m in zip(model.names, model.layers):
        if not list(m.parameters()):
            continue
        t = tv.get_submodule(lname)
        assert type(t) is type(m), f"{name}: {lname} is {type(m).__name__}, torchvision has {type(t).__name__}"
        theirs = t.state_dict()
        for k, v in m.state_dict().items():
            assert theirs[k].shape == v.shape, f"{name}: {lname}.{k} is {list(v.shape)}, torchvision {list(theirs[k].shape)}"
        m.load_state_dict(theirs)
        copied += sum(p.numel() for p in m.parameters())
    params = sum(p.numel() for p in tv.parameters())
    assert copied == params, f"{name}: the architecture holds {copied} of torchvision's {params} parameters"
    x = torch.rand((2,) + model.input_shape, generator=gen)
    with torch.no_grad():
        model.eval()
        tv.eval()
        want, got = tv(x), model(x)
        model.train()
    err = float((got - want).abs().max() / want.abs().max())
    assert err < 1e-5, f"{name}: logits differ from torchvision's by {err:.3g} (relative to the largest)"
    buffers = sum(b.numel() for b in tv.buffers() if b.is_floating_point())
    assert buffers == sum(b.numel() for b in model.buffers() if b.is_floating_point()), name
    theirs = leaf_rows(tv, model.input_shape)
    assert sum(r[3] for r in theirs) == sum(r["mult_adds"] for r in rows), f"{name}: mult-adds differ"
    functional = ("Add", "Flatten", "AdaptiveAvgPool2d")   # function calls in torchvision's forward()
    ours = [(r["layer"].rsplit("-", 1)[0], tuple(r["shape"]), r["params"], r["mult_adds"]) for r in rows
            if r["layer"].rsplit("-", 1)[0] not in functional]
    theirs = [r for r in theirs if r[0] not in functional]
    assert ours == theirs, f"{name}: the layer rows differ from torchvision's leaf modules"
    return f"torchvision.models.{TORCHVISION[name]}() {torchvision.__version__}"


# ---------------------------------------------------------------- random architectures

class Gen:
    """Random but valid layers: each candidate is tried on torch and kept only if torch takes it."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.net = ArchNet()
        self.lines = []
        self.n = 0

    def name(self, stem):
        self.n += 1
        return f"{stem}_{self.n}"

    def try_add(self, line):
        try:
            self.net.add_line(line)
        except (RuntimeError, ValueError, AssertionError):
            return False
        self.lines.append(line)
        return True

    def last(self):
        return self.net.names[-1] if self.net.names else self.net.input_name

    def shape(self, name=None):
        return self.net.shapes[name or self.last()]

    def size(self, lo, hi):
        a = self.r.randint(lo, hi)
        return str(a) if self.r.random() < 0.7 else f"{a}x{self.r.randint(lo, hi)}"

    def conv_line(self, src=None, keep_size=False):
        r, (c, h, w) = self.r, self.shape(src)
        out = r.choice([2, 3, 4, 6, 8, 12, 16, 24])
        divisors = [g for g in range(1, min(c, out) + 1) if c % g == 0 and out % g == 0]
        groups = r.choice(divisors) if r.random() < 0.4 else 1
        if r.random() < 0.15 and c in (2, 3, 4, 6, 8, 12, 16, 24):   # depthwise
            out, groups = c * r.choice([1, 2]), c
        kv = [f"out={out}", f"k={self.size(1, 5)}"]
        small = min(h, w) < 8
        if not keep_size and not small and r.random() < 0.4:
            kv.append("stride=" + r.choice(["2", "3", "2x1", "1x2"]))
        if r.random() < 0.25:
            kv.append("dilation=" + r.choice(["2", "2x1", "1x3"]))
        stride1 = not any(t.startswith("stride") for t in kv)
        forms = ["P", "PHxPW", "T,B,L,R", "valid"] + (["same"] * 2 if stride1 else [])
        form = "same" if keep_size else r.choice(forms)
        if form == "P":
            kv.append(f"pad={r.randint(0, 3)}")
        elif form == "PHxPW":
            kv.append(f"pad={r.randint(0, 3)}x{r.randint(0, 3)}")
        elif form == "T,B,L,R":
            kv.append("pad=" + ",".join(str(r.randint(0, 3)) for _ in range(4)))
        else:
            kv.append(f"pad={form}")
        if groups > 1:
            kv.append(f"groups={groups}")
        if r.random() < 0.4:
            kv.append("bias=0")
        if form != "valid" and r.random() < 0.3:
            kv.append("mode=" + r.choice(["reflect", "replicate", "circular"]))
        if r.random() < 0.12:
            kv.append("frozen=1")
        r.shuffle(kv)
        src_kv = [f"in={src}"] if src else []
        return f"conv {self.name('conv')} " + " ".join(src_kv + kv)

    def pool_line(self, src=None):
        r = self.r
        typ = r.choice(["maxpool", "avgpool"])
        k = self.size(2, 3)
        kh, kw = pair(k)
        kv = [f"k={k}"]
        if r.random() < 0.6:
            kv.append("stride=" + self.size(1, 3))
        if r.random() < 0.5:
            kv.append(f"pad={r.randint(0, kh // 2)}x{r.randint(0, kw // 2)}")
        if r.random() < 0.5:
            kv.append("ceil=1")
        if typ == "avgpool" and r.random() < 0.4:
            kv.append("count_include_pad=0")
        return f"{typ} {self.name('pool')} " + " ".join(([f"in={src}"] if src else []) + kv)

    def add(self, make, tries=40):
        for _ in range(tries):
            if self.try_add(make()):
                return self.last()
        return None

    def block(self):
        r, kind = self.r, self.r.random()
        if kind < 0.35:                                   # conv [bn] [act]
            if self.add(self.conv_line) and r.random() < 0.6:
                frozen = " frozen=1" if r.random() < 0.15 else ""
                self.try_add(f"bn {self.name('bn')}{frozen}")
            if r.random() < 0.8:
                act = r.choice(["relu", "relu6", "sigmoid", "hardswish"])
                self.try_add(f"{act} {self.name(act)}")
        elif kind < 0.55:                                 # pooling
            if min(self.shape()[1:]) >= 4:
                self.add(self.pool_line)
        elif kind < 0.75:                                 # residual: conv(s) of the same shape, add
            x, c = self.last(), self.shape()[0]
            conv = self.add(lambda: self.fixed_out(self.conv_line(keep_size=True), c))
            if conv:
                self.try_add(f"bn {self.name('bn')}")
                ins = [x, self.last()]
                if r.random() < 0.3:
                    side = self.add(lambda: self.fixed_out(self.conv_line(src=x, keep_size=True), c))
                    if side:
                        ins.append(side)
                self.try_add(f"add {self.name('add')} in={','.join(ins)}")
        elif kind < 0.92:                                 # concat of branches at the same H, W
            x = self.last()
            branches = []
            for _ in range(r.randint(2, 3)):
                pick = r.random()
                if pick < 0.5:
                    b = self.add(lambda: self.conv_line(src=x, keep_size=True))
                elif pick < 0.75:
                    b = self.add(lambda: f"maxpool {self.name('pool')} in={x} k=3 stride=1 pad=1")
                else:
                    b = x
                if b:
                    branches.append(b)
            if len(branches) >= 2:
                self.try_add(f"concat {self.name('cat')} in={','.join(branches)}")
        else:
            self.try_add(f"dropout {self.name('drop')} p=0.{r.randint(1, 5)}")

    @staticmethod
    def fixed_out(line, c):
        tok = line.split()
        return " ".join(t if not t.startswith("out=") else f"out={c}" for t in tok)

    def head(self):
        r = self.r
        if r.random() < 0.5:
            self.try_add(f"gap {self.name('gap')}")
        self.try_add(f"flatten {self.name('flat')}")
        if r.random() < 0.6:
            bias = " bias=0" if r.random() < 0.3 else ""
            frozen = " frozen=1" if r.random() < 0.2 else ""
            self.try_add(f"linear {self.name('fc')} out={r.choice([8, 16, 32])}{bias}{frozen}")
            self.try_add(f"relu {self.name('relu')}")
            if r.random() < 0.5:
                self.try_add(f"dropout {self.name('drop')}")
        self.try_add(f"linear {self.name('fc')} out={r.choice([2, 5, 10])}" + (" bias=0" if r.random() < 0.3 else ""))


def generate(i):
    seed = zlib.crc32(f"summary-gen-{i}".encode())
    g = Gen(seed)
    r = g.r
    c, h = r.choice([1, 2, 3, 4, 5]), r.randint(12, 40)
    w = r.choice([x for x in range(12, 41) if x != h])
    g.try_add(f"input x shape={c}x{h}x{w}")
    g.add(g.conv_line)
    for _ in range(r.randint(4, 9)):
        g.block()
    g.head()
    if not any("frozen=1" in ln for ln in g.lines):      # every generated model has a frozen layer
        k = r.choice([j for j, ln in enumerate(g.lines) if ln.split()[0] in ("conv", "bn", "linear")])
        g.lines[k] += " frozen=1"
    text = f"# gen-{i:02d}: random architecture (seed {seed}) made by tools/gen_summary_fixtures.py\n"
    return text + "\n".join(g.lines) + "\n"


# ---------------------------------------------------------------- fixtures

def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def fixture(name, source, text):
    torch.manual_seed(zlib.crc32(name.encode()))
    model = build(text)
    input_size = model.input_shape
    rows = hooked_rows(model, input_size)
    original = check_torchvision(name, model, rows) if name in TORCHVISION else None
    table, ts_params, ts_trainable, sizes = torchsummary_text(rows, input_size, -1)
    js, params, trainable = expected_json(name, source, model, rows, input_size, sizes, original)
    assert (ts_params, ts_trainable) == (params, trainable), (name, ts_params, params, ts_trainable, trainable)
    write(os.path.join(ROOT, name + ".arch"), text)
    write(os.path.join(ROOT, name + ".expected.txt"), table)
    write(os.path.join(ROOT, name + ".expected.json"), js)
    if name in BATCH4:
        write(os.path.join(ROOT, name + ".batch4.txt"), torchsummary_text(rows, input_size, 4)[0])
    return rows


def main():
    warnings.filterwarnings("ignore", "Using padding='same'")   # even kernels: torch pads a copy
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    os.makedirs(ROOT)
    names = []
    header = "# fixture: copy of {} made by tools/gen_summary_fixtures.py; regenerate, do not edit\n"
    zoo = sorted(f for f in os.listdir(os.path.join(REPO, "models")) if f.endswith(".arch"))
    zoo += sorted("seed/" + f for f in os.listdir(os.path.join(REPO, "models", "seed")) if f.endswith(".arch"))
    sources = {}
    for f in zoo:
        name = f[:-5].replace("/", "-")
        with open(os.path.join(REPO, "models", f)) as fh:
            sources[name] = fh.read()
        fixture(name, "models/" + f, header.format("models/" + f) + sources[name])
        names.append(name)
    assert set(TORCHVISION) <= set(names), f"models/ lacks {sorted(set(TORCHVISION) - set(names))}"
    for name, base, (c, h, w) in INPUT_VARIANTS:
        lines = sources[base].splitlines(keepends=True)
        k = next(j for j, ln in enumerate(lines) if ln.split()[:1] == ["input"])
        tok = lines[k].split("#")[0].split()
        lines[k] = " ".join(t if not t.startswith("shape=") else f"shape={c}x{h}x{w}" for t in tok) + "\n"
        note = f"# fixture: models/{base}.arch with input {c}x{h}x{w} (summary --input {c}x{h}x{w}); regenerate, do not edit\n"
        fixture(name, f"models/{base}.arch --input {c}x{h}x{w}", note + "".join(lines))
        names.append(name)
    seen = set()
    for i in range(1, N_GENERATED + 1):
        text = generate(i)
        rows = fixture(f"gen-{i:02d}", "generated", text)
        seen.update(r["layer"].rsplit("-", 1)[0] for r in rows)
        for t in (t for ln in text.splitlines() if not ln.startswith("#") for t in ln.split()[2:]):
            key, value = t.split("=", 1)
            seen.update([key, t] + (["asymmetric pad"] if key == "pad" and value.count(",") == 3 else []))
        names.append(f"gen-{i:02d}")
    for name, text in OPERATOR_CASES:
        fixture(name, "operators", f"# fixture: operators outside the zoo, made by tools/gen_summary_fixtures.py; regenerate, do not edit\n{text}")
        names.append(name)
    want = {"Conv2d", "BatchNorm2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Flatten", "Linear", "Add",
            "Concat", "Dropout", "ceil=1", "frozen=1", "dilation", "groups", "stride", "bias", "asymmetric pad",
            "mode=reflect", "mode=replicate", "mode=circular", "count_include_pad"}
    missing = want - seen
    assert not missing, f"generated architectures do not cover {sorted(missing)}: change the seeds"
    write(os.path.join(ROOT, "index.txt"), "\n".join(names) + "\n")
    size = sum(os.path.getsize(os.path.join(ROOT, f)) for f in os.listdir(ROOT))
    print(f"{len(names)} fixtures ({len(zoo)} zoo, {len(INPUT_VARIANTS)} input variant, {N_GENERATED} generated, "
          f"{len(OPERATOR_CASES)} operators), "
          f"{size} bytes in {os.path.relpath(ROOT, REPO)}")


if __name__ == "__main__":
    main()
