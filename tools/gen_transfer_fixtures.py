#!/usr/bin/python3
"""Generates tests/fixtures/transfer/: one SGD step of torchvision models, for tests/test_transfer.c
(issue 14, item 5: an imported model trains as PyTorch trains it).

    /usr/bin/python3 tools/gen_transfer_fixtures.py          (needs torch, torchvision, numpy, onnx)

Per model, tests/fixtures/transfer/<model>/:
  model.onnx  the model before the step (random weights from a fixed seed, BatchNorm statistics
              randomised), exported in eval mode with training=PRESERVE so every BatchNorm stays a
              node with its own parameters (what slimnn trains is what PyTorch trains)
  step.txt    the batch, labels, learning rate, the loss, and per tensor the update w_new - w_old of
              one step: model.train() (BatchNorm on batch statistics, running statistics updated),
              cross-entropy averaged over the batch, torch.optim.SGD(lr 0.1, momentum 0, weight
              decay 0), computed in float64 from the float32 weights
The models are torchvision's own classes at a size that keeps the set small (about 1.2 MB):
  mobilenet_v3_small  MobileNetV3 from _mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.25)
                      (every block of mobilenet_v3_small: SE, Hardswish, Hardsigmoid), dropout 0
                      (PyTorch's dropout mask cannot be reproduced), 10 classes
  resnet18            ResNet(BasicBlock, [2, 2, 2, 2]) with its four stages at 8, 16, 32, 64 channels
                      instead of 64..512 (the stem and blocks rebuilt with ResNet._make_layer)
The input batch is not stored: element i (NCHW order) is ((splitmix64(i) >> 56) - 128) / 64, exact in
float32 and made the same way by the C test. Storing every update would double the size, so
step.txt keeps the whole update only of tensors with at most FULL_MAX values; for larger ones it
keeps the update's sum, L1 and L2 norms and its dot products with 16 pseudo-random +-1 vectors (sign k
of element i is bit k of splitmix64(i)). The differences of those projections estimate ||e||
(E[(s.e)^2] = ||e||^2 for random signs), so the C test checks every tensor's relative error
||update_slimnn - update_torch|| / ||update_torch||, not a few sampled entries.
Fixed seeds: rerunning gives the same files.
"""
import copy
import os
import shutil
import warnings

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "transfer")
BATCH, CHW, CLASSES, LR, FULL_MAX, PROJ = 4, (3, 64, 64), 10, 0.1, 32, 16


def splitmix64(i):
    """splitmix64 of each element of the uint64 array i (wrapping arithmetic, as in C)"""
    with np.errstate(over="ignore"):
        z = i + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def projections(d):
    """dot products of the flat float64 update d with the 16 sign vectors"""
    h = splitmix64(np.arange(d.size, dtype=np.uint64))
    out = []
    for k in range(PROJ):
        s = np.where((h >> np.uint64(k)) & np.uint64(1), 1.0, -1.0)
        out.append(float(np.dot(s, d)))
    return out


def mobilenet_v3_small():
    from torchvision.models import mobilenetv3 as mv
    setting, last = mv._mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.25)
    return mv.MobileNetV3(setting, last, num_classes=CLASSES, dropout=0.0)


def resnet18():
    import torch.nn as nn
    from torchvision.models.resnet import BasicBlock, ResNet
    m = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=CLASSES)
    w = 8   # resnet18's 64 / 8
    m.conv1 = nn.Conv2d(3, w, kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(w)
    m.inplanes = w
    m.layer1 = m._make_layer(BasicBlock, w, 2)
    m.layer2 = m._make_layer(BasicBlock, 2 * w, 2, stride=2)
    m.layer3 = m._make_layer(BasicBlock, 4 * w, 2, stride=2)
    m.layer4 = m._make_layer(BasicBlock, 8 * w, 2, stride=2)
    m.fc = nn.Linear(8 * w, CLASSES)
    for mod in m.modules():   # torchvision's own initialisation, as ResNet.__init__ applies it
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
    return m


def randomise_bn(m, g):
    """BatchNorm parameters and statistics that are not the identity, so that the test means something"""
    import torch
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            c = mod.num_features
            mod.weight.data = 1 + 0.2 * torch.randn(c, generator=g)
            mod.bias.data = 0.1 * torch.randn(c, generator=g)
            mod.running_mean.data = 0.1 * torch.randn(c, generator=g)
            mod.running_var.data = 0.5 + torch.rand(c, generator=g)
    return m


def sgd_step(m, x, y, dtype):
    """one training step of a copy of m in dtype: (each tensor's update as float64, the loss). A
    parameter's update is -lr * gradient, what the step adds before the sum rounds to the weight's
    type (in float32 the rounding of w + update alone would cost 1e-3 of the tiny updates deep in
    mobilenet_v3); a running statistic's is its new value minus the old."""
    import torch
    import torch.nn.functional as F
    m = copy.deepcopy(m).to(dtype).train()
    old = {k: v.clone() for k, v in m.state_dict().items()}
    opt = torch.optim.SGD(m.parameters(), lr=LR, momentum=0, weight_decay=0)
    opt.zero_grad()
    loss = F.cross_entropy(m(x.to(dtype)), y)
    loss.backward()
    upd = {k: (-LR * p.grad).double().numpy().ravel() for k, p in m.named_parameters()}
    opt.step()
    for k, v in m.state_dict().items():
        if k not in upd and not k.endswith("num_batches_tracked"):
            upd[k] = (v.double() - old[k].double()).numpy().ravel()
    return upd, float(loss)


def zero_class(upd, params):
    """parameters whose update is zero in exact arithmetic (a BatchNorm shift that a later BatchNorm
    in training mode removes): RMS below 1e-9 of the model's RMS update"""
    allp = np.concatenate([upd[k] for k in params])
    rms = float(np.sqrt(np.mean(allp ** 2)))
    return {k for k in params if np.sqrt(np.mean(upd[k] ** 2)) < 1e-9 * rms}


def write_case(name, make, seed):
    import onnx
    import torch
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    m = randomise_bn(make(), g).eval()
    d = os.path.join(ROOT, name)
    os.makedirs(d)
    xb = (splitmix64(np.arange(BATCH * np.prod(CHW), dtype=np.uint64)) >> np.uint64(56)).astype(np.float32)
    x = torch.from_numpy((xb - 128) / 64).reshape(BATCH, *CHW)
    y = torch.randint(0, CLASSES, (BATCH,), generator=g)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    path = os.path.join(d, "model.onnx")
    torch.onnx.export(m, x, path, opset_version=13, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "N"}, "output": {0: "N"}}, training=torch.onnx.TrainingMode.PRESERVE)
    onnx.checker.check_model(onnx.load(path))
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} changed during the export"
    upd64, loss64 = sgd_step(m, x, y, torch.float64)
    upd32, loss32 = sgd_step(m, x, y, torch.float32)
    params = [n for n, _ in m.named_parameters()]
    zero = zero_class(upd64, params)
    worst = max(float(np.linalg.norm(upd32[k] - upd64[k]) / np.linalg.norm(upd64[k])) for k in upd64 if k not in zero)
    with open(os.path.join(d, "step.txt"), "w") as f:
        f.write(f"# one SGD step of torchvision {name}, written by tools/gen_transfer_fixtures.py\n")
        f.write(f"batch {BATCH}\ninput {CHW[0]} {CHW[1]} {CHW[2]}\nclasses {CLASSES}\nlr {LR!r}\n")
        f.write("labels " + " ".join(str(int(v)) for v in y) + "\n")
        f.write(f"loss {loss64:.9g}\n")
        for k, v0 in before.items():
            if k.endswith("num_batches_tracked"):
                continue
            delta = upd64[k]
            kind = "param" if k in params else "buffer"
            if delta.size <= FULL_MAX:
                f.write(f"tensor {k} {kind} {delta.size} full " + " ".join(f"{v:.9g}" for v in delta) + "\n")
            else:
                stats = [float(delta.sum()), float(np.abs(delta).sum()), float(np.linalg.norm(delta))] + projections(delta)
                f.write(f"tensor {k} {kind} {delta.size} stats " + " ".join(f"{v:.9g}" for v in stats) + "\n")
        f.write(f"tensors {len(upd64)}\n")
    size = sum(os.path.getsize(os.path.join(d, p)) for p in os.listdir(d))
    print(f"{name}: {sum(p.numel() for p in m.parameters())} parameters, loss {loss64:.6f}, {size} bytes; "
          f"PyTorch float32 against float64: worst tensor relative error {worst:.2g} (loss {abs(loss32 - loss64):.2g}), "
          f"{len(zero)} updates zero in exact arithmetic")


def main():
    warnings.filterwarnings("ignore")
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    os.makedirs(ROOT)
    write_case("mobilenet_v3_small", mobilenet_v3_small, 1401)
    write_case("resnet18", resnet18, 1402)


if __name__ == "__main__":
    main()
