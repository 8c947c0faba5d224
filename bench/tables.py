#!/usr/bin/python3
"""Joins what bench_kernels and bench/torch_kernels.py measured into the tables bench/run.sh prints.

    python3 bench/tables.py [--sgemm SGEMM_OUT] RESULTS...

RESULTS: files of `case=... engine=... impl=... ms=...` lines (both engines, any sections; a line
with err=1 marks a case that failed on that engine). SGEMM_OUT: bench/sgemm_peak's output, for the
share of the 2-thread sgemm peak that each GEMM-shaped conv reaches. Prints one Markdown table per
section present (conv, sparse, model) with the ratios and medians described in bench/README.md.
Plain Python, no torch: it only reads text.
"""
import argparse
import os
import re
import statistics
import sys


def read_results(paths):
    """{(case, engine, impl): fields} and {(case, engine)} of the failed ones, in file order. A
    case measured more than once (run.sh runs each engine twice) gets the mean of its medians."""
    res, failed, order, times = {}, set(), [], {}
    for path in paths:
        with open(path) as f:
            for line in f:
                kv = dict(t.split("=", 1) for t in line.split() if "=" in t)
                if "case" not in kv or "engine" not in kv:
                    continue
                if kv["case"] not in order:
                    order.append(kv["case"])
                if kv.get("err"):
                    failed.add((kv["case"], kv["engine"]))
                elif "ms" in kv:
                    key = kv["case"], kv["engine"], kv["impl"]
                    times.setdefault(key, []).append(float(kv["ms"]))
                    res[key] = dict(kv, ms=str(statistics.mean(times[key])), rounds=str(len(times[key])))
    return res, failed, order


def sgemm_peak(path, threads):
    if not path:
        return None
    with open(path) as f:
        m = re.search(rf"^threads={threads} .*gflops=([0-9.]+)", f.read(), re.M)
    return float(m.group(1)) if m else None


class Table:
    def __init__(self, res, failed):
        self.res, self.failed = res, failed

    def ms(self, case, engine, impl):
        r = self.res.get((case, engine, impl))
        return float(r["ms"]) if r else None

    def macs(self, case):
        m = [int(v["macs"]) for (c, _, _), v in self.res.items() if c == case and int(v.get("macs", 0)) > 0]
        return max(m) if m else None   # the load line has none

    def cell(self, case, engine, v, fmt="{:.2f}"):
        if v is not None:
            return fmt.format(v)
        return "failed" if (case, engine) in self.failed else "n/a"


def ratio(a, b):
    return a / b if a is not None and b else None


def gflops(macs, ms):
    return 2 * macs / (ms * 1e6) if macs and ms else None


def fx(v, digits=2):
    return "n/a" if v is None else f"{v:.{digits}f}x"


def mega(v):
    return "n/a" if v is None else f"{v / 1e6:.1f}"


def pct(v):
    return "—" if v is None else f"{100 * v:.0f} %"


def conv_table(t, cases, peak):
    out = ["| N, Cin, H, W → Cout, k, stride, groups | kind | M mult-adds | slimnn ms | GFLOP/s | PyTorch ms | GFLOP/s "
           "| PyTorch ms / slimnn ms | slimnn, PyTorch: share of sgemm peak |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    by_kind = {"dense": [], "depthwise": []}
    for case in cases:
        n, cin, h, w, cout, k, s, g = (int(v) for v in case.split(":", 1)[1].split(","))
        kind = "dense" if g == 1 else "depthwise" if g == cin else "grouped"
        macs = t.macs(case)
        sm, tm = t.ms(case, "slimnn", "dense"), t.ms(case, "torch", "dense")
        sg, tg = gflops(macs, sm), gflops(macs, tm)
        r = ratio(tm, sm)
        if r is not None and kind in by_kind:
            by_kind[kind].append(r)
        share = "—"
        if kind == "dense" and peak:   # a GEMM-shaped layer: im2col (or nothing for 1x1) then one GEMM
            share = f"{pct(ratio(sg, peak))}, {pct(ratio(tg, peak))}"
        out.append(f"| {n}, {cin}, {h}, {w} → {cout}, {k}, {s}, {g} | {kind} | {mega(macs)} "
                   f"| {t.cell(case, 'slimnn', sm)} | {t.cell(case, 'slimnn', sg, '{:.1f}')} "
                   f"| {t.cell(case, 'torch', tm)} | {t.cell(case, 'torch', tg, '{:.1f}')} | {fx(r)} | {share} |")
    out.append("")
    for kind, rs in by_kind.items():
        med = fx(statistics.median(rs)) if rs else "n/a"
        out.append(f"- median PyTorch ms / slimnn ms over the {len(rs)} {kind} shapes: **{med}** (above 1: slimnn is faster)")
    if peak:
        out.append(f"- sgemm peak (OpenBLAS 1024³, 2 threads): {peak:.1f} GFLOP/s; GFLOP/s counts 2 flops per "
                   "weight mult-add (biases excluded)")
    return out


def sparse_table(t, cases):
    out = ["| N, Cin, H, W → Cout (1x1) | sparsity | slimnn sparse ms | slimnn dense ms | PyTorch dense ms "
           "| PyTorch sparse ms | speedup vs slimnn dense: slimnn sparse | PyTorch dense | PyTorch sparse |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case in cases:
        n, cin, h, w, cout, p = case.split(":", 1)[1].split(",")
        sd, ss = t.ms(case, "slimnn", "dense"), t.ms(case, "slimnn", "sparse")
        td = t.ms(case, "torch", "dense")
        best = min(((t.ms(case, "torch", i), i) for i in ("coo", "csr") if t.ms(case, "torch", i) is not None),
                   default=(None, None))
        ts = f"{best[0]:.2f} ({best[1]})" if best[0] is not None else t.cell(case, "torch", None)
        out.append(f"| {n}, {cin}, {h}, {w} → {cout} | {p} % | {t.cell(case, 'slimnn', ss)} | {t.cell(case, 'slimnn', sd)} "
                   f"| {t.cell(case, 'torch', td)} | {ts} | {fx(ratio(sd, ss))} | {fx(ratio(sd, td))} | {fx(ratio(sd, best[0]))} |")
    out += ["", "- PyTorch sparse: the faster of torch.sparse.mm on a COO weight and a CSR weight @ dense pixels, "
            "per image (in parentheses: which)"]
    return out


def model_table(t, cases):
    out = ["| model (batch 1) | M mult-adds | slimnn load ms | slimnn plain ms | slimnn prepared ms | PyTorch eager ms "
           "| PyTorch jit ms | eager / prepared | jit / prepared |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case in cases:
        macs = t.macs(case)
        sl, sp, sq = (t.ms(case, "slimnn", i) for i in ("load", "plain", "prepared"))
        te, tj = t.ms(case, "torch", "eager"), t.ms(case, "torch", "jit")
        name = os.path.basename(case.split(":", 1)[1])   # a zoo file or an exported ONNX file
        out.append(f"| {name} | {mega(macs)} | {t.cell(case, 'slimnn', sl)} | {t.cell(case, 'slimnn', sp)} "
                   f"| {t.cell(case, 'slimnn', sq)} | {t.cell(case, 'torch', te)} | {t.cell(case, 'torch', tj)} "
                   f"| {fx(ratio(te, sq))} | {fx(ratio(tj, sq))} |")
    out += ["", "- load: reading the file into a graph (an .onnx file: the whole import), median of up to 5; "
            "prepared: sn_prepare_inference (BatchNorm folded, ReLU/ReLU6 fused, Dropout dropped); "
            "jit: torch.jit.optimize_for_inference(torch.jit.script(model)); ratios above 1: slimnn is faster"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sgemm", help="bench/sgemm_peak output")
    ap.add_argument("--threads", type=int, default=2, help="the sgemm line to compare with (2)")
    ap.add_argument("results", nargs="+")
    o = ap.parse_args()
    res, failed, order = read_results(o.results)
    t = Table(res, failed)
    sections = [("conv", "Convolutions: one-layer forward, median ms",
                 lambda cs: conv_table(t, cs, sgemm_peak(o.sgemm, o.threads))),
                ("sparse", "Sparse 1x1 convolution: unstructured sparsity, median ms", lambda cs: sparse_table(t, cs)),
                ("model", "Whole networks: batch-1 latency, median ms", lambda cs: model_table(t, cs))]
    printed = 0
    for kind, title, make in sections:
        cases = [c for c in order if c.startswith(kind + ":")]
        if cases:
            print("\n".join([f"== {title}", ""] + make(cases) + [""]))
            printed += 1
    if not printed:
        sys.exit("bench/tables.py: no results in " + ", ".join(o.results))


if __name__ == "__main__":
    main()
