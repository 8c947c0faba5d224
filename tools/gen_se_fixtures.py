#!/usr/bin/python3
"""Generates tests/fixtures/se/: a small efficientnet-style network (stem, two MBConv blocks with
SiLU and torchvision's SqueezeExcitation(activation=SiLU), a classifier) exported by
torch.onnx.export, with an input batch and PyTorch's output, for tests/test_se_fusion.c: the
prepared model (SiLU and squeeze-and-excitation fused) must give PyTorch's output.

    /usr/bin/python3 tools/gen_se_fixtures.py      (needs torch and torchvision)

Writes tests/fixtures/se/mbconv.onnx, x.npy (float32 [3, 3, 10, 10]) and y.npy (PyTorch's output
in eval mode, computed in float64 and rounded to float32). Fixed seeds; a few KB, committed.
"""
import os

import numpy as np
import torch
import torch.nn as nn
from torchvision.ops import SqueezeExcitation

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "se")


def conv_bn(cin, cout, k=1, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return layers + [nn.SiLU()] if act else layers


class MBConv(nn.Module):   # torchvision's efficientnet block: expand, depthwise, SE, project
    def __init__(self, cin, cout, expand, k, stride):
        super().__init__()
        mid = cin * expand
        self.residual = stride == 1 and cin == cout
        self.block = nn.Sequential(*conv_bn(cin, mid), *conv_bn(mid, mid, k, stride, mid),
                                   SqueezeExcitation(mid, max(1, cin // 4), activation=nn.SiLU),
                                   *conv_bn(mid, cout, act=False))

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


def main():
    torch.manual_seed(5)
    m = nn.Sequential(*conv_bn(3, 8, 3, 2), MBConv(8, 8, 4, 3, 1), MBConv(8, 12, 4, 5, 2),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 5)).eval()
    g = torch.Generator().manual_seed(6)
    for mod in m.modules():   # statistics and gates away from the identity, so that a wrong fusion shows
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.data = torch.randn(mod.num_features, generator=g) * 0.2
            mod.running_var.data = torch.rand(mod.num_features, generator=g) + 0.5
            mod.weight.data = torch.rand(mod.num_features, generator=g) + 0.5
            mod.bias.data = torch.randn(mod.num_features, generator=g) * 0.3
    x = torch.randn(3, 3, 10, 10, generator=g) * 2
    os.makedirs(ROOT, exist_ok=True)
    torch.onnx.export(m, x, os.path.join(ROOT, "mbconv.onnx"), opset_version=13, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    with torch.no_grad():
        y = m.double()(x.double()).float()
    np.save(os.path.join(ROOT, "x.npy"), x.numpy())
    np.save(os.path.join(ROOT, "y.npy"), y.numpy())


if __name__ == "__main__":
    main()
