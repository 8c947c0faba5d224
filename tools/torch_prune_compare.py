#!/usr/bin/python3
"""PyTorch's own pruning on a slimnn-trained model, for the README's comparison.

Takes a trained model exported by `slimnn export MODEL -o BASE.onnx` and its architecture
file, rebuilds the network in PyTorch with exactly those weights (the same translation of
architecture text to nn.Modules that the summary fixtures use), and runs what a PyTorch user
would run:

  1. torch.nn.utils.prune.global_unstructured(..., pruning_method=L1Unstructured, amount=S)
     over the layers slimnn prunes by default (every conv and Linear weight except the
     first conv and the classifier), one shot;
  2. --epochs epochs of fine-tuning on the training split (the masks keep pruned weights at
     zero): SGD with Nesterov momentum 0.9, weight decay 5e-4, batch 128, learning rate
     --lr annealed to 0 by a cosine, no augmentation — slimnn prune's fine-tuning recipe;
  3. test accuracy before pruning, right after it, and after fine-tuning.

Output: one JSON object on stdout (sparsity over the pruned layers and over all parameters,
non-zeros, accuracies, seconds). Needs torch, numpy and onnx (Debian: python3-torch,
python3-onnx); a measurement tool only, never a runtime need of slimnn.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
from arch_torch import build  # noqa: E402  (architecture text -> nn.Module)
from torch_train import DATA_DIR, load_train, read_idx  # noqa: E402  (IDX reading, normalisation)


def load_weights(net, onnx_path):
    """Copies the ONNX initializers (named LAYER.weight, LAYER.bias, LAYER.running_mean, ...)
    into the layers of the same name; every parameter and BN statistic must be found."""
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(onnx_path).graph.initializer}
    for name, m in zip(net.names, net.layers):
        for key, t in list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False)):
            if key == "num_batches_tracked":
                continue
            full = f"{name}.{key}"
            if full not in inits:
                sys.exit(f"{onnx_path}: no initializer {full} (export the model with slimnn export)")
            src = torch.from_numpy(np.array(inits[full]))
            if tuple(src.shape) != tuple(t.shape):
                sys.exit(f"{full}: shape {tuple(src.shape)} in the ONNX file, {tuple(t.shape)} in the net")
            with torch.no_grad():
                t.copy_(src)


def prunable(net):
    """(module, 'weight') of every conv and Linear but the first conv and the last Linear."""
    convs = [m for m in net.layers if isinstance(m, nn.Conv2d)]
    fcs = [m for m in net.layers if isinstance(m, nn.Linear)]
    skip = set(map(id, convs[:1] + fcs[-1:]))
    return [(m, "weight") for m in net.layers if isinstance(m, (nn.Conv2d, nn.Linear)) and id(m) not in skip]


def test_set(data_dir, mean, std):
    x = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz"), 3)
    y = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz"), 1)
    x = (torch.from_numpy(x.astype(np.float32)).unsqueeze(1) / 255.0 - mean) / std
    return x, torch.from_numpy(y.astype(np.int64))


def accuracy(net, x, y):
    net.eval()
    with torch.no_grad():
        correct = sum(int((net(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum()) for i in range(0, len(y), 1000))
    return 100.0 * correct / len(y)


def finetune(net, images, labels, mean, std, epochs, lr, seed):
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = epochs * ((len(labels) + 127) // 128)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=gen)
        for i in range(0, len(labels), 128):
            idx = order[i:i + 128]
            x = (images[idx].float() / 255.0 - mean) / std
            loss = nn.functional.cross_entropy(net(x), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()


def nonzeros(params):
    return sum(int((p != 0).sum()) for p in params), sum(p.numel() for p in params)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("onnx", help="the trained model, from slimnn export")
    ap.add_argument("arch", help="its architecture file (models/cnn.arch)")
    ap.add_argument("--target", type=float, default=0.96, help="share of the prunable weights set to zero")
    ap.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs")
    ap.add_argument("--lr", type=float, default=0.03)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=DATA_DIR)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    with open(a.arch) as f:
        net = build(f.read())
    load_weights(net, a.onnx)
    images, labels, mean, std = load_train(a.data, 0)
    tx, ty = test_set(a.data, mean, std)
    t0 = time.time()
    before = accuracy(net, tx, ty)
    targets = prunable(net)
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=a.target)
    after_prune = accuracy(net, tx, ty)
    finetune(net, images, labels, mean, std, a.epochs, a.lr, a.seed)
    after = accuracy(net, tx, ty)
    for m, name in targets:
        prune.remove(m, name)
    nz_p, n_p = nonzeros([m.weight for m, _ in targets])
    nz_all, n_all = nonzeros(list(net.parameters()))
    print(json.dumps({
        "method": "torch.nn.utils.prune.global_unstructured(L1Unstructured) + fine-tuning",
        "target": a.target, "finetune_epochs": a.epochs, "lr": a.lr, "seed": a.seed,
        "pruned_layers": [n for n, m in zip(net.names, net.layers) if any(m is t for t, _ in targets)],
        "sparsity_pruned_layers": 1 - nz_p / n_p, "total_params": n_all, "nonzero_params": nz_all,
        "sparsity_all_params": 1 - nz_all / n_all,
        "accuracy_before": before, "accuracy_after_prune": after_prune, "accuracy_after_finetune": after,
        "seconds": round(time.time() - t0, 1), "torch": torch.__version__,
    }, indent=1))


if __name__ == "__main__":
    main()
