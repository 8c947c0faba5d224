#!/usr/bin/env python3
"""bench/decode_pil.py -- the PIL side of the `data` section of bench/run.sh, and its table.

  decode_pil.py [--warmup W] [--runs R] [--resize S] [--crop C] SETDIR...   time PIL on one core
  decode_pil.py --table FILE...                                          join both engines' lines

Timing: the same .jpg files as bench_decode (bench/decode.c; `bench_decode --make DIR` writes
them), each read into memory first (no file I/O is timed). One pass = for every file what
torchvision's ImageFolder + Resize(S) + CenterCrop(C) + ToTensor do up to the float conversion:

  Image.open(BytesIO(bytes)) [.draft('RGB', (S, S))] .convert('RGB')   (ImageFolder's pil_loader)
  .resize((w', h'), BILINEAR), the shorter side S, the longer int(S * long / short)   (Resize)
  .crop((left, top, left + C, top + C)), top = int(round((h' - C) / 2.0))            (CenterCrop)
  np.ascontiguousarray(np.asarray(img).transpose(2, 0, 1))             (ToTensor's HWC -> CHW copy)

written out as the PIL calls that torchvision 0.14 makes (torchvision itself is not needed; when it
is importable, the first image's bytes are checked against its transforms before timing). Two
implementations, interleaved pass by pass (A B B A ...):
  full   decoded at full size, as torchvision does;
  draft  img.draft('RGB', (S, S)) first: libjpeg scales down in the IDCT (1/2, 1/4, 1/8) while
         both sides stay >= S, the same scale that slimnn's min_short picks.
W untimed passes (and at least 0.2 s, BENCH_WARMUP_S in bench/timing.h), then R timed; the median
pass. Single-threaded (PIL's decoder and resampler run on the calling thread). One line per set
and implementation, in bench_decode's format:

  case=jpeg:500x375 engine=PIL impl=draft images=64 bytes=... ms=... img_s=... cpu_img_s=... crc=... runs=9

crc: zlib.crc32 of all output bytes of a pass in file order (bench_decode computes the same).

--table reads both engines' lines (each engine run twice, slimnn PIL PIL slimnn, by run.sh), takes
the mean of an engine's medians per case, and prints a Markdown table with the ratios; plain
Python (no PIL needed).
"""
import argparse
import io
import os
import re
import statistics
import sys
import time
import zlib

WARMUP_S = 0.2  # BENCH_WARMUP_S in bench/timing.h


def read_set(d):
    names = sorted(f for f in os.listdir(d) if f.endswith('.jpg'))
    if not names:
        sys.exit(f'decode_pil.py: no .jpg files in {d}')
    out = []
    for n in names:
        with open(os.path.join(d, n), 'rb') as f:
            out.append(f.read())
    return out


def make_pipeline(resize, crop):
    import numpy as np
    from PIL import Image

    def one(b, draft):
        img = Image.open(io.BytesIO(b))
        if draft:
            img.draft('RGB', (resize, resize))
        img = img.convert('RGB')
        w, h = img.size
        # torchvision's _compute_resized_output_size for an int size
        short, long = (w, h) if w <= h else (h, w)
        ns, nl = resize, int(resize * long / short)
        nw, nh = (ns, nl) if w <= h else (nl, ns)
        if (nw, nh) != (w, h):
            img = img.resize((nw, nh), Image.BILINEAR)
        # torchvision's center_crop (the crop lies inside: resize >= crop)
        top, left = int(round((nh - crop) / 2.0)), int(round((nw - crop) / 2.0))
        img = img.crop((left, top, left + crop, top + crop))
        return np.ascontiguousarray(np.asarray(img).transpose(2, 0, 1))

    return one


def check_torchvision(one, b, resize, crop):
    """The first image against torchvision's own transforms (when installed): same bytes."""
    try:
        import numpy as np
        import torchvision.transforms as T
        from PIL import Image
    except ImportError:
        return 'torchvision not importable: not checked'
    img = Image.open(io.BytesIO(b)).convert('RGB')
    ref = np.asarray(T.CenterCrop(crop)(T.Resize(resize)(img))).transpose(2, 0, 1)
    if not np.array_equal(ref, one(b, False)):
        sys.exit('decode_pil.py: the PIL pipeline differs from torchvision Resize + CenterCrop')
    return 'equal to torchvision.transforms Resize + CenterCrop on the first image'


def run_pass(one, files, draft):
    c0, t0 = time.process_time(), time.perf_counter()
    crc = 0
    for b in files:
        crc = zlib.crc32(one(b, draft), crc)
    return time.perf_counter() - t0, time.process_time() - c0, crc


def time_sets(args):
    import numpy as np
    import PIL
    from PIL import features
    one = make_pipeline(args.resize, args.crop)
    print(f'# decode_pil.py: Pillow {PIL.__version__} (libjpeg {features.version("jpg")}, '
          f'libjpeg-turbo {features.check_feature("libjpeg_turbo")}), numpy {np.__version__}, '
          f'python {sys.version.split()[0]}, resize {args.resize}, crop {args.crop}, one thread', flush=True)
    bad = 0
    impls = ('full', 'draft')
    for d in args.sets:
        base = os.path.basename(os.path.normpath(d))
        files = read_set(d)
        note = check_torchvision(one, files[0], args.resize, args.crop)
        print(f'# {base}: {note}', flush=True)
        crc = [0, 0]
        for k in range(2):
            w0, r = time.perf_counter(), 0
            while r < args.warmup or (args.warmup and time.perf_counter() - w0 < WARMUP_S):
                crc[k] = run_pass(one, files, k == 1)[2]
                r += 1
        wall = [[], []]
        cpu = [[], []]
        for r in range(args.runs):
            for j in range(2):
                k = 1 - j if r % 2 else j  # full draft, draft full, ...
                t, c, h = run_pass(one, files, k == 1)
                if h != crc[k]:
                    print(f'decode_pil.py: {d}: outputs differ between passes', file=sys.stderr)
                    bad = 1
                wall[k].append(t)
                cpu[k].append(c)
        n, size = len(files), sum(len(b) for b in files)
        for k in range(2):
            ms = statistics.median(wall[k]) * 1e3 / n
            print(f'case=jpeg:{base} engine=PIL impl={impls[k]} images={n} bytes={size} ms={ms:.4f} '
                  f'img_s={1e3 / ms:.1f} cpu_img_s={n / statistics.median(cpu[k]):.1f} crc={crc[k]:08x} '
                  f'runs={args.runs}', flush=True)
    return bad


def table(paths):
    rows = {}  # (case, engine, impl) -> list of dicts
    order = []
    for p in paths:
        with open(p) as f:
            for line in f:
                if not line.startswith('case='):
                    continue
                kv = dict(re.findall(r'(\w+)=(\S+)', line))
                key = (kv['case'], kv['engine'], kv['impl'])
                if kv['case'] not in order:
                    order.append(kv['case'])
                rows.setdefault(key, []).append(kv)

    def get(case, engine, impl, field='img_s'):
        v = rows.get((case, engine, impl))
        if not v or any('err' in r for r in v):
            return None
        return statistics.mean(float(r[field]) for r in v)

    def cell(x):
        return 'failed' if x is None else f'{x:.0f}'

    def ratio(a, b):
        return '' if a is None or b is None else f'{a / b:.2f}x'

    def same(a, b):
        ca, cb = rows.get(a), rows.get(b)
        if not ca or not cb or 'crc' not in ca[0] or 'crc' not in cb[0]:
            return '?'
        return 'yes' if ca[0]['crc'] == cb[0]['crc'] else 'NO'

    have_pil = any(k[1] == 'PIL' for k in rows)
    print('| set (KB/file) | slimnn full | slimnn DCT-scaled | PIL | PIL draft() '
          '| slimnn full / PIL | slimnn DCT / PIL draft | slimnn DCT / PIL | same bytes: full, scaled |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|:---:|')
    failed = 0
    for c in order:
        sf, sd = get(c, 'slimnn', 'full'), get(c, 'slimnn', 'dct')
        pf, pd = get(c, 'PIL', 'full'), get(c, 'PIL', 'draft')
        failed |= sf is None or sd is None or (have_pil and (pf is None or pd is None))
        kb = get(c, 'slimnn', 'full', 'bytes') or get(c, 'PIL', 'full', 'bytes') or 0
        n = get(c, 'slimnn', 'full', 'images') or get(c, 'PIL', 'full', 'images') or 1
        crcs = (f'{same((c, "slimnn", "full"), (c, "PIL", "full"))}, '
                f'{same((c, "slimnn", "dct"), (c, "PIL", "draft"))}') if have_pil else ''
        print(f'| {c[5:]} ({kb / n / 1024:.0f}) | {cell(sf)} | {cell(sd)} | '
              f'{cell(pf) if have_pil else "-"} | {cell(pd) if have_pil else "-"} | '
              f'{ratio(sf, pf)} | {ratio(sd, pd)} | {ratio(sd, pf)} | {crcs} |')
    print()
    print('images/s on one core (decode + Resize(256) + CenterCrop(224) to CHW uint8, files in memory): '
          'the mean of each engine\'s two medians (slimnn, PIL, PIL, slimnn).')
    cpu = []
    for c in order:
        vals = [get(c, e, i, 'cpu_img_s') for e, i in
                (('slimnn', 'full'), ('slimnn', 'dct'), ('PIL', 'full'), ('PIL', 'draft'))]
        cpu.append(f'{c[5:]}: ' + ' / '.join(cell(v) for v in vals))
    print('The same from CPU time (slimnn full / DCT / PIL / PIL draft), near the above when each got a '
          'whole core: ' + '; '.join(cpu))
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--runs', type=int, default=9)
    ap.add_argument('--resize', type=int, default=256)
    ap.add_argument('--crop', type=int, default=224)
    ap.add_argument('--table', action='store_true', help='the arguments are result files: print the table')
    ap.add_argument('sets', nargs='+')
    args = ap.parse_args()
    if args.table:
        return table(args.sets)
    if args.runs < 1 or args.resize < args.crop:
        ap.error('--runs >= 1 and --resize >= --crop')
    return time_sets(args)


if __name__ == '__main__':
    sys.exit(main())
