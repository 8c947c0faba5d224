#!/usr/bin/python3
"""PyTorch reference for bench/run.sh: one training epoch of models/cnn.arch, timed.

This mirrors `slimnn train models/cnn.arch --epochs 1` as closely as PyTorch allows, so that
the two throughputs compare the engines and not the recipes:

  * the same network (conv-BN-ReLU-maxpool x2, Linear 3136->256, ReLU, Dropout 0.3, Linear
    256->10; the convs without bias), PyTorch's default initialisation;
  * the same recipe as slimnn's defaults: batch 128, SGD momentum 0.9 with Nesterov, weight
    decay 5e-4 on every parameter, OneCycleLR(max_lr=0.05) over the epoch with PyTorch's
    other defaults (pct_start 0.3, cosine, momentum cycled 0.95 -> 0.85 -> 0.95);
  * the same per-batch input work: a shuffled index gather from the uint8 images held in
    memory, a random crop with 2-pixel zero padding (pad the batch, then one random offset
    per sample; see BatchMaker), and normalisation with the mean and std of the training
    pixels, as one multiply-add on the float batch;
  * the same per-step bookkeeping: the loss and the number of correct predictions are
    accumulated every step (slimnn computes both too).

Excluded from the timing, as for slimnn: reading and decompressing the IDX files, building
the model, and evaluation (this script does not evaluate at all). The first WARMUP steps of
the epoch run untimed; the figure is the images of the remaining steps over their wall time.
The whole loop's figure (warm-up included, as slimnn measures itself) is printed as well.

Output: `key=value` lines on stdout, which bench/run.sh parses. Only numpy and torch are
needed; this is a benchmark, never a runtime dependency of slimnn.
"""
import argparse
import gzip
import math
import os
import re
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path, ndim):
    """Reads a gzipped IDX file of unsigned bytes with `ndim` dimensions into a numpy array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">I", raw[:4])
    if magic != 0x0800 + ndim:  # type 0x08 (unsigned byte), then the dimension count
        sys.exit(f"{path}: not an IDX file of unsigned bytes with {ndim} dimensions (magic {magic:#x})")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(dims):
        sys.exit(f"{path}: {data.size} bytes of data for dimensions {dims}")
    return data.reshape(dims)


def load_train(data_dir, limit):
    """The training split as uint8 images [N, 1, 28, 28] and int64 labels [N], plus the mean
    and (population) std of all training pixels in [0, 1] units, from the full split so that
    --limit does not change the normalisation (as in slimnn)."""
    images = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"), 3)
    labels = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"), 1)
    # a 256-bin histogram gives exact sums without a float copy of the whole split (which
    # would add ~376 MB to the peak RSS that bench/run.sh reports)
    hist = np.bincount(images.ravel(), minlength=256).astype(np.float64)
    v = np.arange(256, dtype=np.float64) / 255.0
    mean = float((hist * v).sum() / hist.sum())
    std = float(math.sqrt(max((hist * v * v).sum() / hist.sum() - mean * mean, 0.0)))
    if limit > 0:
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(images.copy()).unsqueeze(1)  # [N, 1, 28, 28] uint8
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y, mean, std


def baseline_cnn():
    """models/cnn.arch, layer for layer (824,554 parameters)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(256, 10),
    )


class BatchMaker:
    """Turns a batch of indices into a normalised, randomly cropped float batch, all on batch
    tensors: gather the uint8 images, zero-pad the batch by `pad` on every side, view every
    28x28 window of each padded image at once with two unfold calls (a strided view, no
    copy: [n, c, 2*pad+1, 2*pad+1, 28, 28]), pick one window per sample with one indexing
    call, then normalise with a single multiply-add (x * 1/(255*std) - mean/std).
    On this data that is well under a millisecond per batch of 128."""

    def __init__(self, images, labels, mean, std, pad):
        self.images, self.labels, self.pad = images, labels, pad
        self.h, self.w = images.shape[2], images.shape[3]
        self.scale, self.shift = 1.0 / (255.0 * std), -mean / std

    def __call__(self, idx):
        xb, yb = self.images[idx], self.labels[idx]
        if self.pad > 0:
            n, p = xb.shape[0], self.pad
            padded = F.pad(xb, (p, p, p, p))  # zeros, i.e. black pixels, as torchvision pads
            windows = padded.unfold(2, self.h, 1).unfold(3, self.w, 1)
            oy = torch.randint(0, 2 * p + 1, (n,))  # one (row, column) offset per sample
            ox = torch.randint(0, 2 * p + 1, (n,))
            xb = windows[torch.arange(n), :, oy, ox]  # [n, c, h, w]
        x = xb.float().mul_(self.scale).add_(self.shift)
        return x, yb


def blas_libraries():
    """The BLAS/LAPACK shared objects actually mapped into this process, resolved through
    Debian's alternatives symlinks (torch's BLAS_INFO only says 'generic' on Debian)."""
    found = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if line.count("/") else ""
            name = os.path.basename(path)
            if re.search(r"blas|lapack|mkl", name) and path not in found:
                found.append(path)
    return ",".join(sorted({os.path.realpath(p) for p in found})) or "none"


def build_info(key):
    """One `KEY=value` entry from torch.__config__.show()'s build settings."""
    m = re.search(rf"\b{key}=([^,\n]*)", torch.__config__.show())
    return m.group(1).strip() if m else "unknown"


def build_info_line(prefix):
    """The rest of the line of torch.__config__.show() that starts with `prefix:`."""
    m = re.search(rf"{re.escape(prefix)}:\s*(.*)", torch.__config__.show())
    return m.group(1).strip() if m else "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DATA_DIR, help="directory of the Fashion-MNIST IDX .gz files")
    ap.add_argument("--limit", type=int, default=0, help="use the first N training images (0: all)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps at the start of the epoch")
    ap.add_argument("--crop-pad", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.05, help="OneCycleLR max_lr")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    # --- untimed: data from disk, model, optimizer, schedule --------------------------------
    images, labels, mean, std = load_train(args.data, args.limit)
    n = images.shape[0]
    steps = (n + args.batch - 1) // args.batch
    if steps <= args.warmup:
        sys.exit(f"only {steps} steps for {n} images: fewer than --warmup {args.warmup} + 1")
    make_batch = BatchMaker(images, labels, mean, std, args.crop_pad)
    model = baseline_cnn()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()

    # --- the timed epoch ----------------------------------------------------------------------
    perm = torch.randperm(n)
    loss_sum, correct, timed_images = 0.0, 0, 0
    t_start = time.perf_counter()
    t_warm = None
    for k in range(steps):
        if k == args.warmup:
            t_warm = time.perf_counter()
        idx = perm[k * args.batch:(k + 1) * args.batch]
        x, y = make_batch(idx)
        logits = model(x)
        loss = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_sum += loss.item() * y.shape[0]
        correct += int((logits.argmax(1) == y).sum())
        if k >= args.warmup:
            timed_images += y.shape[0]
    t_end = time.perf_counter()

    if not math.isfinite(loss_sum):
        sys.exit("the loss diverged: the benchmark's recipe is broken")
    print(f"torch_version={torch.__version__}")
    print(f"numpy_version={np.__version__}")
    print(f"torch_threads={torch.get_num_threads()}")
    print(f"torch_interop_threads={torch.get_num_interop_threads()}")
    print(f"torch_blas_info={build_info('BLAS_INFO')}")
    print(f"torch_lapack_info={build_info('LAPACK_INFO')}")
    print(f"torch_mkldnn={torch.backends.mkldnn.is_available()}")
    print(f"torch_cpu_capability={build_info_line('CPU capability usage')}")
    print(f"blas_libraries={blas_libraries()}")
    print(f"images={n} batch={args.batch} steps={steps} warmup_steps={args.warmup}")
    print(f"train_loss={loss_sum / n:.4f}")
    print(f"train_acc={100.0 * correct / n:.2f}")
    print(f"timed_images={timed_images}")
    print(f"timed_seconds={t_end - t_warm:.3f}")
    print(f"img_s={timed_images / (t_end - t_warm):.1f}")
    print(f"epoch_seconds={t_end - t_start:.3f}")
    print(f"img_s_whole_epoch={n / (t_end - t_start):.1f}")


if __name__ == "__main__":
    main()
