#!/usr/bin/python3
"""Writes tests/fixtures/calib/cases.txt: fixed histograms and the int8 calibration ranges that
numpy computes for them by the definitions of src/quantize/calib.h (minmax, percentile, mse,
entropy). tests/test_calib.c reads the file and compares slimnn's ranges with these.

Each case is two lines:
  method q bins absolute lo hi min max expected_a expected_b
  count_0 count_1 ... count_{bins-1}
"""
import os
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), '..', 'tests', 'fixtures', 'calib', 'cases.txt')


def q_params_asym(a, b):
    """sn_q_params_asym: PyTorch's MinMaxObserver arithmetic in float32."""
    lo = np.float32(min(a, 0.0)); hi = np.float32(max(b, 0.0))
    scale = np.float32((hi - lo) / np.float32(255.0))
    if not scale >= np.finfo(np.float32).eps:
        scale = np.float32(np.finfo(np.float32).eps)
    zp = -128 - int(np.rint(np.float32(lo / scale)))
    return scale, int(np.clip(zp, -128, 127))


def mse_of(count, lo, w, a, b):
    scale, zp = q_params_asym(np.float32(a), np.float32(b))
    i = np.nonzero(count)[0]
    c = lo + (i + 0.5) * w                                   # float64 centres
    q = np.clip(np.rint(c.astype(np.float32) / scale).astype(np.int64) + zp, -128, 127)
    back = (scale * (q - zp).astype(np.float32)).astype(np.float64)
    return float(np.sum(count[i] * (c - back) ** 2))


def range_mse(count, lo, hi):
    bins = len(count); w = (hi - lo) / bins
    s, e = 0, bins
    bs, be = s, e
    minw = max(bins // 16, 1)
    best = mse_of(count, lo, w, lo + s * w, lo + e * w)
    while e - s > minw:
        up = mse_of(count, lo, w, lo + (s + 1) * w, lo + e * w)
        down = mse_of(count, lo, w, lo + s * w, lo + (e - 1) * w)
        if up < down:
            s += 1; cur = up
        else:
            e -= 1; cur = down
        if cur < best:
            best, bs, be = cur, s, e
    return np.float32(lo + bs * w), np.float32(lo + be * w)


def smooth(p, eps=1e-4):
    zeros = p == 0
    nz = p.size - zeros.sum()
    if nz == 0:
        return None
    eps1 = eps * zeros.sum() / nz
    return p + eps * zeros - eps1 * (~zeros)


def kl(p, q):
    p = p / p.sum(); q = q / q.sum()
    m = p > 0
    return float(np.sum(p[m] * np.log(p[m] / q[m])))


def threshold_entropy(count, hi):
    B = len(count); w = hi / B; levels = 128
    best, best_i = np.inf, B
    for i in range(levels, B + 1):
        sliced = count[:i]
        p = sliced.copy(); p[i - 1] += count[i:].sum()
        nonzero = p != 0
        merged = i // levels
        q = np.zeros(i)
        for j in range(levels):
            start = j * merged; stop = i if j == levels - 1 else start + merged
            n = nonzero[start:stop].sum()
            if n:
                q[start:stop] = np.where(nonzero[start:stop], sliced[start:stop].sum() / n, 0.0)
        ps, qs = smooth(p), smooth(q)
        if ps is None or qs is None:
            continue
        d = kl(ps, qs)
        if d < best:
            best, best_i = d, i
    return np.float32(best_i * w)


def calib(method, q, count, absolute, lo, hi, mn, mx):
    bins = len(count); w = (hi - lo) / bins; n = count.sum()
    if method == 'minmax':
        return mn, mx
    if method == 'percentile':
        need = q / 100 * n
        cum = np.cumsum(count)
        ib = int(np.argmax(cum >= need))
        tail = np.cumsum(count[::-1])[::-1]
        ia = int(np.nonzero(tail >= need)[0].max())
        a, b = np.float32(lo + ia * w), np.float32(lo + (ib + 1) * w)
        return (-b if absolute else a), b
    if method == 'mse':
        a, b = range_mse(count, lo, hi)
        return (-b if absolute else a), b
    if method == 'entropy':
        t = threshold_entropy(count, hi)
        return max(mn, -t), t


def main():
    rng = np.random.default_rng(7)
    cases = []
    bins = 512
    # signed Gaussian-like activations with a few outliers
    x = np.concatenate([rng.normal(0.3, 1.0, 20000), rng.normal(0, 8, 12)]).astype(np.float32)
    # post-ReLU Laplace-like activations (a spike at 0, a long tail)
    r = np.maximum(rng.laplace(0.2, 0.8, 20000), 0).astype(np.float32)
    for data, name in ((x, 'signed'), (r, 'relu')):
        lo, hi = float(data.min()), float(data.max())
        w = (hi - lo) / bins
        k = np.clip(np.floor((data.astype(np.float64) - lo) / w), 0, bins - 1).astype(int)
        count = np.bincount(k, minlength=bins).astype(np.float64)
        for method, q in (('minmax', 0), ('percentile', 99.9), ('percentile', 99.99), ('mse', 0)):
            a, b = calib(method, q, count, 0, lo, hi, data.min(), data.max())
            cases.append((method, q, bins, 0, lo, hi, data.min(), data.max(), a, b, count))
        # the absolute histogram, for entropy (and percentile over |x|)
        ah = float(np.abs(data).max()); aw = ah / bins
        k = np.clip(np.floor(np.abs(data).astype(np.float64) / aw), 0, bins - 1).astype(int)
        acount = np.bincount(k, minlength=bins).astype(np.float64)
        for method, q in (('entropy', 0), ('percentile', 99.99), ('mse', 0)):
            a, b = calib(method, q, acount, 1, 0.0, ah, data.min(), data.max())
            cases.append((method, q, bins, 1, 0.0, ah, data.min(), data.max(), a, b, acount))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        for (method, q, b, ab, lo, hi, mn, mx, ea, eb, count) in cases:
            f.write('%s %.17g %d %d %.9g %.9g %.9g %.9g %.9g %.9g\n' % (method, q, b, ab, np.float32(lo), np.float32(hi),
                                                                   mn, mx, ea, eb))
            f.write(' '.join('%d' % c for c in count) + '\n')
    print('wrote %d cases to %s' % (len(cases), OUT))


if __name__ == '__main__':
    main()
